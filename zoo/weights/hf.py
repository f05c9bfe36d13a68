"""``hf://org/repo/path[@revision]``: files on the Hugging Face Hub, kept in its own cache.

Why a module of its own: Hub files live in huggingface_hub's cache, so a user who already
has ``~/.cache/huggingface`` downloads nothing twice and ``hf cache ls`` keeps working. The
library is imported only when a file is actually fetched; ``zoo list`` answers "is it
cached?" by reading the cache's documented layout directly.

Reaching the Hub is bounded: huggingface_hub retries an unanswered request for up to
minutes in silence (measured: 24 s for a closed port, 397 s for a server that accepts and
never answers). Before a file that is not cached is downloaded, we say where we connect and
ask for its metadata ourselves (``ZOO_HUB_TIMEOUT`` seconds, ``HUB_TRIES`` tries); only a Hub
that answered is handed to ``hf_hub_download``.
"""

from __future__ import annotations

import inspect
import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from zoo.errors import WeightsError, install_hint
from zoo.weights.env import (
    HF_DEFAULT_ENDPOINT,
    HUB_TRIES,
    cache_dir,
    hf_cache_dir,
    hf_endpoint,
    hf_offline,
    hub_timeout,
)
from zoo.weights.messages import (
    checkpoint_fix,
    first_line,
    is_timeout,
    offline_error,
    offline_reason,
    unreachable_error,
)
from zoo.weights.progress import ProgressArg, announce, stderr_is_tty
from zoo.weights.request import ResolvedFile, ResolveRequest
from zoo.weights.store import index_hit, record_external, unlink
from zoo.weights.uris import SHA256_RE, HfRef, parse_hf_uri
from zoo.weights.verify import sha256_file, verify_file

logger = logging.getLogger(__name__)

#: Seconds between two tries to reach the Hub.
HUB_RETRY_PAUSE_S = 0.5
_RETRY_STATUS = {408, 429, 500, 502, 503, 504}


# ------------------------------------------------------------------------ the cache layout


def hf_cached_path(ref: HfRef) -> Path | None:
    """Look up the hub cache's documented layout directly.

    ``zoo list`` calls this for every variant; importing ``huggingface_hub`` for it costs more
    than the rest of the command, so we read ``models--org--repo/{refs,snapshots}`` ourselves.
    """
    kind = {"model": "models", "dataset": "datasets", "space": "spaces"}.get(
        ref.repo_type, "models"
    )
    root = hf_cache_dir() / f"{kind}--{ref.repo_id.replace('/', '--')}"
    revision = ref.revision or "main"
    refs_file = root / "refs" / revision
    if refs_file.is_file():
        revision = refs_file.read_text().strip()
    candidate = root / "snapshots" / revision / ref.filename
    return candidate if candidate.is_file() else None


def hf_known_sha(path: Path) -> str | None:
    """An LFS blob is named by its sha256: use it instead of re-hashing gigabytes."""
    blob_name = Path(os.path.realpath(path)).name
    return blob_name if SHA256_RE.fullmatch(blob_name) else None


def delete_hf_file(pointer: Path) -> None:
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
            unlink(blob)
        else:
            unlink(pointer)
    except OSError as exc:
        logger.warning("could not delete %s from the Hugging Face cache: %s", pointer, exc)


# ------------------------------------------------------------------------ errors


def _unreachable(
    request: ResolveRequest, ref: HfRef, exc: BaseException | None, tries: int | None = None
) -> WeightsError:
    endpoint = hf_endpoint() or HF_DEFAULT_ENDPOINT
    detail = first_line(exc) if exc is not None else "no answer"
    if tries:
        detail = f"{detail}; {tries} {'try' if tries == 1 else 'tries'} of {hub_timeout():g}s"
    return unreachable_error(
        request,
        f"cannot reach the Hugging Face Hub at {endpoint} ({detail}) and {ref.filename} "
        "is not cached",
        stores=[cache_dir(), hf_cache_dir()],
        mirror="HF_ENDPOINT",
        timed_out=is_timeout(exc),
    )


