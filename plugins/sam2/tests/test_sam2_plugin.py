"""The sam2 plugin against the `sam2` package itself, with random weights (no hub here)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import zoo
from zoo.errors import WeightsError
from zoo.testing import synthetic_boxes, synthetic_image

H, W = 240, 320


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return zoo.load("sam2:tiny", weights="random", device="cpu")


@pytest.fixture(scope="module")
def image() -> np.ndarray:
    return synthetic_image(H, W)


def test_matches_sam2_image_predictor(model, image) -> None:
    """Same weights, same prompts: our batched path gives SAM2ImagePredictor's answers."""
    from sam2.sam2_image_predictor import SAM2ImagePredictor

    pred = SAM2ImagePredictor(model.model)
    pred.set_image(image)
    boxes = synthetic_boxes(H, W)
    ref_masks, ref_scores, ref_logits = pred.predict(box=boxes, multimask_output=False)
    res = model.segment(image, {"boxes": boxes})
    np.testing.assert_allclose(res.scores, ref_scores[:, 0], atol=1e-5)
    np.testing.assert_allclose(res.low_res_logits, ref_logits[:, 0], atol=1e-4)
    assert (res.masks == ref_masks[:, 0].astype(bool)).mean() > 0.9999

    pts, labs = np.array([[100.0, 80.0], [250.0, 170.0]]), np.array([1, 0])
    ref_m, ref_s, _ = pred.predict(point_coords=pts, point_labels=labs, multimask_output=False)
    res = model.segment(None, {"points": pts, "labels": labs})
    np.testing.assert_allclose(res.scores, ref_s, atol=1e-5)
    assert (res.masks[0] == ref_m[0].astype(bool)).mean() > 0.9999


def test_batched_boxes_equal_one_by_one(model, image) -> None:
    rng = np.random.default_rng(1)
    x1 = rng.uniform(0, W / 2, 6)
    y1 = rng.uniform(0, H / 2, 6)
    boxes = np.stack([x1, y1, x1 + rng.uniform(20, W / 2, 6), y1 + rng.uniform(20, H / 2, 6)], 1)
    batch = model.segment(image, {"boxes": boxes})
    for i, b in enumerate(boxes):
        single = model.segment(None, {"boxes": [b]})
        np.testing.assert_allclose(single.low_res_logits[0], batch.low_res_logits[i], atol=1e-4)
        assert abs(float(single.scores[0]) - float(batch.scores[i])) < 1e-5


def test_embedding_is_computed_once_per_image(model, image, monkeypatch) -> None:
    calls = []
    real = model.run_graph

    def counting(name, *inputs):  # type: ignore[no-untyped-def]
        calls.extend([name] if name == "encoder" else [])
        return real(name, *inputs)

    monkeypatch.setattr(model, "run_graph", counting)
    model._fingerprint = None
    model.set_image(image)
    model.segment(image, {"boxes": synthetic_boxes(H, W)})
    model.segment(None, {"points": [[10, 10]], "labels": [1]})
    assert len(calls) == 1
    other = image.copy()
    other[0, 0] = 255 - other[0, 0]
    model.segment(other, {"boxes": synthetic_boxes(H, W)})
    assert len(calls) == 2


def test_mixed_prompts_and_mask_prompt(model, image) -> None:
    mask = np.zeros((H, W), bool)
    mask[50:120, 60:160] = True
    res = model.segment(
        image,
        [
            {"box": [10, 10, 100, 100]},
            {"points": [[30, 40], [200, 200]], "labels": [1, 0]},
            {"box": [20, 20, 200, 200], "points": [[50, 50]], "labels": [1]},
            {"mask": mask},
        ],
    )
    assert res.masks.shape == (4, H, W)
    assert np.isfinite(res.scores).all()


def test_checkpoint_round_trip_and_wrong_size(model, image, tmp_path: Path) -> None:
    ckpt = tmp_path / "finetuned.pt"
    torch.save({"model": model.model.state_dict()}, ckpt)
    again = zoo.load("sam2:tiny", checkpoint=ckpt, device="cpu")
    assert again.weights == str(ckpt)
    a = model.segment(image, {"boxes": synthetic_boxes(H, W)})
    b = again.segment(image, {"boxes": synthetic_boxes(H, W)})
    np.testing.assert_array_equal(a.low_res_logits, b.low_res_logits)
    with pytest.raises(WeightsError, match="does not fit sam2:small"):
        zoo.load("sam2:small", checkpoint=ckpt, device="cpu")


