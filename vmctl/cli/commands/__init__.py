"""One module per noun; ``vmctl.cli.app`` imports a module only when one of its commands runs."""
