"""``https://`` and ``http://`` downloads into the content-addressed blob store.

Why a module of its own: this is the one place where the zoo itself moves bytes over the
network (Google Drive goes through it too), and getting that right takes care:

* resumable: a partial download stays in ``blobs/incomplete/<key>.part`` and is continued
  with ``Range`` (and ``If-Range``, so a file changed upstream restarts instead of being
  spliced), within one call and across calls;
* once: a :class:`filelock.FileLock` per file makes concurrent pulls (threads or processes)
  download it a single time;
* atomic: the blob appears under its sha256 name only after the hash matched;
* bounded: a server that does not answer is given ``ZOO_HUB_TIMEOUT`` seconds per try and
  ``HUB_TRIES`` tries, announced before connecting, then a one-line error that says how to
  work offline; a download that has started may stall for ``ZOO_HTTP_TIMEOUT`` seconds.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import logging
import os
import re
import shutil
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from zoo.errors import ChecksumError, WeightsError
from zoo.weights.env import HUB_TRIES, cache_dir, http_timeout, hub_timeout
from zoo.weights.messages import (
    checkpoint_fix,
    first_line,
    is_timeout,
    offline_error,
    offline_reason,
    unreachable_error,
)
from zoo.weights.progress import ProgressCallback, announce, progress_reporter
from zoo.weights.request import ResolvedFile, ResolveRequest
from zoo.weights.store import (
    atomic_write_text,
    blob_path,
    blobs_dir,
    download_key,
    incomplete_dir,
    read_index,
    record,
    unlink,
)
from zoo.weights.uris import check_url
from zoo.weights.verify import HASH_CHUNK

logger = logging.getLogger(__name__)

_CHUNK = 1 << 20  # 1 MiB: large enough for throughput, small enough for smooth progress

#: How many times one ``resolve`` tries (and resumes) an interrupted HTTP download.
DOWNLOAD_ATTEMPTS = 3
#: Seconds to wait before resume attempt *n* is ``RETRY_BACKOFF_S * n``.
RETRY_BACKOFF_S = 1.0


def resolve_http(request: ResolveRequest) -> ResolvedFile:
    """The ``http``/``https`` resolver: the URL is the URI."""
    check_url(request.uri)
    return fetch_into_store(request, request.uri, gdrive=False)


def user_agent() -> str:
    try:
        from zoo import __version__
    except ImportError:  # pragma: no cover - partial checkout
        __version__ = "0"
    return f"sam-zoo/{__version__} (+python-urllib)"


def http_cache_lookup(uri: str, sha: str | None, size: int | None) -> ResolvedFile | None:
    """Find a finished blob without any network: by sha256, else by URI in the index."""
    if sha is not None:
        blob = blob_path(sha)
        if not blob.is_file():
            return None
        actual_size = blob.stat().st_size
        if size is not None and actual_size != size:
            raise ChecksumError(
                f"size mismatch for {uri}: the registry says {size} bytes but the cached blob "
                f"with sha256 {sha} has {actual_size}; the registry entry is inconsistent"
            )
        entry = read_index().get(uri)
        if not entry or entry.get("blob") != blob.name:
            record(uri, {"blob": blob.name, "sha256": sha, "size": actual_size, "source": "https"})
        return ResolvedFile(blob, uri, sha, actual_size, True, "https")
    entry = read_index().get(uri)
    if not entry or not entry.get("blob"):
        return None
    blob = blobs_dir() / str(entry["blob"])
    if not blob.is_file():
        return None
    actual_size = blob.stat().st_size
    if size is not None and actual_size != size:
        return None  # the registry now expects something else: fetch again
    recorded = entry.get("sha256")
    return ResolvedFile(blob, uri, recorded, actual_size, True, "https")


def fetch_into_store(request: ResolveRequest, url: str, *, gdrive: bool) -> ResolvedFile:
    """Return the blob for ``request.uri``, downloading ``url`` into the store if needed."""
    uri, sha, size = request.uri, request.sha256, request.size
    hit = http_cache_lookup(uri, sha, size)
    if hit is not None:
        return hit
    if request.offline:
        raise offline_error(request, [cache_dir()], offline_reason())
    timeouts = (hub_timeout(), http_timeout())  # a bad ZOO_HUB_TIMEOUT fails before any I/O

    key = download_key(uri, sha)
    incomplete = incomplete_dir()
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
        hit = http_cache_lookup(uri, sha, size)
        if hit is not None:
            return hit
        part = incomplete / f"{key}.part"
        actual, nbytes = _download(request, url, part, timeouts, gdrive=gdrive)
        meta = part.with_suffix(".meta")
        if sha is not None and actual != sha:
            unlink(part, meta)
            raise ChecksumError(
                f"sha256 mismatch for {uri}: expected {sha}, got {actual}; the downloaded file "
                "was deleted. Retry, or fix the registry entry if upstream changed the file"
            )
        if size is not None and nbytes != size:
            unlink(part, meta)
            raise ChecksumError(
                f"size mismatch for {uri}: expected {size} bytes, got {nbytes}; the downloaded "
                "file was deleted. Retry, or fix the registry entry if upstream changed the file"
            )
        blob = blob_path(actual)
        os.replace(part, blob)
        unlink(meta)
        record(uri, {"blob": blob.name, "sha256": actual, "size": nbytes, "source": "https"})
        if sha is None:
            logger.warning("sha256 of %s: %s (record it in registry.yaml)", uri, actual)
        return ResolvedFile(blob, uri, actual, nbytes, False, "gdrive" if gdrive else "https")
    finally:
        lock.release()


class _Interrupted(Exception):
    """A transfer stopped early; the ``.part`` file holds a valid prefix to resume from.

    ``connected`` is False when the server never answered (refused, unreachable, silent).
    """

    def __init__(self, reason: str, done: int, total: int | None, *, connected: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.done = done
        self.total = total
        self.connected = connected


def _download(
    request: ResolveRequest,
    url: str,
    part: Path,
    timeouts: tuple[float, float],
    *,
    gdrive: bool,
) -> tuple[str, int]:
    """Stream ``url`` into ``part`` (resuming what is there); return (sha256, size).

    An interrupted transfer is resumed up to :data:`DOWNLOAD_ATTEMPTS` times; a server that
    does not answer at all is tried at most ``HUB_TRIES`` times. If all fail the ``.part``
    file is kept so that the next ``resolve`` (another ``zoo pull``) resumes.
    """
    uri = request.uri
    host = urllib.parse.urlparse(url).netloc or url
    announce(host, request.display, request.progress)
    last: _Interrupted | None = None
    unanswered = 0
    attempts = max(1, DOWNLOAD_ATTEMPTS)
    with progress_reporter(request.progress, request.display) as report:
        for attempt in range(1, attempts + 1):
            try:
                return _download_once(request, url, part, report, timeouts, gdrive=gdrive)
            except _Interrupted as exc:
                last = exc
                unanswered += not exc.connected
                if attempt == attempts or unanswered >= HUB_TRIES:
                    break
                log = logger.warning if exc.connected else logger.info
                log(
                    "download of %s interrupted after %d bytes (%s); resuming (%d/%d)",
                    uri,
                    exc.done,
                    exc.reason,
                    attempt + 1,
                    attempts,
                )
                time.sleep(RETRY_BACKOFF_S * attempt)
    assert last is not None
    if last.done == 0 and not last.connected:
        tries = f"{unanswered} {'try' if unanswered == 1 else 'tries'}"
        raise unreachable_error(
            request,
            f"cannot download {request.display}: no answer from {host} "
            f"({last.reason}; {tries} of {timeouts[0]:g}s) and it is not cached",
            stores=[cache_dir()],
            timed_out=is_timeout(last.__cause__),
        )
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


def _set_read_timeout(response: Any, seconds: float) -> None:
    """urllib has one timeout for connecting and reading: once the server has answered,
    give the body the (longer) stall allowance. Best effort: the socket is not public."""
    sock = getattr(getattr(getattr(response, "fp", None), "raw", None), "_sock", None)
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.settimeout(seconds)


def _download_once(
    request: ResolveRequest,
    url: str,
    part: Path,
    report: ProgressCallback,
    timeouts: tuple[float, float],
    *,
    gdrive: bool,
) -> tuple[str, int]:
    uri, size = request.uri, request.size
    meta_path = part.with_suffix(".meta")
    offset = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": user_agent(), "Accept-Encoding": "identity"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
        # If-Range: a server whose file changed since the first attempt answers 200 (full
        # body) instead of splicing new bytes onto old ones.
        validator = _read_meta(meta_path).get("validator")
        if validator:
            headers["If-Range"] = validator
    req = urllib.request.Request(url, headers=headers)
    try:
        response = urllib.request.urlopen(req, timeout=timeouts[0])
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and offset:
            # Our partial file does not fit the server's file: start over.
            unlink(part, meta_path)
            raise _Interrupted(
                "server rejected the resume range; restarting", 0, None, connected=True
            ) from exc
        hint = " (is the file shared publicly?)" if gdrive and exc.code in (401, 403) else ""
        raise WeightsError(
            f"cannot download {uri}: HTTP {exc.code} {exc.reason} from {url}{hint}"
        ) from exc
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise _Interrupted(
            f"{type(exc).__name__}: {reason}", offset, None, connected=False
        ) from exc
    _set_read_timeout(response, max(timeouts))

    with response:
        status = getattr(response, "status", 200)
        digest = hashlib.sha256()
        total: int | None
        if offset and status == 206:
            parsed = _parse_content_range(response.headers.get("Content-Range"))
            if parsed is None or parsed[0] != offset:
                unlink(part, meta_path)
                raise _Interrupted(
                    "server sent an unexpected range; restarting", 0, None, connected=True
                )
            total = parsed[1]
            with open(part, "rb") as fh:  # the hash must cover the bytes we already have
                for chunk in iter(lambda: fh.read(HASH_CHUNK), b""):
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
            unlink(part, meta_path)
            fix = checkpoint_fix()
            raise WeightsError(
                f"Google Drive returned a web page instead of the file for {uri} (the file is "
                "not shared publicly, or its download quota is exceeded); download it in a "
                "browser" + (f" and {fix}" if fix else " instead")
            )
        if size is not None and total is not None and total != size:
            unlink(part, meta_path)
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
                raise _Interrupted(first_line(exc), done, total, connected=True) from exc
            finally:
                out.flush()
                os.fsync(out.fileno())
    if total is not None and done < total:
        raise _Interrupted("connection closed early", done, total, connected=True)
    if total is not None and done > total:
        unlink(part, meta_path)
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
        atomic_write_text(path, json.dumps(dict(data)))


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
