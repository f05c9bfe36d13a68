"""Checkpoint resolution, the download cache, and safe loading.

Every model variant names its weights by URI (``hf://``, ``ms://``, ``https://``,
``gdrive://``, ``file://`` or a plain path) plus a sha256 and a size. This module turns such
a URI into a local file and loads it without ever executing code from it.

Design notes (the *why*):

* Hugging Face and ModelScope files live in those libraries' own caches, so a user who
  already has ``~/.cache/huggingface`` does not download anything twice and their tools
  (``hf cache ls``) keep working.
* Plain URLs go into a content-addressed blob store ``$ZOO_HOME/blobs/sha256-<hex>``: the
  name *is* the checksum, so a blob present under its name was verified when it was
  written, and two URIs that serve the same bytes share one file. Partial downloads live in
  ``blobs/incomplete/`` and are resumed with HTTP ``Range``; a :class:`filelock.FileLock`
  makes concurrent pulls (threads or processes) download once.
* ``$ZOO_HOME/index.json`` remembers which URI produced which file, so a URI without a
  registered sha256 is still a cache hit offline and ``zoo cache ls`` can show URIs.
* ``ZOO_OFFLINE=1`` (and ``HF_HUB_OFFLINE=1`` for ``hf://``) means *no* network call at all;
  a missing file is then an :class:`~zoo.errors.OfflineError` that says how to provide it.
* Loading goes through ``torch.load(weights_only=True)`` or safetensors: a checkpoint from the
  internet is data, never code.

Heavy libraries (torch, huggingface_hub, modelscope, rich) are imported inside the functions
that need them so that ``import zoo.weights`` stays cheap for the CLI and for plugin
registration.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import fnmatch
import hashlib
import http.client
import inspect
import json
import logging
import os
import re
import shutil
import struct
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

from pydantic import BaseModel, ConfigDict, Field, field_validator

from zoo.errors import ChecksumError, InputError, OfflineError, PluginError, WeightsError

if TYPE_CHECKING:  # pragma: no cover - typing only
    import torch

__all__ = [
    "CacheEntry",
    "ProgressCallback",
    "ResolvedFile",
    "SchemeResolver",
    "WeightSpec",
    "cache_dir",
    "is_cached",
    "is_offline",
    "list_cache",
    "load_state_dict",
    "register_scheme",
    "remove_from_cache",
    "resolve",
    "resolve_file",
    "safe_torch_load",
    "sha256_file",
    "supported_schemes",
    "unregister_scheme",
    "verify_cache",
]

logger = logging.getLogger("zoo.weights")

#: ``progress(done_bytes, total_bytes_or_None)``; called while a file downloads.
ProgressCallback: TypeAlias = Callable[[int, "int | None"], None]
#: What ``resolve(progress=...)`` accepts: a flag (rich bar on a TTY) or a callback.
ProgressArg: TypeAlias = "bool | ProgressCallback"
#: A plugin resolver for an extra scheme: ``fn(uri, sha256) -> local path``.
SchemeResolver: TypeAlias = Callable[[str, "str | None"], "Path | str"]

_CHUNK = 1 << 20  # 1 MiB: large enough for throughput, small enough for smooth progress
_HASH_CHUNK = 8 << 20
_SHA256_RE = re.compile(r"[0-9a-f]{64}")
_SCHEME_RE = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*)://")
_BUILTIN_SCHEMES = ("hf", "ms", "https", "http", "gdrive", "file")
_GDRIVE_DEFAULT_ENDPOINT = "https://drive.usercontent.google.com"
_TRUE = {"1", "true", "yes", "on"}

#: How many times one ``resolve`` tries (and resumes) an interrupted HTTP download.
DOWNLOAD_ATTEMPTS = 3
#: Seconds to wait before resume attempt *n* is ``RETRY_BACKOFF_S * n``.
RETRY_BACKOFF_S = 1.0


# ---------------------------------------------------------------------------------------
# Small utilities
# ---------------------------------------------------------------------------------------


def _env_true(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in _TRUE


def is_offline() -> bool:
    """True when ``ZOO_OFFLINE`` is set: no resolver may touch the network.

    Read at call time (not import time) so tests and ``zoo --offline`` can flip it.
    Plugin resolvers registered with :func:`register_scheme` should honour it too.
    """
    return _env_true("ZOO_OFFLINE")


def cache_dir() -> Path:
    """The zoo cache root: ``$ZOO_HOME``, default ``~/.cache/zoo``.

    Holds ``blobs/`` (content-addressed downloads) and ``index.json`` (URI -> file).
    Hugging Face and ModelScope files stay in those libraries' caches.
    """
    home = os.environ.get("ZOO_HOME")
    return Path(home).expanduser() if home else Path("~/.cache/zoo").expanduser()


def _hf_cache_dir() -> Path:
    """Hugging Face hub cache, computed from the environment *now*.

    huggingface_hub freezes ``HF_HUB_CACHE``/``HF_HOME`` into constants at import time;
    passing the directory explicitly keeps ``HF_HOME`` set later (tests, CLI flags) effective.
    """
    explicit = os.environ.get("HF_HUB_CACHE") or os.environ.get("HUGGINGFACE_HUB_CACHE")
    if explicit:
        return Path(explicit).expanduser()
    hf_home = os.environ.get("HF_HOME")
    if hf_home:
        return Path(hf_home).expanduser() / "hub"
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path("~/.cache").expanduser()
    return base / "huggingface" / "hub"


def _hf_endpoint() -> str | None:
    """``HF_ENDPOINT`` read at call time (huggingface_hub reads it only at import)."""
    endpoint = os.environ.get("HF_ENDPOINT", "").strip()
    return endpoint.rstrip("/") or None


def _short(path: Path | str) -> str:
    """Path for messages, with the home directory shown as ``~``."""
    text = str(path)
    home = str(Path.home())
    if home not in ("", "/") and (text == home or text.startswith(home + os.sep)):
        return "~" + text[len(home) :]
    return text


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file, read in chunks so multi-GB checkpoints need no RAM."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while True:
            chunk = fh.read(_HASH_CHUNK)
            if not chunk:
                break
            digest.update(chunk)
    return digest.hexdigest()


def _normalize_sha256(value: str | None, uri: str = "") -> str | None:
    """Lower-case hex; accepts a ``sha256:`` prefix as written by some registries."""
    if value is None:
        return None
    text = value.strip().lower()
    for prefix in ("sha256:", "sha256-"):
        if text.startswith(prefix):
            text = text[len(prefix) :]
    if not _SHA256_RE.fullmatch(text):
        where = f" for {uri}" if uri else ""
        raise WeightsError(f"invalid sha256{where}: {value!r} is not 64 hex digits")
    return text


def _scheme_of(uri: str) -> str | None:
    match = _SCHEME_RE.match(uri)
    return match.group(1).lower() if match else None


def _uri_basename(uri: str) -> str:
    """A human name for the file behind a URI (for messages)."""
    body = uri.split("://", 1)[-1]
    body = body.split("?", 1)[0].split("#", 1)[0]
    if _scheme_of(uri) in ("hf", "ms") and "@" in body:
        body = body.rsplit("@", 1)[0]
    name = body.rstrip("/").rsplit("/", 1)[-1]
    return urllib.parse.unquote(name) or uri


# ---------------------------------------------------------------------------------------
# URI parsing
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HfRef:
    """A parsed ``hf://[datasets/|spaces/]org/repo/path/in/repo[@revision]``."""

    repo_id: str
    filename: str
    revision: str
    repo_type: str = "model"


