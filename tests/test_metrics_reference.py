"""zoo's DAVIS and COCO protocols give the numbers the reference implementations give.

The inputs are built by ``tests/davis_reference_cases.py`` and
``tests/coco_reference_cases.py`` (numpy only); the expected numbers below were obtained by
running the reference code itself on exactly those inputs, in its own environment, with the
scripts named in each test (kept outside the repository; they import the same case
modules). Nothing here computes an expected value with zoo's own code.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from tests import coco_reference_cases as coco_cases
from tests import davis_reference_cases as davis_cases
from zoo.data.coco import CocoDataset
from zoo.errors import InputError
from zoo.evaluation import coco_ground_truth, score_model
from zoo.metrics import (
    DAVIS_STATISTICS,
    coco_segm_ap,
    davis_sequence,
    davis_summary,
    j_and_f,
)
from zoo.results import Provenance, SegmentationResult
from zoo.specs import Task

TOL = 1e-6

# --------------------------------------------------------------------------- DAVIS 2017

# Reference: davisvideochallenge/davis2017-evaluation @ ac7c43fca936f9722837b7fbd337d284ba37004b
# (Python 3.9, numpy 1.23.5, opencv-python-headless 4.8, scikit-image 0.21, pandas 2.0).
# /work/refs/run_davis.py writes davis_reference_cases.cases() as a DAVIS-layout dataset
# (Annotations/480p palette PNGs, ImageSets/2017/val.txt) plus a results folder, then runs
#   python evaluation_method.py --task semi-supervised --set val \
#       --davis_path /work/refs/davis_data --results_path /work/refs/davis_results
# which printed the global table
#   J&F-Mean 0.61554  J-Mean 0.601486  J-Recall 0.686039  J-Decay 0.022858
#   F-Mean 0.629594  F-Recall 0.654221  F-Decay 0.022507
# and the same run through DAVISEvaluation.evaluate (what evaluation_method.py calls) gave
# the full-precision numbers below: [J-Mean, J-Recall, J-Decay, F-Mean, F-Recall, F-Decay].
DAVIS_GLOBAL = {
    "J&F-Mean": 0.6155396504319589,
    "J-Mean": 0.6014857885265195,
    "J-Recall": 0.6860389610389611,
    "J-Decay": 0.022858375023942116,
    "F-Mean": 0.6295935123373984,
    "F-Recall": 0.6542207792207791,
    "F-Decay": 0.0225068512377542,
}
DAVIS_OBJECTS = {
    "leave-reenter_1": [0.8823529411764706, 1.0, 0.0, 1.0, 1.0, 0.0],
    "leave-reenter_2": [
        0.6927083333333333,
        0.75,
        0.2569444444444444,
        0.7462962962962962,
        0.75,
        0.32839506172839505,
    ],
    "late-entry_1": [0.9375, 1.0, 0.0, 1.0, 1.0, 0.0],
    "late-entry_2": [0.8448275862068965, 1.0, 0.31034482758620685, 0.875, 1.0, 0.2500000000000001],
    "id-gap_1": [0.8666666666666667, 1.0, 0.0, 1.0, 1.0, 0.0],
    "id-gap_2": [0.25, 0.25, 0.5, 0.25, 0.25, 0.5],
    "id-gap_3": [0.84375, 1.0, 0.0, 0.775609756097561, 1.0, 0.0],
    "first-frame-only_1": [0.9411764705882353, 1.0, 0.0, 1.0, 1.0, 0.0],
    "first-frame-only_2": [0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
    "void-ring_1": [0.6944444444444443, 1.0, 0.0, 0.9565217391304349, 1.0, 0.0],
    "a-one-object_1": [1.0, 1.0, 0.0, 1.0, 1.0, 0.0],
    "b-three-objects_1": [1.0, 1.0, 0.0, 1.0, 1.0, 0.0],
    "b-three-objects_2": [0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
    "b-three-objects_3": [0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
    "jitter-3_1": [
        0.5620738805862073,
        0.8,
        -0.20575294607150352,
        0.622063106123128,
        0.7,
        -0.38165607020848097,
    ],
    "jitter-3_2": [
        0.5361189772541033,
        0.7,
        -0.30157679196429726,
        0.5421271993225953,
        0.5,
        -0.32392991682861,
    ],
    "jitter-3_3": [
        0.35107294139552203,
        0.2,
        -0.0023894862604540434,
        0.4065162723253165,
        0.3,
        0.010403306676222912,
    ],
    "jitter-7_1": [
        0.567136606999738,
        0.7142857142857143,
        -0.06411763333785031,
        0.6013206026977816,
        0.7142857142857143,
        0.16386714244754447,
    ],
    "jitter-7_2": [
        0.5511092537258786,
        0.8571428571428571,
        -0.24139505268089906,
        0.46384573183438577,
        0.5714285714285714,
        -0.08929829601333461,
    ],
    "jitter-7_3": [
        0.49452557868470903,
        0.42857142857142855,
        -0.027814674256799565,
        0.5600186961811101,
        0.7142857142857143,
        -0.10159283730945956,
    ],
    "jitter-7_4": [
        0.6413861551897905,
        0.8571428571428571,
        -0.2367469316085412,
        0.5867081095093943,
        0.7142857142857143,
        -0.2386418299283518,
    ],
    "drift_1": [
        0.5758375113314332,
        0.5357142857142857,
        0.5153884946764203,
        0.46502976190476186,
        0.17857142857142858,
        0.37760416666666674,
    ],
}
# The same script, on videos a-one-object and b-three-objects alone (issue 18's example):
# "AB J&F-Mean 0.5". On the two-frame video it stops: "TWO-FRAMES IndexError list index out
# of range" (Results.read_masks gets no frame to read).
DAVIS_AB = 0.5
STAT_ORDER = ("J-Mean", "J-Recall", "J-Decay", "F-Mean", "F-Recall", "F-Decay")


@pytest.fixture(scope="module")
def davis_scores() -> dict[str, dict[str, Any]]:
    return {name: davis_sequence(pred, gt) for name, (gt, pred) in davis_cases.cases().items()}


def test_davis_per_object_statistics_equal_the_reference(
    davis_scores: dict[str, dict[str, Any]],
) -> None:
    seen = {}
    for name, seq in davis_scores.items():
        assert seq["status"] == "scored" and seq["scored_frames"] == seq["frames"] - 2
        for k, obj in seq["objects"].items():
            seen[f"{name}_{k}"] = [obj[s] for s in STAT_ORDER]
    assert set(seen) == set(DAVIS_OBJECTS)  # the reference's object set, id gaps included
    for key, expected in DAVIS_OBJECTS.items():
        assert seen[key] == pytest.approx(expected, abs=TOL), key


def test_davis_global_table_averages_objects_like_the_reference(
    davis_scores: dict[str, dict[str, Any]],
) -> None:
    summary = davis_summary(davis_scores)
    for s in DAVIS_STATISTICS:
        assert summary["global"][s] == pytest.approx(DAVIS_GLOBAL[s], abs=TOL), s
    assert summary["global"]["objects"] == len(DAVIS_OBJECTS) == 22
    assert set(summary["per_object"]) == set(DAVIS_OBJECTS)
    ab = {k: davis_scores[k] for k in ("a-one-object", "b-three-objects")}
    assert davis_summary(ab)["global"]["J&F-Mean"] == pytest.approx(DAVIS_AB, abs=TOL)
    # the per-video view is extra: video b's mean is 1/3, video a's 1 (their mean 0.667
    # is what a per-video average would have reported)
    per_seq = davis_summary(ab)["per_sequence"]
    assert per_seq["b-three-objects"]["J&F-Mean"] == pytest.approx(1 / 3)
    assert per_seq["a-one-object"]["objects"] == 1


def test_davis_two_frame_video_is_reported_too_short() -> None:
    gt, pred = davis_cases.two_frame_case()
    seq = davis_sequence(pred, gt)
    assert seq["status"] == "too short" and seq["objects"] == {}
    summary = davis_summary({"two": seq, "a": davis_sequence(gt * 3, gt * 3)})
    assert summary["unscored"] == {"two": "too short"} and summary["global"]["sequences"] == 1
    with pytest.raises(InputError, match="no frame left to score"):
        j_and_f(pred, gt, exclude_first_last=True)


# davis2017-evaluation's per-frame functions with the void mask passed (what its
# unsupervised mode does), /work/refs/run_davis_void.py on the void-ring video, frames 1..3:
#   J [1.0, 1.0, 1.0] stats (1.0, 1.0, 0.0)    F [1.0, 1.0, 1.0] stats (1.0, 1.0, 0.0)
def test_davis_void_excluded_is_an_explicit_option() -> None:
    gt, pred = davis_cases.cases()["void-ring"]
    default = davis_sequence(pred, gt)["objects"][1]
    assert default["J-Mean"] == pytest.approx(DAVIS_OBJECTS["void-ring_1"][0], abs=TOL)
    excluded = davis_sequence(pred, gt, exclude_void=True)["objects"][1]
    assert [excluded[s] for s in STAT_ORDER] == pytest.approx([1.0, 1.0, 0.0] * 2, abs=TOL)


def test_davis_rejects_prediction_ids_outside_the_first_frame_objects() -> None:
    gt, pred = davis_cases.cases()["late-entry"]
    bad = [p.copy() for p in pred]
    bad[2][0:3, 0:3] = 3  # id 3 is not an object of the first frame
    with pytest.raises(InputError, match="object id 3"):
        davis_sequence(bad, gt)


# --------------------------------------------------------------------------- COCO segm

# Reference: cocodataset/cocoapi @ 8c9bcc3cf640524c4c20a9c40e89cb6a2f2fa0e9, PythonAPI
# built in place (python setup.py build_ext --inplace; Python 3.9, numpy 1.23.5).
# /work/refs/run_coco.py loads coco_reference_cases.scenes() into COCO(), the predictions
# (pycocotools-encoded RLE) with loadRes, and runs COCOeval(gt, dt, "segm") ->
# evaluate/accumulate/summarize; stats[0:3]:
#   AP, AP50, AP75 (useCats=1)      [0.2975247524752475, 0.47029702970297027, 0.3948019801980198]
#   AP, AP50, AP75 (useCats=0)      [0.31975247524752476, 0.504950495049505, 0.40396039603960393]
#   AP, AP50, AP75 crowd dropped    [0.23193069306930694, 0.31064356435643564, 0.31064356435643564]
#   image 1 alone                   [0.2272277227722772, 0.5049504950495048, 0.2524752475247525]
#   image 1 alone, crowd dropped    [0.17673267326732672, 0.2524752475247525, 0.2524752475247525]
COCO_AP = [0.2975247524752475, 0.47029702970297027, 0.3948019801980198]
COCO_AP_AGNOSTIC = [0.31975247524752476, 0.504950495049505, 0.40396039603960393]
COCO_AP_IMAGE1 = [0.2272277227722772, 0.5049504950495048, 0.2524752475247525]


class _Replay:
    """A promptable model that answers each box prompt with a fixed mask and score."""

    name = "replay"
    weights = "fixed masks"

    def __init__(self, answers: dict[tuple[float, ...], tuple[np.ndarray, float]]) -> None:
        self.answers = answers

    def segment(self, image: np.ndarray, prompts: dict[str, Any]) -> SegmentationResult:
        found = [self.answers[tuple(float(v) for v in b)] for b in prompts["boxes"]]
        return SegmentationResult(
            masks=np.stack([m for m, _ in found]),
            scores=np.array([s for _, s in found], dtype=np.float32),
            image_size=image.shape[:2],
            provenance=Provenance(model="replay", weights="fixed", task=Task.PROMPTABLE),
        )


def _coco_on_disk(tmp_path: Path) -> tuple[CocoDataset, _Replay]:
    gt, preds = coco_cases.scenes()
    images = tmp_path / "images"
    images.mkdir()
    for im in gt["images"]:
        Image.fromarray(np.zeros((im["height"], im["width"], 3), np.uint8)).save(
            images / im["file_name"]
        )
    ann = tmp_path / "annotations.json"
    ann.write_text(json.dumps(gt))
    answers = {}
    for image_id, items in preds.items():
        boxes = [
            a["bbox"] for a in gt["annotations"] if a["image_id"] == image_id and not a["iscrowd"]
        ]
        for (x, y, w, h), (mask, score, _) in zip(boxes, items, strict=True):
            answers[(x, y, x + w, y + h)] = (mask, score)
    ds = CocoDataset(ann, images, require_masks=True, drop_empty=True)
    return ds, _Replay(answers)


def test_core_evaluator_keeps_crowd_regions_like_pycocotools(tmp_path: Path) -> None:
    ds, model = _coco_on_disk(tmp_path)
    images = list(ds)
    assert [im.id for im in images] == [1, 2, 4]  # image 3 holds only a crowd region
    assert [len(im.crowd) for im in images] == [1, 1, 0]
    assert all(not i.iscrowd for im in images for i in im.instances)
    gt = coco_ground_truth(images, ds.categories)
    assert sum(a["iscrowd"] for a in gt["annotations"]) == 2
    scored = score_model(model, images)
    assert scored["instances"] == 8  # crowd regions are never prompted
    ap = coco_segm_ap(gt, scored["results"])
    assert [ap["AP"], ap["AP50"], ap["AP75"]] == pytest.approx(COCO_AP, abs=TOL)
    agn = coco_segm_ap(gt, scored["results"], class_agnostic=True)
    assert [agn["AP"], agn["AP50"], agn["AP75"]] == pytest.approx(COCO_AP_AGNOSTIC, abs=TOL)
    one = coco_ground_truth(images[:1], ds.categories)
    ap1 = coco_segm_ap(one, [r for r in scored["results"] if r["image_id"] == 1])
    assert [ap1["AP"], ap1["AP50"], ap1["AP75"]] == pytest.approx(COCO_AP_IMAGE1, abs=TOL)


def test_include_crowd_still_makes_crowd_annotations_instances(tmp_path: Path) -> None:
    ds, _ = _coco_on_disk(tmp_path)
    both = CocoDataset(ds.annotations_path, ds.images_dir, include_crowd=True)
    assert sum(len(im) for im in both) == 11 and all(not im.crowd for im in both)
