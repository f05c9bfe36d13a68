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


@contextlib.contextmanager
def checkpoint_on_interrupt(
    save: Callable[[], Path | None], *, resume_hint: str, console: Any = None
) -> Iterator[None]:
    """On Ctrl-C, save the state, say where and how to resume, then stop (exit 130).

    ``save`` returns the state file (or ``None`` when there was nothing to save yet).
    """
    try:
        yield
    except KeyboardInterrupt:
        path = save()
        where = f"state saved to {path}; " if path else ""
        msg = f"interrupted: {where}continue with {resume_hint}"
        if console is not None:
            console.print(f"[yellow]{msg}[/]")
        else:
            print(msg, file=sys.stderr)
        from zoo.io.interrupt import mark_reported

        mark_reported()  # this line is the command's report (SIGTERM lands here too)
        raise
