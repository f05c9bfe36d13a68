"""The registry: plugins found through the ``zoo.plugins`` entry-point group (built-ins
too), their families, variants, tasks and URI schemes, models trained on this machine, and
name lookup. Torch-free: ``zoo list`` builds it in milliseconds.

* :mod:`~zoo.registry.catalog` - what is registered and how names resolve;
* :mod:`~zoo.registry.discovery` - building it (entry points, hooks, isolation);
* :mod:`~zoo.registry.local` - variants trained here (``$ZOO_HOME/local``);
* :mod:`~zoo.registry.api` - the plugin API versions.
"""

from __future__ import annotations

from typing import Any

from .api import PLUGIN_API
from .catalog import PluginInfo, Registry
from .discovery import BUILTIN_PLUGINS, ENTRY_POINT_GROUP, build_registry
from .local import GENERATION

__all__ = [
    "BUILTIN_PLUGINS",
    "ENTRY_POINT_GROUP",
    "PLUGIN_API",
    "PluginInfo",
    "Registry",
    "build_registry",
    "get_registry",
    "list_models",
    "reset_registry",
]

_CURRENT: dict[str, Any] = {}


def get_registry() -> Registry:
    """The process-wide registry, built on first use (and again after a variant was trained
    in this process)."""
    gen = GENERATION[0]
    reg = _CURRENT.get("registry")
    if reg is None or _CURRENT.get("generation") != gen:
        reg = build_registry()
        _CURRENT.update(registry=reg, generation=gen)
    return reg  # type: ignore[no-any-return]


def reset_registry() -> None:
    """Forget the cached registry (tests, or after installing a plugin at runtime)."""
    _CURRENT.clear()


def list_models(pattern: str | None = None, task: str | None = None) -> list[str]:
    """Like ``timm.list_models``: names matching a wildcard, e.g. ``list_models("*sam2*")``."""
    return [v.name for v in get_registry().list_models(pattern, task)]
