"""What ``zoo run`` gives a slow image-task call (stage bars, notes said before the work)
and what the rgbd task reads beside the depth map. No model: the pieces are checked alone
(the depth-sam plugin's CLI tests run them end to end)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from rich.console import Console

from zoo.errors import InputError
from zoo.options import validate
from zoo.progress import StageBars, progress_bar
from zoo.tasks.rgbd import RGBDOptions, RGBDTask
from zoo.tasks.spec import RunInputs


def _console() -> tuple[Console, io.StringIO]:
    buf = io.StringIO()
    return Console(file=buf, force_terminal=False, width=120), buf


def test_stage_bars_draw_each_stage_and_say_notes_at_once() -> None:
    console, buf = _console()
    stages = StageBars(console)
    stages.note("slow on CPU: roughly 9 min")
    assert "note: slow on CPU" in buf.getvalue()  # before any stage ran
    with stages.stage("SAM masks on depth", 3, "batch") as advance:
        for _ in range(3):
            advance(1)
    stages.note("slow on CPU: roughly 9 min")  # said once
    text = buf.getvalue()
    assert "SAM masks on depth" in text and "3/3" in text
    assert text.count("slow on CPU") == 1 and stages.notes == ["slow on CPU: roughly 9 min"]


def test_disabled_stage_bars_draw_nothing_and_keep_the_notes() -> None:
    console, buf = _console()
    stages = StageBars(console, enabled=False)  # --json
    with stages.stage("hidden", 2, "batch") as advance:
        advance(2)
    stages.note("kept for the report")
    assert buf.getvalue() == "" and stages.notes == ["kept for the report"]


def test_a_step_slower_than_riches_window_still_gets_a_rate_and_an_eta() -> None:
    """One step a minute: rich's speed (30 s of samples) has nothing; the average has."""
    from zoo.progress import RateColumn, TimeColumn

    with progress_bar(unit="batch", console=_console()[0], info=False) as bar:
        task_id = bar.add_task("x", total=64)
        bar.advance(task_id, 1)
        task = bar.tasks[0]
        task.start_time = task.get_time() - 60.0  # the first batch took a minute
        assert RateColumn("batch").render(task).plain == "60.0 s/batch"
        assert TimeColumn().render(task).plain.endswith("<1:03:00")


# --------------------------------------------------------------------------- rgbd inputs


@pytest.fixture
def frame(tmp_path: Path) -> Path:
    """A ScanNet-style frame folder: color.jpg, depth.png (mm), intrinsics and pose."""
    d = tmp_path / "frame"
    d.mkdir()
    Image.fromarray(np.full((48, 64, 3), 90, np.uint8)).save(d / "color.jpg")
    Image.fromarray(np.full((48, 64), 1500, np.uint16)).save(d / "depth.png")
    (d / "intrinsic_depth.txt").write_text("60 0 32 0\n0 60 24 0\n0 0 1 0\n0 0 0 1\n")
    (d / "pose.txt").write_text("1 0 0 1\n0 1 0 2\n0 0 1 3\n0 0 0 1\n")
    return d


def _inputs(frame: Path, depth: str = "depth.png", **raw: object) -> object:
    opts = validate(RGBDOptions, raw, command="run", where="test")
    run = RunInputs(image=str(frame / "color.jpg"), depth=str(frame / depth))
    return RGBDTask().from_cli(run, opts)


def test_rgbd_reads_intrinsics_and_pose_beside_the_depth(frame: Path) -> None:
    inputs = _inputs(frame)
    depth, intrinsics, vocabulary = inputs.args  # type: ignore[attr-defined]
    assert depth.dtype == np.float32 and float(depth[0, 0]) == pytest.approx(1.5)
    assert tuple(intrinsics) == (60.0, 60.0, 32.0, 24.0) and vocabulary is None
    np.testing.assert_array_equal(inputs.kwargs["pose"][:3, 3], [1.0, 2.0, 3.0])  # type: ignore[attr-defined]
    meta = inputs.meta  # type: ignore[attr-defined]
    assert meta["intrinsics"].endswith("intrinsic_depth.txt") and meta["pose"].endswith("pose.txt")


def test_rgbd_no_pose_depth_scale_and_one_line_errors(frame: Path) -> None:
    inputs = _inputs(frame, no_pose=True, depth_scale="0.0002")
    assert "pose" not in inputs.kwargs and inputs.meta["pose"] == ""  # type: ignore[attr-defined]
    assert float(inputs.args[0][0, 0]) == pytest.approx(0.3)  # type: ignore[attr-defined]
    with pytest.raises(InputError, match="--pose or --no-pose, not both"):
        _inputs(frame, pose=str(frame / "pose.txt"), no_pose=True)
    with pytest.raises(InputError, match=r"pose file .* does not exist"):
        _inputs(frame, pose=str(frame / "missing.txt"))
    with pytest.raises(InputError, match="bad value for depth_scale"):
        _inputs(frame, depth_scale="0")


def test_rgbd_depth_warnings_become_notes(frame: Path) -> None:
    Image.fromarray(np.full((48, 64), 15, np.uint8), mode="L").save(frame / "depth8.png")
    inputs = _inputs(frame, depth="depth8.png")
    assert any("probably not metric" in n for n in inputs.notes)  # type: ignore[attr-defined]
