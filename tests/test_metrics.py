"""Tests for zoo.metrics with expected values worked out by hand in the comments."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest

from zoo.errors import InputError
from zoo.io import coco_results, encode_rle
from zoo.metrics import (
    _disk_dilate_numpy,
    area_weighted_dice,
    area_weighted_iou,
    boundary_f_measure,
    boundary_map,
    boundary_precision_recall,
    coco_segm_ap,
    dice,
    f1,
    iou,
    j_and_f,
    j_and_f_summary,
    mean_iou,
    per_class_iou,
)


def rect(h: int, w: int, y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
    m = np.zeros((h, w), dtype=bool)
    m[y0:y1, x0:x1] = True
    return m


# --------------------------------------------------------------------------- IoU / Dice

A = rect(20, 20, 0, 10, 0, 10)  # 100 px
B = rect(20, 20, 5, 15, 5, 15)  # 100 px, overlap 5x5 = 25 px


def test_iou_and_dice_of_rectangles() -> None:
    inter, union = 5 * 5, 100 + 100 - 25
    assert iou(A, B) == pytest.approx(inter / union)  # 25 / 175 = 1/7
    assert dice(A, B) == pytest.approx(2 * inter / (100 + 100))  # 0.25
    assert iou(A, A) == 1.0 and dice(A, A) == 1.0
    assert iou(A, ~A) == 0.0


def test_empty_masks_conventions() -> None:
    empty = np.zeros((4, 4), bool)
    assert iou(empty, empty) == 1.0 and dice(empty, empty) == 1.0
    assert iou(empty, A[:4, :4]) == 0.0 and dice(A[:4, :4], empty) == 0.0


def test_void_pixels_are_ignored() -> None:
    void = rect(20, 20, 5, 15, 5, 15)  # B's whole area
    # Outside the void region: pred A minus the 25 overlap px = 75 px, gt = nothing.
    assert iou(A, B, void=void) == 0.0
    assert iou(B, B | rect(20, 20, 0, 1, 0, 1), void=rect(20, 20, 0, 1, 0, 1)) == 1.0


def test_shape_mismatch_is_input_error() -> None:
    with pytest.raises(InputError, match="shape"):
        iou(np.zeros((2, 2)), np.zeros((3, 3)))


def test_mean_and_area_weighted() -> None:
    small = rect(20, 20, 18, 20, 18, 20)  # 4 px, predicted exactly
    preds, gts = [A, small], [B, small]
    assert mean_iou(preds, gts) == pytest.approx((1 / 7 + 1.0) / 2)
    assert mean_iou([0.25, 0.75]) == pytest.approx(0.5)
    assert math.isnan(mean_iou([]))
    # Sum of intersections / sum of unions: (25 + 4) / (175 + 4).
    assert area_weighted_iou(preds, gts) == pytest.approx(29 / 179)
    # 2 * (25 + 4) / ((100 + 100) + (4 + 4)).
    assert area_weighted_dice(preds, gts) == pytest.approx(58 / 208)
    empty = np.zeros((3, 3), bool)
    assert area_weighted_iou([empty], [empty]) == 1.0
    with pytest.raises(InputError):
        area_weighted_iou([A], [])


def test_f1() -> None:
    assert f1(0.5, 1.0) == pytest.approx(2 / 3)
    assert f1(0.0, 0.0) == 0.0
    assert f1(1.0, 1.0) == 1.0


# --------------------------------------------------------------------------- boundary F


def test_boundary_map_rule() -> None:
    m = rect(6, 6, 2, 4, 2, 4)  # 2x2 square at rows/cols 2..3
    # A pixel is on the boundary if it differs from its E, S or SE neighbour.
    expected = {(1, 1), (1, 2), (1, 3), (2, 1), (2, 3), (3, 1), (3, 2), (3, 3)}
    assert {tuple(p) for p in np.argwhere(boundary_map(m)).tolist()} == expected
    assert not boundary_map(np.ones((5, 5), bool)).any()


def test_boundary_f_trivial_cases() -> None:
    m = rect(100, 100, 20, 60, 30, 70)
    assert boundary_f_measure(m, m) == 1.0
    far = rect(100, 100, 80, 95, 80, 95)
    assert boundary_f_measure(rect(100, 100, 0, 10, 0, 10), far) == 0.0
    empty = np.zeros((100, 100), bool)
    assert boundary_f_measure(empty, empty) == 1.0
    assert boundary_precision_recall(empty, m) == (1.0, 0.0, 0.0)
    assert boundary_precision_recall(m, empty) == (0.0, 1.0, 0.0)


def test_boundary_f_shift_within_and_beyond_tolerance() -> None:
    # Left half-planes: the boundary is a single column (the last foreground column).
    gt = rect(100, 100, 0, 100, 0, 50)  # boundary at column 49
    near = rect(100, 100, 0, 100, 0, 52)  # boundary at column 51: 2 px away
    assert boundary_f_measure(near, gt, bound_th=2) == 1.0  # within a radius-2 disk
    assert boundary_f_measure(near, gt, bound_th=1) == 0.0  # not within radius 1
    # Default threshold: radius = ceil(0.008 * hypot(100, 100)) = ceil(1.13) = 2.
    assert boundary_f_measure(near, gt) == 1.0


def test_boundary_f_partial_match() -> None:
    # gt: columns 0..49 (boundary = column 49, rows 0..99, 100 px).
    # pred: columns 0..49 for rows 0..49, columns 0..59 for rows 50..99. Its boundary:
    #   column 49, rows 0..48 (49 px); row 49, columns 49..59 (11 px: the step, whose
    #   pixels differ from the one below); column 59, rows 50..99 (50 px) -> 110 px.
    # Radius 2. Matched pred px: column 49 rows 0..48 (49) + row 49 cols 49..51 (3) = 52.
    # Matched gt px: rows 0..49 (50) + rows 50, 51 (pixel (49, 49) is 1 and 2 away) = 52.
    # P = 52/110, R = 52/100, F = 2PR/(P+R) = 2*52/(110+100).
    gt = rect(100, 100, 0, 100, 0, 50)
    pred = gt | rect(100, 100, 50, 100, 0, 60)
    assert int(boundary_map(pred).sum()) == 110
    p, r, f = boundary_precision_recall(pred, gt, bound_th=2)
    assert p == pytest.approx(52 / 110)
    assert r == pytest.approx(52 / 100)
    assert f == pytest.approx(104 / 210)


def test_disk_dilation_numpy_matches_definition() -> None:
    b = np.zeros((15, 15), bool)
    b[7, 7] = True
    for r in (1, 2, 3, 5):
        yy, xx = np.mgrid[:15, :15]
        disk = (yy - 7) ** 2 + (xx - 7) ** 2 <= r * r
        assert (_disk_dilate_numpy(b, r) == disk).all()
    rng = np.random.default_rng(0)
    pts = rng.random((40, 60)) < 0.03
    cv2 = pytest.importorskip("cv2")
    r = 4
    yy, xx = np.mgrid[-r : r + 1, -r : r + 1]
    kernel = (xx * xx + yy * yy <= r * r).astype(np.uint8)
    assert (
        _disk_dilate_numpy(pts, r) == cv2.dilate(pts.astype(np.uint8), kernel).astype(bool)
    ).all()


# --------------------------------------------------------------------------- J&F


def test_j_and_f_label_maps() -> None:
    h, w = 40, 40
    obj1 = rect(h, w, 2, 12, 2, 12)
    obj2 = rect(h, w, 25, 35, 25, 35)
    gt0 = obj1 * 1 + obj2 * 2
    gt1 = gt0.copy()
    gt1[0:2, 0:40] = 255  # void strip just above object 1
    pred0 = gt0.copy()
    pred1 = obj1 * 1  # object 2 lost in frame 1
    pred1[0:2, 0:40] = 1  # prediction in the void strip
    res = j_and_f([pred0, pred1], [gt0, gt1])
    assert set(res) == {1, 2}
    # DAVIS semi-supervised: void is background, so the 80 px (2 x 40) predicted on the
    # strip are false positives: frame 1 of object 1 has J = 100 / 180.
    assert res[1]["J"] == pytest.approx((1.0 + 100 / 180) / 2)
    # object 2: frame 0 perfect (1), frame 1 missed (0) -> mean 0.5 for J and F.
    assert res[2]["J"] == pytest.approx(0.5) and res[2]["F"] == pytest.approx(0.5)
    assert res[2]["J&F"] == pytest.approx(0.5)
    # void excluded (an explicit option): the strip counts for nothing, object 1 is exact
    excl = j_and_f([pred0, pred1], [gt0, gt1], exclude_void=True)
    assert excl[1] == {"J": 1.0, "F": 1.0, "J&F": 1.0}
    summary = j_and_f_summary(excl)
    assert summary["J&F"] == pytest.approx(0.75)


def test_j_and_f_dicts_and_first_last() -> None:
    m = rect(30, 30, 5, 15, 5, 15)
    half = rect(30, 30, 5, 15, 5, 10)  # IoU with m = 50/100
    gt = [{1: m}, {1: m}, {1: m}]
    pred = [{1: np.zeros_like(m)}, {1: half}, {}]
    res = j_and_f(pred, gt)
    assert res[1]["J"] == pytest.approx((0 + 0.5 + 0) / 3)
    res_mid = j_and_f(pred, gt, exclude_first_last=True)
    assert res_mid[1]["J"] == pytest.approx(0.5)
    with pytest.raises(InputError, match="frames"):
        j_and_f(pred[:2], gt)


# --------------------------------------------------------------------------- semantic


def test_per_class_iou_by_hand() -> None:
    gt = np.array([[0, 0, 1], [1, 2, 255]])
    pred = np.array([[0, 1, 1], [1, 2, 2]])
    ious, miou = per_class_iou(pred, gt, num_classes=4)
    # class 0: inter 1, gt 2, pred 1 -> union 2 -> 1/2
    # class 1: inter 2, gt 2, pred 3 -> union 3 -> 2/3
    # class 2: inter 1, gt 1, pred 1 (the pred at the void pixel is skipped) -> 1
    # class 3: absent everywhere -> NaN, excluded from the mean
    assert ious[:3] == pytest.approx([0.5, 2 / 3, 1.0])
    assert math.isnan(ious[3])
    assert miou == pytest.approx((0.5 + 2 / 3 + 1.0) / 3)
    # Two images accumulate counts before dividing.
    ious2, _ = per_class_iou([pred, np.zeros((1, 2), int)], [gt, np.array([[0, 1]])], 4)
    # class 0 now: inter 1+1, gt 2+1, pred 1+2 -> union 4 -> 1/2; class 1: 2/(3+1)
    assert ious2[:2] == pytest.approx([0.5, 0.5])


def test_per_class_iou_errors() -> None:
    with pytest.raises(InputError, match="num_classes"):
        per_class_iou(np.zeros((2, 2), int), np.full((2, 2), 5), num_classes=3)
    with pytest.raises(InputError, match="outside"):
        per_class_iou(np.full((2, 2), 9), np.zeros((2, 2), int), num_classes=3)
    # A predicted ignore_index means "no prediction": a miss, not an error.
    ious, _ = per_class_iou(np.array([[255, 0]]), np.array([[0, 0]]), num_classes=1)
    assert ious[0] == pytest.approx(0.5)


# --------------------------------------------------------------------------- COCO AP


def _coco_scene() -> tuple[dict, list[np.ndarray], list[int]]:
    h, w = 64, 64
    squares = [rect(h, w, 5, 30, 5, 30), rect(h, w, 35, 60, 30, 55), rect(h, w, 10, 35, 30, 55)]
    image_of = [1, 1, 2]
    anns = []
    for k, (m, img) in enumerate(zip(squares, image_of, strict=True), start=1):
        anns.append(
            {
                "id": k,
                "image_id": img,
                "category_id": 1 if k < 3 else 2,
                "segmentation": encode_rle(m),
                "area": float(m.sum()),
                "bbox": [float(m.any(0).argmax()), float(m.any(1).argmax()), 25.0, 25.0],
                "iscrowd": 0,
            }
        )
    gt = {
        "images": [{"id": 1, "height": h, "width": w}, {"id": 2, "height": h, "width": w}],
        "categories": [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}],
        "annotations": anns,
    }
    return gt, squares, image_of


def _results(masks: list[np.ndarray], image_of: list[int], cats: list[int]) -> list[dict]:
    out: list[dict] = []
    for m, img, cat in zip(masks, image_of, cats, strict=True):
        out += coco_results(m[None], [0.9], image_id=img, category_ids=[cat])
    return out


def test_coco_ap_perfect_and_shifted() -> None:
    gt, squares, image_of = _coco_scene()
    gt_before = copy.deepcopy(gt)
    perfect = _results(squares, image_of, [1, 1, 2])
    res_before = copy.deepcopy(perfect)
    assert coco_segm_ap(gt, perfect) == {"AP": 1.0, "AP50": 1.0, "AP75": 1.0}
    assert gt == gt_before and perfect == res_before  # inputs untouched
    # Shift every 25x25 square right by 6 px: IoU = (19*25) / (25*25 + 6*25) = 475/775
    # = 0.613, so it matches at IoU thresholds 0.50, 0.55, 0.60 and fails from 0.65 on:
    # AP50 = 1, AP75 = 0, AP = 3 of 10 thresholds = 0.3.
    shifted = _results([np.roll(m, 6, axis=1) for m in squares], image_of, [1, 1, 2])
    ap = coco_segm_ap(gt, shifted)
    assert ap["AP50"] == pytest.approx(1.0)
    assert ap["AP75"] == pytest.approx(0.0)
    assert ap["AP"] == pytest.approx(0.3)
    bbox_ap = coco_segm_ap(gt, perfect, iou_type="bbox")
    assert bbox_ap["AP"] == pytest.approx(1.0)


def test_coco_ap_class_agnostic_and_subsets() -> None:
    gt, squares, image_of = _coco_scene()
    wrong_class = _results(squares, image_of, [2, 2, 1])
    assert coco_segm_ap(gt, wrong_class)["AP"] == pytest.approx(0.0)
    assert coco_segm_ap(gt, wrong_class, class_agnostic=True)["AP"] == pytest.approx(1.0)
    only_img1 = [r for r in _results(squares, image_of, [1, 1, 2]) if r["image_id"] == 1]
    assert coco_segm_ap(gt, only_img1, img_ids=[1])["AP"] == pytest.approx(1.0)
    assert coco_segm_ap(gt, [])["AP"] == 0.0
    with pytest.raises(InputError, match="image ids"):
        coco_segm_ap(gt, coco_results(squares[0][None], [0.5], image_id=99))
    with pytest.raises(InputError, match="COCO"):
        coco_segm_ap({"annotations": []}, [])


def test_coco_ap_is_silent(capsys: pytest.CaptureFixture[str]) -> None:
    gt, squares, image_of = _coco_scene()
    coco_segm_ap(gt, _results(squares, image_of, [1, 1, 2]))
    assert capsys.readouterr().out == ""
