"""`zoo run|eval|train sameo-amodal` from the command line: outputs, one-line user errors,
and no ``--out`` left behind by a command that fails."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from zoo.io.images import save_png
from zoo.testing import synthetic_image

SMALL = ("--weights", "random", "--device", "cpu", "--image-size", "128")


@pytest.fixture
def image(tmp_path: Path) -> Path:
    p = tmp_path / "img.png"
    save_png(p, synthetic_image(96, 128))
    return p


def test_no_weights_says_so_once_and_shows_the_way_forward(
    zoo_cli: Any, user_error: Any, image: Path, tmp_path: Path
) -> None:
    """One line, two ways forward (train one, or --checkpoint), each said once (issue 11
    item 4), phrased for the command line; nothing is written."""
    out = tmp_path / "out"
    proc = zoo_cli(
        "run", "sameo-amodal", "--image", str(image), "--boxes", "10,10,60,60", "--out", str(out)
    )
    user_error(proc, "published none", "zoo train sameo-amodal", "--checkpoint PATH")
    msg = proc.stderr.strip()
    for phrase in ("published", "zoo train", "--checkpoint", "checkpoint"):
        assert msg.count(phrase) == 1, f"{phrase!r} repeats in: {msg}"
    assert "weights='random'" not in msg and "--weights random" in msg
    assert not out.exists()
    proc = zoo_cli(
        "eval", "sameo-amodal:vits", "--annotations", str(image), "--images", str(tmp_path),
        "--gt-boxes",
    )  # fmt: skip
    user_error(proc, "published none")


def test_no_weights_from_python_is_phrased_for_python() -> None:
    import zoo
    from zoo.errors import WeightsError

    with pytest.raises(WeightsError) as info:
        zoo.load("sameo-amodal:vitt", device="cpu")
    msg = str(info.value)
    assert "checkpoint=PATH" in msg and "weights='random'" in msg and "--checkpoint" not in msg
    assert msg.count("published") == 1


def test_run_with_boxes_writes_masks_coco_and_overlay(
    zoo_cli: Any, image: Path, tmp_path: Path
) -> None:
    from pycocotools.coco import COCO

    out = tmp_path / "out"
    proc = zoo_cli(
        "run", "sameo-amodal", "--image", str(image), "--boxes", "10,10,60,60;40,30,120,90",
        "--out", str(out), "--format", "png,coco,json,overlay", "--json", *SMALL,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["instances"] == 2 and report["weights"] == "random"
    assert len(report["pred_iou"]) == 2
    anns = json.loads((out / "results.json").read_text())  # a plain COCO results array
    assert len(anns) == 2 and all("counts" in a["segmentation"] for a in anns)
    assert all(a["test_mode"] is True and isinstance(a["image_id"], int) for a in anns)
    run = json.loads((out / "run.json").read_text())
    assert run["provenance"]["test_mode"] is True and run["task"] == "amodal"
    assert run["images"][0]["file_name"] == "img.png"
    gt = COCO()
    gt.dataset = {"images": run["images"], "annotations": [], "categories": [{"id": 1}]}
    gt.createIndex()
    assert len(gt.loadRes(anns).getAnnIds()) == 2
    names = {p.name for p in out.iterdir()}
    assert {"amodal_000.png", "amodal_001.png", "overlay.png", "result.json"} <= names
    for png in out.glob("*.png"):  # every file says test mode
        with Image.open(png) as im:
            assert im.text.get("zoo:weights") == "random", png.name  # type: ignore[attr-defined]
    assert json.loads((out / "result.json").read_text())["provenance"]["weights"] == "random"


def test_run_with_detections_keeps_classes_and_scores(
    zoo_cli: Any, image: Path, tmp_path: Path
) -> None:
    from zoo.io.masks import encode_rle

    vis = np.zeros((96, 128), bool)
    vis[10:40, 10:40] = True
    dets = [
        {
            "image_id": 5,
            "bbox": [10, 10, 50, 50],
            "score": 0.8,
            "category_id": 7,
            "segmentation": encode_rle(vis),
        },
        {"image_id": 5, "bbox": [60, 20, 50, 60], "score": 0.6, "category_id": 2},
        {"image_id": 5, "bbox": [0, 0, 20, 20], "score": 0.1, "category_id": 2},  # below 0.3
        {"image_id": 5, "bbox": [100, 50, 40, 80], "score": 0.9, "category_id": 3},  # overshoots
    ]
    det_file = tmp_path / "dets.json"
    det_file.write_text(json.dumps(dets))
    out = tmp_path / "out"
    proc = zoo_cli(
        "run", "sameo-amodal", "--image", str(image), "--detections", str(det_file),
        "--out", str(out), "--json", *SMALL,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    anns = json.loads((out / "results.json").read_text())
    assert [a["category_id"] for a in anns] == [7, 2, 3]
    assert {a["image_id"] for a in anns} == {5}  # the detections' own image id
    for a, det in zip(anns, (0.8, 0.6, 0.9), strict=True):
        assert a["det_score"] == pytest.approx(det)
        assert a["score"] == pytest.approx(det * min(max(a["pred_iou"], 0), 1), abs=1e-6)
    assert "visible_segmentation" in anns[0] and "visible_segmentation" not in anns[1]
    assert anns[2]["prompt_box"] == [100.0, 50.0, 28.0, 46.0]  # clipped to the image
    assert (out / "visible_000.png").exists()


def test_run_bad_inputs_are_one_line_errors(
    zoo_cli: Any, user_error: Any, image: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"oops": 1}))
    multi = tmp_path / "multi.json"
    multi.write_text(
        json.dumps(
            [
                {"image_id": 1, "bbox": [1, 1, 9, 9], "score": 1},
                {"image_id": 2, "bbox": [1, 1, 9, 9], "score": 1},
            ]
        )
    )
    cases: list[tuple[list[str], str]] = [
        (["--boxes", "10,10,10,50"], "x2<=x1"),
        (["--boxes", "10,10,60"], "3 numbers"),
        ([], "no boxes"),
        (["--points", "5,5", "--labels", "1"], "boxes only"),
        (["--boxes", "1,1,5,5", "--detections", str(image)], "not both"),
        (["--boxes", "1,1,5,5", "--score-thr", "7"], "--score-thr"),
        (["--boxes", "1,1,5,5", "--score-thr", "x"], "--score-thr"),
        (["--boxes", "1,1,5,5", "--pathways", "3"], "unknown option"),
        (["--boxes", "1,1,5,5", "--max-batch", "0"], "--max-batch"),
        (["--boxes", "1,1,5,5", "--image-id", "3"], "--image-id"),
        (["--detections", str(bad)], "results list"),
        (["--detections", str(multi)], "--image-id"),
    ]
    for extra, needle in cases:
        proc = zoo_cli(
            "run", "sameo-amodal", "--image", str(image), "--out", str(out), *extra, *SMALL
        )
        user_error(proc, needle)
        assert not out.exists(), extra


def test_eval_detections_with_unknown_image_ids(
    zoo_cli: Any, user_error: Any, shapes_data: dict[str, Path], tmp_path: Path
) -> None:
    dets = tmp_path / "d.json"
    dets.write_text(json.dumps([{"image_id": 999, "bbox": [1, 1, 9, 9], "score": 0.9}]))
    proc = zoo_cli(
        "eval", "sameo-amodal", "--annotations", str(shapes_data["val"]),
        "--images", str(shapes_data["val_images"]), "--detections", str(dets), *SMALL,
    )  # fmt: skip
    user_error(proc, "not in the annotations")
    # an id of the ground truth whose image file is not in the folder
    gt = json.loads(shapes_data["val"].read_text())
    empty = tmp_path / "empty"
    empty.mkdir()
    dets.write_text(
        json.dumps([{"image_id": gt["images"][0]["id"], "bbox": [1, 1, 9, 9], "score": 0.9}])
    )
    proc = zoo_cli(
        "eval", "sameo-amodal", "--annotations", str(shapes_data["val"]),
        "--images", str(empty), "--detections", str(dets), *SMALL,
    )  # fmt: skip
    user_error(proc, "not in the image folder")
    proc = zoo_cli(
        "eval", "sameo-amodal", "--annotations", str(shapes_data["val"]),
        "--images", str(shapes_data["val_images"]), *SMALL,
    )  # fmt: skip
    user_error(proc, "--gt-boxes")


def test_info_lists_the_options_and_no_weights(zoo_cli: Any) -> None:
    proc = zoo_cli("info", "sameo-amodal", "--json")
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    opts = {o["option"]: o for o in info["options"]}
    assert opts["--detections"]["type"] == "path"
    assert opts["--epochs"]["default"] == 10 and opts["--epochs"]["commands"] == ["train"]
    assert opts["--embed-cache"]["type"] == "auto|memory|disk|off"
    # run's --score-thr is the amodal task's, eval's the family's: each listed where it applies
    thr = {
        tuple(o["commands"]): o["default"] for o in info["options"] if o["option"] == "--score-thr"
    }
    assert thr == {("run",): None, ("eval",): 0.05}
    sizes = {
        tuple(o["commands"]): o["default"] for o in info["options"] if o["option"] == "--image-size"
    }
    assert sizes[("train",)] == 1024  # the trainer's; run/eval use the checkpoint's own
    assert info["card"]["zoo"]["family"] == "sameo-amodal"
    assert info["weights"] is None and info["files"]["decoder"]["published"] is False
    assert info["files"]["base"]["optional"] and info["files"]["base"]["same_as"] == (
        "efficientsam:vitt"
    )
    assert info["size"] is None and info["cached"] is None


def test_train_options_are_the_typed_config() -> None:
    """`zoo train`'s options are SameoTrainConfig's fields, declared once: zoo info lists
    them with the config's defaults and bounds, and the trainer takes that config."""
    from zoo_sameo.config import SameoTrainConfig

    from zoo.listing import options_rows
    from zoo.registry import get_registry

    reg = get_registry()
    fam = reg.families["sameo-amodal"]
    assert fam.train_config == "zoo_sameo.config:SameoTrainConfig"
    rows = {r["name"]: r for r in options_rows(reg, fam) if r["commands"] == ["train"]}
    for name in ("epochs", "batch_size", "lr", "embed_cache", "box_jitter", "resume", "base"):
        assert rows[name]["default"] == SameoTrainConfig.default_of(name), name
    assert rows["box_jitter"]["bounds"] == {"ge": 0, "lt": 1}


