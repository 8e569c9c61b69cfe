"""Provisioning: a YAML plan of guest steps (``plan``), run in order and resumed
after the last completed step (``runner``), with progress kept in the VM's
metadata (``state``)."""
