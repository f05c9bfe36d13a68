"""`zoo run` / `zoo eval` for sam2long-video on a synthetic DAVIS-layout dataset.

The dataset is built here: a textured background with two shapes moving across 6 frames,
and their ground-truth masks as palette PNGs. Random weights (no hub), SAM input 256.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from zoo.io.masks import load_palette_png, save_palette_png
from zoo.testing.cli import run_cli

H, W, T = 96, 128, 6
FAST = ["--weights", "random", "--device", "cpu", "--image-size", "256", "--pathways", "2"]


def _zoo(*args: str) -> tuple[int, str, str]:
    proc = run_cli(*args)
    return proc.returncode, proc.stdout, proc.stderr


def make_davis(root: Path, videos: int = 2) -> Path:
    rng = np.random.default_rng(0)
    for v in range(videos):
        img_dir = root / "JPEGImages" / f"shapes{v}"
        ann_dir = root / "Annotations" / f"shapes{v}"
        img_dir.mkdir(parents=True)
        ann_dir.mkdir(parents=True)
        bg = rng.integers(60, 120, size=(H, W, 3)).astype(np.uint8)
        for t in range(T):
            img = bg.copy()
            label = np.zeros((H, W), np.uint8)
            x = 10 + 8 * t + 4 * v
            img[20:50, x : x + 30] = (230, 40, 40)
            label[20:50, x : x + 30] = 1
            yy, xx = np.mgrid[0:H, 0:W]
            disk = (yy - 70) ** 2 + (xx - (100 - 6 * t)) ** 2 < 12**2
            img[disk] = (40, 200, 60)
            label[disk] = 2
            Image.fromarray(img).save(img_dir / f"{t:05d}.jpg", quality=95)
            save_palette_png(ann_dir / f"{t:05d}.png", label)
    return root


@pytest.fixture(autouse=True)
def _home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZOO_HOME", str(tmp_path / "zoo_home"))


def test_run_writes_a_palette_png_per_frame(tmp_path: Path) -> None:
    data = make_davis(tmp_path / "davis", videos=1)
    frames = data / "JPEGImages" / "shapes0"
    out = tmp_path / "out"
    code, stdout, err = _zoo(
        "run",
        "sam2long-video",
        "--video",
        str(frames),
        "--boxes",
        "1:10,20,40,50;2:88,58,112,82",
        "--out",
        str(out),
        "--json",
        *FAST,
    )
    assert code == 0, err
    report = json.loads(stdout)
    assert report["frames"] == T and report["objects"] == 2 and report["weights"] == "random"
    pngs = sorted(out.glob("*.png"))
    assert [p.stem for p in pngs] == [f"{t:05d}" for t in range(T)]
    labels = load_palette_png(pngs[0])
    assert labels.shape == (H, W) and set(np.unique(labels)) <= {0, 1, 2}


def test_run_with_first_frame_mask_prompt(tmp_path: Path) -> None:
    data = make_davis(tmp_path / "davis", videos=1)
    out = tmp_path / "out"
    code, _, err = _zoo(
        "run",
        "sam2long-video",
        "--video",
        str(data / "JPEGImages" / "shapes0"),
        "--mask",
        str(data / "Annotations" / "shapes0" / "00000.png"),
        "--out",
        str(out),
        "--overlay",
        *FAST,
    )
    assert code == 0, err
    assert len(list(out.glob("*.png"))) == T and len(list((out / "overlay").glob("*.png"))) == T


def test_eval_reports_j_and_f_for_sam2long_and_sam2(tmp_path: Path) -> None:
    data = make_davis(tmp_path / "davis", videos=2)
    code, stdout, err = _zoo("eval", "sam2long-video", "--dataset", str(data), "--json", *FAST)
    assert code == 0, err
    report = json.loads(stdout)
    assert set(report["videos"]) == {"shapes0", "shapes1"}
    for model in ("sam2long", "sam2"):
        for m in ("J", "F", "J&F"):
            v = report["mean"][model][m]
            assert 0.0 <= v <= 1.0
        jf = report["mean"][model]
        assert abs(jf["J&F"] - (jf["J"] + jf["F"]) / 2) < 1e-9
    table = report["table"]
    assert table["rows"][-1][0] == "mean" and len(table["columns"]) == 7


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["--boxes", "1:10,20,40,50;1:30,30,60,60"], "duplicate object id"),
        (["--boxes", "1:10,20,40,50", "--frame", "99"], "outside the video"),
        (["--boxes", "1:10,20,400,50"], "outside"),
        ([], "either --boxes"),
    ],
)
def test_bad_run_inputs(tmp_path: Path, extra: list[str], needle: str) -> None:
    data = make_davis(tmp_path / "davis", videos=1)
    out = tmp_path / "out"
    code, _, err = _zoo(
        "run",
        "sam2long-video",
        "--video",
        str(data / "JPEGImages" / "shapes0"),
        "--out",
        str(out),
        *extra,
        *FAST,
    )
    assert code == 2, err
    assert needle in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not out.exists() or not any(out.iterdir())


def test_bad_videos_and_masks(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    code, _, err = _zoo(
        "run",
        "sam2long-video",
        "--video",
        str(empty),
        "--boxes",
        "0,0,5,5",
        "--out",
        str(tmp_path / "o1"),
        *FAST,
    )
    assert code == 2 and "Traceback" not in err
    data = make_davis(tmp_path / "davis", videos=1)
    small = tmp_path / "small.png"
    save_palette_png(small, np.ones((10, 10), np.uint8))
    code, _, err = _zoo(
        "run",
        "sam2long-video",
        "--video",
        str(data / "JPEGImages" / "shapes0"),
        "--mask",
        str(small),
        "--out",
        str(tmp_path / "o2"),
        *FAST,
    )
    assert code == 2 and "frame size" in err
    odd = data / "JPEGImages" / "shapes0" / f"{T:05d}.jpg"
    Image.fromarray(np.zeros((H + 2, W, 3), np.uint8)).save(odd)
    code, _, err = _zoo(
        "run",
        "sam2long-video",
        "--video",
        str(data / "JPEGImages" / "shapes0"),
        "--boxes",
        "1:10,20,40,50",
        "--out",
        str(tmp_path / "o3"),
        *FAST,
    )
    assert code == 2 and "Traceback" not in err
    assert not (tmp_path / "o3").exists() or not any((tmp_path / "o3").iterdir())
    assert os.environ.get("ZOO_HOME")
