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
