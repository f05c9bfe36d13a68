"""Progress bars for long work: one look everywhere (training, eval, batch, video, masks).

Every bar shows what it is doing, done/total, a rate in the work's own unit (``steps/s``,
``frames/s``, ``items/s``), elapsed time and ETA (``0:12<0:30``), plus an optional text
field (current losses, failures); the fixed part fits an 80-column terminal. Bars draw on
stderr, so stdout stays clean for reports and ``--json``, and they switch themselves off
when stderr is not a terminal unless asked for.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from rich.progress import ProgressColumn, Task
from rich.text import Text


def _average_speed(task: Task) -> float | None:
    """Units per second since the task began: what a bar shows when rich's own speed (the
    last 30 s of samples, two of them at least) has nothing, i.e. when one step takes
    longer than that (a SAM decoder batch at 1024 px on a CPU)."""
    elapsed = task.finished_time if task.finished else task.elapsed
    if not task.completed or not elapsed:
        return None
    return float(task.completed) / float(elapsed)


class TimeColumn(ProgressColumn):
    """``0:12<0:30``: elapsed, then the estimated time left (blank until it is known)."""

    def render(self, task: Task) -> Text:
        def hms(seconds: float | None) -> str:
            if seconds is None:
                return "-:--"
            m, sec = divmod(int(seconds), 60)
            h, m = divmod(m, 60)
            return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"

        left = None if task.finished else task.time_remaining
        if left is None and not task.finished and task.total is not None:
            speed = _average_speed(task)
            left = max(float(task.total) - float(task.completed), 0.0) / speed if speed else None
        text = hms(task.finished_time if task.finished else task.elapsed)
        return Text(text if task.finished else f"{text}<{hms(left)}", style="progress.elapsed")


class RateColumn(ProgressColumn):
    """``12.3 frames/s`` (or ``4.1 s/frame`` when slower than one per second)."""

    def __init__(self, unit: str = "it") -> None:
        super().__init__()
        self.unit = unit

    def render(self, task: Task) -> Text:
        unit = task.fields.get("unit", self.unit)
        speed = task.finished_speed or task.speed or _average_speed(task)
        if not speed:
            return Text("", style="progress.data.speed")
        if speed >= 1:
            return Text(f"{speed:.2f} {unit}/s", style="progress.data.speed")
        return Text(f"{1 / speed:.1f} s/{unit}", style="progress.data.speed")


def progress_bar(
    *,
    unit: str = "it",
    console: Any = None,
    enabled: bool = True,
    info: bool = True,
    transient: bool = False,
) -> Any:
    """A rich ``Progress``; tasks may carry ``info="..."`` (losses, failures) and ``unit``.

    ``enabled=False`` (``--json``, or a caller's choice) draws nothing; ``transient=True``
    leaves no line behind (so an error found half-way is still the only line).
    """
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    columns: list[Any] = [
        TextColumn("{task.description}"),
        BarColumn(bar_width=16),
        MofNCompleteColumn(),
        RateColumn(unit),
        TimeColumn(),
    ]
    if info:
        columns.append(TextColumn("{task.fields[info]}"))
    return Progress(
        *columns,
        console=console or Console(stderr=True),
        disable=not enabled,
        transient=transient,
    )


def format_terms(terms: Mapping[str, float], keys: tuple[str, ...] | None = None) -> str:
    """``{"loss": 0.1234, "dice": 0.5}`` -> ``"loss 0.1234 dice 0.5000"`` for a bar's info."""
    items = [(k, terms[k]) for k in (keys or tuple(terms)) if k in terms]
    return " ".join(f"{k} {float(v):.4f}" for k, v in items)


class StageBars:
    """What ``zoo run`` hands an image task's method that takes ``progress=``: a bar per slow
    stage and lines said before the slow part (a minutes-long call should not look hung).

    A model uses either or both::

        with progress.stage("SAM masks on depth", total=16, unit="batch") as advance:
            ...
            advance(1)
        progress.note("slow on CPU: ...")  # now, not after the work

    Each finished stage leaves one line; with ``enabled=False`` (``--json``) nothing is drawn
    and the notes are kept for the report. :attr:`notes` holds every note given.
    """

    def __init__(self, console: Any = None, *, enabled: bool = True) -> None:
        self.console = console
        self.enabled = enabled
        self.notes: list[str] = []

    @contextmanager
    def stage(
        self, description: str, total: int | None = None, unit: str = "it"
    ) -> Iterator[Callable[[int], None]]:
        bar = progress_bar(unit=unit, console=self.console, enabled=self.enabled, info=False)
        with bar:
            task = bar.add_task(description, total=total)

            def advance(n: int = 1) -> None:
                bar.advance(task, n)

            yield advance
            if total is not None:
                bar.update(task, completed=total)

    def note(self, text: str) -> None:
        """Say ``text`` once, now (kept in :attr:`notes` either way)."""
        if text in self.notes:
            return
        self.notes.append(text)
        if self.enabled:
            from rich.console import Console
            from rich.markup import escape

            console = self.console or Console(stderr=True)
            console.print(f"[yellow]note:[/] {escape(text)}", highlight=False, soft_wrap=True)