@dataclass(frozen=True)
class MsRef:
    """A parsed ``ms://org/model[/path/in/repo][@revision]``; ``revision`` None = default."""

    model_id: str
    path: str | None
    revision: str | None


_HF_REPO_TYPES = {"models": "model", "datasets": "dataset", "spaces": "space"}


def parse_hf_uri(uri: str) -> HfRef:
    """Split an ``hf://`` URI. The revision follows the *last* ``@`` (it may be ``refs/pr/1``)."""
    body = uri[len("hf://") :] if uri.lower().startswith("hf://") else uri
    revision = "main"
    if "@" in body:
        body, revision = body.rsplit("@", 1)
    parts = body.split("/")
    repo_type = "model"
    if parts and parts[0] in _HF_REPO_TYPES:
        repo_type = _HF_REPO_TYPES[parts[0]]
        parts = parts[1:]
    if len(parts) < 3 or any(not p for p in parts) or not revision:
        raise WeightsError(
            f"malformed Hugging Face URI {uri!r}: expected hf://org/repo/path/in/repo[@revision]"
        )
    return HfRef(
        repo_id=f"{parts[0]}/{parts[1]}",
        filename="/".join(parts[2:]),
        revision=revision,
        repo_type=repo_type,
    )


def parse_ms_uri(uri: str) -> MsRef:
    """Split an ``ms://`` URI; a missing path means "pick a file by pattern"."""
    body = uri[len("ms://") :] if uri.lower().startswith("ms://") else uri
    revision: str | None = None
    if "@" in body:
        body, revision = body.rsplit("@", 1)
        if not revision:
            raise WeightsError(f"malformed ModelScope URI {uri!r}: empty revision after '@'")
    parts = body.rstrip("/").split("/")
    if len(parts) < 2 or any(not p for p in parts):
        raise WeightsError(
            f"malformed ModelScope URI {uri!r}: expected ms://org/model[/path/in/repo][@revision]"
        )
    path = "/".join(parts[2:]) or None
    return MsRef(model_id=f"{parts[0]}/{parts[1]}", path=path, revision=revision)


def _file_uri_to_path(uri: str) -> Path:
    parsed = urllib.parse.urlparse(uri)
    if parsed.netloc not in ("", "localhost"):
        raise WeightsError(
            f"unsupported file URI {uri!r}: only local files (file:///path) can be read"
        )
    return Path(urllib.request.url2pathname(parsed.path))


def _gdrive_url(uri: str) -> str:
    file_id = uri[len("gdrive://") :].strip("/")
    if not file_id or not re.fullmatch(r"[A-Za-z0-9_\-]+", file_id):
        raise WeightsError(f"malformed Google Drive URI {uri!r}: expected gdrive://FILE_ID")
    base = os.environ.get("ZOO_GDRIVE_ENDPOINT", "").strip().rstrip("/")
    base = base or _GDRIVE_DEFAULT_ENDPOINT
    query = urllib.parse.urlencode({"id": file_id, "export": "download", "confirm": "t"})
    return f"{base}/download?{query}"


def check_uri(uri: str) -> None:
    """Raise :class:`WeightsError` if a built-in scheme's URI is malformed (no I/O).

    Unknown schemes pass: a plugin may register them later (see :func:`register_scheme`).
    """
    if not uri or not uri.strip():
        raise WeightsError("empty weights URI")
    scheme = _scheme_of(uri)
    if scheme == "hf":
        parse_hf_uri(uri)
    elif scheme == "ms":
        parse_ms_uri(uri)
    elif scheme == "gdrive":
        _gdrive_url(uri)
    elif scheme == "file":
        _file_uri_to_path(uri)
    elif scheme in ("http", "https") and not urllib.parse.urlparse(uri).netloc:
        raise WeightsError(f"malformed URL {uri!r}: no host")


# ---------------------------------------------------------------------------------------
# Public data types
# ---------------------------------------------------------------------------------------


class WeightSpec(BaseModel):
    """Where a checkpoint comes from and what its bytes must hash to.

    Registry entries carry one of these per variant; ``sha256`` and ``size`` make a
    download verifiable and let a wrong file be deleted instead of loaded. The revision of
    ``hf://``/``ms://`` files is part of the URI (``...@<revision>``).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    uri: str
    sha256: str | None = None
    size: int | None = Field(default=None, ge=0)
    filename: str | None = None
    pattern: str | None = None

    @field_validator("uri")
    @classmethod
    def _valid_uri(cls, value: str) -> str:
        value = value.strip()
        try:
            check_uri(value)
        except WeightsError as exc:
            raise ValueError(str(exc)) from None
        return value

    @field_validator("sha256")
    @classmethod
    def _valid_sha(cls, value: str | None) -> str | None:
        try:
            return _normalize_sha256(value)
        except WeightsError as exc:
            raise ValueError(str(exc)) from None

    @property
    def display_name(self) -> str:
        """``filename`` if given, else the last path component of the URI."""
        return self.filename or _uri_basename(self.uri)

    def resolve(
        self,
        *,
        progress: ProgressArg = True,
        name: str | None = None,
        offline: bool | None = None,
    ) -> Path:
        """Shorthand for :func:`resolve` with this spec's fields."""
        return resolve(
            self.uri,
            self.sha256,
            self.size,
            progress=progress,
            pattern=self.pattern,
            name=name,
            offline=offline,
            filename=self.filename,
        )


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


@dataclass(frozen=True)
class CacheEntry:
    """One file known to the zoo cache (from ``index.json`` or an unindexed blob)."""

    uri: str | None
    path: Path
    size: int | None
    sha256: str | None
    present: bool
    fetched_at: str | None = None
    source: str = "https"


# ---------------------------------------------------------------------------------------
# Scheme registry (plugins)
# ---------------------------------------------------------------------------------------

_SCHEME_REGISTRY: dict[str, SchemeResolver] = {}


def _norm_scheme(scheme: str) -> str:
    text = scheme.strip().lower()
    if text.endswith("://"):
        text = text[:-3]
    if not re.fullmatch(r"[a-z][a-z0-9+.\-]*", text):
        raise PluginError(f"invalid URI scheme {scheme!r}: expected letters like 's3'")
    return text


def register_scheme(scheme: str, fn: SchemeResolver) -> None:
    """Let a plugin resolve ``<scheme>://...`` URIs (``s3://``, a company mirror, ...).

    ``fn(uri, sha256)`` returns a local path; :func:`resolve` then checks that it exists and
    verifies sha256/size. Built-in schemes cannot be replaced (a plugin must not be able to
    silently redirect ``https://``): that raises :class:`~zoo.errors.PluginError`.
    Registering a scheme twice with different functions logs a warning naming both and
    keeps the newer one.
    """
    key = _norm_scheme(scheme)
    if key in _BUILTIN_SCHEMES:
        raise PluginError(
            f"{_qualname(fn)} tried to register {key}://, a built-in scheme that plugins "
            "cannot replace; use a scheme of your own"
        )
    previous = _SCHEME_REGISTRY.get(key)
    if previous is not None and previous is not fn:
        logger.warning(
            "URI scheme %s:// registered twice: %s replaces %s",
            key,
            _qualname(fn),
            _qualname(previous),
        )
    _SCHEME_REGISTRY[key] = fn


def unregister_scheme(scheme: str) -> None:
    """Forget a plugin scheme (no error if it was not registered)."""
    _SCHEME_REGISTRY.pop(_norm_scheme(scheme), None)


