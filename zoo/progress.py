"""Progress of long work: one look everywhere (training, eval, batch, video, masks, export).

Every bar shows what it is doing, done/total, a rate in the work's own unit (``steps/s``,
``frames/s``, ``items/s``), elapsed time and ETA (``0:12<0:30``), plus an optional text
field (current losses, failures). Bars draw on stderr, so stdout stays clean for reports and
``--json``.

**On a terminal** the bar redraws in place. Its fixed part (description, bar, count, rate,
time) never shrinks to ``20…``: when the text field does not fit beside it on an 80-column
terminal it goes on a line of its own below the bar, cut to the width.

**Anywhere else** (``nohup``, SLURM, CI, ``2> log``) nothing can redraw, so the bar prints
plain lines instead, one every ``ZOO_PROGRESS_INTERVAL`` (default ``10`` seconds; ``30s``,
``5m`` or ``10%`` - a line each time another tenth of the work is done - also work), plus a
last line when the work ends or stops::

    tracking: 12/24 frames (50%), 1.23 frames/s, elapsed 0:10, ETA 0:10
    tracking: 24/24 frames (100%), 1.19 frames/s, done in 0:20

Rates and ETAs are averages over the whole run when the recent rate is unknown (steps that
take longer than rich's 30-second window), so a slow job still says how slow.

Library code reports long work through :func:`work` and draws nothing unless a command
asked for bars around it (:func:`showing_progress`), so ``model.segment_everything()`` in a
notebook stays silent while ``zoo run --everything`` shows its progress.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.progress import Progress, ProgressColumn, Task, TaskID
from rich.table import Column
from rich.text import Text

from zoo.errors import InputError

#: Environment variable: seconds (``10``, ``30s``, ``2m``) or a share of the work (``10%``)
#: between two plain progress lines when stderr is not a terminal.
INTERVAL_ENV = "ZOO_PROGRESS_INTERVAL"
DEFAULT_INTERVAL_S = 10.0

#: ``advance(n)``: ``n`` more units of the work are done.
Advance = Callable[[int], None]


@dataclass(frozen=True)
class Interval:
    """Every ``seconds`` (a heartbeat, even while one slow item runs) or every ``percent``."""

    seconds: float | None = DEFAULT_INTERVAL_S
    percent: float | None = None


def progress_interval() -> Interval:
    """:data:`INTERVAL_ENV` read now; a value that is not a positive time or share is a
    mistake worth saying (one line), not something to ignore."""
    raw = os.environ.get(INTERVAL_ENV, "").strip().lower()
    if not raw:
        return Interval()
    try:
        if raw.endswith("%"):
            value = float(raw[:-1])
            if 0 < value <= 100:
                return Interval(seconds=None, percent=value)
        else:
            scale = 60.0 if raw.endswith("m") else 1.0
            value = float(raw.rstrip("ms")) * scale
            if value > 0:
                return Interval(seconds=value)
    except ValueError:
        pass
    raise InputError(
        f"{INTERVAL_ENV}={raw!r} is not a time or a share of the work; set e.g. "
        f"{INTERVAL_ENV}=10 (seconds), 2m or 10% (or unset it)"
    )


# ----------------------------------------------------------------------------- figures


def _hms(seconds: float | None) -> str:
    if seconds is None:
        return "-:--"
    m, sec = divmod(round(seconds), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"


def _elapsed(task: Task) -> float | None:
    return task.finished_time if task.finished else task.elapsed


def task_speed(task: Task) -> float | None:
    """Units per second: rich's recent rate, else the average since the task began."""
    speed = task.finished_speed or task.speed
    if speed:
        return float(speed)
    elapsed = _elapsed(task)
    if task.completed and elapsed:
        return float(task.completed) / float(elapsed)
    return None


def task_eta(task: Task) -> float | None:
    """Seconds left at :func:`task_speed`; None when the total or the rate is unknown."""
    if task.finished:
        return 0.0
    speed = task_speed(task)
    if task.total is None or not speed:
        return None
    return max(float(task.total) - float(task.completed), 0.0) / speed


