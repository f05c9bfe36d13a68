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

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeAlias

import pluggy

if TYPE_CHECKING:  # pragma: no cover - typing only; registration must not import more
    from zoo.specs import FamilySpec, VariantSpec
    from zoo.tasks.spec import TaskSpec
    from zoo.weights.request import AnyResolver

hookspec = pluggy.HookspecMarker("zoo")
hookimpl = pluggy.HookimplMarker("zoo")

#: ``register(MyTask())``: a :class:`zoo.tasks.TaskSpec` instance
RegisterTask: TypeAlias = "Callable[[TaskSpec], None]"
#: ``register(path)``: a catalogue file (``registry.yaml``) shipped in the plugin's package
RegisterCatalogue: TypeAlias = "Callable[[str | os.PathLike[str]], None]"
#: ``register(kind, "module:function", help)``: a synthetic dataset ``zoo data make`` writes
RegisterDataset: TypeAlias = "Callable[[str, str, str], None]"
#: ``register(FamilySpec(...))``
RegisterFamily: TypeAlias = "Callable[[FamilySpec], None]"
#: ``register(VariantSpec(...))``
RegisterVariant: TypeAlias = "Callable[[VariantSpec], None]"
#: The ``register`` callback of :func:`zoo_register_resolvers`: ``register(scheme, fn)``.
RegisterResolver: TypeAlias = "Callable[[str, AnyResolver], None]"


@hookspec
def zoo_register_tasks(register: RegisterTask) -> None:
    """Call ``register(MyTask())`` for each task the plugin adds (a :class:`zoo.tasks.TaskSpec`
    subclass instance): the model method it calls, its result, options and input builders.
    Families of any plugin may then declare it in ``FamilySpec.tasks`` and get ``zoo run``,
    ``zoo batch``, a ``POST /v1/<route>`` endpoint and the conformance kit for it. The core
    registers its built-in tasks through this same hook (:mod:`zoo.tasks.builtin`)."""


@hookspec
def zoo_register_catalogs(register: RegisterCatalogue) -> None:
    """Call ``register(path)`` with a catalogue file (``registry.yaml`` format: families,
    variants, files, reported results) shipped inside the plugin's package, and point its
    families' ``card:`` at cards shipped beside it. The core registers its own catalogue
    through this same hook (:mod:`zoo.registry.builtin`)."""


@hookspec
def zoo_register_datasets(register: RegisterDataset) -> None:
    """Call ``register(kind, "module:function", help)`` for a small synthetic dataset that
    ``zoo data make KIND DIR`` writes (so every ``zoo eval``/``zoo train`` example runs from
    nothing). ``function(out: Path, *, images: int, seed: int) -> dict`` writes into ``out``
    and returns a summary (counts, ``contents``, a command to ``try`` where ``{out}`` stands
    for the folder). Imported only when made."""


@hookspec
def zoo_register_families(register: RegisterFamily) -> None:
    """Call ``register(FamilySpec(...))`` for each model family the plugin provides."""


@hookspec
def zoo_register_variants(register: RegisterVariant) -> None:
    """Call ``register(VariantSpec(...))`` to add variants (weights) to any family."""


@hookspec
def zoo_register_resolvers(register: RegisterResolver) -> None:
    """Call ``register(scheme, fn)`` to add a checkpoint URI scheme, e.g. ``s3``.

    ``fn`` takes one :class:`zoo.weights.ResolveRequest` (``uri``, ``sha256``, ``size``,
    ``pattern``, ``name``, ``offline``, ``progress``, ``filename``) and returns the local
    file: a ``Path`` (or ``str``), or a :class:`zoo.weights.ResolvedFile`::

        def resolve_s3(request: ResolveRequest) -> Path:
            if request.offline:
                raise OfflineError(f"{request.uri} is not cached and ZOO_OFFLINE=1 ...")
            return download(request.uri)

    The original form ``fn(uri, sha256) -> Path`` is still accepted (a function taking two
    positional arguments is called that way). Either way the core then checks that the file
    exists and matches ``sha256``/``size``. The built-in schemes (hf, ms, https, http,
    gdrive, file) are registered through this same hook by ``zoo.weights.builtin``, before
    any plugin; a plugin cannot take one over (the registry records a warning instead).
    """


@hookspec
def zoo_register_commands(app: Any) -> None:
    """Add sub-commands to the ``zoo`` typer app (e.g. ``zoo corrupt``)."""
