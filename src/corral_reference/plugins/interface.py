"""The plugin contract: an entry point resolving to an object with one method per hook.

A distribution declares plugins in its metadata, for example in `pyproject.toml`::

    [project.entry-points."corral.plugins"]
    thumbnails = "acme_plugins.thumbnails:ThumbnailPlugin"

The entry point may resolve to a class (instantiated with no arguments), an instance, or a module. A hook
named `image.resize` (any `plugin.execute` hook name) calls the attribute `image_resize`: dots, dashes and
colons become underscores. The method takes the job's `payload` dict and returns a JSON value; it may be
`async`. An exception fails the attempt with `<ExceptionType>: <message>` as the job's failure reason and
is retried; an exception with a true `unrecoverable` attribute sends the job to the DLQ at once.

Each call runs in a fresh subprocess (`python -m corral_reference.plugins.host`) with the job's `timeoutMs` as a time
limit and `plugin_memory_mb` as its address-space limit; the process is killed past either. The plugin's
stdout and stderr go to the worker's stderr; `CORRAL_*` environment variables are not passed to it.
"""

from __future__ import annotations

import re
from importlib.metadata import EntryPoint, entry_points
from typing import Any

PLUGIN_GROUP = "corral.plugins"


class PluginLoadError(LookupError):
    """A plugin or one of its hooks cannot be found; `kind` is `unknown-plugin` or `unknown-hook`."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def installed_plugins() -> dict[str, str]:
    """Every installed plugin id with the object its entry point names (`module:attribute`)."""
    return {point.name: point.value for point in entry_points(group=PLUGIN_GROUP)}


def hook_attribute(hook: str) -> str:
    """The attribute a hook name calls: `image.resize` -> `image_resize`."""
    return re.sub(r"[.:-]", "_", hook)


def find_entry_point(plugin_id: str) -> EntryPoint:
    """The one entry point named `plugin_id` in the plugin group."""
    points = list(entry_points(group=PLUGIN_GROUP, name=plugin_id))
    if not points:
        message = f"no plugin {plugin_id!r} is installed (entry point group {PLUGIN_GROUP})"
        raise PluginLoadError("unknown-plugin", message)
    if len({point.value for point in points}) > 1:
        raise PluginLoadError("unknown-plugin", f"plugin {plugin_id!r} is declared by several distributions")
    return points[0]


def load_hook(plugin_id: str, hook: str) -> Any:
    """The callable that implements `hook` of plugin `plugin_id` (loading the plugin's module)."""
    target = find_entry_point(plugin_id).load()
    if isinstance(target, type):
        target = target()
    attribute = hook_attribute(hook)
    function = None if attribute.startswith("_") else getattr(target, attribute, None)
    if not callable(function):
        raise PluginLoadError("unknown-hook", f"plugin {plugin_id!r} has no hook {hook!r}")
    return function