def _singular(unit: str) -> str:
    """``frames`` -> ``frame``, ``batches`` -> ``batch`` (for ``4.1 s/frame``)."""
    if unit.endswith(("ches", "shes", "xes", "sses")):
        return unit[:-2]
    return unit[:-1] if unit.endswith("s") and len(unit) > 2 else unit


def _rate_text(speed: float | None, unit: str) -> str:
    if not speed:
        return ""
    return f"{speed:.2f} {unit}/s" if speed >= 1 else f"{1 / speed:.1f} s/{_singular(unit)}"


def _plain(text: str) -> str:
    """A description without rich markup (``[bold]tracking`` -> ``tracking``)."""
    try:
        return Text.from_markup(text).plain
    except Exception:
        return text


def plain_line(task: Task, unit: str = "it") -> str:
    """The log line of a task: ``what: done/total unit (pct%), rate, elapsed, ETA, info``."""
    unit = str(task.fields.get("unit", unit))
    done = int(task.completed)
    parts = []
    if task.total:
        total = int(task.total)
        parts.append(f"{done}/{total} {unit} ({100.0 * done / total:.0f}%)")
    else:
        parts.append(f"{done} {unit}")
    rate = _rate_text(task_speed(task), unit)
    if rate:
        parts.append(rate)
    if task.finished:
        parts.append(f"done in {_hms(_elapsed(task))}")
    else:
        parts.append(f"elapsed {_hms(_elapsed(task))}")
        eta = task_eta(task)
        if eta is not None:
            parts.append(f"ETA {_hms(eta)}")
    info = str(task.fields.get("info", "") or "").strip()
    if info:
        parts.append(info)
    return f"{_plain(str(task.description))}: " + ", ".join(parts)


# ----------------------------------------------------------------------------- columns


class TimeColumn(ProgressColumn):
    """``0:12<0:30``: elapsed, then the estimated time left (blank until it is known)."""

    def __init__(self) -> None:
        super().__init__(table_column=Column(no_wrap=True))

    def render(self, task: Task) -> Text:
        text = _hms(_elapsed(task))
        if task.finished:
            return Text(text, style="progress.elapsed")
        return Text(f"{text}<{_hms(task_eta(task))}", style="progress.elapsed")


class RateColumn(ProgressColumn):
    """``12.3 frames/s`` (or ``4.1 s/frame`` when slower than one per second)."""

    def __init__(self, unit: str = "it") -> None:
        super().__init__(table_column=Column(no_wrap=True))
        self.unit = unit

    def render(self, task: Task) -> Text:
        unit = task.fields.get("unit", self.unit)
        return Text(_rate_text(task_speed(task), unit), style="progress.data.speed")


class _InfoColumn(ProgressColumn):
    """The task's ``info`` text (losses, failures), when it fits beside the bar."""

    def __init__(self) -> None:
        super().__init__(table_column=Column(no_wrap=True, overflow="ellipsis"))

    def render(self, task: Task) -> Text:
        return Text(str(task.fields.get("info", "") or ""))