def hf_error(exc: BaseException, request: ResolveRequest, ref: HfRef) -> WeightsError | None:
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
    uri = request.uri
    where = f"{ref.repo_id}@{ref.revision}"
    status = _status(exc)
    if isinstance(exc, GatedRepoError) or (
        isinstance(exc, HfHubHTTPError) and status in _ACCESS_STATUS
    ):
        return WeightsError(_access_denied(uri, ref, status, exc, isinstance(exc, GatedRepoError)))
    if isinstance(exc, RepositoryNotFoundError):
        return WeightsError(
            f"{uri}: repository {ref.repo_id} not found on {hf_endpoint() or 'the Hub'} "
            "(or it is private: set HF_TOKEN)"
        )
    if isinstance(exc, RevisionNotFoundError):
        return WeightsError(f"{uri}: revision {ref.revision!r} not found in {ref.repo_id}")
    # LocalEntryNotFoundError (no network, not cached) subclasses EntryNotFoundError in
    # recent huggingface_hub releases, so it must be checked first.
    if isinstance(exc, LocalEntryNotFoundError):
        cause = exc.__cause__ or exc.__context__
        return _unreachable(request, ref, cause)
    if isinstance(exc, EntryNotFoundError):
        return WeightsError(f"{uri}: file {ref.filename!r} not found in {where}")
    if isinstance(exc, HfHubHTTPError):
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return WeightsError(f"cannot download {uri}: {first}")
    if _no_answer(exc):
        return _unreachable(request, ref, exc)
    if isinstance(exc, ValueError):
        return WeightsError(f"cannot download {uri}: {type(exc).__name__}: {exc}")
    return None


#: What the Hub answers for a gated or private repository without a (granted) token.
_ACCESS_STATUS = {401, 403}


def _status(exc: BaseException) -> int | None:
    status = getattr(getattr(exc, "response", None), "status_code", None)
    return status if isinstance(status, int) else None


def _token_sent(exc: BaseException) -> bool:
    """Whether the refused request carried a token (``HF_TOKEN`` or the stored login)."""
    request = getattr(getattr(exc, "response", None), "request", None)
    headers = getattr(request, "headers", None)
    if headers is not None:
        try:
            return bool(headers.get("authorization"))
        except Exception:  # pragma: no cover - an unusual response object
            pass
    try:
        from huggingface_hub import get_token
    except ImportError:  # pragma: no cover
        return False
    return get_token() is not None


def _access_denied(
    uri: str, ref: HfRef, status: int | None, exc: BaseException, gated: bool
) -> str:
    """One line for a 401/403: which repository, where to accept its licence, what else works.

    The licence form lives on huggingface.co whatever mirror ``HF_ENDPOINT`` names: access
    is granted to the account, and the token carries it to any endpoint.
    """
    page = f"{HF_DEFAULT_ENDPOINT}/{ref.repo_id}"
    code = f"HTTP {status}" if status else "access denied"
    if _token_sent(exc):
        why = f"{code} with your token: it has not been granted access"
        then = "then retry with the same token (HF_TOKEN or `hf auth login`)"
    else:
        why = f"{code}, no token sent"
        then = "then set HF_TOKEN or run `hf auth login`"
    kind = "is gated" if gated else "may be gated or private"
    fix = checkpoint_fix()
    alternative = f", or {fix} (a copy you already have)" if fix else ""
    return (
        f"{uri}: the Hugging Face Hub refused access to {ref.repo_id} ({why}); the repository "
        f"{kind}: accept its licence at {page} while logged in, {then}{alternative}"
    )


def _no_answer(exc: BaseException) -> bool:
    """The Hub did not answer at all (refused, unreachable, timed out)."""
    from huggingface_hub.utils import HfHubHTTPError

    if isinstance(exc, HfHubHTTPError):
        return False
    module = type(exc).__module__ or ""
    return isinstance(exc, OSError) or module.startswith(("httpx", "httpcore", "requests"))


def _busy(exc: BaseException) -> bool:
    """The Hub answered "try again" (rate limit, 5xx)."""
    response = getattr(exc, "response", None)
    return getattr(response, "status_code", None) in _RETRY_STATUS


# ------------------------------------------------------------------------ download


def _hf_tqdm_class(progress: ProgressArg) -> Any:
    """A tqdm class for huggingface_hub: silent, forwarding to a callback, or None (default)."""
    if progress is True and stderr_is_tty():
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


@contextmanager
def _quiet_hub() -> Iterator[None]:
    """huggingface_hub logs a warning per retry; they would bury our one line."""
    hf_logger = logging.getLogger("huggingface_hub")
    level = hf_logger.level
    hf_logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        hf_logger.setLevel(level)