def supported_schemes() -> list[str]:
    """Built-in schemes followed by plugin-registered ones, as ``name://``."""
    return [f"{s}://" for s in (*_BUILTIN_SCHEMES, *sorted(_SCHEME_REGISTRY))]


def _qualname(fn: Any) -> str:
    module = getattr(fn, "__module__", None) or "?"
    return f"{module}.{getattr(fn, '__qualname__', repr(fn))}"


# ---------------------------------------------------------------------------------------
# index.json
# ---------------------------------------------------------------------------------------


def _index_path() -> Path:
    return cache_dir() / "index.json"


def _read_index() -> dict[str, dict[str, Any]]:
    """URI -> entry. A missing or unreadable index is empty (blobs stay usable by sha)."""
    path = _index_path()
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        logger.warning("ignoring unreadable cache index %s: %s", path, exc)
        return {}
    entries = raw.get("entries") if isinstance(raw, dict) else None
    if not isinstance(entries, dict):
        return {}
    return {k: v for k, v in entries.items() if isinstance(v, dict)}


def _atomic_write_text(path: Path, text: str) -> None:
    """Write via a temp file in the same directory + ``os.replace``: readers never see half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _update_index(mutate: Callable[[dict[str, dict[str, Any]]], None]) -> None:
    """Read-modify-write ``index.json`` under a lock so concurrent pulls do not lose entries."""
    path = _index_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    from filelock import FileLock  # lazy: `zoo list` never needs a lock

    with FileLock(str(path) + ".lock"):
        entries = _read_index()
        mutate(entries)
        payload = {"version": 1, "entries": entries}
        _atomic_write_text(path, json.dumps(payload, indent=2, sort_keys=True) + "\n")


def _record(uri: str, entry: dict[str, Any]) -> None:
    """Best effort: a read-only cache (copied from another machine) must still resolve."""
    entry = {**entry, "fetched_at": _now()}

    def put(entries: dict[str, dict[str, Any]]) -> None:
        entries[uri] = entry

    try:
        _update_index(put)
    except OSError as exc:
        logger.debug("could not record %s in the cache index: %s", uri, exc)


# ---------------------------------------------------------------------------------------
# Progress
# ---------------------------------------------------------------------------------------


def _noop_progress(done: int, total: int | None) -> None:
    return None


@contextlib.contextmanager
def _progress_reporter(progress: ProgressArg, label: str) -> Iterator[ProgressCallback]:
    """Yield a ``report(done, total)`` function.

    A callback is used as is. ``True`` shows a transient rich bar, but only when stderr is
    a terminal: logs and CI output must not fill with redraws.
    """
    if callable(progress):
        yield progress
        return
    if not progress or not _stderr_is_tty():
        yield _noop_progress
        return
    try:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )
    except ImportError:
        yield _noop_progress
        return
    bar = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        transient=True,
        console=Console(file=sys.stderr),
    )
    with bar:
        task = bar.add_task(label, total=None)

        def report(done: int, total: int | None) -> None:
            bar.update(task, completed=done, total=total)

        yield report


def _stderr_is_tty() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


# ---------------------------------------------------------------------------------------
# Errors with fixes
# ---------------------------------------------------------------------------------------


def _offline_error(
    uri: str, filename: str, name: str | None, reason: str, *, hf: bool = False
) -> OfflineError:
    """One line: the file, its source, and three ways to provide it."""
    model = name or "<model>"
    store = _hf_cache_dir() if hf else cache_dir()
    fixes = [
        f"run `zoo pull {model}` on a machine with network and copy {_short(store)} here",
        "pass --checkpoint PATH",
    ]
    if hf:
        fixes.append("set HF_ENDPOINT to a mirror")
    elif is_offline():
        fixes.append("unset ZOO_OFFLINE if this machine may download")
    how = ", ".join(fixes[:-1]) + ", or " + fixes[-1]
    return OfflineError(
        f"{filename} is not cached and {reason} forbids downloading it (source: {uri}); "
        f"to provide it: {how}"
    )


def _offline_reason(hf: bool = False) -> str:
    if is_offline():
        return "ZOO_OFFLINE=1"
    if hf and _env_true("HF_HUB_OFFLINE"):
        return "HF_HUB_OFFLINE=1"
    return "offline mode"


def _verify_file(
    path: Path,
    uri: str,
    sha256: str | None,
    size: int | None,
    *,
    delete: Callable[[Path], None] | None,
) -> str | None:
    """Check size (cheap) then sha256; on mismatch delete (if we own the file) and raise.

    Returns the computed sha256, or None when none was requested.
    """
    actual_size = path.stat().st_size
    what = "the cached file was deleted" if delete else f"the file {path} was left in place"
    if size is not None and actual_size != size:
        if delete:
            delete(path)
        raise ChecksumError(
            f"size mismatch for {uri}: expected {size} bytes, got {actual_size}; {what}. "
            "Pull it again, or fix the registry entry if upstream changed the file"
        )
    if sha256 is None:
        return None
    actual = sha256_file(path)
    if actual != sha256:
        if delete:
            delete(path)
        raise ChecksumError(
            f"sha256 mismatch for {uri}: expected {sha256}, got {actual}; {what}. "
            "Pull it again, or fix the registry entry if upstream changed the file"
        )
    return actual


def _index_hit(uri: str, sha256: str | None, size: int | None) -> ResolvedFile | None:
    """A previously verified ``hf://``/``ms://`` file that has not changed on disk.

    When the registry pins a sha256 and we already verified exactly that file (same size and
    mtime), asking the hub whether a branch moved is pointless: the bytes are what the
    registry demands. This makes repeated loads free of network round trips.
    """
    if sha256 is None:
        return None
    entry = _read_index().get(uri)
    if not entry or entry.get("sha256") != sha256 or not entry.get("path"):
        return None
    path = Path(entry["path"])
    try:
        st = path.stat()
    except OSError:
        return None
    if st.st_size != entry.get("size") or st.st_mtime_ns != entry.get("mtime_ns"):
        return None
    if size is not None and st.st_size != size:
        return None
    return ResolvedFile(path, uri, sha256, st.st_size, True, str(entry.get("source", "")))


def _record_external(uri: str, path: Path, sha256: str | None, source: str) -> None:
    st = path.stat()
    _record(
        uri,
        {
            "path": str(path),
            "blob": None,
            "sha256": sha256,
            "size": st.st_size,
            "mtime_ns": st.st_mtime_ns,
            "source": source,
        },
    )


# ---------------------------------------------------------------------------------------
# resolve()
# ---------------------------------------------------------------------------------------


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
        progress: ``True`` shows a transient rich bar when stderr is a TTY; a callable
            ``(done, total)`` receives byte counts instead; ``False`` is silent.
        pattern: for ``ms://org/model`` without a path, a glob (``"*.pt"``) that must match
            exactly one file of the model.
        name: the model name, used in error messages (``zoo pull NAME``).
        offline: force offline mode on or off; None reads ``ZOO_OFFLINE``.
        filename: display name of the file for messages (default: from the URI).

    Raises:
        OfflineError: offline and not cached.
        ChecksumError: bytes do not match ``sha256``/``size``.
        WeightsError: anything else the user can fix (bad URI, HTTP error, missing file).
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
    sha = _normalize_sha256(sha256, uri)
    if size is not None and size < 0:
        raise WeightsError(f"invalid size for {uri}: {size}")
    off = is_offline() if offline is None else offline
    display = filename or _uri_basename(uri)
    scheme = _scheme_of(uri)

    if pattern is not None and scheme != "ms":
        raise WeightsError(
            f"pattern={pattern!r} is only supported for ms://org/model URIs, not {uri}"
        )
    if scheme is None:
        return _resolve_local(Path(uri).expanduser(), uri, sha, size)
    if scheme == "file":
        return _resolve_local(_file_uri_to_path(uri), uri, sha, size)
    if scheme in ("http", "https"):
        if not urllib.parse.urlparse(uri).netloc:
            raise WeightsError(f"malformed URL {uri!r}: no host")
        return _resolve_http(uri, uri, sha, size, progress, name, off, display, gdrive=False)
    if scheme == "gdrive":
        url = _gdrive_url(uri)
        return _resolve_http(uri, url, sha, size, progress, name, off, display, gdrive=True)
    if scheme == "hf":
        return _resolve_hf(uri, sha, size, progress, name, off, display)
    if scheme == "ms":
        return _resolve_ms(uri, sha, size, name, off, display, pattern)
    plugin = _SCHEME_REGISTRY.get(scheme)
    if plugin is not None:
        return _resolve_plugin(plugin, uri, sha, size)
    raise WeightsError(
        f"unsupported weights URI {uri!r}: unknown scheme {scheme}://; supported: "
        "hf://org/repo/path[@revision], ms://org/model[/path][@revision], https://..., "
        "http://..., gdrive://FILE_ID, file:///path, a local path"
        + "".join(f", {s}" for s in supported_schemes()[len(_BUILTIN_SCHEMES) :])
        + " (plugins add schemes with the zoo_register_resolvers hook)"
    )


def _resolve_local(path: Path, uri: str, sha: str | None, size: int | None) -> ResolvedFile:
    """Local files are the user's: verify them, never delete them."""
    if not path.exists():
        where = "" if str(path) == uri else f" (from {uri})"
        raise WeightsError(f"checkpoint not found: {path}{where}; check the path")
    if path.is_dir():
        if sha is not None or size is not None:
            raise WeightsError(
                f"{path} is a directory; a sha256/size can only be checked for a single file"
            )
        return ResolvedFile(path, uri, None, 0, True, "local")
    actual = _verify_file(path, uri, sha, size, delete=None)
    return ResolvedFile(path, uri, actual, path.stat().st_size, True, "local")


