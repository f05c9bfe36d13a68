"""``resolve`` / ``resolve_file``: check the arguments, then hand off to the scheme's resolver.

Why a module of its own (named ``resolving`` so that ``zoo.weights.resolve`` stays the
function): this is the one entry point every caller uses (``zoo.load``,
``zoo pull``, plugins fetching a secondary file), and it knows nothing about any source.
It validates what it was given, builds a :class:`~zoo.weights.request.ResolveRequest`, and
calls whatever the scheme table holds for the URI's scheme: a built-in resolver or a
plugin's, registered the same way.
"""

from __future__ import annotations

from pathlib import Path

from zoo.errors import WeightsError
from zoo.weights.env import is_offline
from zoo.weights.progress import ProgressArg
from zoo.weights.request import ResolvedFile, ResolveRequest
from zoo.weights.schemes import lookup, supported_schemes
from zoo.weights.uris import normalize_sha256, scheme_of


def resolve(
    uri: str,
    sha256: str | None = None,
    size: int | None = None,
    *,
    progress: ProgressArg = True,
    pattern: str | None = None,
    name: str | None = None,
    offline: bool | None = None,
    filename: str | None = None,
) -> Path:
    """Return a local path holding the checkpoint named by ``uri``, downloading if needed.

    Args:
        uri: ``hf://org/repo/path[@rev]``, ``ms://org/model[/path][@rev]``, ``https://...``,
            ``http://...``, ``gdrive://FILE_ID``, ``file:///path``, a local path, or a scheme
            registered by a plugin.
        sha256: expected hex digest; verified after download (and for local files). A
            mismatch deletes the downloaded file and raises :class:`ChecksumError`.
        size: expected size in bytes, checked before hashing.
        progress: ``True`` says where it connects and shows a transient rich bar when
            stderr is a TTY; a callable ``(done, total)`` receives byte counts instead;
            ``False`` is silent.
        pattern: for ``ms://org/model`` without a path, a glob (``"*.pt"``) that must match
            exactly one file of the model.
        name: the model name, used in error messages (``zoo pull NAME``).
        offline: force offline mode on or off; None reads ``ZOO_OFFLINE``.
        filename: display name of the file for messages (default: from the URI).

    Raises:
        OfflineError: offline and not cached.
        ChecksumError: bytes do not match ``sha256``/``size``.
        WeightsError: anything else the user can fix (bad URI, HTTP error, unreachable
            hub, missing file).
    """
    return resolve_file(
        uri,
        sha256,
        size,
        progress=progress,
        pattern=pattern,
        name=name,
        offline=offline,
        filename=filename,
    ).path


def resolve_file(
    uri: str,
    sha256: str | None = None,
    size: int | None = None,
    *,
    progress: ProgressArg = True,
    pattern: str | None = None,
    name: str | None = None,
    offline: bool | None = None,
    filename: str | None = None,
) -> ResolvedFile:
    """Like :func:`resolve` but also reports the sha256/size found and whether it was cached.

    ``zoo pull`` uses this to print what it fetched; ``ms://`` pattern resolution uses it to
    report which file the pattern picked.
    """
    if not isinstance(uri, str) or not uri.strip():
        raise WeightsError("empty weights URI")
    uri = uri.strip()
    sha = normalize_sha256(sha256, uri)
    if size is not None and size < 0:
        raise WeightsError(f"invalid size for {uri}: {size}")
    scheme = scheme_of(uri)
    if pattern is not None and scheme != "ms":
        raise WeightsError(
            f"pattern={pattern!r} is only supported for ms://org/model URIs, not {uri}"
        )
    request = ResolveRequest(
        uri=uri,
        sha256=sha,
        size=size,
        progress=progress,
        pattern=pattern,
        name=name,
        offline=is_offline() if offline is None else offline,
        filename=filename,
    )
    resolver = lookup(scheme or "file")  # a plain path is the file scheme's
    if resolver is None:
        raise WeightsError(_unknown_scheme(uri, scheme or ""))
    return resolver(request)


def _unknown_scheme(uri: str, scheme: str) -> str:
    from zoo.weights.builtin import URI_FORMS

    forms = [URI_FORMS.get(s.removesuffix("://"), s) for s in supported_schemes()]
    return (
        f"unsupported weights URI {uri!r}: unknown scheme {scheme}://; supported: "
        + ", ".join([*forms, "a local path"])
        + " (plugins add schemes with the zoo_register_resolvers hook)"
    )