def _supported(fn: Any, **kwargs: Any) -> dict[str, Any]:
    """The keyword arguments ``fn`` accepts (huggingface_hub grew them over releases)."""
    params = inspect.signature(fn).parameters
    return {k: v for k, v in kwargs.items() if k in params}


def _probe(hub: Any, ref: HfRef, request: ResolveRequest, timeout: float) -> None:
    """Ask the Hub for the file's metadata, bounded; raise the one-line error if it fails."""
    endpoint = hf_endpoint()
    url = hub.hf_hub_url(
        ref.repo_id,
        ref.filename,
        **_supported(
            hub.hf_hub_url, repo_type=ref.repo_type, revision=ref.revision, endpoint=endpoint
        ),
    )
    kwargs = _supported(
        hub.get_hf_file_metadata, timeout=timeout, endpoint=endpoint, retry_on_errors=False
    )
    last: BaseException | None = None
    for attempt in range(1, HUB_TRIES + 1):
        try:
            hub.get_hf_file_metadata(url, **kwargs)
            return
        except Exception as exc:
            if not (_no_answer(exc) or _busy(exc)):
                mapped = hf_error(exc, request, ref)
                if mapped is None:
                    raise
                raise mapped from exc
            last = exc
            logger.info("no answer from the Hub for %s (%s), try %d", url, exc, attempt)
            if attempt < HUB_TRIES:
                time.sleep(HUB_RETRY_PAUSE_S)
    assert last is not None
    if _busy(last):
        raise hf_error(last, request, ref) or WeightsError(str(last)) from last
    raise _unreachable(request, ref, last, HUB_TRIES) from last


def resolve_hf(request: ResolveRequest) -> ResolvedFile:
    """The ``hf`` resolver: index hit, HF cache, or a bounded download into the HF cache."""
    uri, sha, size = request.uri, request.sha256, request.size
    ref = parse_hf_uri(uri)
    hit = index_hit(uri, sha, size)
    if hit is not None:
        return hit
    try:
        import huggingface_hub
    except ImportError as exc:
        raise WeightsError(
            f"{uri} is on the Hugging Face Hub, which needs huggingface_hub: "
            f"{install_hint('huggingface-hub')}"
        ) from exc
    cache = str(hf_cache_dir())
    found = huggingface_hub.try_to_load_from_cache(
        ref.repo_id, ref.filename, cache_dir=cache, revision=ref.revision, repo_type=ref.repo_type
    )
    cached = found if isinstance(found, str) and os.path.exists(found) else None
    if request.offline or hf_offline():
        if cached is None:
            reason = offline_reason(hf=True)
            raise offline_error(request, [cache_dir(), hf_cache_dir()], reason)
        path = Path(cached)
    else:
        timeout = hub_timeout()
        kwargs: dict[str, Any] = {
            "revision": ref.revision,
            "repo_type": ref.repo_type,
            "cache_dir": cache,
            "endpoint": hf_endpoint(),
            "etag_timeout": timeout,
        }
        tqdm_class = _hf_tqdm_class(request.progress)
        if tqdm_class is not None:
            kwargs["tqdm_class"] = tqdm_class
        with _quiet_hub():
            if cached is None:
                host = (hf_endpoint() or HF_DEFAULT_ENDPOINT).split("://", 1)[-1]
                announce(host, f"{ref.repo_id}/{ref.filename}", request.progress)
                _probe(huggingface_hub, ref, request, timeout)
            try:
                downloaded_to = huggingface_hub.hf_hub_download(
                    ref.repo_id,
                    ref.filename,
                    **_supported(huggingface_hub.hf_hub_download, **kwargs),
                )
            except Exception as exc:
                mapped = hf_error(exc, request, ref)
                if mapped is None:
                    raise
                raise mapped from exc
        path = Path(downloaded_to)
    downloaded = cached is None

    actual = verify_file(path, uri, sha, size, delete=delete_hf_file)
    known = actual or hf_known_sha(path)
    if known is None and path.stat().st_size <= 64 << 20:
        known = sha256_file(path)  # small non-LFS file: hashing is cheap
    record_external(uri, path, known, "hf")
    if sha is None and known is not None and downloaded:
        logger.info("sha256 of %s: %s (record it in registry.yaml)", uri, known)
    return ResolvedFile(path, uri, known, path.stat().st_size, not downloaded, "hf")
