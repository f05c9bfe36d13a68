"""The fixes a failed resolve suggests, phrased for where the user is.

Why a module of its own: the same missing file reaches people through ``zoo run`` (which
takes ``--checkpoint PATH``), ``zoo pull`` (which does not), and Python (``checkpoint=PATH``),
and online or offline. Each message must only suggest what works there: offline, a mirror
(``HF_ENDPOINT``) cannot help; ``zoo pull`` cannot take a checkpoint. Resolvers describe the
problem; this module adds the fixes.

Every fix is something the user can run as written: ``zoo pull depth-sam:tiny`` (the model,
never a label like ``depth-sam:tiny (sam2)``), ``--checkpoint clip=PATH`` for a named file,
and every file the model will need (depth-sam's CLIP file too, when it is not cached either).
Hubs fail alike: the offline switch, a local checkpoint, the same weights from another source
(``opseg-shadow:base-plus-gdrive`` for the ModelScope-hosted ``opseg-shadow:base-plus``) and
``--weights random`` for a test run are offered for every source. The loader says which
model and files a resolve is for (:func:`resolving_for`); outside a model the messages fall
back to the plain forms.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from zoo.errors import OfflineError, WeightsError, hint
from zoo.weights.env import hf_offline, hub_timeout, is_offline
from zoo.weights.request import ResolveRequest
from zoo.weights.uris import uri_basename

#: How messages name where a file is published.
SOURCE_NAMES = {
    "hf": "the Hugging Face Hub",
    "ms": "ModelScope",
    "gdrive": "Google Drive",
    "https": "the web",
    "http": "the web",
}


@dataclass(frozen=True)
class NeededFile:
    """One file a model needs: its checkpoint key, URI, and what makes it cached."""

    key: str
    uri: str
    sha256: str | None = None
    pattern: str | None = None
    #: already in the cache (the loader asks :func:`zoo.weights.cache.is_cached`; this
    #: module cannot, the cache module imports the resolvers that import it)
    cached: bool = False

    @property
    def display(self) -> str:
        return uri_basename(self.uri)


@dataclass(frozen=True)
class ModelFiles:
    """What the file being resolved belongs to (set by the loader, read by messages).

    Attributes:
        model: the model's name, as commands take it (``depth-sam:tiny``).
        key: the checkpoint being resolved (``sam2``, ``clip``...).
        primary: the key ``--checkpoint PATH`` replaces.
        files: every file the model needs (its non-optional checkpoints).
        alternatives: ``(variant, source)`` of variants with the same weights from another
            source (``("opseg-shadow:base-plus-gdrive", "gdrive")``).
    """

    model: str
    key: str
    primary: str
    files: tuple[NeededFile, ...] = ()
    alternatives: tuple[tuple[str, str], ...] = ()


_MODEL_FILES: contextvars.ContextVar[ModelFiles | None] = contextvars.ContextVar(
    "zoo_model_files", default=None
)


@contextlib.contextmanager
def resolving_for(files: ModelFiles | None) -> Iterator[None]:
    """Inside this block, messages name ``files.model`` and all the files it needs."""
    token = _MODEL_FILES.set(files)
    try:
        yield
    finally:
        _MODEL_FILES.reset(token)


def _missing_files() -> list[NeededFile]:
    """The current model's files that are not cached, the one being resolved first."""
    ctx = _MODEL_FILES.get()
    if ctx is None:
        return []
    current = [f for f in ctx.files if f.key == ctx.key]
    others = [f for f in ctx.files if f.key != ctx.key and not f.cached]
    return current + others


def _model_name(request: ResolveRequest) -> str:
    ctx = _MODEL_FILES.get()
    return (ctx.model if ctx else None) or request.name or "<model>"


#: False while a command that has no ``--checkpoint`` option runs (``zoo pull``).
_CHECKPOINT_OPTION: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "zoo_checkpoint_option", default=True
)


@contextlib.contextmanager
def without_checkpoint_option() -> Iterator[None]:
    """Inside this block, messages do not suggest passing a checkpoint (``zoo pull``)."""
    token = _CHECKPOINT_OPTION.set(False)
    try:
        yield
    finally:
        _CHECKPOINT_OPTION.reset(token)


def checkpoint_fix() -> str | None:
    """``pass --checkpoint PATH`` / ``pass checkpoint=PATH``, or None where there is none.

    For a model with several files: the flag of the file being resolved (``--checkpoint
    clip=PATH`` for a named one) and of every other needed file that is not cached either.
    """
    if not _CHECKPOINT_OPTION.get():
        return None
    ctx = _MODEL_FILES.get()
    missing = _missing_files()
    if ctx is None or not missing or (len(missing) == 1 and missing[0].key == ctx.primary):
        return hint("pass --checkpoint PATH", "pass checkpoint=PATH")
    cli = [
        "--checkpoint PATH" if f.key == ctx.primary else f"--checkpoint {f.key}=PATH"
        for f in missing
    ]
    python = ", ".join(f"{f.key!r}: PATH" for f in missing)
    named = " and ".join(f"{f.key}: {f.display}" for f in missing)
    return hint(f"pass {' '.join(cli)}", f"pass checkpoint={{{python}}}") + (
        f" ({named})" if len(missing) > 1 else ""
    )


