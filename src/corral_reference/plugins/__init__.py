"""Plugins and webhooks: installed plugins run in a limited subprocess; webhooks are signed HTTP POSTs.

A plugin is an entry point in the group `corral_reference.plugins`; its name is the `pluginId` of `plugin.execute` jobs.
See `corral_reference.plugins.interface` for the contract a plugin implements. This package stays free of imports so
that the plugin host process starts small; import from its modules.
"""
