"""Amodal AP keeps crowd regions as pycocotools does: the numbers are cocoapi's, recorded on
the same scenes (``tests/coco_reference_cases.py`` at the repository root, read here as
COCO-amodal annotations: the ``segmentation`` is the whole object, ``visible_mask`` the
visible part)."""

from __future__ import annotations

import copy
import importlib.util
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from PIL import Image
from zoo_sameo.data import load_amodal_coco

from zoo.io.masks import coco_results
from zoo.metrics import coco_segm_ap

# Reference: cocodataset/cocoapi @ 8c9bcc3cf640524c4c20a9c40e89cb6a2f2fa0e9 (PythonAPI built
# in place), /work/refs/run_coco.py: COCOeval(gt, gt.loadRes(dets), "segm").stats[0:3]
#   useCats=1      [0.2975247524752475, 0.47029702970297027, 0.3948019801980198]
#   useCats=0      [0.31975247524752476, 0.504950495049505, 0.40396039603960393]
#   crowd dropped  [0.23193069306930694, 0.31064356435643564, 0.31064356435643564]
# (the same recorded run as tests/test_metrics_reference.py).
COCO_AP = [0.2975247524752475, 0.47029702970297027, 0.3948019801980198]
COCO_AP_AGNOSTIC = [0.31975247524752476, 0.504950495049505, 0.40396039603960393]


def _cases() -> ModuleType:
    path = Path(__file__).resolve().parents[3] / "tests" / "coco_reference_cases.py"
    spec = importlib.util.spec_from_file_location("coco_reference_cases", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_amodal_ap_ignores_crowd_regions_like_pycocotools(tmp_path: Path) -> None:
    gt, preds = _cases().scenes()
    amodal = copy.deepcopy(gt)
    for a in amodal["annotations"]:
        if not a["iscrowd"]:
            a["visible_mask"] = a["segmentation"]  # fully visible
    for im in gt["images"]:
        Image.fromarray(np.zeros((im["height"], im["width"], 3), np.uint8)).save(
            tmp_path / im["file_name"]
        )
    ds = load_amodal_coco(amodal, tmp_path)
    assert ds.num_instances == 8 and [len(im.crowd) for im in ds.images] == [1, 1, 1, 0]
    coco_gt = ds.coco_gt()
    assert sum(a["iscrowd"] for a in coco_gt["annotations"]) == 3
    results = []
    for image_id, items in preds.items():
        masks = np.stack([m for m, _, _ in items])
        results += coco_results(masks, [s for _, s, _ in items], image_id, [c for *_, c in items])
    ap = coco_segm_ap(coco_gt, results)
    assert [ap["AP"], ap["AP50"], ap["AP75"]] == pytest.approx(COCO_AP, abs=1e-6)
    agn = coco_segm_ap(coco_gt, results, class_agnostic=True)
    assert [agn["AP"], agn["AP50"], agn["AP75"]] == pytest.approx(COCO_AP_AGNOSTIC, abs=1e-6)
    # skip_crowd=False: crowd annotations become instances (the old reading of the flag)
    with pytest.warns(UserWarning, match="no visible mask"):  # the crowd regions have none
        every = load_amodal_coco(amodal, tmp_path, skip_crowd=False)
    assert every.num_instances == 11 and not any(im.crowd for im in every.images)
