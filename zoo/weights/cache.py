"""What is cached, and managing it: ``zoo list``'s cached column and ``zoo cache ls/rm/verify``.

Why a module of its own: these questions are asked without downloading anything, often for
every variant at once, so they must be cheap (no hub library, no re-hashing except in
:func:`verify_cache`) and they span every source: blobs of the zoo store, files in the
Hugging Face and ModelScope caches that ``index.json`` points at, and local files.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zoo.errors import InputError
from zoo.weights.hf import delete_hf_file, hf_cached_path
from zoo.weights.ms import ms_index_key
from zoo.weights.store import (
    blob_path,
    blobs_dir,
    download_key,
    incomplete_dir,
    index_hit,
    read_index,
    unlink,
    update_index,
)
from zoo.weights.uris import (
    SHA256_RE,
    file_uri_to_path,
    normalize_sha256,
    parse_hf_uri,
    parse_ms_uri,
    scheme_of,
)
from zoo.weights.verify import sha256_file


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


def is_cached(uri: str, sha256: str | None = None, *, pattern: str | None = None) -> bool:
    """Whether ``resolve`` would succeed offline; never touches the network nor re-hashes."""
    uri = uri.strip()
    sha = normalize_sha256(sha256, uri)
    scheme = scheme_of(uri)
    if scheme is None:
        return Path(uri).expanduser().exists()
    if scheme == "file":
        return file_uri_to_path(uri).exists()
    if scheme in ("http", "https", "gdrive"):
        if sha is not None:
            return blob_path(sha).is_file()
        entry = read_index().get(uri)
        return bool(entry and entry.get("blob") and (blobs_dir() / entry["blob"]).is_file())
    if scheme == "hf":
        ref = parse_hf_uri(uri)
        if index_hit(uri, sha, None) is not None:
            return True
        return hf_cached_path(ref) is not None
    if scheme == "ms":
        ms_ref = parse_ms_uri(uri)
        entry = read_index().get(ms_index_key(uri, pattern if ms_ref.path is None else None))
        if not entry or not entry.get("path") or not Path(entry["path"]).is_file():
            return False
        return sha is None or entry.get("sha256") == sha
    return False


def list_cache() -> list[CacheEntry]:
    """Everything the zoo cache knows: indexed URIs (any source) and unindexed blobs."""
    entries: list[CacheEntry] = []
    referenced: set[str] = set()
    blobs = blobs_dir()
    for uri, data in sorted(read_index().items()):
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
                    sha256=hexpart if SHA256_RE.fullmatch(hexpart) else None,
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
            part = incomplete_dir() / f"{download_key(entry.uri, None)}.part"
            if part.exists():
                unlink(part, part.with_suffix(".meta"))
                removed.append(part)
        if not entry.present or entry.path in still_used or entry.path in removed:
            continue
        if entry.source == "hf":
            delete_hf_file(entry.path)
        else:
            unlink(entry.path)
        removed.append(entry.path)

    if matched_uris:

        def drop(index: dict[str, dict[str, Any]]) -> None:
            for uri in matched_uris:
                index.pop(uri, None)

        update_index(drop)
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
