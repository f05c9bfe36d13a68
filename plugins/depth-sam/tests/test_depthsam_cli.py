"""`zoo run depth-sam` in-process: render-only, full runs on the real frame, test-mode
messages, and bad input / interruption leaving no ``--out`` behind."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from zoo_depthsam.render import render_depth

from zoo.io.depth import load_depth
from zoo.io.ply import read_ply
from zoo.testing.cli import assert_user_error, run_cli

from .conftest import SMALL_ARGS, VOCAB


def _run(frame: Path, out: Path, *args: str, **env: str) -> Any:
    return run_cli(
        "run",
        "depth-sam",
        "--image",
        str(frame / "color.jpg"),
        "--depth",
        str(frame / "depth.png"),
        "--weights",
        "random",
        "--device",
        "cpu",
        *args,
        "--out",
        str(out),
        env=env or None,
    )


def test_render_only_writes_what_sam_sees(depthsam_frame: Path, tmp_path: Path) -> None:
    out = tmp_path / "render"
    depth_png = str(depthsam_frame / "depth.png")
    proc = run_cli(
        "run", "depth-sam", "--depth", depth_png, "--render-only", "--out", str(out), "--json"
    )
    assert proc.returncode == 0, proc.stderr
    depth, valid = load_depth(depthsam_frame / "depth.png")
    with Image.open(out / "depth_render.png") as im:
        got = np.array(im)
        assert im.text["zoo:colormap"] == "inferno"
    np.testing.assert_array_equal(got, render_depth(depth, valid, colormap="inferno"))
    assert json.loads(proc.stdout)["valid_pixels"] == int(valid.sum())
    out2 = tmp_path / "render2"
    proc = run_cli(
        "run",
        "depth-sam",
        "--depth",
        depth_png,
        "--render-only",
        "--colormap",
        "plasma",
        "--linear-depth",
        "--out",
        str(out2),
    )
    assert proc.returncode == 0, proc.stderr
    np.testing.assert_array_equal(
        np.array(Image.open(out2 / "depth_render.png")),
        render_depth(depth, valid, colormap="plasma", inverse=False),
    )


def test_run_on_the_fixture_frame(
    depthsam_frame: Path, tmp_path: Path, depthsam_memo_load: None
) -> None:
    out = tmp_path / "run"
    proc = _run(
        depthsam_frame, out, "--mode", "both", "--classes", ",".join(VOCAB), *SMALL_ARGS, "--json"
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    _, valid = load_depth(depthsam_frame / "depth.png")
    assert report["points"] == int(valid.sum())
    assert report["intrinsics"].endswith("intrinsic_depth.txt")  # found next to the depth
    assert report["pose"].endswith("pose.txt")
    assert report["task"] == "rgbd" and 1 <= report["masks"] <= 3
    assert set(report["classes"]) <= set(VOCAB)
    names = {Path(f).name for f in report["files"]}
    assert {
        "points.ply",
        "results.json",
        "run.json",
        "semantic.png",
        "instances.png",
        "classes.json",
        "overlay.png",
        "legend.png",
        "cloud_top.png",
        "cloud_oblique.png",
        "depth_render.png",
        "mask_000.png",
    } <= names
    assert len(read_ply(out / "points.ply")["xyz"]) == int(valid.sum())
    anns = json.loads((out / "results.json").read_text())
    assert isinstance(anns, list) and len(anns) == report["masks"]
    assert all(a["image_id"] == 1 and a["test_mode"] is True for a in anns)
    run = json.loads((out / "run.json").read_text())
    assert run["images"][0]["file_name"] == "color.jpg"
    assert run["inputs"]["pose"].endswith("pose.txt")
    assert run["inputs"]["intrinsics"].endswith("intrinsic_depth.txt")
    assert run["depth_sam"]["mode"] == "both" and run["depth_sam"]["points_frame"] == "world"
    generator = run["depth_sam"]["generator"]
    assert generator["points_per_side"] == 3
    assert "test_mode_relaxed" not in generator  # thresholds given explicitly: nothing relaxed
    assert run["options"]["mode"] == "both" and run["options"]["points_per_side"] == 3
    assert "extra" not in run  # nothing to note: quick settings, masks found
    assert [c["name"] for c in run["categories"]] == VOCAB


def test_every_file_says_test_mode(
    depthsam_frame: Path, tmp_path: Path, depthsam_memo_load: None
) -> None:
    out = tmp_path / "run"
    proc = _run(depthsam_frame, out, "--classes", ",".join(VOCAB), *SMALL_ARGS)
    assert proc.returncode == 0, proc.stderr
    for stage in ("SAM masks on depth", "CLIP classes of masks", "3-D labelled points"):
        assert stage in proc.stderr  # each slow stage shows a bar (its final state here)
    files = sorted(p.name for p in out.iterdir())
    assert files and not [f for f in files if f.startswith(".")]
    for name in files:
        path = out / name
        if name.endswith(".png"):
            with Image.open(path) as im:
                assert im.text.get("zoo:weights") == "random", name
                assert "TEST MODE" in im.text.get("zoo:note", ""), name
        elif name.endswith(".ply"):
            header = path.read_bytes().split(b"end_header")[0].decode()
            assert "comment zoo:note weights=random: TEST MODE" in header
        elif name == "results.json":
            assert all(a["test_mode"] for a in json.loads(path.read_text()))
        elif name == "run.json":
            assert json.loads(path.read_text())["provenance"]["test_mode"] is True
        elif name == "classes.json":
            assert json.loads(path.read_text())["test_mode"] is True
        else:
            pytest.fail(f"unexpected file {name}")


def test_test_mode_relaxes_unset_thresholds_and_says_so(
    depthsam_frame: Path, tmp_path: Path
) -> None:
    """At the documented thresholds random SAM yields no mask at all; test mode relaxes the
    thresholds the user did not set, prints one line about it and records it in run.json."""
    out = tmp_path / "relaxed"
    proc = _run(
        depthsam_frame,
        out,
        "--image-size",
        "256",
        "--points-per-side",
        "2",
        "--stability-score-thresh",
        "0",
        "--classes",
        "wall,floor",
    )
    assert proc.returncode == 0, proc.stderr
    err = " ".join(proc.stderr.split())
    assert "test mode: mask generator thresholds relaxed to pred_iou_thresh 0 (documented 0.7)" in (
        err
    )
    assert "stability_score_thresh 0 (documented" not in err  # given by the user: kept
    gen = json.loads((out / "run.json").read_text())["depth_sam"]["generator"]
    assert gen["pred_iou_thresh"] == 0.0 and gen["stability_score_thresh"] == 0.0
    assert gen["test_mode_relaxed"] == {"pred_iou_thresh": {"documented": 0.7, "used": 0.0}}
    assert len(json.loads((out / "results.json").read_text())) >= 1
    assert "0 masks" not in err


def test_zero_masks_are_explained_in_one_line(
    depthsam_frame: Path, tmp_path: Path, depthsam_memo_load: None
) -> None:
    out = tmp_path / "empty"
    args = list(SMALL_ARGS)
    assert args[4:6] == ["--pred-iou-thresh", "0"]
    args[5] = "0.99"  # random SAM predicts IoUs near 0.5: nothing passes
    proc = _run(depthsam_frame, out, *args, "--classes", "wall,floor")
    assert proc.returncode == 0, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if "0 masks" in ln]
    assert len(lines) == 1 and "0 masks: expected with random weights" in lines[0]
    assert json.loads((out / "results.json").read_text()) == []
    notes = json.loads((out / "run.json").read_text())["extra"]["notes"]
    assert any(n.startswith("0 masks: expected with random weights") for n in notes)


def test_slow_settings_on_cpu_print_a_hint(depthsam_model: Any) -> None:
    from dataclasses import replace

    from zoo_depthsam.notes import slow_hint

    from zoo.errors import cli_surface

    class Defaults:  # SAD's settings at SAM's full input: what `zoo run` does by default
        settings = replace(
            depthsam_model.settings,
            points_per_side=64,
            pred_iou_thresh=0.7,
            stability_score_thresh=0.8,
        )
        image_size = 1024

    with cli_surface():  # as `zoo run` says it
        hint = slow_hint(Defaults(), "cpu", 640 * 480, 1)
    assert hint and hint.startswith("slow on CPU: 64x64 prompt points at SAM input 1024")
    assert "--points-per-side 16 --image-size 512" in hint and "\n" not in hint
    assert "points_per_side=16 image_size=512" in str(slow_hint(Defaults(), "cpu", 640 * 480, 1))
    assert slow_hint(Defaults(), "cuda", 640 * 480, 1) is None
    assert slow_hint(depthsam_model, "cpu", 640 * 480, 1) is None  # 3x3 points at 256: quick


# --------------------------------------------------------------------------- bad input


def _write(tmp: Path, name: str, arr: np.ndarray) -> Path:
    p = tmp / name
    if name.endswith(".npy"):
        np.save(p, arr)
    else:
        Image.fromarray(arr).save(p)
    return p


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from .conftest import FRAME

    tmp = tmp_path_factory.mktemp("bad")

    if not (FRAME / "depth.png").is_file():
        pytest.skip("shared RGB-D fixture not found")
    depth, _ = load_depth(FRAME / "depth.png")
    neg, nan = depth.copy(), depth.copy()
    neg[3, 3] = -0.5
    nan[7, 7] = np.nan
    bad_k = tmp / "k.txt"
    bad_k.write_text("577.8 0.0 319.5\n0.0 x 239.5\n", encoding="utf-8")
    a_file = tmp / "a_file"
    a_file.write_text("not a folder", encoding="utf-8")
    return {
        "color": FRAME / "color.jpg",
        "depth": FRAME / "depth.png",
        "square": _write(tmp, "square.png", np.zeros((480, 480, 3), np.uint8)),
        "zeros": _write(tmp, "zeros.png", np.zeros((480, 640), np.uint16)),
        "negative": _write(tmp, "neg.npy", neg),
        "nan": _write(tmp, "nan.npy", nan),
        "bad_k": bad_k,
        "a_file": a_file,
        "missing": tmp / "missing.png",
    }


#: (case id, arguments after `zoo run depth-sam` with {names} from bad_files, expected text)
BAD = [
    ("no-depth", "--image {color}", "--depth"),
    ("no-image", "--depth {depth}", "--image"),
    ("missing-image", "--image {missing} --depth {depth}", "missing.png"),
    ("missing-depth", "--image {color} --depth {missing}", "does not exist"),
    ("aspect", "--image {square} --depth {depth}", "aspect"),
    ("all-invalid-depth", "--image {color} --depth {zeros}", "no valid pixels"),
    ("negative-depth", "--image {color} --depth {negative}", "negative"),
    ("nan-depth", "--image {color} --depth {nan}", "NaN"),
    ("bad-intrinsics-file", "--image {color} --depth {depth} --intrinsics {bad_k}", "intrinsics"),
    ("three-intrinsics", "--image {color} --depth {depth} --intrinsics 1,2,3", "intrinsics"),
    ("missing-pose", "--image {color} --depth {depth} --pose {missing}", "pose file"),
    ("pose-and-no-pose", "--image {color} --depth {depth} --pose {bad_k} --no-pose", "--no-pose"),
    ("empty-classes", "--image {color} --depth {depth} --classes ,", "empty"),
    (
        "classes-and-vocab",
        "--image {color} --depth {depth} --classes a,b --vocabulary nyu40",
        "not both",
    ),
    (
        "misspelt-vocabulary",
        "--image {color} --depth {depth} --vocabulary scanet20",
        "did you mean 'scannet20'",
    ),
    ("colormap", "--image {color} --depth {depth} --colormap infernoo", "unknown colormap"),
    ("mode", "--image {color} --depth {depth} --mode stereo", "--mode"),
    ("semantics", "--image {color} --depth {depth} --semantics blob", "--semantics"),
    ("image-size", "--image {color} --depth {depth} --image-size 100", "multiple of 64"),
    ("points-per-side", "--image {color} --depth {depth} --points-per-side 0", "minimum"),
    ("merge-iou", "--image {color} --depth {depth} --merge-iou 0", "--merge-iou"),
    ("points-per-side-max", "--image {color} --depth {depth} --points-per-side 500", "maximum"),
    ("not-a-number", "--image {color} --depth {depth} --pred-iou-thresh high", "not a number"),
    ("unknown-option", "--image {color} --depth {depth} --pointz 3", "--pointz"),
    ("eval-only-option", "--image {color} --depth {depth} --modes depth", "zoo eval"),
    ("depth-scale", "--image {color} --depth {depth} --depth-scale 0", "--depth-scale"),
    ("format", "--image {color} --depth {depth} --format tiff", "--format"),
    ("dtype", "--image {color} --depth {depth} --dtype bfloat16", "float32"),
    ("out-is-a-file", "--image {color} --depth {depth} --out {a_file}", "not a folder"),
    ("random-and-checkpoint", "--image {color} --depth {depth} --checkpoint {bad_k}", "not both"),
    (
        "unknown-named-file",
        "--image {color} --depth {depth} --weights pretrained --checkpoint dino={bad_k}",
        "no checkpoint named 'dino'",
    ),
    (
        "missing-clip-file",
        "--image {color} --depth {depth} --weights pretrained --checkpoint clip={missing}",
        "does not exist",
    ),
    ("device", "--image {color} --depth {depth} --device cuda:0", "CUDA"),
]


@pytest.mark.parametrize(("args", "needle"), [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_bad_input_is_one_line_and_leaves_no_out(
    args: str, needle: str, bad_files: dict[str, Path], tmp_path: Path
) -> None:
    if needle == "CUDA":
        import torch

        if torch.cuda.is_available():
            pytest.skip("CUDA is available here")
    out = tmp_path / "nested" / "out"
    argv = args.format(**bad_files).split()
    if "--weights" not in argv:
        argv += ["--weights", "random"]
    if "--device" not in argv:
        argv += ["--device", "cpu"]
    if "--out" not in argv:
        argv += ["--out", str(out)]
    env = {"ZOO_HOME": str(tmp_path / "home"), "ZOO_OFFLINE": "1"}
    proc = run_cli("run", "depth-sam", *argv, env=env)
    assert_user_error(proc, needle)
    assert not out.exists() and not out.parent.exists()
    assert bad_files["a_file"].read_text(encoding="utf-8") == "not a folder"
    assert not [p for p in tmp_path.rglob("*") if ".tmp-" in p.name]


def test_pretrained_offline_without_cache_leaves_no_out(
    depthsam_frame: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    proc = run_cli(
        "run",
        "depth-sam",
        "--image",
        str(depthsam_frame / "color.jpg"),
        "--depth",
        str(depthsam_frame / "depth.png"),
        "--device",
        "cpu",
        "--out",
        str(out),
        env={
            "ZOO_HOME": str(tmp_path / "home"),
            "ZOO_OFFLINE": "1",
            "HF_HOME": str(tmp_path / "hf"),
            "HF_HUB_OFFLINE": "1",
        },
    )
    assert_user_error(proc, "offline")
    assert not out.exists()


@pytest.mark.parametrize("where", ["generation", "saving"])
def test_interrupted_or_failed_run_leaves_no_out(
    where: str,
    depthsam_frame: Path,
    tmp_path: Path,
    depthsam_memo_load: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Ctrl-C during mask generation, or a crash while the files are written: no --out."""
    from zoo_depthsam.model import DepthSamModel
    from zoo_depthsam.results import DepthSamResult

    def interrupt(*_: Any, **__: Any) -> Any:
        raise KeyboardInterrupt

    def crash(*_: Any, **__: Any) -> Any:
        raise RuntimeError("disk on fire")

    if where == "generation":
        monkeypatch.setattr(DepthSamModel, "propose", interrupt)
    else:
        monkeypatch.setattr(DepthSamResult, "write_extra", crash)
    out = tmp_path / "out"
    proc = _run(depthsam_frame, out, "--classes", ",".join(VOCAB), *SMALL_ARGS)
    assert proc.returncode == (130 if where == "generation" else 1), proc.stderr
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out")]


def test_8bit_depth_png_loads_with_a_warning(depthsam_frame: Path, tmp_path: Path) -> None:
    raw = np.array(Image.open(depthsam_frame / "depth.png"))
    p = tmp_path / "depth8.png"
    Image.fromarray((raw // 32).clip(0, 255).astype(np.uint8), mode="L").save(p)
    proc = run_cli(
        "run",
        "depth-sam",
        "--depth",
        str(p),
        "--render-only",
        "--out",
        str(tmp_path / "r"),
        "--json",
    )
    assert proc.returncode == 0, proc.stderr
    assert any("probably not metric" in w for w in json.loads(proc.stdout)["warnings"])
    assert "probably not metric" in proc.stderr
