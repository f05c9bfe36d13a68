"""The plugin API: which version this sam-zoo speaks and what each version looked like.

A plugin module states the version it was written for as ``ZOO_PLUGIN_API = 3``; ``zoo
plugins`` shows it. Versions:

* **3** (this release): tasks are registered units (``zoo_register_tasks``), options are
  typed :class:`zoo.options.Options` classes, results come from :mod:`zoo.results`.
* **2** (sam-zoo 0.1's README): ``create(cls, ctx, **config)``, options as
  ``OptionSpec`` lists, results imported from :mod:`zoo.tasks`. Still works, with one
  deprecation line naming the plugin and the replacement, for one release.
* **1** (the first README): ``create(cls, *, checkpoint, device, ...)``. No longer
  loadable: the plugin gets one line saying what to change, never a traceback.

A plugin that states no version is taken as API 2 (what the 0.1 README showed).
"""

from __future__ import annotations

import inspect
from typing import Any

from zoo.errors import PluginError

__all__ = ["PLUGIN_API", "SUPPORTED", "check_create", "declared_api"]

#: The plugin API this sam-zoo speaks.
PLUGIN_API = 3
#: The versions it still loads (2 with deprecation lines).
SUPPORTED = (2, 3)
#: Where the current form is shown.
GUIDE = "see the README's 'Writing a plugin'"

UPGRADE_FROM_1 = (
    "change create to create(cls, ctx, **config), read the files with ctx.path() and the "
    "device with ctx.device, and set ZOO_PLUGIN_API = 3"
)


def declared_api(module: Any) -> tuple[int, bool]:
    """``(version, declared)`` of a plugin module: its ``ZOO_PLUGIN_API`` or 2 (assumed)."""
    value = getattr(module, "ZOO_PLUGIN_API", None)
    if value is None:
        return 2, False
    if isinstance(value, bool) or not isinstance(value, int):
        raise PluginError(f"ZOO_PLUGIN_API must be an integer such as {PLUGIN_API}, got {value!r}")
    return value, True


def check_version(plugin: str, version: int) -> None:
    """Refuse a plugin written for an API this sam-zoo no longer (or not yet) speaks."""
    if version > PLUGIN_API:
        raise PluginError(
            f"plugin {plugin} targets plugin API {version}, newer than this sam-zoo's "
            f"{PLUGIN_API}; upgrade sam-zoo (pip install -U sam-zoo)"
        )
    if version not in SUPPORTED:
        raise PluginError(
            f"plugin {plugin} targets plugin API {version}; sam-zoo speaks {PLUGIN_API}: "
            f"{UPGRADE_FROM_1} ({GUIDE})"
        )


def check_create(cls: Any, family: str, plugin: str) -> None:
    """One line (not a ``TypeError`` traceback) for a model class written to API 1:
    ``create(cls, *, checkpoint, device, ...)`` instead of ``create(cls, ctx, **config)``."""
    create = getattr(cls, "create", None)
    if create is None:
        return
    try:
        params = list(inspect.signature(create).parameters.values())
    except (TypeError, ValueError):
        return
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    names = {p.name for p in params}
    if not positional or (positional[0].name != "ctx" and {"checkpoint", "device"} & names):
        raise PluginError(
            f"{family} (plugin {plugin}) is written for plugin API 1 "
            f"({cls.__name__}.create(*, checkpoint, device, ...)); sam-zoo speaks API "
            f"{PLUGIN_API}: {UPGRADE_FROM_1} ({GUIDE})"
        )
