"""The one progress bar (zoo.progress): plain lines in logs, readable at 80 columns.

Issue 21 item 4: with stderr not a terminal (nohup, SLURM, CI) long jobs printed nothing
until the end; training bars on an 80-column terminal squeezed their figures to ``20…``.
"""

from __future__ import annotations

import io
import re
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from rich.console import Console

from zoo.errors import InputError
from zoo.progress import (
    INTERVAL_ENV,
    Interval,
    format_terms,
    progress_bar,
    progress_interval,
    showing_progress,
    work,
)
from zoo.testing.cli import run_cli

LINE = re.compile(
    r"^(?P<what>[^:]+): (?P<done>\d+)/(?P<total>\d+) (?P<unit>\w+) \((?P<pct>\d+)%\)"
    r"(, [\d.]+ (s/\w+|\w+/s))?, (elapsed \d+:\d\d(, ETA \d+:\d\d)?|done in \d+:\d\d)"
)


def _log() -> tuple[Console, io.StringIO]:
    """A console writing to a file, as stderr is under nohup or in CI."""
    buf = io.StringIO()
    return Console(file=buf, width=80), buf


def test_interval_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(INTERVAL_ENV, raising=False)
    assert progress_interval() == Interval(seconds=10.0)
    for raw, expected in [
        ("30", Interval(seconds=30.0)),
        ("2.5s", Interval(seconds=2.5)),
        ("2m", Interval(seconds=120.0)),
        ("10%", Interval(seconds=None, percent=10.0)),
    ]:
        monkeypatch.setenv(INTERVAL_ENV, raw)
        assert progress_interval() == expected, raw
    for bad in ("soon", "0", "-5", "150%", "0%"):
        monkeypatch.setenv(INTERVAL_ENV, bad)
        with pytest.raises(InputError, match=INTERVAL_ENV):
            progress_interval()


