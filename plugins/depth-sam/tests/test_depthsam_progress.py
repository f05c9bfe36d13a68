"""The progress bars of the slow stages: count, rate and ETA from the stage average."""

from __future__ import annotations

import io
import time

from rich.console import Console
from zoo_depthsam.progress import Forward, RichStages, Silent


def _console() -> tuple[Console, io.StringIO]:
    buf = io.StringIO()
    return Console(file=buf, force_terminal=False, width=120), buf


def test_a_stage_shows_count_rate_and_elapsed() -> None:
    console, buf = _console()
    with RichStages(console).stage("SAM masks on depth", 3, "batch") as advance:
        for _ in range(3):
            time.sleep(0.02)
            advance(1)
    text = buf.getvalue()
    assert "SAM masks on depth" in text and "3/3" in text and "batch/s" in text


def test_a_slow_stage_still_gets_a_rate_and_an_eta() -> None:
    """One step a minute (SAM 1024 on a CPU): rich's 30 s window would show nothing; the
    core bar's columns fall back to the stage average."""
    from rich.progress import Progress

    from zoo.progress import RateColumn, TimeColumn, plain_line

    rate, time_left = RateColumn("batch"), TimeColumn()
    with Progress(console=_console()[0]) as bar:
        task_id = bar.add_task("x", total=64, unit="batch")
        bar.advance(task_id, 1)
        task = bar.tasks[0]
        task.start_time = task.get_time() - 60.0  # pretend the first batch took a minute
        assert rate.render(task).plain == "60.0 s/batch"
        assert time_left.render(task).plain == "1:00<1:03:00"
        assert "60.0 s/batch" in plain_line(task) and "ETA 1:03:00" in plain_line(task)


def test_disabled_and_forwarding_stages_draw_nothing() -> None:
    console, buf = _console()
    with RichStages(console, enabled=False).stage("hidden", 2, "batch") as advance:
        advance(2)
    with Silent().stage("silent", 2, "batch") as advance:
        advance(2)
    seen: list[int] = []
    fwd = Forward(seen.append)
    with fwd.stage("masks", 4, "batch") as advance:
        advance(1)
    with fwd.stage("clip", 4, "mask") as advance:
        advance(3)  # other units are dropped
    assert seen == [1] and buf.getvalue() == ""
