"""Pure decisions without I/O: accelerator, forward ports, timeouts.

Inputs are facts gathered elsewhere (``vmctl.local``, ``vmctl.virt``); outputs are
plain values, so every rule here is tested with literal inputs.
"""
