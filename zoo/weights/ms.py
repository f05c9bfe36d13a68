"""``ms://org/model[/path][@revision]``: files on ModelScope, kept in its own cache.

Why a module of its own: some checkpoints are published only on ModelScope, sometimes as a
model repository without a stable file name; ``pattern`` (``"*.pt"``) then picks the one
checkpoint, and the choice is logged with its sha256 so it can be pinned. The modelscope
package is optional and imported only here, when such a file is fetched.
"""

from __future__ import annotations

import fnmatch
import inspect
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from zoo.errors import WeightsError, install_hint
from zoo.weights.env import cache_dir, ms_cache_dir
from zoo.weights.messages import checkpoint_fix, offline_error, offline_reason
from zoo.weights.request import ResolvedFile, ResolveRequest
from zoo.weights.store import index_hit, record_external, unlink
from zoo.weights.uris import parse_ms_uri
from zoo.weights.verify import sha256_file, verify_file

logger = logging.getLogger(__name__)


#: What the ModelScope client must be (the opseg-shadow distribution depends on it).
MODELSCOPE_REQUIREMENT = "modelscope>=1.10"


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
    try:
        from modelscope.hub.file_download import model_file_download
        from modelscope.hub.snapshot_download import snapshot_download
    except ImportError as exc:
        raise WeightsError(
            f"{uri} is hosted on ModelScope, which needs the modelscope package: "
            f"{install_hint(MODELSCOPE_REQUIREMENT)}"
            + (f" (or {fix})" if (fix := checkpoint_fix()) else "")
        ) from exc

    stores = [cache_dir(), ms_cache_dir()]
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
        if ref.path:
            result = model_file_download(ref.model_id, ref.path, **kwargs)
        else:
            result = snapshot_download(ref.model_id, **kwargs)
    except Exception as exc:
        if request.offline:
            raise offline_error(request, stores, offline_reason()) from exc
        raise WeightsError(
            f"cannot download {uri} from ModelScope: {type(exc).__name__}: {exc}"
        ) from exc
    if ref.path:
        path = Path(result)
    else:
        assert pattern is not None
        path = pick_by_pattern(Path(result), pattern, uri)
    if not path.is_file():
        raise WeightsError(f"ModelScope returned {path} for {uri}, which is not a file")

    actual = verify_file(path, uri, sha, size, delete=unlink)
    actual = actual or sha256_file(path)
    nbytes = path.stat().st_size
    record_external(key, path, actual, "ms")
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