def test_a_log_gets_a_plain_line_every_tenth_of_the_work(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(INTERVAL_ENV, "25%")
    console, buf = _log()
    with progress_bar(unit="frames", console=console) as bar:
        task = bar.add_task("[bold]tracking", total=8, unit="frames")
        for _ in range(8):
            bar.update(task, advance=1, info="masks 3")
    lines = buf.getvalue().splitlines()
    assert [LINE.match(ln)["done"] for ln in lines] == ["2", "4", "6", "8"], lines  # type: ignore[index]
    assert all(ln.startswith("tracking: ") and ln.endswith(", masks 3") for ln in lines)
    assert "ETA" in lines[0] and "done in" in lines[-1] and "(100%)" in lines[-1]
    assert "\x1b" not in buf.getvalue() and "\r" not in buf.getvalue()  # readable in a file


def test_a_log_gets_a_line_every_interval_even_while_one_item_runs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A heartbeat: a 10-minute first frame must not look like a hung job."""
    monkeypatch.setenv(INTERVAL_ENV, "0.1")
    console, buf = _log()
    with progress_bar(unit="frames", console=console) as bar:
        bar.add_task("tracking", total=3, unit="frames")
        deadline = time.monotonic() + 30
        while buf.getvalue().count("\n") < 2 and time.monotonic() < deadline:
            time.sleep(0.05)  # no progress at all meanwhile
    lines = buf.getvalue().splitlines()
    assert len(lines) >= 2 and all(ln.startswith("tracking: 0/3 frames (0%)") for ln in lines)
    assert all("elapsed" in ln for ln in lines)


def test_unknown_total_and_stopped_work_end_with_their_state(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(INTERVAL_ENV, "60")
    console, buf = _log()
    with pytest.raises(KeyboardInterrupt), progress_bar(unit="items", console=console) as bar:
        task = bar.add_task("zoo batch", total=None, unit="items")
        bar.update(task, advance=5)
        raise KeyboardInterrupt
    line = buf.getvalue().strip()
    assert line.startswith("zoo batch: 5 items, ") and "elapsed" in line


def test_a_transient_bar_in_a_log_adds_no_line_when_the_work_stops(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``zoo run``'s frame bar is transient: a bad frame found half-way is the only line
    (unless the work ran long enough for an interval's line); finished work still ends
    with its last line."""
    monkeypatch.setenv(INTERVAL_ENV, "60")
    console, buf = _log()
    stopped = progress_bar(unit="frames", console=console, transient=True)
    with pytest.raises(KeyboardInterrupt), stopped as bar:
        task = bar.add_task("tracking", total=4, unit="frames")
        bar.update(task, advance=2)
        raise KeyboardInterrupt
    assert buf.getvalue() == ""
    with progress_bar(unit="frames", console=console, transient=True) as bar:
        task = bar.add_task("tracking", total=2, unit="frames")
        bar.update(task, advance=2)
    assert buf.getvalue().startswith("tracking: 2/2 frames (100%)")


def test_disabled_bars_print_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(INTERVAL_ENV, "0.05")
    console, buf = _log()
    with progress_bar(unit="frames", console=console, enabled=False) as bar:
        task = bar.add_task("tracking", total=2)
        bar.update(task, advance=2)
        time.sleep(0.2)
    assert buf.getvalue() == ""


def _terminal_render(info: str, width: int = 80) -> list[str]:
    buf = io.StringIO()
    console = Console(file=buf, width=width, force_terminal=True, color_system=None)
    bar = progress_bar(unit="step", console=console)
    task = bar.add_task("train sameo-amodal", total=2000, info=info)
    bar.update(task, completed=20)
    bar.tasks[0].start_time = bar.tasks[0].get_time() - 13.0  # 13 s for 20 steps
    console.print(bar.get_renderable())
    return buf.getvalue().splitlines()


def test_training_bar_figures_stay_whole_at_80_columns() -> None:
    """Losses beside the bar used to squeeze the count, rate and time to '20…', '15.…'."""
    info = format_terms({"loss": 0.123456, "dice": 0.45, "focal": 0.0123, "iou": 0.88})
    lines = _terminal_render(info)
    assert len(lines) == 2, lines  # the losses moved to their own line
    bar_line, info_line = lines
    assert "20/2000" in bar_line and "1.54 step/s" in bar_line and "0:13<21:27" in bar_line
    assert "…" not in bar_line
    assert info_line.strip() == info and len(info_line) <= 80
    # wide enough: one line, nothing cut
    (wide,) = _terminal_render(info, width=160)
    assert "20/2000" in wide and wide.rstrip().endswith(info)
    # a very long info is cut at the width, the figures are not
    bar_line, info_line = _terminal_render("loss 0.1 " * 30)
    assert "20/2000" in bar_line and len(info_line.rstrip()) <= 80 and "…" in info_line


def test_library_work_is_silent_unless_a_command_shows_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(INTERVAL_ENV, "50%")
    console, buf = _log()
    with work("segment everything", 4, "batches") as advance:  # a notebook: nothing
        advance(4)
    assert buf.getvalue() == ""
    with showing_progress(console, enabled=False), work("x", 2, "batches") as advance:
        advance(2)  # --json
    assert buf.getvalue() == ""
    with showing_progress(console), work("segment everything", 4, "batches") as advance:
        for _ in range(4):
            advance(1)
    assert buf.getvalue().splitlines() == [
        ln for ln in buf.getvalue().splitlines() if ln.startswith("segment everything: ")
    ]
    assert "4/4 batches (100%)" in buf.getvalue()


# ------------------------------------------------------------------ long jobs end to end


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(3):
        Image.fromarray(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    return folder


FAST = ["--weights", "random", "--device", "cpu", "--image-size", "128"]


def _lines(stderr: str, what: str) -> list[str]:
    return [ln for ln in stderr.splitlines() if ln.startswith(f"{what}: ")]


def test_zoo_run_everything_reports_its_batches(photos: Path, tmp_path: Path) -> None:
    proc = run_cli(
        "run",
        "sam2:tiny",
        "--image",
        str(photos / "0.png"),
        "--everything",
        "--points-per-side",
        "4",
        "--points-per-batch",
        "4",
        "--out",
        str(tmp_path / "out"),
        *FAST,
        env={INTERVAL_ENV: "25%"},
    )
    assert proc.returncode == 0, proc.stderr
    lines = _lines(proc.stderr, "segment everything")
    assert lines and "4/4 batches (100%)" in lines[-1], proc.stderr


def test_zoo_batch_reports_items_in_a_log(photos: Path, tmp_path: Path) -> None:
    proc = run_cli(
        "batch",
        "sam2:tiny",
        "--input",
        str(photos),
        "--boxes",
        "5,5,40,30",
        "--out",
        str(tmp_path / "out"),
        "--format",
        "coco",
        *FAST,
        env={INTERVAL_ENV: "10%"},
    )
    assert proc.returncode == 0, proc.stderr
    lines = _lines(proc.stderr, "zoo batch")
    assert lines and re.search(r"3(/3)? items", lines[-1]), proc.stderr
    assert "masks 3" in lines[-1]


def test_zoo_export_reports_its_graphs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The export loop reports each graph (stand-in graphs: the export itself is tested in
    test_export_onnx)."""
    import zoo
    import zoo.export.onnx as onnx_mod

    def fake_graph(model: Any, g: Any, folder: Path, *a: Any) -> dict[str, Any]:
        return {"file": f"{g.name}.onnx"}

    monkeypatch.setattr(onnx_mod, "_write_graph", fake_graph)
    monkeypatch.setenv(INTERVAL_ENV, "50%")
    model = zoo.load("efficientsam:vitt", weights="random", device="cpu", image_size=128)
    console, buf = _log()
    with showing_progress(console):
        onnx_mod.write_export(model, tmp_path, opset=18)
    lines = _lines(buf.getvalue(), "exporting efficientsam:vitt")
    assert lines and "2/2 graphs (100%)" in lines[-1], buf.getvalue()