def other_ways() -> list[str]:
    """Fixes that need no file at all: the same weights from another source, and (where
    the command takes it) the test mode."""
    out: list[str] = []
    ctx = _MODEL_FILES.get()
    for variant, source in ctx.alternatives if ctx else ():
        where = SOURCE_NAMES.get(source, f"{source}://")
        run = variant if _CHECKPOINT_OPTION.get() else f"`zoo pull {variant}`"
        out.append(f"use {run} (the same weights from {where})")
    if _CHECKPOINT_OPTION.get():
        out.append(hint("--weights random for a test run", "weights='random' for a test run"))
    return out


def no_weights_fix() -> str:
    """What to do about a variant with no registered weights."""
    if not _CHECKPOINT_OPTION.get():
        return "there is nothing to pull"
    return hint(
        "pass --checkpoint PATH (or --weights random for a test run)",
        "pass checkpoint=PATH (or weights='random' for a test run)",
    )


def short(path: Path | str) -> str:
    """Path for messages, with the home directory shown as ``~``."""
    text = str(path)
    home = str(Path.home())
    if home not in ("", "/") and (text == home or text.startswith(home + os.sep)):
        return "~" + text[len(home) :]
    return text


def _join(fixes: Sequence[str]) -> str:
    if len(fixes) == 1:
        return fixes[0]
    return ", ".join(fixes[:-1]) + ", or " + fixes[-1]


def _fetches() -> str:
    """`` (it fetches a.pt and b.safetensors)`` when the model needs more than one missing
    file, so copying a cache with only the first one is not the next surprise."""
    missing = _missing_files()
    if len(missing) < 2:
        return ""
    return f" (it fetches {_join([f.display for f in missing]).replace(', or ', ' and ')})"


def _copy_caches(stores: Sequence[Path], request: ResolveRequest) -> str:
    where = " and ".join(short(s) for s in stores)
    return (
        f"run `zoo pull {_model_name(request)}` on a machine with network{_fetches()} and "
        f"copy {where} here"
    )


def offline_reason(*, hf: bool = False) -> str:
    if is_offline():
        return "ZOO_OFFLINE=1"
    if hf and hf_offline():
        return "HF_HUB_OFFLINE=1"
    return "offline mode"


def offline_error(request: ResolveRequest, stores: Sequence[Path], reason: str) -> OfflineError:
    """Not cached and the network is off: name the file, its source, and offline fixes only.

    ``stores`` are the cache directories that hold this kind of file (the zoo cache, and
    the Hugging Face or ModelScope cache); copying them from a machine with network works
    offline, and so does a local checkpoint file. A mirror does not.
    """
    fixes = [_copy_caches(stores, request)]
    checkpoint = checkpoint_fix()
    if checkpoint:
        fixes.append(checkpoint)
    fixes += other_ways()
    return OfflineError(
        f"{request.display} is not cached and {reason} forbids downloading it "
        f"(source: {request.uri}); to provide it: {_join(fixes)}"
    )


def unreachable_error(
    request: ResolveRequest,
    problem: str,
    *,
    stores: Sequence[Path],
    mirror: str | None = None,
    timed_out: bool = False,
) -> WeightsError:
    """Online, but the source did not answer: the fixes online, then how to go offline.

    ``problem`` says what failed and that the file is not cached; ``stores`` are the caches
    that would hold the file; ``mirror`` is the variable that points at a mirror (only the
    Hub has one, and it helps only online); ``timed_out``: a slow link may just need longer.
    """
    online = ["check the network"]
    if timed_out:
        online.append(f"raise ZOO_HUB_TIMEOUT (now {hub_timeout():g}s) on a slow link")
    if mirror:
        online.append(f"set {mirror} to a mirror")
    copy = (
        f"copy {' and '.join(short(s) for s in stores)} from a machine that ran "
        f"`zoo pull {_model_name(request)}`{_fetches()}"
    )
    checkpoint = checkpoint_fix()
    if checkpoint:
        offline = f"set ZOO_OFFLINE=1 and {checkpoint}, or {copy}"
    else:
        offline = f"{copy} and set ZOO_OFFLINE=1"
    others = other_ways()
    tail = f"; or {_join(others)}" if others else ""
    return WeightsError(
        f"{problem} (source: {request.uri}); {_join(online)}; to work offline, {offline}{tail}"
    )


def is_timeout(exc: BaseException | None) -> bool:
    """Whether a network failure was a timeout (the server may be slow, not gone)."""
    reason = getattr(exc, "reason", None)  # urllib wraps the socket error in URLError
    for candidate in (exc, reason):
        if isinstance(candidate, TimeoutError) or "Timeout" in type(candidate).__name__:
            return True
    return False


def first_line(exc: BaseException, limit: int = 160) -> str:
    """``Type: first line of the message`` for embedding an exception in one line."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    reason = getattr(exc, "reason", None)
    if not text and reason is not None:
        text = str(reason)
    return (f"{type(exc).__name__}: {text}" if text else type(exc).__name__)[:limit]
