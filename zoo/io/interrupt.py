"""Interruptions (Ctrl-C, SIGTERM) end a command cleanly and say what happened.

Why a module of its own: a job stopped by ``kill``, a SLURM time limit or a CI timeout gets
SIGTERM, whose default action ends the process on the spot: no ``finally`` runs, so the
hidden ``.<out>.tmp-*`` folder of a half-written run stays beside ``--out``, and the log
ends mid-line. Here SIGTERM takes the same path as Ctrl-C (a :class:`KeyboardInterrupt`),
so every clean-up that already handles Ctrl-C (:func:`zoo.io.atomic.atomic_output_dir`, the
batch engine's writers, training checkpoints) runs for both, and the command ends with one
line saying what was kept and how to go on, e.g.::

    interrupted (SIGTERM): nothing was written to out/ (outputs are moved there only when
    the run completes); run the same command again

Two pieces:

* :func:`keeping` marks a block whose interruption keeps something worth saying (the
  block's ``note``); while it runs, SIGTERM becomes an interruption even outside the CLI,
  so library users get their temporary folders removed too;
* :func:`command_interruptions` wraps a whole CLI command: SIGTERM is an interruption from
  the first line, and an interrupted command prints the one line (the outermost block's
  note, or "nothing was written") and exits 130 (Ctrl-C) or 143 (SIGTERM).

A second SIGTERM while the first is being cleaned up ends the process at once (the default
action is restored by the first), so a stuck clean-up can always be killed.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TextIO

#: The line when no block said what it keeps.
NOTHING_KEPT = (
    "nothing was written (outputs appear only when a command completes); run the same command again"
)


class Interrupted(KeyboardInterrupt):
    """A :class:`KeyboardInterrupt` raised for a signal other than Ctrl-C (SIGTERM)."""

    def __init__(self, signal_name: str) -> None:
        super().__init__(signal_name)
        self.signal_name = signal_name


@dataclass
class _State:
    commands: int = 0  # active command_interruptions blocks
    blocks: int = 0  # active keeping blocks (main thread)
    signal_name: str | None = None  # what interrupted (set by the handler)
    note: str | None = None  # what the outermost interrupted block keeps
    reported: bool = False  # someone already said it (training's resume line)


_STATE = _State()


def _on_sigterm(signum: int, frame: Any) -> None:
    _STATE.signal_name = _STATE.signal_name or "SIGTERM"
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second one ends the process at once
    raise Interrupted("SIGTERM")


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """Turn SIGTERM into :class:`Interrupted` for the block, when nobody else handles it."""
    installed = False
    if _main_thread():
        with contextlib.suppress(ValueError, OSError):  # not the main interpreter, ...
            if signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
                signal.signal(signal.SIGTERM, _on_sigterm)
                installed = True
    try:
        yield
    finally:
        if installed:
            with contextlib.suppress(ValueError, OSError):
                if signal.getsignal(signal.SIGTERM) in (_on_sigterm, signal.SIG_DFL):
                    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def mark_reported() -> None:
    """Someone printed its own line for this interruption (``zoo train``'s resume hint)."""
    _STATE.reported = True


@contextlib.contextmanager
def keeping(note: Callable[[], str] | str) -> Iterator[None]:
    """A block whose interruption keeps ``note`` ("12 finished items are kept in out/; run
    the same command again to go on"); called when the interruption passes, so it can
    count. The outermost block's note is the one reported.

    Outside a CLI command, a SIGTERM that interrupted the outermost block ends the process
    with status 143 once the clean-up has run, as SIGTERM's default action would have.
    """
    if not _main_thread():
        yield
        return
    _STATE.blocks += 1
    try:
        with _sigterm_as_interrupt():
            yield
    except KeyboardInterrupt as exc:
        with contextlib.suppress(Exception):  # a note must never hide the interruption
            _STATE.note = note() if callable(note) else note
        if _STATE.blocks == 1 and not _STATE.commands and isinstance(exc, Interrupted):
            raise SystemExit(128 + signal.SIGTERM) from exc
        raise
    finally:
        _STATE.blocks -= 1


def _was_interrupted(exc: BaseException) -> bool:
    """A KeyboardInterrupt, or the ``SystemExit(130)`` typer turns one into."""
    if isinstance(exc, SystemExit) and exc.code == 128 + signal.SIGINT:
        return True
    seen: set[int] = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        if isinstance(e, KeyboardInterrupt):
            return True
        seen.add(id(e))
        e = e.__cause__ or e.__context__
    return False


@contextlib.contextmanager
def command_interruptions(stream: TextIO | None = None) -> Iterator[None]:
    """Around one CLI command (see the module docstring)."""
    outermost = _STATE.commands == 0
    if outermost:
        _STATE.signal_name, _STATE.note, _STATE.reported = None, None, False
    _STATE.commands += 1
    try:
        with _sigterm_as_interrupt():
            yield
    except (KeyboardInterrupt, SystemExit) as exc:
        if not outermost or not _was_interrupted(exc):
            raise
        by = _STATE.signal_name or "Ctrl-C"
        if not _STATE.reported:
            print(
                f"interrupted ({by}): {_STATE.note or NOTHING_KEPT}",
                file=stream or sys.stderr,
                flush=True,
            )
        code = 128 + (signal.SIGTERM if by == "SIGTERM" else signal.SIGINT)
        raise SystemExit(code) from None
    finally:
        _STATE.commands -= 1
