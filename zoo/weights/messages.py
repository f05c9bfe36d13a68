"""The fixes a failed resolve suggests, phrased for where the user is.

Why a module of its own: the same missing file reaches people through ``zoo run`` (which
takes ``--checkpoint PATH``), ``zoo pull`` (which does not), and Python (``checkpoint=PATH``),
and online or offline. Each message must only suggest what works there: offline, a mirror
(``HF_ENDPOINT``) cannot help; ``zoo pull`` cannot take a checkpoint. Resolvers describe the
problem; this module adds the fixes.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

from zoo.errors import OfflineError, WeightsError, hint
from zoo.weights.env import hf_offline, hub_timeout, is_offline
from zoo.weights.request import ResolveRequest

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
    """``pass --checkpoint PATH`` / ``pass checkpoint=PATH``, or None where there is none."""
    if not _CHECKPOINT_OPTION.get():
        return None
    return hint("pass --checkpoint PATH", "pass checkpoint=PATH")


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


def _copy_caches(stores: Sequence[Path], name: str | None) -> str:
    where = " and ".join(short(s) for s in stores)
    return f"run `zoo pull {name or '<model>'}` on a machine with network and copy {where} here"


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
    fixes = [_copy_caches(stores, request.name)]
    checkpoint = checkpoint_fix()
    if checkpoint:
        fixes.append(checkpoint)
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
        f"`zoo pull {request.name or '<model>'}`"
    )
    checkpoint = checkpoint_fix()
    if checkpoint:
        offline = f"set ZOO_OFFLINE=1 and {checkpoint}, or {copy}"
    else:
        offline = f"{copy} and set ZOO_OFFLINE=1"
    return WeightsError(
        f"{problem} (source: {request.uri}); {_join(online)}; to work offline, {offline}"
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
