"""A plugin whose module fails to import."""

raise RuntimeError("this plugin cannot be imported")
