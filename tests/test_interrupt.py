"""Ctrl-C and SIGTERM end a command cleanly with one line (zoo.io.interrupt).

Issue 21 item 5: SIGTERM (``kill``, a SLURM time limit, a CI timeout) ended the process on
the spot, leaving the hidden ``.<out>.tmp-*`` folder of a half-written run beside --out and
no word in the log; Ctrl-C said nothing either (typer turns it into a silent exit 130).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import run_zoo

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"

#: a long job as the CLI runs it: its outputs are half written when the signal comes
JOB = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from zoo.io.atomic import atomic_output_dir
    from zoo.io.interrupt import command_interruptions

    out, guard = Path(sys.argv[1]), sys.argv[2] == "cli"
    def job():
        with atomic_output_dir(out) as tmp:
            (tmp / "00000.png").write_bytes(b"half a run")
            print("ready", flush=True)
            time.sleep(120)
    if guard:
        with command_interruptions():
            job()
    else:
        job()
    """
)


def _start(tmp_path: Path, mode: str) -> tuple[subprocess.Popen[str], Path]:
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-c", JOB, str(out), mode],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".out.tmp-")]
    return proc, out


@pytest.mark.parametrize(
    ("sig", "code", "by"), [(signal.SIGTERM, 143, "SIGTERM"), (signal.SIGINT, 130, "Ctrl-C")]
)
def test_a_signal_removes_the_partial_outputs_and_says_so_in_one_line(
    tmp_path: Path, sig: int, code: int, by: str
) -> None:
    proc, out = _start(tmp_path, "cli")
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err
    assert list(tmp_path.iterdir()) == [], "the temporary folder is left beside --out"
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith(f"interrupted ({by}): {out} was not created")
    assert lines[0].endswith("run the same command again")


def test_sigterm_outside_the_cli_still_cleans_up(tmp_path: Path) -> None:
    """A library user's SIGTERM: the temporary folder goes, the process ends as SIGTERM's
    default would (status 143), and nothing is printed (that is the CLI's business)."""
    proc, _ = _start(tmp_path, "library")
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143 and err == ""
    assert list(tmp_path.iterdir()) == []


def test_an_existing_out_is_reported_unchanged(tmp_path: Path) -> None:
    import contextlib
    import io

    from zoo.io.atomic import atomic_output_dir
    from zoo.io.interrupt import command_interruptions

    out = tmp_path / "out"
    out.mkdir()
    (out / "old.png").write_bytes(b"old")

    err = io.StringIO()
    with (
        pytest.raises(SystemExit) as info,
        command_interruptions(err),
        atomic_output_dir(out) as tmp,
    ):
        (tmp / "old.png").write_bytes(b"new, half written")
        raise KeyboardInterrupt
    assert info.value.code == 130
    assert err.getvalue().startswith(f"interrupted (Ctrl-C): {out} is unchanged")
    assert (out / "old.png").read_bytes() == b"old" and sorted(tmp_path.iterdir()) == [out]
    # a command that nothing kept anything for: the default line
    err = io.StringIO()
    with pytest.raises(SystemExit), command_interruptions(err):
        raise KeyboardInterrupt
    assert err.getvalue().startswith("interrupted (Ctrl-C): nothing was written")
    # a training run says its own line (state saved, how to resume): not a second one
    from zoo.training.checkpoint import checkpoint_on_interrupt

    err = io.StringIO()
    with (
        contextlib.redirect_stderr(io.StringIO()) as training,
        pytest.raises(SystemExit),
        command_interruptions(err),
        checkpoint_on_interrupt(lambda: None, resume_hint="the same command"),
    ):
        raise KeyboardInterrupt
    assert err.getvalue() == ""
    assert training.getvalue().startswith("interrupted before the first step finished")


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    import numpy as np
    from PIL import Image

    folder = tmp_path / "photos"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(5):
        arr = rng.integers(0, 255, (60, 80, 3), dtype=np.uint8)
        Image.fromarray(arr).save(folder / f"{i}.png")
    return folder


FAST = ["--weights", "random", "--device", "cpu", "--image-size", "128"]


def test_interrupted_batch_keeps_finished_items_and_the_same_command_resumes(
    tmp_path: Path, photos: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from zoo.batch.work import ItemRunner

    real = ItemRunner.compute
    calls = {"n": 0}

    def stopped_at_the_third(self: Any, prep: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(self, prep)

    out = tmp_path / "out"
    args = ("batch", "sam2:tiny", "--input", str(photos), "--boxes", "5,5,60,40")
    args += ("--out", str(out), "--format", "coco", *FAST)
    monkeypatch.setattr(ItemRunner, "compute", stopped_at_the_third)
    proc = run_zoo(*args)
    assert proc.returncode == 130, proc.stderr
    line = proc.stderr.strip().splitlines()[-1]
    assert line == (
        f"interrupted (Ctrl-C): 2 finished items are kept in {out}; run the same command "
        "again (or add --resume) to do the rest"
    ), proc.stderr
    assert len(list((out / "items").rglob("*.json"))) == 2
    assert not [p for p in out.rglob("*") if ".tmp" in p.name]
    monkeypatch.setattr(ItemRunner, "compute", real)
    again = run_zoo(*args, "--json")
    assert again.returncode == 0, again.stderr
    report = json.loads(again.stdout)
    assert report["resumed_past"] == 2 and report["done_total"] == 5


def test_interrupted_run_leaves_no_out(
    tmp_path: Path, photos: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from zoo.io import images

    def interrupted_write(*a: Any, **k: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(images, "save_png", interrupted_write)
    out = tmp_path / "run-out"
    proc = run_zoo(
        "run", "sam2:tiny", "--image", str(photos / "0.png"), "--boxes", "5,5,60,40",
        "--out", str(out), *FAST,
    )  # fmt: skip
    assert proc.returncode == 130, proc.stderr
    assert (
        proc.stderr.strip()
        .splitlines()[-1]
        .startswith(f"interrupted (Ctrl-C): {out} was not created")
    )
    assert not out.exists() and not [p for p in tmp_path.iterdir() if ".tmp-" in p.name]


@pytest.mark.slow
def test_zoo_run_sam2long_killed_with_sigterm(tmp_path: Path) -> None:
    """The issue's case: `zoo run sam2long-video ...` killed with SIGTERM mid-video."""
    video = SHARED / "fixtures" / "video" / "bedroom"
    if not video.is_dir():
        pytest.skip(f"{video} is absent")
    out = tmp_path / "tracks"
    proc = subprocess.Popen(
        [sys.executable, "-m", "zoo", "run", "sam2long-video", "--video", str(video),
         "--boxes", "1:300,0,500,400", "--out", str(out), "--pathways", "2", *FAST[:4],
         "--image-size", "256"],
        stderr=subprocess.PIPE, text=True,
        env={**os.environ, "ZOO_PROGRESS_INTERVAL": "1"},
    )  # fmt: skip
    assert proc.stderr is not None
    seen = []
    deadline = time.monotonic() + 600
    for line in proc.stderr:
        seen.append(line)
        if line.startswith("tracking: ") and not line.startswith("tracking: 0/"):
            break
        assert time.monotonic() < deadline, "".join(seen)
    assert [p for p in tmp_path.iterdir() if p.name.startswith(".tracks.tmp-")]
    proc.send_signal(signal.SIGTERM)
    rest = proc.communicate(timeout=120)[1]
    assert proc.returncode == 143, rest
    assert list(tmp_path.iterdir()) == []  # partial frames removed, no --out
    assert rest.strip().splitlines()[-1].startswith(f"interrupted (SIGTERM): {out} was not")
    assert "Traceback" not in rest
