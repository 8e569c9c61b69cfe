"""The command line: parse, call the API, print. Nothing else lives here."""
