"""`zoo eval` for promptable families: box prompts from COCO annotations, IoU/Dice/AP."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.conftest import assert_user_error, run_zoo
from zoo.data.coco import build_coco


@pytest.fixture
def coco_set(tmp_path: Path) -> tuple[Path, Path]:
    """Two images with two annotated rectangles each."""
    images = tmp_path / "images"
    images.mkdir()
    items = []
    for k in range(2):
        img = np.full((64, 96, 3), 30, np.uint8)
        masks = np.zeros((2, 64, 96), bool)
        masks[0, 8:30, 10:40] = True
        masks[1, 36:60, 50 + k * 5 : 90] = True
        img[masks.any(0)] = 220
        Image.fromarray(img).save(images / f"im{k}.png")
        items.append({"file_name": f"im{k}.png", "masks": masks, "category_ids": [1, 2]})
    ann = tmp_path / "ann.json"
    ann.write_text(json.dumps(build_coco(items, {1: "box", 2: "bar"})))
    return ann, images


def test_eval_sam2_with_compare_writes_metrics(coco_set: tuple[Path, Path], tmp_path: Path) -> None:
    ann, images = coco_set
    out = tmp_path / "eval"
    proc = run_zoo(
        "eval",
        "sam2:tiny",
        "--annotations",
        str(ann),
        "--images",
        str(images),
        "--weights",
        "random",
        "--device",
        "cpu",
        "--image-size",
        "128",
        "--compare",
        "sam2:tiny",
        "--out",
        str(out),
        "--class-agnostic",
        "--json",
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["images"] == 2 and report["instances"] == 4
    assert report["protocol"] == "coco-segm" and report["crowd_regions"] == 0
    m = report["metrics"]["sam2:tiny"]
    assert 0.0 <= m["miou"] <= 1.0 and 0.0 <= m["mdice"] <= 1.0 and "AP50" in m
    assert {"AP_agnostic", "AP50_agnostic", "AP75_agnostic"} <= set(m)  # its own names
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["metrics"]["sam2:tiny"]["miou"] == pytest.approx(m["miou"])
    assert saved["protocol"] == report["protocol"] and saved["test_mode"] is True
    assert saved["models"]["sam2:tiny"] == "random" and saved["zoo_version"]
    results = json.loads((out / "sam2_tiny.results.json").read_text())
    assert len(results) == 4 and {r["image_id"] for r in results} == {1, 2}
    assert {r["category_id"] for r in results} == {1, 2}


def test_eval_bad_inputs_are_one_line_and_leave_nothing(
    coco_set: tuple[Path, Path], tmp_path: Path
) -> None:
    ann, images = coco_set
    out = tmp_path / "never"
    base = ["eval", "sam2:tiny", "--weights", "random", "--out", str(out)]
    assert_user_error(run_zoo(*base, "--images", str(images)), "--annotations")
    assert_user_error(
        run_zoo(*base, "--annotations", str(ann), "--images", str(tmp_path / "no")), "no"
    )
    assert_user_error(
        run_zoo(*base, "--annotations", str(ann), "--images", str(images), "--max-images", "0"),
        "--max-images",
    )
    assert not out.exists()
