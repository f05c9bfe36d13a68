"""Progress of the slow stages (mask generation, CLIP, 3-D), shown as rich bars.

A frame at SAD's settings is minutes of CPU work (64 x 64 prompt points at SAM's 1024
input); without a bar a user cannot tell a slow run from a hung one. The model reports
through the small :class:`Stages` interface, so library calls stay silent (the default
:class:`Silent`) and ``zoo run`` / ``zoo eval`` draw :class:`RichStages` on stderr.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol

from zoo.progress import StageBars

#: ``advance(n)``: ``n`` more units of the current stage are done.
Advance = Callable[[int], None]


def _ignore(n: int = 1) -> None:
    """The :data:`Advance` of a stage nobody watches."""


class Stages(Protocol):
    """Where the model reports its stages; ``total`` units each (``None``: unknown)."""

    def stage(self, description: str, total: int | None, unit: str) -> Any:
        """A context manager yielding an :data:`Advance` callback."""
        ...


class Silent:
    """Reports nothing (library calls, ``--json`` runs)."""

    @contextmanager
    def stage(self, description: str, total: int | None, unit: str) -> Iterator[Advance]:
        yield _ignore


class Forward:
    """Sends the units of some stages to one outer bar and drops the rest.

    ``zoo eval`` shows a single bar over every frame's decoder batches (the slow part,
    so its rate and ETA are the run's) instead of a new set of bars per frame.
    """

    def __init__(self, advance: Advance, units: tuple[str, ...] = ("batch",)) -> None:
        self.advance = advance
        self.units = units

    @contextmanager
    def stage(self, description: str, total: int | None, unit: str) -> Iterator[Advance]:
        yield self.advance if unit in self.units else _ignore


class RichStages(StageBars):
    """One bar per stage with count, rate, elapsed time and ETA, kept when it finishes: the
    core's :class:`zoo.progress.StageBars` (on a terminal it redraws; in a log it prints a
    plain line every ``ZOO_PROGRESS_INTERVAL``, with rates averaged since the stage began so
    minute-long steps still show), plus a spinner for the model build.
    """

    @contextmanager
    def spinner(self, description: str) -> Iterator[None]:
        """A transient spinner with elapsed time, for a step of unknown length (building
        the model): it leaves no line behind, so an error inside it is still one line."""
        if not self.enabled:
            yield
            return
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        columns = [SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn()]
        with Progress(*columns, console=self.console, transient=True) as bar:
            bar.add_task(description, total=None)
            yield