def _resolve_plugin(
    fn: SchemeResolver, uri: str, sha: str | None, size: int | None
) -> ResolvedFile:
    result = fn(uri, sha)
    if result is None:
        raise WeightsError(f"the resolver {_qualname(fn)} returned no file for {uri}")
    path = Path(result)
    if not path.is_file():
        raise WeightsError(f"the resolver {_qualname(fn)} for {uri} returned {path}, not a file")
    actual = _verify_file(path, uri, sha, size, delete=None)
    return ResolvedFile(path, uri, actual, path.stat().st_size, False, _scheme_of(uri) or "")


# ---------------------------------------------------------------------------------------
# http(s):// and gdrive:// -> content-addressed blob store
# ---------------------------------------------------------------------------------------


def _blobs_dir() -> Path:
    return cache_dir() / "blobs"


def _blob_path(sha: str) -> Path:
    return _blobs_dir() / f"sha256-{sha}"


def _incomplete_dir() -> Path:
    return _blobs_dir() / "incomplete"


def _download_key(uri: str, sha: str | None) -> str:
    return sha or hashlib.sha256(uri.encode("utf-8")).hexdigest()


def _http_timeout() -> float:
    try:
        return float(os.environ.get("ZOO_HTTP_TIMEOUT", "30"))
    except ValueError:
        return 30.0


def _user_agent() -> str:
    try:
        from zoo import __version__
    except ImportError:  # pragma: no cover - partial checkout
        __version__ = "0"
    return f"sam-zoo/{__version__} (+python-urllib)"


def _http_cache_lookup(uri: str, sha: str | None, size: int | None) -> ResolvedFile | None:
    """Find a finished blob without any network: by sha256, else by URI in the index."""
    if sha is not None:
        blob = _blob_path(sha)
        if not blob.is_file():
            return None
        actual_size = blob.stat().st_size
        if size is not None and actual_size != size:
            raise ChecksumError(
                f"size mismatch for {uri}: the registry says {size} bytes but the cached blob "
                f"with sha256 {sha} has {actual_size}; the registry entry is inconsistent"
            )
        entry = _read_index().get(uri)
        if not entry or entry.get("blob") != blob.name:
            _record(uri, {"blob": blob.name, "sha256": sha, "size": actual_size, "source": "https"})
        return ResolvedFile(blob, uri, sha, actual_size, True, "https")
    entry = _read_index().get(uri)
    if not entry or not entry.get("blob"):
        return None
    blob = _blobs_dir() / str(entry["blob"])
    if not blob.is_file():
        return None
    actual_size = blob.stat().st_size
    if size is not None and actual_size != size:
        return None  # the registry now expects something else: fetch again
    recorded = entry.get("sha256")
    return ResolvedFile(blob, uri, recorded, actual_size, True, "https")


def _resolve_http(
    uri: str,
    url: str,
    sha: str | None,
    size: int | None,
    progress: ProgressArg,
    name: str | None,
    offline: bool,
    display: str,
    *,
    gdrive: bool,
) -> ResolvedFile:
    hit = _http_cache_lookup(uri, sha, size)
    if hit is not None:
        return hit
    if offline:
        raise _offline_error(uri, display, name, _offline_reason())

    key = _download_key(uri, sha)
    incomplete = _incomplete_dir()
    incomplete.mkdir(parents=True, exist_ok=True)
    from filelock import FileLock, Timeout

    lock = FileLock(str(incomplete / f"{key}.lock"))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        logger.info("waiting for another process to finish downloading %s", uri)
        lock.acquire()
    try:
        # Whoever held the lock may have just finished this very file.
        hit = _http_cache_lookup(uri, sha, size)
        if hit is not None:
            return hit
        part = incomplete / f"{key}.part"
        actual, nbytes = _download(url, uri, part, size, progress, display, gdrive=gdrive)
        meta = part.with_suffix(".meta")
        if sha is not None and actual != sha:
            _unlink(part, meta)
            raise ChecksumError(
                f"sha256 mismatch for {uri}: expected {sha}, got {actual}; the downloaded file "
                "was deleted. Retry, or fix the registry entry if upstream changed the file"
            )
        if size is not None and nbytes != size:
            _unlink(part, meta)
            raise ChecksumError(
                f"size mismatch for {uri}: expected {size} bytes, got {nbytes}; the downloaded "
                "file was deleted. Retry, or fix the registry entry if upstream changed the file"
            )
        blob = _blob_path(actual)
        os.replace(part, blob)
        _unlink(meta)
        _record(uri, {"blob": blob.name, "sha256": actual, "size": nbytes, "source": "https"})
        if sha is None:
            logger.warning("sha256 of %s: %s (record it in registry.yaml)", uri, actual)
        return ResolvedFile(blob, uri, actual, nbytes, False, "gdrive" if gdrive else "https")
    finally:
        lock.release()


def _unlink(*paths: Path) -> None:
    for p in paths:
        with contextlib.suppress(FileNotFoundError):
            p.unlink()


