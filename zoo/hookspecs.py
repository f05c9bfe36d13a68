"""pluggy hook specifications: the whole contract between the core and a plugin.

Registration hooks receive a typed ``register`` callback instead of returning values (as in
simonw/llm): a plugin can register any number of things, and the core attributes each one
to the plugin that made it, which is what collision warnings need. A hook implementation
whose name is not one of these (a typo such as ``zoo_register_familes``) is reported by
``zoo plugins`` instead of being silently ignored (pluggy's ``check_pending``).

Registration must stay cheap: a plugin module imported for these hooks must not import
torch. Heavy code lives behind the ``"module:Class"`` strings in each ``FamilySpec``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeAlias

import pluggy

if TYPE_CHECKING:  # pragma: no cover - typing only; specs are imported by the registry
    from zoo.specs import FamilySpec, VariantSpec

hookspec = pluggy.HookspecMarker("zoo")
hookimpl = pluggy.HookimplMarker("zoo")

#: ``register(FamilySpec(...))``
RegisterFamily: TypeAlias = "Callable[[FamilySpec], None]"
#: ``register(VariantSpec(...))``
RegisterVariant: TypeAlias = "Callable[[VariantSpec], None]"
#: ``register("s3", resolver)``; see :mod:`zoo.weights` for the resolver's signature.
RegisterResolver: TypeAlias = "Callable[[str, Callable[..., Any]], None]"


@hookspec
def zoo_register_families(register: RegisterFamily) -> None:
    """Call ``register(FamilySpec(...))`` for each model family the plugin provides."""


@hookspec
def zoo_register_variants(register: RegisterVariant) -> None:
    """Call ``register(VariantSpec(...))`` to add variants (weights) to any family."""


@hookspec
def zoo_register_resolvers(register: RegisterResolver) -> None:
    """Call ``register(scheme, fn)`` to add a checkpoint URI scheme, e.g. ``s3``.

    ``fn(uri, sha256)`` returns a local ``Path``.
    """


@hookspec
def zoo_register_commands(app: Any) -> None:
    """Add sub-commands to the ``zoo`` typer app (e.g. ``zoo corrupt``)."""