class ZooProgress(Progress):
    """rich's ``Progress`` that stays readable where it is drawn (see the module docstring).

    ``plain=True`` (stderr is not a terminal) prints log lines at ``interval`` instead of
    redrawing; ``info=True`` adds the text field, beside the bar when it fits, else below.
    """

    def __init__(
        self,
        *columns: ProgressColumn,
        console: Console,
        enabled: bool = True,
        info: bool = True,
        unit: str = "it",
        plain: bool = False,
        interval: Interval | None = None,
        transient: bool = False,
    ) -> None:
        self._plain_mode = plain and enabled
        self._transient = transient
        self._with_info = info
        self._unit = unit
        self._interval = interval or Interval()
        # task -> (time, completed, total) of its last plain line
        self._printed: dict[TaskID, tuple[float, float, float | None]] = {}
        self._stop_beat = threading.Event()
        self._beat: threading.Thread | None = None
        super().__init__(
            *columns,
            console=console,
            disable=not enabled or self._plain_mode,
            transient=transient,
        )

    # ------------------------------------------------------------------ terminal layout
    def _table(self, tasks: list[Task], columns: tuple[Any, ...]) -> Any:
        """``make_tasks_table`` over the given columns (the bar's, plus the info or not)."""
        from rich.table import Table

        table = Table.grid(
            *(
                Column(no_wrap=True) if isinstance(c, str) else c.get_table_column().copy()
                for c in columns
            ),
            padding=(0, 1),
            expand=self.expand,
        )
        for task in tasks:
            if task.visible:
                table.add_row(
                    *((c.format(task=task) if isinstance(c, str) else c(task)) for c in columns)
                )
        return table

    def get_renderables(self) -> Iterator[RenderableType]:
        tasks = [t for t in self.tasks if t.visible]
        if not self._with_info or not hasattr(self, "live"):  # (rich asks while building)
            yield self.make_tasks_table(tasks)
            return
        width = self.console.width
        rows: list[RenderableType] = []
        for task in tasks:
            table = self._table([task], tuple(self.columns))
            info = Text(str(task.fields.get("info", "") or ""), no_wrap=True, overflow="ellipsis")
            if not info.plain:
                rows.append(table)
            elif self.console.measure(table).maximum + 1 + info.cell_len <= width:
                rows.append(self._table([task], (*self.columns, _InfoColumn())))
            else:  # the info on its own line, so the bar's figures are never cut
                info.truncate(max(width - 2, 1), overflow="ellipsis")
                rows += [table, Text("  ") + info]
        yield Group(*rows)

    # ------------------------------------------------------------------ plain lines
    def start(self) -> None:
        super().start()
        if self._plain_mode and self._interval.seconds and self._beat is None:
            self._stop_beat.clear()
            self._beat = threading.Thread(target=self._heartbeat, daemon=True, name="zoo-progress")
            self._beat.start()

    def stop(self) -> None:
        if self._beat is not None:
            self._stop_beat.set()
            self._beat.join()
            self._beat = None
        if self._plain_mode:
            for task in self.tasks:  # the last state of every task, once
                if task.finished or not self._transient:  # transient: no line for a stop
                    self._emit(task, only_if_changed=True)
        super().stop()

    def update(self, task_id: TaskID, **kwargs: Any) -> None:  # type: ignore[override]
        super().update(task_id, **kwargs)
        if self._plain_mode:
            self._after_change(task_id)

    def advance(self, task_id: TaskID, advance: float = 1) -> None:
        super().advance(task_id, advance)
        if self._plain_mode:
            self._after_change(task_id)

    def _after_change(self, task_id: TaskID) -> None:
        with self._lock:
            task = self._tasks.get(task_id)
        if task is None:
            return
        last = self._printed.get(task_id)
        if task.finished:
            self._emit(task, only_if_changed=True)
        elif self._interval.percent and task.total:
            step = float(task.total) * self._interval.percent / 100.0
            before = last[1] if last else 0.0
            if int(task.completed // step) > int(before // step):
                self._emit(task)

    def _heartbeat(self) -> None:
        seconds = float(self._interval.seconds or DEFAULT_INTERVAL_S)
        while not self._stop_beat.wait(min(seconds, 1.0)):
            now = time.monotonic()
            for task in list(self.tasks):
                if not task.started or task.finished:
                    continue
                since = self._printed.get(task.id, (task.start_time or now,))[0]
                if now - float(since or now) >= seconds:
                    self._emit(task)

    def _emit(self, task: Task, only_if_changed: bool = False) -> None:
        with self._lock:
            state = (float(task.completed), None if task.total is None else float(task.total))
            last = self._printed.get(task.id)
            if only_if_changed and last is not None and last[1:] == state:
                return
            if only_if_changed and last is None and not task.completed and not task.finished:
                return  # never started: nothing to report
            self._printed[task.id] = (time.monotonic(), *state)
            line = plain_line(task, self._unit)
        self.console.print(line, markup=False, highlight=False, soft_wrap=True)


def stderr_console() -> Console:
    return Console(stderr=True)


def progress_bar(
    *,
    unit: str = "it",
    console: Any = None,
    enabled: bool = True,
    info: bool = True,
    transient: bool = False,
) -> ZooProgress:
    """The bar every long job uses; tasks may carry ``info="..."`` (losses, failures) and
    ``unit``. ``enabled=False`` (``--json``, or a caller's choice) shows nothing; on a console
    that is not a terminal it prints plain lines (see the module docstring).
    ``transient=True`` leaves no bar behind on a terminal, and no closing line in a log for
    work that stopped half-way (so an error found half-way is still the only line)."""
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn

    con: Console = console or stderr_console()
    plain = not con.is_terminal or con.is_dumb_terminal
    columns: list[ProgressColumn] = [
        TextColumn(
            "{task.description}",
            table_column=Column(no_wrap=True, overflow="ellipsis", max_width=32),
        ),
        BarColumn(bar_width=16, table_column=Column(no_wrap=True)),
        MofNCompleteColumn(table_column=Column(no_wrap=True)),
        RateColumn(unit),
        TimeColumn(),
    ]
    return ZooProgress(
        *columns,
        console=con,
        enabled=enabled,
        info=info,
        unit=unit,
        plain=plain,
        interval=progress_interval() if plain and enabled else None,
        transient=transient,
    )


def format_terms(terms: Mapping[str, float], keys: tuple[str, ...] | None = None) -> str:
    """``{"loss": 0.1234, "dice": 0.5}`` -> ``"loss 0.1234 dice 0.5000"`` for a bar's info."""
    items = [(k, terms[k]) for k in (keys or tuple(terms)) if k in terms]
    return " ".join(f"{k} {float(v):.4f}" for k, v in items)


# ----------------------------------------------------------------------------- ambient


@dataclass(frozen=True)
class _Scope:
    console: Any
    enabled: bool


_SCOPE: contextvars.ContextVar[_Scope | None] = contextvars.ContextVar(
    "zoo_progress_scope", default=None
)


@contextlib.contextmanager
def showing_progress(console: Any = None, *, enabled: bool = True) -> Iterator[None]:
    """Inside this block, :func:`work` draws bars (a command's choice: off with ``--json``)."""
    token = _SCOPE.set(_Scope(console, enabled))
    try:
        yield
    finally:
        _SCOPE.reset(token)


def _ignore(n: int = 1) -> None:
    """The :data:`Advance` of work nobody watches."""


@contextlib.contextmanager
def work(description: str, total: int | None, unit: str = "it") -> Iterator[Advance]:
    """Report long library work (``advance(n)``); a bar only inside :func:`showing_progress`."""
    scope = _SCOPE.get()
    if scope is None or not scope.enabled:
        yield _ignore
        return
    with progress_bar(unit=unit, console=scope.console, info=False) as bar:
        task = bar.add_task(description, total=total, unit=unit)

        def advance(n: int = 1) -> None:
            bar.advance(task, n)

        yield advance
        if total is not None:
            bar.update(task, completed=total)


# ----------------------------------------------------------------------------- stages


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

    @contextlib.contextmanager
    def stage(
        self, description: str, total: int | None = None, unit: str = "it"
    ) -> Iterator[Advance]:
        bar = progress_bar(unit=unit, console=self.console, enabled=self.enabled, info=False)
        with bar:
            task = bar.add_task(description, total=total, unit=unit)

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
            from rich.markup import escape

            console = self.console or stderr_console()
            console.print(f"[yellow]note:[/] {escape(text)}", highlight=False, soft_wrap=True)