class _Interrupted(Exception):
    """A transfer stopped early; the ``.part`` file holds a valid prefix to resume from."""

    def __init__(self, reason: str, done: int, total: int | None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.done = done
        self.total = total


def _download(
    url: str,
    uri: str,
    part: Path,
    size: int | None,
    progress: ProgressArg,
    display: str,
    *,
    gdrive: bool,
) -> tuple[str, int]:
    """Stream ``url`` into ``part`` (resuming what is there); return (sha256, size).

    Transient failures are retried up to :data:`DOWNLOAD_ATTEMPTS` times, each retry
    resuming with ``Range``. If all fail the ``.part`` file is kept so that the next
    ``resolve`` (another ``zoo pull``) resumes instead of starting over.
    """
    last: _Interrupted | None = None
    with _progress_reporter(progress, display) as report:
        for attempt in range(1, max(1, DOWNLOAD_ATTEMPTS) + 1):
            try:
                return _download_once(url, uri, part, size, report, gdrive=gdrive)
            except _Interrupted as exc:
                last = exc
                if attempt < DOWNLOAD_ATTEMPTS:
                    logger.warning(
                        "download of %s interrupted after %d bytes (%s); resuming (%d/%d)",
                        uri,
                        exc.done,
                        exc.reason,
                        attempt + 1,
                        DOWNLOAD_ATTEMPTS,
                    )
                    time.sleep(RETRY_BACKOFF_S * attempt)
    assert last is not None
    if last.done == 0:
        raise WeightsError(f"cannot download {uri}: {last.reason}; check the network or the URL")
    of_total = f" of {last.total}" if last.total is not None else ""
    raise WeightsError(
        f"download of {uri} was interrupted after {last.done}{of_total} bytes ({last.reason}); "
        "the partial file was kept: run the same command again to resume"
    )


def _parse_content_range(value: str | None) -> tuple[int, int | None] | None:
    """``bytes 100-199/1000`` -> (100, 1000); total None for ``/*``."""
    if not value:
        return None
    match = re.fullmatch(r"\s*bytes\s+(\d+)-(\d+)/(\d+|\*)\s*", value)
    if not match:
        return None
    total = None if match.group(3) == "*" else int(match.group(3))
    return int(match.group(1)), total


def _download_once(
    url: str,
    uri: str,
    part: Path,
    size: int | None,
    report: ProgressCallback,
    *,
    gdrive: bool,
) -> tuple[str, int]:
    meta_path = part.with_suffix(".meta")
    offset = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": _user_agent(), "Accept-Encoding": "identity"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
        # If-Range: a server whose file changed since the first attempt answers 200 (full
        # body) instead of splicing new bytes onto old ones.
        validator = _read_meta(meta_path).get("validator")
        if validator:
            headers["If-Range"] = validator
    request = urllib.request.Request(url, headers=headers)
    try:
        response = urllib.request.urlopen(request, timeout=_http_timeout())
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and offset:
            # Our partial file does not fit the server's file: start over.
            _unlink(part, meta_path)
            raise _Interrupted("server rejected the resume range; restarting", 0, None) from exc
        hint = " (is the file shared publicly?)" if gdrive and exc.code in (401, 403) else ""
        raise WeightsError(
            f"cannot download {uri}: HTTP {exc.code} {exc.reason} from {url}{hint}"
        ) from exc
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise _Interrupted(f"{type(exc).__name__}: {reason}", offset, None) from exc

    with response:
        status = getattr(response, "status", 200)
        digest = hashlib.sha256()
        total: int | None
        if offset and status == 206:
            parsed = _parse_content_range(response.headers.get("Content-Range"))
            if parsed is None or parsed[0] != offset:
                _unlink(part, meta_path)
                raise _Interrupted("server sent an unexpected range; restarting", 0, None)
            total = parsed[1]
            with open(part, "rb") as fh:  # the hash must cover the bytes we already have
                for chunk in iter(lambda: fh.read(_HASH_CHUNK), b""):
                    digest.update(chunk)
            mode = "ab"
        elif status == 200:
            if offset:
                logger.info("server does not resume %s; downloading from the start", uri)
            offset = 0
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            mode = "wb"
            etag = response.headers.get("ETag") or ""
            # If-Range needs a strong validator: a weak ETag would make every resume restart.
            strong = etag if etag and not etag.startswith("W/") else None
            validator = strong or response.headers.get("Last-Modified")
            _write_meta(meta_path, {"url": url, "validator": validator})
        else:
            raise WeightsError(f"cannot download {uri}: unexpected HTTP {status} from {url}")

        content_type = (response.headers.get("Content-Type") or "").lower()
        if gdrive and content_type.startswith("text/html"):
            _unlink(part, meta_path)
            raise WeightsError(
                f"Google Drive returned a web page instead of the file for {uri} (the file is "
                "not shared publicly, or its download quota is exceeded); download it in a "
                "browser and pass --checkpoint PATH"
            )
        if size is not None and total is not None and total != size:
            _unlink(part, meta_path)
            raise ChecksumError(
                f"size mismatch for {uri}: the server reports {total} bytes, expected {size}; "
                "nothing was kept. Fix the registry entry if upstream changed the file"
            )
        if total is not None:
            _check_disk_space(part.parent, total - offset, uri)

        done = offset
        report(done, total)
        with open(part, mode) as out:
            try:
                while True:
                    chunk = response.read(_CHUNK)
                    if not chunk:
                        break
                    out.write(chunk)
                    digest.update(chunk)
                    done += len(chunk)
                    report(done, total)
            except (OSError, http.client.HTTPException) as exc:
                raise _Interrupted(f"{type(exc).__name__}: {exc}", done, total) from exc
            finally:
                out.flush()
                os.fsync(out.fileno())
    if total is not None and done < total:
        raise _Interrupted("connection closed early", done, total)
    if total is not None and done > total:
        _unlink(part, meta_path)
        raise WeightsError(
            f"cannot download {uri}: the server sent {done} bytes but announced {total}"
        )
    return digest.hexdigest(), done


def _read_meta(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_meta(path: Path, data: Mapping[str, Any]) -> None:
    with contextlib.suppress(OSError):
        _atomic_write_text(path, json.dumps(dict(data)))


def _check_disk_space(directory: Path, needed: int, uri: str) -> None:
    try:
        free = shutil.disk_usage(directory).free
    except OSError:
        return
    if needed > free:
        raise WeightsError(
            f"not enough disk space for {uri}: need {needed} bytes in {directory}, "
            f"{free} free; free space or set ZOO_HOME to a larger disk"
        )


# ---------------------------------------------------------------------------------------
# hf://
# ---------------------------------------------------------------------------------------


def _hf_tqdm_class(progress: ProgressArg) -> Any:
    """A tqdm class for huggingface_hub: silent, forwarding to a callback, or None (default)."""
    if progress is True and _stderr_is_tty():
        return None  # huggingface_hub's own bar
    try:
        from tqdm.auto import tqdm as base
    except ImportError:  # pragma: no cover - tqdm is a huggingface_hub dependency
        return None
    callback = progress if callable(progress) else None

    class _ZooTqdm(base):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs["disable"] = True
            kwargs.pop("name", None)  # some huggingface_hub versions pass it; tqdm rejects it
            super().__init__(*args, **kwargs)
            self._zoo_done = int(kwargs.get("initial") or 0)

        def update(self, n: float | None = 1) -> bool | None:
            self._zoo_done += int(n or 0)
            if callback is not None:
                callback(self._zoo_done, self.total)
            return None

    return _ZooTqdm


def _hf_error(exc: BaseException, uri: str, ref: HfRef, name: str | None) -> WeightsError | None:
    """Translate huggingface_hub's exceptions into one-line messages with a fix."""
    try:
        from huggingface_hub.utils import (
            EntryNotFoundError,
            GatedRepoError,
            HfHubHTTPError,
            LocalEntryNotFoundError,
            RepositoryNotFoundError,
            RevisionNotFoundError,
        )
    except ImportError:  # pragma: no cover
        return None
    where = f"{ref.repo_id}@{ref.revision}"
    if isinstance(exc, GatedRepoError):
        return WeightsError(
            f"{uri}: the repository {ref.repo_id} is gated; accept its terms on the Hub and "
            "set HF_TOKEN, or pass --checkpoint PATH"
        )
    if isinstance(exc, RepositoryNotFoundError):
        return WeightsError(
            f"{uri}: repository {ref.repo_id} not found on {_hf_endpoint() or 'the Hub'} "
            "(or it is private: set HF_TOKEN)"
        )
    if isinstance(exc, RevisionNotFoundError):
        return WeightsError(f"{uri}: revision {ref.revision!r} not found in {ref.repo_id}")
    # LocalEntryNotFoundError (no network, not cached) subclasses EntryNotFoundError in
    # recent huggingface_hub releases, so it must be checked first.
    if isinstance(exc, LocalEntryNotFoundError):
        endpoint = _hf_endpoint() or "https://huggingface.co"
        return WeightsError(
            f"cannot reach the Hugging Face Hub at {endpoint} and {ref.filename} is not cached "
            f"(source: {uri}); check the network, set HF_ENDPOINT to a mirror, or run "
            f"`zoo pull {name or '<model>'}` elsewhere and copy {_short(_hf_cache_dir())}, "
            "or pass --checkpoint PATH"
        )
    if isinstance(exc, EntryNotFoundError):
        return WeightsError(f"{uri}: file {ref.filename!r} not found in {where}")
    if isinstance(exc, HfHubHTTPError):
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return WeightsError(f"cannot download {uri}: {first}")
    module = type(exc).__module__ or ""
    if isinstance(exc, (OSError, ValueError)) or module.startswith(("httpx", "httpcore")):
        return WeightsError(f"cannot download {uri}: {type(exc).__name__}: {exc}")
    return None


def _delete_hf_file(pointer: Path) -> None:
    """Remove a file from the HF cache: the blob and every snapshot link to it.

    Leaving a dangling snapshot symlink would make huggingface_hub believe the file is
    cached; removing every link makes the next download fetch it cleanly.
    """
    try:
        blob = Path(os.path.realpath(pointer))
        if pointer.is_symlink() and blob.parent.name == "blobs":
            snapshots = blob.parent.parent / "snapshots"
            if snapshots.is_dir():
                for link in snapshots.rglob("*"):
                    if link.is_symlink() and Path(os.path.realpath(link)) == blob:
                        link.unlink()
            _unlink(blob)
        else:
            _unlink(pointer)
    except OSError as exc:
        logger.warning("could not delete %s from the Hugging Face cache: %s", pointer, exc)


def _hf_known_sha(path: Path) -> str | None:
    """An LFS blob is named by its sha256: use it instead of re-hashing gigabytes."""
    blob_name = Path(os.path.realpath(path)).name
    return blob_name if _SHA256_RE.fullmatch(blob_name) else None


def _resolve_hf(
    uri: str,
    sha: str | None,
    size: int | None,
    progress: ProgressArg,
    name: str | None,
    offline: bool,
    display: str,
) -> ResolvedFile:
    ref = parse_hf_uri(uri)
    hit = _index_hit(uri, sha, size)
    if hit is not None:
        return hit
    try:
        import huggingface_hub
    except ImportError as exc:
        raise WeightsError(
            f"{uri} is on the Hugging Face Hub, which needs huggingface_hub: "
            "pip install huggingface-hub"
        ) from exc
    cache = _hf_cache_dir()
    hf_offline = offline or _env_true("HF_HUB_OFFLINE")
    downloaded = False
    if hf_offline:
        found = huggingface_hub.try_to_load_from_cache(
            ref.repo_id,
            ref.filename,
            cache_dir=str(cache),
            revision=ref.revision,
            repo_type=ref.repo_type,
        )
        if not isinstance(found, str):
            raise _offline_error(uri, display, name, _offline_reason(hf=True), hf=True)
        path = Path(found)
    else:
        before = huggingface_hub.try_to_load_from_cache(
            ref.repo_id,
            ref.filename,
            cache_dir=str(cache),
            revision=ref.revision,
            repo_type=ref.repo_type,
        )
        kwargs: dict[str, Any] = {
            "revision": ref.revision,
            "repo_type": ref.repo_type,
            "cache_dir": str(cache),
            "endpoint": _hf_endpoint(),
        }
        params = inspect.signature(huggingface_hub.hf_hub_download).parameters
        tqdm_class = _hf_tqdm_class(progress)
        if tqdm_class is not None and "tqdm_class" in params:
            kwargs["tqdm_class"] = tqdm_class
        hf_logger = logging.getLogger("huggingface_hub")
        level = hf_logger.level
        hf_logger.setLevel(logging.ERROR)  # its per-retry warnings would bury our one line
        try:
            path = Path(huggingface_hub.hf_hub_download(ref.repo_id, ref.filename, **kwargs))
        except Exception as exc:
            mapped = _hf_error(exc, uri, ref, name)
            if mapped is None:
                raise
            raise mapped from exc
        finally:
            hf_logger.setLevel(level)
        downloaded = not isinstance(before, str) or not os.path.exists(before)

    actual = _verify_file(path, uri, sha, size, delete=_delete_hf_file)
    known = actual or _hf_known_sha(path)
    if known is None and path.stat().st_size <= 64 << 20:
        known = sha256_file(path)  # small non-LFS file: hashing is cheap
    _record_external(uri, path, known, "hf")
    if sha is None and known is not None and downloaded:
        logger.info("sha256 of %s: %s (record it in registry.yaml)", uri, known)
    return ResolvedFile(path, uri, known, path.stat().st_size, not downloaded, "hf")


# ---------------------------------------------------------------------------------------
# ms://
# ---------------------------------------------------------------------------------------


def _ms_index_key(uri: str, pattern: str | None) -> str:
    return f"{uri}#pattern={pattern}" if pattern else uri


def _pick_by_pattern(root: Path, pattern: str, uri: str) -> Path:
    """The single checkpoint under ``root`` matching ``pattern`` (by relative path or name)."""
    files = []
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        if any(part.startswith(".") or part.startswith("._") for part in rel.split("/")):
            continue  # hub metadata (.msc, .mv, ._____temp)
        if p.is_file():
            files.append((rel, p))
    matches = [
        p for rel, p in files if fnmatch.fnmatch(rel, pattern) or fnmatch.fnmatch(p.name, pattern)
    ]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        listing = ", ".join(rel for rel, _ in files[:10]) or "no files"
        raise WeightsError(f"no file in {uri} matches {pattern!r} (found: {listing})")
    names = ", ".join(p.relative_to(root).as_posix() for p in matches[:10])
    raise WeightsError(
        f"{len(matches)} files in {uri} match {pattern!r} ({names}); use a narrower pattern "
        f"or name the file: {uri.split('@')[0]}/<file>"
    )


def _resolve_ms(
    uri: str,
    sha: str | None,
    size: int | None,
    name: str | None,
    offline: bool,
    display: str,
    pattern: str | None,
) -> ResolvedFile:
    ref = parse_ms_uri(uri)
    if ref.path is None and pattern is None:
        raise WeightsError(
            f"{uri} names a ModelScope model but no file: add the path "
            "(ms://org/model/path/in/repo) or pass pattern='*.pt'"
        )
    key = _ms_index_key(uri, pattern if ref.path is None else None)
    hit = _index_hit(key, sha, size)
    if hit is not None:
        return hit
    try:
        from modelscope.hub.file_download import model_file_download
        from modelscope.hub.snapshot_download import snapshot_download
    except ImportError as exc:
        raise WeightsError(
            f"{uri} is hosted on ModelScope, which needs the modelscope package: "
            "pip install modelscope (or pip install 'sam-zoo[modelscope]')"
        ) from exc

    fn: Callable[..., Any] = model_file_download if ref.path else snapshot_download
    params = inspect.signature(fn).parameters
    kwargs: dict[str, Any] = {}
    if ref.revision is not None:
        kwargs["revision"] = ref.revision
    if offline:
        if "local_files_only" not in params:
            raise _offline_error(uri, display, name, _offline_reason())
        kwargs["local_files_only"] = True
    if ref.path is None:
        if "allow_patterns" in params:
            kwargs["allow_patterns"] = [pattern]
        elif "allow_file_pattern" in params:
            kwargs["allow_file_pattern"] = pattern
    try:
        if ref.path:
            result = model_file_download(ref.model_id, ref.path, **kwargs)
        else:
            result = snapshot_download(ref.model_id, **kwargs)
    except Exception as exc:
        if offline:
            raise _offline_error(uri, display, name, _offline_reason()) from exc
        raise WeightsError(
            f"cannot download {uri} from ModelScope: {type(exc).__name__}: {exc}"
        ) from exc
    if ref.path:
        path = Path(result)
    else:
        assert pattern is not None
        path = _pick_by_pattern(Path(result), pattern, uri)
    if not path.is_file():
        raise WeightsError(f"ModelScope returned {path} for {uri}, which is not a file")

    actual = _verify_file(path, uri, sha, size, delete=_unlink)
    actual = actual or sha256_file(path)
    nbytes = path.stat().st_size
    _record_external(key, path, actual, "ms")
    if ref.path is None:
        logger.info(
            "%s: pattern %r picked %s (sha256 %s, %d bytes)",
            uri,
            pattern,
            path.name,
            actual,
            nbytes,
        )
    if sha is None:
        logger.info("sha256 of %s: %s (record it in registry.yaml)", key, actual)
    return ResolvedFile(path, uri, actual, nbytes, False, "ms")


# ---------------------------------------------------------------------------------------
# Cache queries
# ---------------------------------------------------------------------------------------


def _hf_cached_path(ref: HfRef) -> Path | None:
    """Look up the hub cache's documented layout directly.

    ``zoo list`` calls this for every variant; importing ``huggingface_hub`` for it costs more
    than the rest of the command, so we read ``models--org--repo/{refs,snapshots}`` ourselves.
    """
    kind = {"model": "models", "dataset": "datasets", "space": "spaces"}.get(
        ref.repo_type, "models"
    )
    root = _hf_cache_dir() / f"{kind}--{ref.repo_id.replace('/', '--')}"
    revision = ref.revision or "main"
    refs_file = root / "refs" / revision
    if refs_file.is_file():
        revision = refs_file.read_text().strip()
    candidate = root / "snapshots" / revision / ref.filename
    return candidate if candidate.is_file() else None


def is_cached(uri: str, sha256: str | None = None, *, pattern: str | None = None) -> bool:
    """Whether ``resolve`` would succeed offline; never touches the network nor re-hashes."""
    uri = uri.strip()
    sha = _normalize_sha256(sha256, uri)
    scheme = _scheme_of(uri)
    if scheme is None:
        return Path(uri).expanduser().exists()
    if scheme == "file":
        return _file_uri_to_path(uri).exists()
    if scheme in ("http", "https", "gdrive"):
        if sha is not None:
            return _blob_path(sha).is_file()
        entry = _read_index().get(uri)
        return bool(entry and entry.get("blob") and (_blobs_dir() / entry["blob"]).is_file())
    if scheme == "hf":
        ref = parse_hf_uri(uri)
        if _index_hit(uri, sha, None) is not None:
            return True
        return _hf_cached_path(ref) is not None
    if scheme == "ms":
        ms_ref = parse_ms_uri(uri)
        entry = _read_index().get(_ms_index_key(uri, pattern if ms_ref.path is None else None))
        if not entry or not entry.get("path") or not Path(entry["path"]).is_file():
            return False
        return sha is None or entry.get("sha256") == sha
    return False


def list_cache() -> list[CacheEntry]:
    """Everything the zoo cache knows: indexed URIs (any source) and unindexed blobs."""
    entries: list[CacheEntry] = []
    referenced: set[str] = set()
    blobs = _blobs_dir()
    for uri, data in sorted(_read_index().items()):
        blob = data.get("blob")
        if blob:
            path = blobs / str(blob)
            referenced.add(str(blob))
        elif data.get("path"):
            path = Path(str(data["path"]))
        else:
            continue
        entries.append(
            CacheEntry(
                uri=uri,
                path=path,
                size=data.get("size"),
                sha256=data.get("sha256"),
                present=path.is_file(),
                fetched_at=data.get("fetched_at"),
                source=str(data.get("source") or ("https" if blob else "external")),
            )
        )
    if blobs.is_dir():
        for p in sorted(blobs.glob("sha256-*")):
            if p.name in referenced or not p.is_file():
                continue
            hexpart = p.name[len("sha256-") :]
            entries.append(
                CacheEntry(
                    uri=None,
                    path=p,
                    size=p.stat().st_size,
                    sha256=hexpart if _SHA256_RE.fullmatch(hexpart) else None,
                    present=True,
                    source="https",
                )
            )
    return entries


def remove_from_cache(uri_or_sha_prefix: str) -> list[Path]:
    """Delete cached files by exact URI or by a sha256 prefix (>= 4 hex digits).

    Returns the deleted file paths (empty if nothing matched). A prefix matching files with
    different checksums is refused: ``zoo cache rm ab`` must not wipe several models.
    Hugging Face files are removed from the HF cache (blob + snapshot links).
    """
    target = uri_or_sha_prefix.strip()
    if not target:
        raise InputError("nothing to remove: give a URI or a sha256 prefix (4+ hex digits)")
    prefix = target.lower()
    for p in ("sha256-", "sha256:"):
        if prefix.startswith(p):
            prefix = prefix[len(p) :]
    by_sha = len(prefix) >= 4 and re.fullmatch(r"[0-9a-f]+", prefix) is not None

    entries = list_cache()
    matched = [
        e
        for e in entries
        if e.uri == target or (by_sha and e.sha256 is not None and e.sha256.startswith(prefix))
    ]
    shas = {e.sha256 for e in matched if e.uri != target}
    if len(shas) > 1:
        listing = ", ".join(sorted(s[:16] for s in shas if s))
        raise InputError(f"sha256 prefix {target!r} is ambiguous ({listing}); give more digits")
    if not matched:
        return []

    removed: list[Path] = []
    matched_uris = {e.uri for e in matched if e.uri is not None}
    still_used = {
        e.path for e in entries if e.uri is not None and e.uri not in matched_uris and e.present
    }
    for entry in matched:
        if entry.uri is not None:
            part = _incomplete_dir() / f"{_download_key(entry.uri, None)}.part"
            if part.exists():
                _unlink(part, part.with_suffix(".meta"))
                removed.append(part)
        if not entry.present or entry.path in still_used or entry.path in removed:
            continue
        if entry.source == "hf":
            _delete_hf_file(entry.path)
        else:
            _unlink(entry.path)
        removed.append(entry.path)

    if matched_uris:

        def drop(index: dict[str, dict[str, Any]]) -> None:
            for uri in matched_uris:
                index.pop(uri, None)

        _update_index(drop)
    return removed


def verify_cache(
    entries: Iterable[CacheEntry] | None = None,
) -> list[tuple[CacheEntry, bool, str]]:
    """Re-hash cached files: ``(entry, ok, message)`` for each (default: all of them).

    Pass a subset (e.g. one entry at a time) to drive a progress display from the CLI.
    """
    results: list[tuple[CacheEntry, bool, str]] = []
    for entry in list_cache() if entries is None else entries:
        if not entry.present:
            results.append((entry, False, f"missing: {entry.path}"))
            continue
        try:
            actual = sha256_file(entry.path)
        except OSError as exc:
            results.append((entry, False, f"unreadable: {exc}"))
            continue
        expected = entry.sha256
        if entry.path.name.startswith("sha256-"):
            expected = expected or entry.path.name[len("sha256-") :]
        if expected is None:
            results.append((entry, True, f"no recorded sha256 (actual {actual})"))
        elif actual == expected:
            results.append((entry, True, "ok"))
        else:
            results.append(
                (
                    entry,
                    False,
                    f"sha256 mismatch: expected {expected}, got {actual}; remove it with "
                    f"`zoo cache rm {expected[:12]}` and pull again",
                )
            )
    return results


# ---------------------------------------------------------------------------------------
# Safe loading
# ---------------------------------------------------------------------------------------


def _looks_like_safetensors(path: Path) -> bool:
    """Sniff the header: blobs in the store have no file extension to go by."""
    if path.suffix == ".safetensors":
        return True
    try:
        with open(path, "rb") as fh:
            head = fh.read(9)
        file_size = path.stat().st_size
    except OSError:
        return False
    if len(head) < 9 or head[8:9] != b"{":
        return False
    (header_len,) = struct.unpack("<Q", head[:8])
    return 2 <= header_len <= file_size - 8


def _corrupt(path: Path, exc: BaseException) -> WeightsError:
    detail = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    detail = f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__
    return WeightsError(
        f"{path} is corrupt or truncated ({detail[:200]}); re-download it: "
        "`zoo cache rm <uri-or-sha>` then `zoo pull <model>`"
    )


def safe_torch_load(path: str | os.PathLike[str]) -> Any:
    """Load a checkpoint without running code from it.

    ``.safetensors`` (by suffix or header) go through safetensors; everything else through
    ``torch.load(map_location="cpu", weights_only=True)``. A pickle that needs arbitrary
    globals is refused rather than trusted, and a damaged file becomes a
    :class:`WeightsError` that says how to fetch it again. Dtypes are left untouched.
    """
    p = Path(path)
    if not p.is_file():
        raise WeightsError(f"checkpoint not found: {p}")
    if _looks_like_safetensors(p):
        try:
            from safetensors.torch import load_file
        except ImportError as exc:
            raise WeightsError(f"{p} is a safetensors file: pip install safetensors") from exc
        try:
            return load_file(str(p), device="cpu")
        except Exception as exc:
            raise _corrupt(p, exc) from exc

    import pickle

    import torch

    try:
        return torch.load(str(p), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        message = str(exc)
        if "weights only" not in message.lower() and "weights_only" not in message.lower():
            raise _corrupt(p, exc) from exc
        # torch's restricted unpickler refused something. Tell a malicious or code-bearing
        # pickle apart from a damaged file by decoding the opcodes (decoding runs nothing).
        found = _pickle_globals(p)
        if found is None:
            raise _corrupt(p, exc) from exc
        suspicious = sorted({g for g in found if not g.startswith(_DATA_GLOBALS)})
        if suspicious:
            reason = "references " + ", ".join(suspicious[:3])
            raise WeightsError(
                f"refusing to unpickle {p}: it contains code objects ({reason}); convert it "
                "to safetensors or a plain state dict"
            ) from exc
        raise WeightsError(
            f"refusing to unpickle {p}: torch's weights_only loader rejects it "
            f"({_weights_only_reason(message)}); convert it to safetensors or a plain state dict"
        ) from exc
    except MemoryError:
        raise
    except Exception as exc:
        raise _corrupt(p, exc) from exc


#: Globals that plain tensor checkpoints legitimately reference.
_DATA_GLOBALS = ("torch.", "collections.OrderedDict", "_codecs.encode", "numpy.")


def _pickle_globals(path: Path) -> list[str] | None:
    """Names of the globals a pickle would import, or None if it is not a valid pickle.

    Uses :func:`pickletools.genops`, which decodes opcodes without executing them. Handles
    torch's zip format (``*/data.pkl``) and the legacy format (several pickles in a row,
    followed by raw storage bytes: only the leading pickles are decoded).
    """
    import pickletools
    import zipfile

    found: list[str] = []

    def scan(fh: Any, max_pickles: int) -> bool:
        parsed = 0
        while parsed < max_pickles:
            if not fh.peek(1):  # end of the pickle stream(s)
                break
            strings: list[str] = []
            try:
                for op, arg, _pos in pickletools.genops(fh):
                    if op.name in ("GLOBAL", "INST"):
                        found.append(str(arg).replace(" ", "."))
                    elif op.name == "STACK_GLOBAL" and len(strings) >= 2:
                        found.append(f"{strings[-2]}.{strings[-1]}")
                    elif isinstance(arg, str):
                        strings.append(arg)
            except Exception:
                return parsed > 0
            parsed += 1
        return parsed > 0

    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as zf:
                members = [n for n in zf.namelist() if n.endswith("data.pkl")]
                if not members:
                    return None
                with zf.open(members[0]) as member:
                    return found if scan(member, 1) else None
        with open(path, "rb") as fh:
            return found if scan(fh, 5) else None
    except (OSError, zipfile.BadZipFile):
        return None


def _weights_only_reason(message: str) -> str:
    """The informative line of torch's long weights_only refusal."""
    for line in message.splitlines():
        text = line.replace("WeightsUnpickler error:", "").strip()
        if text and ("unsupported" in text.lower() or "blocked" in text.lower()):
            return text[:200]
    return "objects outside the weights_only allow-list"


def load_state_dict(
    path: str | os.PathLike[str], key: str | None = "model"
) -> dict[str, torch.Tensor]:
    """Load a checkpoint and return its flat ``name -> tensor`` state dict.

    Training scripts wrap weights differently (``{"model": sd}``, ``{"state_dict": sd}``,
    or the bare dict); the first of ``key``, ``"model"``, ``"state_dict"`` holding a mapping
    wins, else the top level is used if every value is a tensor. Values are returned as
    stored: no dtype conversion, so fp16 subnormals survive bit for bit.
    """
    import torch

    p = Path(path)
    obj = safe_torch_load(p)
    if not isinstance(obj, Mapping):
        raise WeightsError(
            f"{p} holds a {type(obj).__name__}, not a state dict; save model.state_dict()"
        )
    candidates: list[str] = []
    for k in (key, "model", "state_dict"):
        if k is not None and k not in candidates:
            candidates.append(k)
    state: Mapping[Any, Any] = obj
    for k in candidates:
        inner = obj.get(k)
        if isinstance(inner, Mapping):
            state = inner
            break
    bad = [str(k) for k, v in state.items() if not isinstance(v, torch.Tensor)]
    if bad:
        tried = ", ".join(repr(c) for c in candidates)
        top = ", ".join(str(k) for k in list(obj.keys())[:10])
        raise WeightsError(
            f"{p} has no state dict under {tried} and its top level is not all tensors "
            f"(non-tensor entries: {', '.join(bad[:5])}; top-level keys: {top}); "
            "pass the right key"
        )
    return {str(k): v for k, v in state.items()}