def test_run_detections_are_the_amodal_tasks() -> None:
    """`zoo run`'s --detections/--score-thr/--image-id are the core amodal task's (its 0.3
    default); the family declares only eval's, with its own 0.05 default."""
    from zoo_sameo.plugin import EVAL_SCORE_THR, SameoOptions

    from zoo.tasks.amodal import RUN_SCORE_THR, AmodalOptions

    assert SameoOptions.names("run") == ["image_size", "max_batch"]
    assert SameoOptions.commands_of("score_thr") == ["eval"]
    assert SameoOptions.default_of("score_thr") == EVAL_SCORE_THR == 0.05
    assert AmodalOptions.applies("score_thr", "run") and RUN_SCORE_THR == 0.3


# --------------------------------------------------------------------------- no --out left


def _text(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def _write(path: Path, data: Any) -> Path:
    return _text(path, json.dumps(data))


def _bad_runs(image: Path, tmp: Path) -> dict[str, list[str]]:
    """Bad inputs `zoo run sameo-amodal` can meet, each checked before anything is written."""
    missing = str(tmp / "missing.png")
    run = ["run", "sameo-amodal", "--image"]
    small = list(SMALL)
    return {
        "missing image": [*run, missing, "--boxes", "1,1,9,9", *small],
        "not an image": [*run, str(_write(tmp / "x.png", [1])), "--boxes", "1,1,9,9", *small],
        "box outside": [*run, str(image), "--boxes", "200,1,900,9", *small],
        "bad box": [*run, str(image), "--boxes", "1,1,a,9", *small],
        "no prompt": [*run, str(image), *small],
        "clicks": [*run, str(image), "--points", "5,5", "--labels", "1", *small],
        "bad format": [*run, str(image), "--boxes", "1,1,9,9", "--format", "gif", *small],
        "missing detections": [*run, str(image), "--detections", str(tmp / "no.json"), *small],
        "malformed detections": [
            *run,
            str(image),
            "--detections",
            str(_write(tmp / "bad_dets.json", [{"bbox": 1}])),
            *small,
        ],
        "unknown option": [*run, str(image), "--boxes", "1,1,9,9", "--nope", "1", *small],
        "ill-typed option": [*run, str(image), "--boxes", "1,1,9,9", "--max-batch", "x", *small],
        "cuda without cuda": [
            *run,
            str(image),
            "--boxes",
            "1,1,9,9",
            "--weights",
            "random",
            "--device",
            "cuda:7",
        ],
        "no weights": [*run, str(image), "--boxes", "1,1,9,9", "--device", "cpu"],
        "missing checkpoint": [
            *run,
            str(image),
            "--boxes",
            "1,1,9,9",
            "--device",
            "cpu",
            "--checkpoint",
            str(tmp / "none.safetensors"),
        ],
        "not a checkpoint": [
            *run,
            str(image),
            "--boxes",
            "1,1,9,9",
            "--device",
            "cpu",
            "--checkpoint",
            str(_write(tmp / "ck.pt", {"a": 1})),
        ],
        "image size mismatch": [*run, str(image), "--boxes", "1,1,9,9", *small[:-1], "100"],
    }


BAD_RUNS = [
    "missing image",
    "not an image",
    "box outside",
    "bad box",
    "no prompt",
    "clicks",
    "bad format",
    "missing detections",
    "malformed detections",
    "unknown option",
    "ill-typed option",
    "cuda without cuda",
    "no weights",
    "missing checkpoint",
    "not a checkpoint",
    "image size mismatch",
]  # the keys of _bad_runs()


@pytest.mark.parametrize("case", BAD_RUNS)
def test_failed_run_leaves_no_out_folder(
    case: str, zoo_cli: Any, user_error: Any, image: Path, tmp_path: Path
) -> None:
    """Issue 11 item 2: every input is checked before the output folder exists."""
    out = tmp_path / "deeper" / "out"
    args = _bad_runs(image, tmp_path)[case]
    user_error(zoo_cli(*args, "--out", str(out)))
    assert not out.exists() and not out.parent.exists()


def _bad_evals(shapes: dict[str, Path], tmp: Path) -> dict[str, list[str]]:
    ev = ["eval", "sameo-amodal", "--annotations"]
    ann, imgs = str(shapes["val"]), str(shapes["val_images"])
    small = list(SMALL)
    return {
        "missing annotations": [*ev, str(tmp / "no.json"), "--images", imgs, "--gt-boxes", *small],
        "not json": [
            *ev,
            str(_text(tmp / "a.json", "{oops")),
            "--images",
            imgs,
            "--gt-boxes",
            *small,
        ],
        "missing images": [*ev, ann, "--images", str(tmp / "nodir"), "--gt-boxes", *small],
        "neither prompt": [*ev, ann, "--images", imgs, *small],
        "both prompts": [
            *ev,
            ann,
            "--images",
            imgs,
            "--gt-boxes",
            "--detections",
            ann,
            *small,
        ],
        "bad box kind": [*ev, ann, "--images", imgs, "--gt-boxes", "--box-kind", "x", *small],
        "occluded thr above 1": [
            *ev,
            ann,
            "--images",
            imgs,
            "--gt-boxes",
            "--occluded-thr",
            "2",
            *small,
        ],
        "unknown detection ids": [
            *ev,
            ann,
            "--images",
            imgs,
            "--detections",
            str(_write(tmp / "d.json", [{"image_id": 999, "bbox": [1, 1, 9, 9], "score": 1}])),
            *small,
        ],
        "no weights": [*ev, ann, "--images", imgs, "--gt-boxes", "--device", "cpu"],
        "compare": [*ev, ann, "--images", imgs, "--gt-boxes", "--compare", "sam2", *small],
    }


BAD_EVALS = [
    "missing annotations",
    "not json",
    "missing images",
    "neither prompt",
    "both prompts",
    "bad box kind",
    "occluded thr above 1",
    "unknown detection ids",
    "no weights",
    "compare",
]  # the keys of _bad_evals()


@pytest.mark.parametrize("case", BAD_EVALS)
def test_failed_eval_leaves_no_out_folder(
    case: str, zoo_cli: Any, user_error: Any, shapes_data: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "deeper" / "out"
    args = _bad_evals(shapes_data, tmp_path)[case]
    user_error(zoo_cli(*args, "--out", str(out)))
    assert not out.exists() and not out.parent.exists()


def _bad_trains(shapes: dict[str, Path], tmp: Path) -> dict[str, list[str]]:
    tr = ["train", "sameo-amodal", "--annotations"]
    ann, imgs = str(shapes["train"]), str(shapes["train_images"])
    small = ["--weights", "random", "--device", "cpu", "--image-size", "64", "--max-steps", "1"]
    return {
        "missing annotations": [*tr, str(tmp / "no.json"), "--images", imgs, *small],
        "missing images": [*tr, ann, "--images", str(tmp / "nodir"), *small],
        "bad name": [*tr, ann, "--images", imgs, "--name", "Bad Name!", *small],
        "reserved name": [*tr, ann, "--images", imgs, "--name", "vitt", *small],
        "bad base": [*tr, ann, "--images", imgs, "--base", "vitx", *small],
        "bad image size": [*tr, ann, "--images", imgs, *small[:4], "--image-size", "100"],
        "zero epochs": [*tr, ann, "--images", imgs, "--epochs", "0", *small],
        "bad lr": [*tr, ann, "--images", imgs, "--lr", "abc", *small],
        "jitter above 1": [*tr, ann, "--images", imgs, "--box-jitter", "3", *small],
        "nothing to resume": [*tr, ann, "--images", imgs, "--name", "r", "--resume", *small],
        "missing checkpoint": [
            *tr,
            ann,
            "--images",
            imgs,
            "--device",
            "cpu",
            "--checkpoint",
            str(tmp / "no.pt"),
        ],
        "no base weights offline": [*tr, ann, "--images", imgs, "--device", "cpu"],
        "random and checkpoint": [*tr, ann, "--images", imgs, "--checkpoint", ann, *small],
    }


BAD_TRAINS = [
    "missing annotations",
    "missing images",
    "bad name",
    "reserved name",
    "bad base",
    "bad image size",
    "zero epochs",
    "bad lr",
    "jitter above 1",
    "nothing to resume",
    "missing checkpoint",
    "no base weights offline",
    "random and checkpoint",
]  # the keys of _bad_trains()


@pytest.mark.parametrize("case", BAD_TRAINS)
def test_failed_train_leaves_no_out_folder(
    case: str, zoo_cli: Any, user_error: Any, shapes_data: dict[str, Path], tmp_path: Path
) -> None:
    import os

    out = tmp_path / "deeper" / "out"
    args = _bad_trains(shapes_data, tmp_path)[case]
    user_error(zoo_cli(*args, "--out", str(out)))
    assert not out.exists() and not out.parent.exists()
    assert not (Path(os.environ["ZOO_HOME"]) / "local").exists()  # nor a half-made variant
