"""Use cases: what vmctl does for its users (VMs, images, templates, host facts,
guest commands, fan-out). They return results and raise vmctl errors; they never print."""
