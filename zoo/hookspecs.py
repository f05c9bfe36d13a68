"""pluggy hook specifications: the whole contract between the core and a plugin.

Registration hooks receive a ``register`` callback instead of returning values (as in
simonw/llm): a plugin can register any number of things, and the core can attribute each
one to the plugin that made it, which is what collision warnings need.

Registration must stay cheap: a plugin module imported for these hooks must not import
torch. Heavy code lives behind the ``"module:Class"`` strings in each ``FamilySpec``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pluggy

hookspec = pluggy.HookspecMarker("zoo")
hookimpl = pluggy.HookimplMarker("zoo")


@hookspec
def zoo_register_families(register: Callable[[Any], None]) -> None:
    """Call ``register(FamilySpec(...))`` for each model family the plugin provides."""


@hookspec
def zoo_register_variants(register: Callable[[Any], None]) -> None:
    """Call ``register(VariantSpec(...))`` to add variants (weights) to any family."""


@hookspec
def zoo_register_resolvers(register: Callable[[str, Callable[..., Any]], None]) -> None:
    """Call ``register(scheme, fn)`` to add a checkpoint URI scheme, e.g. ``s3``.

    ``fn(uri, sha256)`` returns a local ``Path``.
    """


@hookspec
def zoo_register_commands(app: Any) -> None:
    """Add sub-commands to the ``zoo`` typer app (e.g. ``zoo adapt``)."""
