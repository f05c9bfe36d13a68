"""zoo's DAVIS protocol gives the numbers the reference implementation gives.

The inputs are built by ``tests/davis_reference_cases.py`` (numpy only); the expected
numbers below were obtained by running the reference code itself on exactly those inputs,
in its own environment, with the scripts named in each test (kept outside the repository;
they import the same case module). Nothing here computes an expected value with zoo's own
code.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests import davis_reference_cases as davis_cases
from zoo.errors import InputError
from zoo.metrics import (
    DAVIS_STATISTICS,
    davis_sequence,
    davis_summary,
    j_and_f,
)

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
