"""``ms://org/model[/path][@revision]``: files on ModelScope, kept in its own cache.

Why a module of its own: some checkpoints are published only on ModelScope, sometimes as a
model repository without a stable file name; ``pattern`` (``"*.pt"``) then picks the one
checkpoint, and the choice is logged with its sha256 so it can be pinned. The modelscope
package is optional and imported only here, when such a file is fetched.

Reaching ModelScope is bounded like reaching the Hugging Face Hub (:mod:`zoo.weights.hf`):
the modelscope client alone retries an unreachable site for about two minutes, printing a
WARNING line per retry (measured: 114 s and five lines for a closed port). Before a file
that is not cached is downloaded we say where we connect (one ``note:`` line) and ask the
site for the model ourselves (``ZOO_HUB_TIMEOUT`` seconds, ``HUB_TRIES`` tries); only a site
that answered is handed to the client, whose log lines are kept below ERROR. A failure is
one line with the same fixes as the Hub's (:mod:`zoo.weights.messages`).
"""

from __future__ import annotations

import contextlib
import fnmatch
import importlib.util
import inspect
import logging
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from zoo.errors import WeightsError, install_hint
from zoo.weights.env import HUB_TRIES, cache_dir, hub_timeout, ms_cache_dir, ms_endpoint
from zoo.weights.messages import (
    checkpoint_fix,
    first_line,
    is_timeout,
    offline_error,
    offline_reason,
    other_ways,
    unreachable_error,
)
from zoo.weights.progress import announce
from zoo.weights.request import ResolvedFile, ResolveRequest
from zoo.weights.store import index_hit, record_external, unlink
from zoo.weights.uris import parse_ms_uri
from zoo.weights.verify import sha256_file, verify_file

logger = logging.getLogger(__name__)


#: What the ModelScope client must be (the opseg-shadow distribution depends on it).
MODELSCOPE_REQUIREMENT = "modelscope>=1.10"
#: Seconds between two tries to reach ModelScope.
MS_RETRY_PAUSE_S = 0.5
_RETRY_STATUS = {408, 429, 500, 502, 503, 504}
#: Loggers of the modelscope client (and the hub library under it): WARNING per retry.
_MS_LOGGERS = ("modelscope", "modelscope_hub", "ModelScopeHub")


@contextlib.contextmanager
def _quiet_client() -> Iterator[None]:
    """The client's retry warnings would bury our one line; errors still show."""
    loggers = [logging.getLogger(n) for n in _MS_LOGGERS]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def _unreachable(
    request: ResolveRequest, exc: BaseException | None, tries: int | None = None
) -> WeightsError:
    detail = first_line(exc) if exc is not None else "no answer"
    if tries:
        detail = f"{detail}; {tries} {'try' if tries == 1 else 'tries'} of {hub_timeout():g}s"
    return unreachable_error(
        request,
        f"cannot reach ModelScope at {ms_endpoint()} ({detail}) and {request.display} is not "
        "cached",
        stores=[cache_dir(), ms_cache_dir()],
        mirror="MODELSCOPE_ENDPOINT",
        timed_out=is_timeout(exc),
    )


def _no_answer(exc: BaseException) -> bool:
    """The site did not answer at all (refused, unreachable, timed out)."""
    if isinstance(exc, urllib.error.HTTPError):
        return False
    if isinstance(exc, OSError) or is_timeout(exc):
        return True
    module = type(exc).__module__ or ""
    name = type(exc).__name__
    return module.startswith(("requests", "urllib3", "httpx", "httpcore")) or name in (
        "NetworkError",
        "ConnectionError",
    )


def _probe(model_id: str, request: ResolveRequest) -> None:
    """Ask ModelScope about ``model_id``, bounded; raise the one-line error if it never
    answers. Any HTTP answer but "busy" means the site is there (the client reports a
    missing model or file itself)."""
    url = f"{ms_endpoint()}/api/v1/models/{urllib.parse.quote(model_id)}"
    timeout = hub_timeout()
    last: BaseException | None = None
    for attempt in range(1, HUB_TRIES + 1):
        try:
            with urllib.request.urlopen(url, timeout=timeout) as r:
                r.read(1)
            return
        except urllib.error.HTTPError as exc:
            if exc.code not in _RETRY_STATUS:
                return
            last = exc
        except Exception as exc:
            if not _no_answer(exc):
                raise
            last = exc
        logger.info("no answer from ModelScope for %s (%s), try %d", url, last, attempt)
        if attempt < HUB_TRIES:
            time.sleep(MS_RETRY_PAUSE_S)
    assert last is not None
    if isinstance(last, urllib.error.HTTPError):
        raise WeightsError(
            f"ModelScope at {ms_endpoint()} answered HTTP {last.code} ({last.reason}) for "
            f"{request.uri}, {HUB_TRIES} tries; try again later"
            + "".join(f", or {w}" for w in other_ways())
        ) from last
    raise _unreachable(request, last, HUB_TRIES) from last


