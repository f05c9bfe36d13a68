"""The zoo's own cache on disk: the content-addressed blob store and ``index.json``.

Why a module of its own: both the resolvers (which write) and the cache commands (which
list, verify and remove) need the same layout and the same locking, and neither should
import the other.

* Plain URLs go into ``$ZOO_HOME/blobs/sha256-<hex>``: the name *is* the checksum, so a
  blob present under its name was verified when it was written, and two URIs that serve the
  same bytes share one file. Partial downloads live in ``blobs/incomplete/``.
* ``$ZOO_HOME/index.json`` remembers which URI produced which file (a blob, or a path in
  the Hugging Face / ModelScope caches), so a URI without a registered sha256 is still a
  cache hit offline and ``zoo cache ls`` can show URIs. It is rewritten atomically under a
  file lock so that concurrent pulls do not lose each other's entries.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from zoo.weights.env import cache_dir
from zoo.weights.request import ResolvedFile

logger = logging.getLogger(__name__)


# ------------------------------------------------------------------------------ layout


def blobs_dir() -> Path:
    return cache_dir() / "blobs"


def blob_path(sha: str) -> Path:
    return blobs_dir() / f"sha256-{sha}"


def incomplete_dir() -> Path:
    return blobs_dir() / "incomplete"


def download_key(uri: str, sha: str | None) -> str:
    """Name of a partial download: its sha256 when known, else a hash of the URI."""
    return sha or hashlib.sha256(uri.encode("utf-8")).hexdigest()


def unlink(*paths: Path) -> None:
    """Delete files that may already be gone."""
    for p in paths:
        with contextlib.suppress(FileNotFoundError):
            p.unlink()


def atomic_write_text(path: Path, text: str) -> None:
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


# ------------------------------------------------------------------------------ index.json


def index_path() -> Path:
    return cache_dir() / "index.json"


def read_index() -> dict[str, dict[str, Any]]:
    """URI -> entry. A missing or unreadable index is empty (blobs stay usable by sha)."""
    path = index_path()
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


def update_index(mutate: Callable[[dict[str, dict[str, Any]]], None]) -> None:
    """Read-modify-write ``index.json`` under a lock so concurrent pulls do not lose entries."""
    path = index_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    from filelock import FileLock  # lazy: `zoo list` never needs a lock

    with FileLock(str(path) + ".lock"):
        entries = read_index()
        mutate(entries)
        payload = {"version": 1, "entries": entries}
        atomic_write_text(path, json.dumps(payload, indent=2, sort_keys=True) + "\n")


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def record(uri: str, entry: dict[str, Any]) -> None:
    """Best effort: a read-only cache (copied from another machine) must still resolve."""
    entry = {**entry, "fetched_at": _now()}

    def put(entries: dict[str, dict[str, Any]]) -> None:
        entries[uri] = entry

    try:
        update_index(put)
    except OSError as exc:
        logger.debug("could not record %s in the cache index: %s", uri, exc)


def record_external(uri: str, path: Path, sha256: str | None, source: str) -> None:
    """Remember a file that lives in another library's cache (HF, ModelScope)."""
    st = path.stat()
    record(
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


def index_hit(uri: str, sha256: str | None, size: int | None) -> ResolvedFile | None:
    """A previously verified ``hf://``/``ms://`` file that has not changed on disk.

    When the registry pins a sha256 and we already verified exactly that file (same size and
    mtime), asking the hub whether a branch moved is pointless: the bytes are what the
    registry demands. This makes repeated loads free of network round trips.
    """
    if sha256 is None:
        return None
    entry = read_index().get(uri)
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
