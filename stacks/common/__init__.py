"""Helpers shared by the stacks: site input, stack configuration, preflight
checks and the exposure policy."""
