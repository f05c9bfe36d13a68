"""The contract between :func:`zoo.weights.resolve` and a scheme's resolver.

Why a module of its own: built-in schemes and plugin schemes are registered the same way
(the ``zoo_register_resolvers`` hook) and called the same way, so what a resolver is asked
(:class:`ResolveRequest`) and what it answers (:class:`ResolvedFile`, or simply a path) is
a small typed contract that both sides import without importing each other.

A resolver is either

* ``fn(request: ResolveRequest) -> ResolvedFile | Path | str`` (:class:`SchemeResolver`), or
* ``fn(uri, sha256) -> Path | str`` (:data:`LegacySchemeResolver`, the original plugin
  form, still accepted: the two are told apart by how many positional arguments ``fn``
  takes).

Whatever a plugin returns, the core checks that the file exists and matches ``sha256`` and
``size``; built-in resolvers verify (and delete what they downloaded) themselves.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TypeAlias

from zoo.weights.progress import ProgressArg
from zoo.weights.uris import scheme_of, uri_basename


@dataclass(frozen=True)
class ResolveRequest:
    """Everything a resolver needs to turn one URI into one local file.

    The arguments of :func:`~zoo.weights.resolve`, already checked: ``uri`` is stripped,
    ``sha256`` is 64 lower-case hex digits or None, ``size`` is non-negative or None, and
    ``offline`` is decided (the argument, else ``ZOO_OFFLINE``).
    """

    uri: str
    sha256: str | None = None
    size: int | None = None
    #: ``True``: a rich bar on a terminal; a callable ``(done, total)``; ``False``: silent.
    progress: ProgressArg = False
    #: ``ms://org/model`` without a path: the glob that must match exactly one file.
    pattern: str | None = None
    #: The model name for messages (``zoo pull NAME``); None outside a model.
    name: str | None = None
    #: When True the resolver must not touch the network.
    offline: bool = False
    #: Display name of the file for messages; None means "from the URI".
    filename: str | None = None

    @property
    def scheme(self) -> str | None:
        """``"hf"``, ``"https"``, ... or None for a plain local path."""
        return scheme_of(self.uri)

    @property
    def display(self) -> str:
        """The file's name for messages."""
        return self.filename or uri_basename(self.uri)


@dataclass(frozen=True)
class ResolvedFile:
    """What :func:`resolve_file` found: the path plus what is known about its bytes.

    ``sha256`` is None only when it was neither given nor cheaply known (an ``hf://``
    non-LFS file or a local path resolved without a checksum). ``cached`` is True when no
    bytes were downloaded by this call.
    """

    path: Path
    uri: str
    sha256: str | None
    size: int
    cached: bool
    source: str


class SchemeResolver(Protocol):
    """A resolver for one URI scheme: ``fn(request) -> ResolvedFile | Path | str``."""

    def __call__(self, request: ResolveRequest, /) -> ResolvedFile | Path | str: ...


#: The original plugin form, ``fn(uri, sha256) -> local path``; still accepted.
LegacySchemeResolver: TypeAlias = Callable[[str, "str | None"], "Path | str"]
#: Either form, as ``register(scheme, fn)`` accepts it.
AnyResolver: TypeAlias = "SchemeResolver | LegacySchemeResolver"
