"""Resumable training state: atomic saves, safe loads, RNG capture, Ctrl-C checkpoints.

A resumed run must continue *bit-exactly* where it stopped, so the state holds what learns
(parameters, optimizer), where it is (step, history) and every random generator it draws
from (torch CPU and CUDA, the trainer's numpy ``Generator``). Learning-rate schedules are
pure functions of the step (:mod:`zoo.training.schedules`) and need nothing saved.

Files are written atomically (a kill mid-save never leaves a torn file) and read with
``torch.load(weights_only=True)``: numpy RNG states travel as JSON strings for that reason.
"""

from __future__ import annotations

import contextlib
import json
import sys
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from zoo.errors import InputError


def capture_rng(numpy_rng: np.random.Generator | None = None) -> dict[str, Any]:
    """Every generator's state, in a form ``torch.load(weights_only=True)`` reads back."""
    state: dict[str, Any] = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    if numpy_rng is not None:
        state["numpy"] = json.dumps(numpy_rng.bit_generator.state)
    return state


def restore_rng(state: dict[str, Any], numpy_rng: np.random.Generator | None = None) -> None:
    """Put the generators back where :func:`capture_rng` found them."""
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    if numpy_rng is not None and "numpy" in state:
        numpy_rng.bit_generator.state = json.loads(state["numpy"])


def save_state(path: Path, state: dict[str, Any]) -> Path:
    """Write a resumable state atomically (temp file, then rename)."""
    from zoo.io.atomic import atomic_write

    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path) as tmp:
        torch.save(state, tmp)
    return path


def load_state(path: Path, *, what: str = "training state") -> dict[str, Any]:
    """Read a state written by :func:`save_state` without unpickling code."""
    try:
        with warnings.catch_warnings():  # a refused pickle gets our one line, not torch's notes
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise InputError(f"no {what} at {path}; start a new run without --resume") from None
    except Exception as exc:
        raise InputError(
            f"{path} is not a readable {what} ({type(exc).__name__}); delete it and start again"
        ) from None
    if not isinstance(state, dict):
        raise InputError(f"{path} is not a {what}; delete it and start again")
    return state


def resume_command(flag: str | None = "--resume") -> str | None:
    """The exact command that continues the running ``zoo train``: the same arguments, plus
    ``flag`` when the trainer needs one to resume and it was not given (``None``: the same
    command resumes by itself). ``None`` outside the command line."""
    import shlex

    from zoo.errors import command_args

    args = command_args()
    if args is None:
        return None
    given = list(args)
    if flag is not None and flag not in given and not any(a.startswith(flag + "=") for a in given):
        given.append(flag)
    return shlex.join(["zoo", *given])


def say_resumed(step: int, total: int, state: Path, console: Any = None) -> str:
    """Say, before the first new step, where a resumed run continues from; returns the line.

    Without it a resumed run looks like a new one until its bar shows the count."""
    msg = f"resuming from step {step} of {total} (state {state})"
    if console is not None:
        from rich.markup import escape

        console.print(f"[yellow]note:[/] {escape(msg)}", highlight=False, soft_wrap=True)
    else:
        print(f"note: {msg}", file=sys.stderr)
    return msg


@contextlib.contextmanager
def checkpoint_on_interrupt(
    save: Callable[[], Path | None],
    *,
    resume_hint: str,
    console: Any = None,
    resume_flag: str | None = "--resume",
    step: Callable[[], int] | None = None,
) -> Iterator[None]:
    """On Ctrl-C (or SIGTERM, see :mod:`zoo.io.interrupt`), save the state, say where it is
    and the exact command that resumes it, then stop (exit 130 or 143).

    ``save`` returns the state file, or ``None`` when there is nothing to resume (no step
    finished yet); then the line says so and gives no resume command. On the command line
    the command is the one that ran plus ``resume_flag`` (``None``: the same command resumes
    by itself); in Python it is ``resume_hint``. ``step`` (the number of finished steps)
    names where the state stands.
    """
    try:
        yield
    except KeyboardInterrupt:
        from zoo.errors import hint

        path = save()
        if path is None:
            again = hint("run the same command again", "call it again")
            msg = f"interrupted before the first step finished: nothing to resume; {again}"
        else:
            at = f" after step {step()}" if step is not None else ""
            command = resume_command(resume_flag)
            how = f"resume with: {command}" if command else f"continue with {resume_hint}"
            msg = f"interrupted{at}: state saved to {path}; {how}"
        if console is not None:
            from rich.markup import escape

            console.print(f"[yellow]{escape(msg)}[/]", highlight=False, soft_wrap=True)
        else:
            print(msg, file=sys.stderr)
        from zoo.io.interrupt import mark_reported

        mark_reported()  # this line is the command's report (SIGTERM lands here too)
        raise
