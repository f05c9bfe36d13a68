"""The built-in URI schemes, registered as a plugin like any other.

Why a module of its own: built-in features go through the same door as third-party ones
(as in tox or datasette, where core features are plugins on the same pluggy manager). This
module implements the ``zoo_register_resolvers`` hook; the registry registers it on its
plugin manager before the entry-point plugins, and :mod:`zoo.weights.schemes` calls the
same hook on first use when no registry was built. Importing it is cheap: each resolver
imports its hub library only when it runs.
"""

from __future__ import annotations

from zoo.hookspecs import RegisterResolver, hookimpl
from zoo.weights.gdrive import resolve_gdrive
from zoo.weights.hf import resolve_hf
from zoo.weights.http import resolve_http
from zoo.weights.local import resolve_local
from zoo.weights.ms import resolve_ms

#: How each built-in URI is written, for messages that list the supported forms.
URI_FORMS = {
    "hf": "hf://org/repo/path[@revision]",
    "ms": "ms://org/model[/path][@revision]",
    "https": "https://...",
    "http": "http://...",
    "gdrive": "gdrive://FILE_ID",
    "file": "file:///path",
}


@hookimpl
def zoo_register_resolvers(register: RegisterResolver) -> None:
    """hf, ms, https, http, gdrive and file (which also serves plain paths)."""
    register("hf", resolve_hf)
    register("ms", resolve_ms)
    register("https", resolve_http)
    register("http", resolve_http)
    register("gdrive", resolve_gdrive)
    register("file", resolve_local)
