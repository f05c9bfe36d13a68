"""WeSAM's validation numbers equal its reference ``validate`` on the same arrays (recorded
by running it, not computed with zoo), and zoo's models are scored at its threshold.

Inputs: ``wesam_reference_cases.py`` beside this file (numpy only; the script that ran the
reference imports it too).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import torch
from zoo_wesam.validate import binarize, image_scores, logit_threshold, summarize


def _cases() -> ModuleType:
    path = Path(__file__).with_name("wesam_reference_cases.py")
    spec = importlib.util.spec_from_file_location("wesam_reference_cases", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# Reference: zhang-haojie/wesam @ 5ac493ff4cbc52b2efbc2c530b71718a9e5b1ea1, utils/eval_utils.py
# validate(), with segmentation-models-pytorch 0.3.2 (get_stats(mode="binary",
# threshold=0.5), iou_score/f1_score(reduction="micro-imagewise")); torch 2.15 CPU, numpy
# 1.24.2, lightning 2.0.1, python-box 7.0.1 (timm 0.6.13: 0.6.12 does not import on Python
# 3.11). /work/refs/run_wesam.py feeds each set through validate() with a model that returns
# the recorded logits, a stub fabric and a DataLoader whose collate is WeSAM's
# datasets/tools.collate_fn, batch size 1; it printed [mean IoU, mean F1]:
#   issue-example  batch 1: [0.5, 0.5]                                 batch 4: the same
#   edge-cases     batch 1: [0.4444444477558136, 0.4444444477558136]   batch 4: the same
#   random         batch 1: [0.41542840003967285, 0.5707281827926636]
#                  batch 4: [0.4239567518234253, 0.5785180330276489]
#   all            batch 1: [0.43250781297683716, 0.5360410213470459]
#                  batch 4: [0.4367277920246124, 0.5370675325393677]
# (with batch 4 the 2 images of the short last batch weigh 2 instead of 4: the reference's
# AverageMeter.update(value, num_images) per image; zoo weighs images equally, = batch 1)
REFERENCE = {
    "issue-example": [0.5, 0.5],
    "edge-cases": [0.4444444477558136, 0.4444444477558136],
    "random": [0.41542840003967285, 0.5707281827926636],
    "all": [0.43250781297683716, 0.5360410213470459],
}


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_wesam_validate_numbers_equal_the_reference(name: str) -> None:
    per_image = [image_scores(logits, gts) for logits, gts in _cases().sets()[name]]
    got = summarize(per_image)
    assert [got["miou"], got["f1"]] == pytest.approx(REFERENCE[name], abs=1e-6)


def test_per_instance_means_are_the_named_extra() -> None:
    got = summarize([image_scores(p, g) for p, g in _cases().issue_example()])
    # one instance at IoU 1 and three at 0: 1/4 pooled, 1/2 per image (the protocol)
    assert got["miou_per_instance"] == pytest.approx(0.25) and got["miou"] == pytest.approx(0.5)
    assert got["instances"] == 4 and got["scored_images"] == 2


def test_the_threshold_is_logit_at_least_one_half() -> None:
    logits = np.array([[[0.0, 0.3, 0.49999997, 0.5, 2.0]]], dtype=np.float32)
    assert binarize(logits).tolist() == [[[False, False, False, True, True]]]
    masks = np.array([[[True, False]]])
    assert binarize(masks) is masks  # thresholded masks are taken as they are


class _Thresholding:
    """The comparison zoo_sam2's decoder makes: float32 logits > mask_threshold."""

    mask_threshold = 0.0

    def masks(self, logits: torch.Tensor) -> torch.Tensor:
        return logits > self.mask_threshold


def test_logit_threshold_makes_a_sam2_model_use_at_least_one_half() -> None:
    model = _Thresholding()
    logits = torch.tensor([0.0, 0.25, 0.49999997, 0.5, 0.75], dtype=torch.float32)
    assert model.masks(logits).tolist() == [False, True, True, True, True]
    with logit_threshold(model) as what:
        assert what == "logit >= 0.5"
        assert model.masks(logits).tolist() == [False, False, False, True, True]
    assert model.mask_threshold == 0.0  # restored
    with logit_threshold(object()) as what:  # another family: its own masks, said so
        assert what == "the model's own masks"


def test_a_wesam_model_under_logit_threshold_masks_its_logits_at_one_half() -> None:
    from zoo.loading import load

    model = load("wesam-adapt:tiny", weights="random", image_size=128, device="cpu")
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (80, 96, 3), dtype=np.uint8)
    boxes = {"boxes": [[10, 10, 60, 50], [30, 20, 90, 70]]}
    plain = model.segment(image, boxes)
    with logit_threshold(model):
        strict = model.segment(image, boxes)
    low = torch.from_numpy(plain.low_res_logits)[:, None]
    up = model._transforms.postprocess_masks(low, (80, 96))[:, 0].numpy()
    assert (plain.masks == (up > 0)).all() and (strict.masks == (up >= 0.5)).all()
    assert (strict.masks <= plain.masks).all()
