"""`zoo run|eval sameo-amodal` from the command line: outputs, and one-line user errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from zoo.io.images import save_png
from zoo.testing import synthetic_image

SMALL = ("--weights", "random", "--device", "cpu", "--image-size", "128")


@pytest.fixture
def image(tmp_path: Path) -> Path:
    p = tmp_path / "img.png"
    save_png(p, synthetic_image(96, 128))
    return p


def test_no_weights_says_so_and_shows_the_way_forward(zoo_cli: Any, user_error: Any,
                                                      image: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = zoo_cli("run", "sameo-amodal", "--image", str(image), "--boxes", "10,10,60,60",
                   "--out", str(out))
    user_error(proc, "published no weights", "zoo train sameo-amodal", "--checkpoint")
    assert not out.exists()
    proc = zoo_cli("eval", "sameo-amodal:vits", "--annotations", str(image), "--images",
                   str(tmp_path), "--gt-boxes")
    user_error(proc, "published no weights")


def test_run_with_boxes_writes_masks_coco_and_overlay(zoo_cli: Any, image: Path,
                                                      tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = zoo_cli("run", "sameo-amodal", "--image", str(image), "--boxes",
                   "10,10,60,60;40,30,120,90", "--out", str(out), "--json", *SMALL)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["instances"] == 2 and report["weights"] == "random"
    results = json.loads((out / "results.json").read_text())
    assert results["provenance"]["weights"] == "random" and results["task"] == "amodal"
    anns = results["annotations"]
    assert len(anns) == 2 and all("counts" in a["segmentation"] for a in anns)
    assert {"amodal_000.png", "amodal_001.png", "overlay.png"} <= {p.name for p in out.iterdir()}


def test_run_with_detections_keeps_classes_and_scores(zoo_cli: Any, image: Path,
                                                      tmp_path: Path) -> None:
    from zoo.io.masks import encode_rle

    vis = np.zeros((96, 128), bool)
    vis[10:40, 10:40] = True
    dets = [
        {"image_id": 5, "bbox": [10, 10, 50, 50], "score": 0.8, "category_id": 7,
         "segmentation": encode_rle(vis)},
        {"image_id": 5, "bbox": [60, 20, 50, 60], "score": 0.6, "category_id": 2},
        {"image_id": 5, "bbox": [0, 0, 20, 20], "score": 0.1, "category_id": 2},  # below 0.3
        {"image_id": 5, "bbox": [100, 50, 40, 80], "score": 0.9, "category_id": 3},  # overshoots
    ]
    det_file = tmp_path / "dets.json"
    det_file.write_text(json.dumps(dets))
    out = tmp_path / "out"
    proc = zoo_cli("run", "sameo-amodal", "--image", str(image), "--detections", str(det_file),
                   "--out", str(out), "--json", *SMALL)
    assert proc.returncode == 0, proc.stderr
    anns = json.loads((out / "results.json").read_text())["annotations"]
    assert [a["category_id"] for a in anns] == [7, 2, 3]
    for a, det in zip(anns, (0.8, 0.6, 0.9), strict=True):
        assert a["det_score"] == pytest.approx(det)
        assert a["score"] == pytest.approx(det * min(max(a["pred_iou"], 0), 1), abs=1e-6)
    assert "visible_segmentation" in anns[0] and "visible_segmentation" not in anns[1]
    assert anns[2]["prompt_box"] == [100.0, 50.0, 28.0, 46.0]  # clipped to the image
    assert (out / "visible_000.png").exists()


def test_run_bad_inputs_are_one_line_errors(zoo_cli: Any, user_error: Any, image: Path,
                                            tmp_path: Path) -> None:
    out = tmp_path / "out"
    cases: list[tuple[list[str], str]] = [
        (["--boxes", "10,10,10,50"], "x2<=x1"),
        (["--boxes", "10,10,60"], "3 numbers"),
        ([], "no boxes"),
        (["--points", "5,5", "--labels", "1"], "boxes only"),
        (["--boxes", "1,1,5,5", "--detections", str(image)], "not both"),
        (["--boxes", "1,1,5,5", "--score-thr", "7"], "score-thr"),
        (["--boxes", "1,1,5,5", "--pathways", "3"], "unknown option"),
    ]
    for extra, needle in cases:
        proc = zoo_cli("run", "sameo-amodal", "--image", str(image), "--out", str(out),
                       *extra, *SMALL)
        user_error(proc, needle)
        assert not out.exists()
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"oops": 1}))
    user_error(zoo_cli("run", "sameo-amodal", "--image", str(image), "--detections", str(bad),
                       "--out", str(out), *SMALL), "results list")
    multi = tmp_path / "multi.json"
    multi.write_text(json.dumps([{"image_id": 1, "bbox": [1, 1, 9, 9], "score": 1},
                                 {"image_id": 2, "bbox": [1, 1, 9, 9], "score": 1}]))
    user_error(zoo_cli("run", "sameo-amodal", "--image", str(image), "--detections",
                       str(multi), "--out", str(out), *SMALL), "--image-id")
    assert not out.exists()


def test_eval_detections_with_unknown_image_ids(zoo_cli: Any, user_error: Any,
                                                shapes_data: dict[str, Path],
                                                tmp_path: Path) -> None:
    dets = tmp_path / "d.json"
    dets.write_text(json.dumps([{"image_id": 999, "bbox": [1, 1, 9, 9], "score": 0.9}]))
    proc = zoo_cli("eval", "sameo-amodal", "--annotations", str(shapes_data["val"]),
                   "--images", str(shapes_data["val_images"]), "--detections", str(dets),
                   *SMALL)
    user_error(proc, "not in the annotations")
    # an id of the ground truth whose image file is not in the folder
    gt = json.loads(shapes_data["val"].read_text())
    empty = tmp_path / "empty"
    empty.mkdir()
    dets.write_text(json.dumps([{"image_id": gt["images"][0]["id"], "bbox": [1, 1, 9, 9],
                                 "score": 0.9}]))
    proc = zoo_cli("eval", "sameo-amodal", "--annotations", str(shapes_data["val"]),
                   "--images", str(empty), "--detections", str(dets), *SMALL)
    user_error(proc, "not in the image folder")
    proc = zoo_cli("eval", "sameo-amodal", "--annotations", str(shapes_data["val"]),
                   "--images", str(shapes_data["val_images"]), *SMALL)
    user_error(proc, "--gt-boxes")


def test_info_lists_the_options_and_no_weights(zoo_cli: Any) -> None:
    proc = zoo_cli("info", "sameo-amodal", "--json")
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    assert "detections" in info["options"] and "epochs" in info["options"]
    assert info["card"]["zoo"]["family"] == "sameo-amodal"
    assert info["weights"] is None