def test_result_save_writes_pngs_coco_and_overlay(model, image, tmp_path: Path) -> None:
    from pycocotools import mask as mask_utils

    res = model.segment(image, {"boxes": synthetic_boxes(H, W)})
    files = res.save(tmp_path / "out", image=image, image_id=7)
    names = sorted(p.name for p in files)
    assert names == ["mask_000.png", "mask_001.png", "overlay.png", "results.json", "run.json"]
    data = json.loads((tmp_path / "out" / "results.json").read_text())
    run = json.loads((tmp_path / "out" / "run.json").read_text())
    assert run["provenance"]["weights"] == "random" and run["provenance"]["test_mode"] is True
    assert run["images"][0]["id"] == 7
    for ann, m in zip(data, res.masks, strict=True):
        rle = dict(ann["segmentation"], counts=ann["segmentation"]["counts"].encode())
        np.testing.assert_array_equal(mask_utils.decode(rle).astype(bool), m)
        assert ann["image_id"] == 7
    from PIL import Image

    ov = np.asarray(Image.open(tmp_path / "out" / "overlay.png"))
    assert ov.shape == (H, W, 3)


def test_box_crossing_the_edge_is_clipped(model, image) -> None:
    """A box that only crosses the image edge is cut to the image (``Prompts.fit``), as SAM,
    sam2 and the core tasks do; one lying entirely outside stays an error."""
    from zoo.errors import InputError

    crossing = model.segment(image, {"boxes": [[-20, -10, W + 30, 100]]})
    inside = model.segment(image, {"boxes": [[0, 0, W, 100]]})
    np.testing.assert_array_equal(crossing.low_res_logits, inside.low_res_logits)
    assert crossing.prompts is not None and crossing.prompts.objects[0].box == (0, 0, W, 100)
    with pytest.raises(InputError, match="entirely outside"):
        model.segment(image, {"boxes": [[W + 1, 0, W + 50, 40]]})


def test_plugin_api_3_registration() -> None:
    """Typed options (plugin API 3), a small conformance size, no deprecated imports."""
    import subprocess
    import sys

    import zoo_sam2.plugin as plugin

    from zoo.registry import get_registry

    fam = get_registry().families["sam2"]
    assert plugin.ZOO_PLUGIN_API == 3 and fam.options is plugin.Sam2Options
    assert fam.options.loader_names() == ["image_size", "max_batch"]
    assert fam.conformance == {"image_size": 256}
    code = (
        "import sys, zoo_sam2.plugin; assert 'torch' not in sys.modules; "
        "import zoo_sam2.model, zoo_sam2.everything, zoo_sam2.graphs"
    )
    proc = subprocess.run(
        [sys.executable, "-W", "error::DeprecationWarning", "-c", code],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr


def test_cli_everything_takes_the_tasks_grid_settings(image, tmp_path: Path) -> None:
    """``zoo run --everything``: the everything task's options (bounded: at most 128 points
    per side) reach SAM 2's own generator; --image-size is a loader option of the family."""
    from zoo.io.images import save_png
    from zoo.testing.cli import assert_user_error, run_cli

    img = tmp_path / "img.png"
    save_png(img, image)
    out = tmp_path / "out"
    base = ("run", "sam2:tiny", "--image", str(img), "--everything", "--weights", "random",
            "--device", "cpu", "--out", str(out))  # fmt: skip
    assert_user_error(run_cli(*base, "--points-per-side", "129"), "maximum 128")
    assert_user_error(run_cli(*base, "--image-size", "100"), "multiple of 64")
    assert not out.exists()
    small = ("--image-size", "256", "--points-per-side", "4")
    proc = run_cli(*base, *small, "--format", "json", "--json")
    assert proc.returncode == 0, proc.stderr
    saved = json.loads((out / "result.json").read_text())
    record = saved["extra"]["everything"]
    assert record["generator"] == "sam2.SAM2AutomaticMaskGenerator"
    assert record["points_per_side"] == 4 and record["pred_iou_thresh"] == 0.0  # test mode
