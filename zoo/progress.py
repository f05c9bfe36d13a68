"""Progress bars for long work: one look everywhere (training, eval, batch, video, masks).

Every bar shows what it is doing, done/total, a rate in the work's own unit (``steps/s``,
``frames/s``, ``items/s``), elapsed time and ETA, plus an optional text field (current
losses, failures). Bars draw on stderr, so stdout stays clean for reports and ``--json``,
and they switch themselves off when stderr is not a terminal unless asked for.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.progress import ProgressColumn, Task
from rich.text import Text


class RateColumn(ProgressColumn):
    """``12.3 frames/s`` (or ``4.1 s/frame`` when slower than one per second)."""

    def __init__(self, unit: str = "it") -> None:
        super().__init__()
        self.unit = unit

    def render(self, task: Task) -> Text:
        unit = task.fields.get("unit", self.unit)
        speed = task.finished_speed or task.speed
        if not speed:
            return Text("", style="progress.data.speed")
        if speed >= 1:
            return Text(f"{speed:.2f} {unit}/s", style="progress.data.speed")
        return Text(f"{1 / speed:.1f} s/{unit}", style="progress.data.speed")


def progress_bar(
    *, unit: str = "it", console: Any = None, enabled: bool = True, info: bool = True
) -> Any:
    """A rich ``Progress``; tasks may carry ``info="..."`` (losses, failures) and ``unit``.

    ``enabled=False`` (``--json``, or a caller's choice) draws nothing.
    """
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns: list[Any] = [
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        RateColumn(unit),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
    ]
    if info:
        columns.append(TextColumn("{task.fields[info]}"))
    return Progress(
        *columns,
        console=console or Console(stderr=True),
        disable=not enabled,
        transient=False,
    )


def format_terms(terms: Mapping[str, float], keys: tuple[str, ...] | None = None) -> str:
    """``{"loss": 0.1234, "dice": 0.5}`` -> ``"loss 0.1234 dice 0.5000"`` for a bar's info."""
    items = [(k, terms[k]) for k in (keys or tuple(terms)) if k in terms]
    return " ".join(f"{k} {float(v):.4f}" for k, v in items)
