"""`zoo run depth-sam` in-process: render-only, a full run on the real frame, bad input."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from zoo_depthsam.render import render_depth

from zoo.cli import main
from zoo.io.depth import load_depth
from zoo.io.masks import read_ply

from .conftest import SMALL_ARGS, VOCAB


def _zoo(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = 0
    try:
        main(args)
    except SystemExit as exc:
        code = int(exc.code or 0)
    cap = capsys.readouterr()
    return code, cap.out, cap.err


def test_render_only_writes_what_sam_sees(
    depthsam_frame: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "render"
    code, stdout, err = _zoo(
        [
            "run",
            "depth-sam",
            "--depth",
            str(depthsam_frame / "depth.png"),
            "--render-only",
            "--out",
            str(out),
            "--json",
        ],
        capsys,
    )
    assert code == 0, err
    depth, valid = load_depth(depthsam_frame / "depth.png")
    got = np.array(Image.open(out / "depth_render.png"))
    np.testing.assert_array_equal(got, render_depth(depth, valid, colormap="inferno"))
    assert json.loads(stdout)["valid_pixels"] == int(valid.sum())
    out2 = tmp_path / "render2"
    code, _, err = _zoo(
        [
            "run",
            "depth-sam",
            "--depth",
            str(depthsam_frame / "depth.png"),
            "--render-only",
            "--colormap",
            "plasma",
            "--linear-depth",
            "--out",
            str(out2),
        ],
        capsys,
    )
    assert code == 0, err
    np.testing.assert_array_equal(
        np.array(Image.open(out2 / "depth_render.png")),
        render_depth(depth, valid, colormap="plasma", inverse=False),
    )


def test_run_on_the_fixture_frame(
    depthsam_frame: Path,
    tmp_path: Path,
    depthsam_model: Any,
    depthsam_memo_load: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "run"
    code, stdout, err = _zoo(
        [
            "run",
            "depth-sam",
            "--image",
            str(depthsam_frame / "color.jpg"),
            "--depth",
            str(depthsam_frame / "depth.png"),
            "--weights",
            "random",
            "--device",
            "cpu",
            "--mode",
            "both",
            "--classes",
            ",".join(VOCAB),
            *SMALL_ARGS,
            "--out",
            str(out),
            "--json",
        ],
        capsys,
    )
    assert code == 0, err
    report = json.loads(stdout)
    _, valid = load_depth(depthsam_frame / "depth.png")
    assert report["points"] == int(valid.sum())
    assert report["intrinsics"].endswith("intrinsic_depth.txt")  # found next to the depth
    assert report["pose"].endswith("pose.txt")
    assert report["mode"] == "both" and 1 <= report["masks"] <= 3
    assert set(report["classes"]) <= set(VOCAB)
    names = {Path(f).name for f in report["files"]}
    assert {
        "points.ply",
        "results.json",
        "semantic.png",
        "overlay.png",
        "legend.png",
        "cloud_top.png",
        "cloud_oblique.png",
        "depth_render.png",
    } <= names
    assert len(read_ply(out / "points.ply")["xyz"]) == int(valid.sum())
    doc = json.loads((out / "results.json").read_text())
    assert doc["pose"].endswith("pose.txt") and len(doc["annotations"]) == report["masks"]


def _write(tmp: Path, name: str, arr: np.ndarray) -> Path:
    p = tmp / name
    if name.endswith(".npy"):
        np.save(p, arr)
    else:
        Image.fromarray(arr).save(p)
    return p


def test_bad_inputs_are_one_line_errors_and_write_nothing(
    depthsam_frame: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    color, depth_png = depthsam_frame / "color.jpg", depthsam_frame / "depth.png"
    depth, _ = load_depth(depth_png)
    square = _write(tmp_path, "square.png", np.zeros((480, 480, 3), np.uint8))
    zeros = _write(tmp_path, "zeros.png", np.zeros((480, 640), np.uint16))
    neg = depth.copy()
    neg[3, 3] = -0.5
    negative = _write(tmp_path, "neg.npy", neg)
    nan = depth.copy()
    nan[7, 7] = np.nan
    nans = _write(tmp_path, "nan.npy", nan)
    bad_k = tmp_path / "k.txt"
    bad_k.write_text("577.8 0.0 319.5\n0.0 x 239.5\n", encoding="utf-8")
    cases = [
        (["--image", str(square), "--depth", str(depth_png)], "aspect"),
        (["--image", str(color), "--depth", str(zeros)], "no valid pixels"),
        (["--image", str(color), "--depth", str(negative)], "negative"),
        (["--image", str(color), "--depth", str(nans)], "NaN"),
        (
            ["--image", str(color), "--depth", str(depth_png), "--intrinsics", str(bad_k)],
            "intrinsics",
        ),
        (["--image", str(color), "--depth", str(depth_png), "--intrinsics", "1,2,3"], "intrinsics"),
        (["--image", str(color), "--depth", str(depth_png), "--classes", " , "], "empty"),
        (
            ["--image", str(color), "--depth", str(depth_png), "--colormap", "infernoo"],
            "unknown colormap",
        ),
        (["--image", str(color), "--depth", str(depth_png), "--mode", "stereo"], "mode"),
        (["--image", str(color)], "--depth"),
        (["--depth", str(depth_png)], "--image"),
        (["--image", str(color), "--depth", str(depth_png), "--vocabulary", "coco"], "vocabulary"),
        (["--image", str(color), "--depth", str(depth_png), "--pointz", "3"], "--pointz"),
    ]
    for i, (args, needle) in enumerate(cases):
        out = tmp_path / f"out{i}"
        code, _, err = _zoo(
            [
                "run",
                "depth-sam",
                "--weights",
                "random",
                "--device",
                "cpu",
                *args,
                "--out",
                str(out),
            ],
            capsys,
        )
        assert code == 2, (args, err)
        assert needle in err, (needle, err)
        assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
        assert not out.exists() or not any(out.iterdir())


def test_8bit_depth_png_loads_with_a_warning(
    depthsam_frame: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    raw = np.array(Image.open(depthsam_frame / "depth.png"))
    p = tmp_path / "depth8.png"
    Image.fromarray((raw // 32).clip(0, 255).astype(np.uint8), mode="L").save(p)
    code, stdout, err = _zoo(
        [
            "run",
            "depth-sam",
            "--depth",
            str(p),
            "--render-only",
            "--out",
            str(tmp_path / "r"),
            "--json",
        ],
        capsys,
    )
    assert code == 0, err
    assert any("probably not metric" in w for w in json.loads(stdout)["warnings"])
    assert "probably not metric" in err
