"""Plugins for Corral's tests; each is an entry point in the `corral.plugins` group."""