def ms_index_key(uri: str, pattern: str | None) -> str:
    """``index.json`` key: a pattern is part of what was asked for."""
    return f"{uri}#pattern={pattern}" if pattern else uri


def pick_by_pattern(root: Path, pattern: str, uri: str) -> Path:
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


def _ms_cached(ref: Any, pattern: str | None) -> Path | None:
    """The file in ModelScope's own cache, read from its layout (``<cache>/<org>/<model>/``;
    older clients used ``<cache>/models/<org>/<model>/``) without importing the client: a
    file already there needs no network. Revisions are not tracked in that layout, so a
    pinned revision always asks the site."""
    if ref.revision is not None:
        return None
    for root in (ms_cache_dir() / ref.model_id, ms_cache_dir() / "models" / ref.model_id):
        if not root.is_dir():
            continue
        if ref.path is not None:
            candidate = root / ref.path
            if candidate.is_file():
                return candidate
        elif pattern is not None:
            with contextlib.suppress(WeightsError):
                return pick_by_pattern(root, pattern, ref.model_id)
    return None


def resolve_ms(request: ResolveRequest) -> ResolvedFile:
    """The ``ms`` resolver: index hit, or modelscope's download (``local_files_only`` offline)."""
    uri, sha, size, pattern = request.uri, request.sha256, request.size, request.pattern
    ref = parse_ms_uri(uri)
    if ref.path is None and pattern is None:
        raise WeightsError(
            f"{uri} names a ModelScope model but no file: add the path "
            "(ms://org/model/path/in/repo) or pass pattern='*.pt'"
        )
    key = ms_index_key(uri, pattern if ref.path is None else None)
    hit = index_hit(key, sha, size)
    if hit is not None:
        return hit
    fix = checkpoint_fix()
    missing_client = WeightsError(
        f"{uri} is hosted on ModelScope, which needs the modelscope package: "
        f"{install_hint(MODELSCOPE_REQUIREMENT)}" + (f" (or {fix})" if fix else "")
    )
    try:
        present = importlib.util.find_spec("modelscope") is not None
    except ValueError:  # in sys.modules without a spec (a stand-in): there
        present = True
    if not present:
        raise missing_client
    stores = [cache_dir(), ms_cache_dir()]
    cached = _ms_cached(ref, pattern)
    if cached is not None:  # in ModelScope's cache already: no network, no client
        return _found(request, key, cached, ref.path is None, cached=True)
    # the client takes seconds to import: an unreachable site is found out first
    if not request.offline:
        host = ms_endpoint().split("://", 1)[-1]
        announce(host, f"{ref.model_id}/{ref.path or pattern}", request.progress)
        _probe(ref.model_id, request)
    try:
        from modelscope.hub.file_download import model_file_download
        from modelscope.hub.snapshot_download import snapshot_download
    except ImportError as exc:
        raise missing_client from exc

    fn: Callable[..., Any] = model_file_download if ref.path else snapshot_download
    params = inspect.signature(fn).parameters
    kwargs: dict[str, Any] = {}
    if ref.revision is not None:
        kwargs["revision"] = ref.revision
    if request.offline:
        if "local_files_only" not in params:
            raise offline_error(request, stores, offline_reason())
        kwargs["local_files_only"] = True
    if ref.path is None:
        if "allow_patterns" in params:
            kwargs["allow_patterns"] = [pattern]
        elif "allow_file_pattern" in params:
            kwargs["allow_file_pattern"] = pattern
    try:
        with _quiet_client():
            if ref.path:
                result = model_file_download(ref.model_id, ref.path, **kwargs)
            else:
                result = snapshot_download(ref.model_id, **kwargs)
    except Exception as exc:
        if request.offline:
            raise offline_error(request, stores, offline_reason()) from exc
        if _no_answer(exc):  # the site went away after answering the probe
            raise _unreachable(request, exc) from exc
        raise WeightsError(
            f"cannot download {uri} from ModelScope: {first_line(exc)}"
            + "".join(f"; or {w}" for w in other_ways())
        ) from exc
    if ref.path:
        path = Path(result)
    else:
        assert pattern is not None
        path = pick_by_pattern(Path(result), pattern, uri)
    if not path.is_file():
        raise WeightsError(f"ModelScope returned {path} for {uri}, which is not a file")
    return _found(request, key, path, ref.path is None, cached=False)


def _found(
    request: ResolveRequest, key: str, path: Path, picked: bool, *, cached: bool
) -> ResolvedFile:
    """Verify, record in the index and log what a pattern picked."""
    uri, sha, size, pattern = request.uri, request.sha256, request.size, request.pattern
    actual = verify_file(path, uri, sha, size, delete=unlink)
    actual = actual or sha256_file(path)
    nbytes = path.stat().st_size
    record_external(key, path, actual, "ms")
    if picked:
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
    return ResolvedFile(path, uri, actual, nbytes, cached, "ms")
