"""The scheme table: which resolver handles ``<scheme>://``, and who registered it.

Why a module of its own: the built-in schemes (hf, ms, https, http, gdrive, file) are a
plugin like any other (:mod:`zoo.weights.builtin`, an implementation of the
``zoo_register_resolvers`` hook), so there is one table and one way in. The registry
registers the built-in plugin on its plugin manager before the entry-point plugins; code
that resolves a URI without ever building a registry (a script, a test) gets the same
table filled on first use, by calling the same hook through a small plugin manager.

A plugin may add schemes but never take over a built-in one (a plugin must not be able to
silently redirect ``https://``): that is a :class:`~zoo.errors.PluginError`, which the
registry records as a warning.
"""

from __future__ import annotations

import inspect
import logging
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from zoo.errors import PluginError, WeightsError
from zoo.weights.request import AnyResolver, ResolvedFile, ResolveRequest
from zoo.weights.verify import verify_file

logger = logging.getLogger(__name__)

#: The name the built-in resolvers go by on a plugin manager and in ``zoo plugins``.
BUILTIN_PLUGIN = "builtin-resolvers"


@dataclass(frozen=True)
class Scheme:
    """One row of the table."""

    name: str
    fn: AnyResolver
    style: Literal["request", "legacy"]
    source: str
    builtin: bool

    def __call__(self, request: ResolveRequest) -> ResolvedFile:
        """Run the resolver; a plugin's answer is checked (exists, sha256, size) here."""
        fn: Any = self.fn  # the style, checked at registration, says which form it is
        result = fn(request) if self.style == "request" else fn(request.uri, request.sha256)
        if self.builtin and isinstance(result, ResolvedFile):
            return result
        if result is None:
            raise WeightsError(
                f"the resolver {qualname(self.fn)} returned no file for {request.uri}"
            )
        path = Path(result.path if isinstance(result, ResolvedFile) else result)
        if not path.is_file():
            raise WeightsError(
                f"the resolver {qualname(self.fn)} for {request.uri} returned {path}, not a file"
            )
        actual = verify_file(path, request.uri, request.sha256, request.size, delete=None)
        if actual is None and isinstance(result, ResolvedFile):
            actual = result.sha256
        cached = result.cached if isinstance(result, ResolvedFile) else False
        return ResolvedFile(path, request.uri, actual, path.stat().st_size, cached, self.name)


_TABLE: dict[str, Scheme] = {}
_LOCK = threading.RLock()


def qualname(fn: Any) -> str:
    module = getattr(fn, "__module__", None) or "?"
    return f"{module}.{getattr(fn, '__qualname__', repr(fn))}"


def _norm_scheme(scheme: str) -> str:
    text = scheme.strip().lower()
    if text.endswith("://"):
        text = text[:-3]
    if not re.fullmatch(r"[a-z][a-z0-9+.\-]*", text):
        raise PluginError(f"invalid URI scheme {scheme!r}: expected letters like 's3'")
    return text


def call_style(fn: Any) -> Literal["request", "legacy"]:
    """``"request"`` for ``fn(request)``, ``"legacy"`` for ``fn(uri, sha256)``.

    Decided by the positional parameters: one means the request form; two or more (or
    ``*args``, or a signature that cannot be read) means the original two-argument form.
    """
    if not callable(fn):
        raise PluginError(f"{fn!r} is not callable, so it cannot resolve URIs")
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return "legacy"
    positional = [
        p
        for p in params
        if p.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    ]
    if any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in params) or len(positional) >= 2:
        return "legacy"
    if len(positional) == 1:
        return "request"
    raise PluginError(
        f"{qualname(fn)} takes no positional argument; a resolver is fn(request) or fn(uri, sha256)"
    )


def add_resolver(scheme: str, fn: AnyResolver, *, source: str, builtin: bool = False) -> str:
    """Put ``fn`` in the table for ``scheme``; return the normalised scheme name.

    ``builtin`` is for the built-in plugin only. Anyone else asking for a built-in scheme
    gets a :class:`PluginError`; a second plugin function for the same scheme replaces the
    first with a warning naming both.
    """
    key = _norm_scheme(scheme)
    style = call_style(fn)
    with _LOCK:
        if not builtin:
            ensure_builtins()
        previous = _TABLE.get(key)
        if previous is not None and previous.builtin and not builtin:
            raise PluginError(
                f"{source} ({qualname(fn)}) tried to register {key}://, a built-in scheme that "
                "plugins cannot replace; use a scheme of your own"
            )
        if previous is not None and previous.fn is not fn and not builtin:
            logger.warning(
                "URI scheme %s:// registered twice: %s replaces %s",
                key,
                qualname(fn),
                qualname(previous.fn),
            )
        _TABLE[key] = Scheme(key, fn, style, source, builtin)
    return key


def ensure_builtins() -> None:
    """Fill the table with the built-in schemes, through the ``zoo_register_resolvers`` hook.

    Called on first use, so :func:`~zoo.weights.resolve` works without a registry. Cheap
    when already done; imports (pluggy, the hook specs, the built-in plugin) happen here,
    not at import time, so ``import zoo.weights`` stays light and free of cycles.
    """
    with _LOCK:
        if any(s.builtin for s in _TABLE.values()):
            return
        import pluggy

        import zoo.weights.builtin as builtin
        from zoo import hookspecs

        pm = pluggy.PluginManager("zoo")
        pm.add_hookspecs(hookspecs)
        pm.register(builtin, name=BUILTIN_PLUGIN)

        def register(scheme: str, fn: AnyResolver) -> None:
            add_resolver(scheme, fn, source=BUILTIN_PLUGIN, builtin=True)

        pm.hook.zoo_register_resolvers(register=register)


def register_scheme(scheme: str, fn: AnyResolver) -> None:
    """Let a plugin resolve ``<scheme>://...`` URIs (``s3://``, a company mirror, ...).

    ``fn`` is ``fn(request) -> ResolvedFile | Path | str`` or the original
    ``fn(uri, sha256) -> Path | str``; :func:`~zoo.weights.resolve` then checks that the
    file exists and verifies sha256/size. Built-in schemes cannot be replaced: that raises
    :class:`~zoo.errors.PluginError`. Registering a scheme twice with different functions
    logs a warning naming both and keeps the newer one. Plugins normally register through
    the ``zoo_register_resolvers`` hook, which ends here.
    """
    add_resolver(scheme, fn, source=qualname(fn))


def unregister_scheme(scheme: str) -> None:
    """Forget a plugin scheme (no error if it was not registered; built-ins stay)."""
    key = _norm_scheme(scheme)
    with _LOCK:
        entry = _TABLE.get(key)
        if entry is not None and not entry.builtin:
            del _TABLE[key]


def lookup(scheme: str) -> Scheme | None:
    """The table row for ``scheme`` (built-ins loaded first)."""
    ensure_builtins()
    return _TABLE.get(scheme.lower())


def builtin_schemes() -> list[str]:
    """Names of the built-in schemes, in the order the built-in plugin registered them."""
    ensure_builtins()
    return [s.name for s in list(_TABLE.values()) if s.builtin]


def supported_schemes() -> list[str]:
    """Built-in schemes followed by plugin-registered ones, as ``name://``."""
    ensure_builtins()
    rows = list(_TABLE.values())
    plugins = sorted(s.name for s in rows if not s.builtin)
    return [f"{s}://" for s in (*(s.name for s in rows if s.builtin), *plugins)]
