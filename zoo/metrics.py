"""Segmentation metrics: IoU/Dice, area-weighted variants, DAVIS J&F, semantic mIoU and
COCO mask AP.

Only numpy is imported at module level; ``cv2`` (boundary dilation, optional) and
``pycocotools`` (COCO AP) are imported inside the functions that need them.

Conventions, chosen to match the reference evaluation code of each benchmark:

* masks are boolean arrays (any non-zero value counts as foreground);
* when prediction and ground truth are both empty, IoU, Dice and boundary F are 1.0
  (the prediction is exactly right), as in the DAVIS toolkit;
* ``void`` masks (DAVIS label 255) are excluded from every count.
"""

from __future__ import annotations

import contextlib
import copy
import io
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from zoo.errors import InputError

__all__ = [
    "area_weighted_dice",
    "area_weighted_iou",
    "boundary_f_measure",
    "boundary_map",
    "boundary_precision_recall",
    "coco_segm_ap",
    "dice",
    "f1",
    "iou",
    "j_and_f",
    "j_and_f_summary",
    "mean_iou",
    "per_class_iou",
]


# --------------------------------------------------------------------------- overlap


def _pair(pred: Any, gt: Any, void: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """Boolean (pred, gt) with void pixels cleared from both."""
    p = np.asarray(pred).astype(bool, copy=False)
    g = np.asarray(gt).astype(bool, copy=False)
    if p.shape != g.shape:
        raise InputError(
            f"prediction has shape {p.shape} but ground truth has {g.shape}; resize the "
            "prediction to the ground-truth size"
        )
    if void is not None:
        keep = ~np.asarray(void).astype(bool)
        if keep.shape != g.shape:
            raise InputError(f"void mask has shape {keep.shape}; expected {g.shape}")
        p = p & keep
        g = g & keep
    return p, g


def iou(pred: Any, gt: Any, void: Any = None) -> float:
    """Intersection over union (Jaccard, DAVIS "J") of two masks; 1.0 if both are empty."""
    p, g = _pair(pred, gt, void)
    union = int(np.count_nonzero(p | g))
    if union == 0:
        return 1.0
    return int(np.count_nonzero(p & g)) / union


def dice(pred: Any, gt: Any, void: Any = None) -> float:
    """Dice coefficient ``2|P&G| / (|P|+|G|)`` (pixel F1); 1.0 if both are empty."""
    p, g = _pair(pred, gt, void)
    total = int(np.count_nonzero(p)) + int(np.count_nonzero(g))
    if total == 0:
        return 1.0
    return 2.0 * int(np.count_nonzero(p & g)) / total


def mean_iou(values: Sequence[Any], gts: Sequence[Any] | None = None) -> float:
    """Mean of per-instance IoUs: every instance counts the same, whatever its size.

    ``mean_iou([0.5, 1.0])`` averages given IoU values; ``mean_iou(preds, gts)`` computes
    :func:`iou` per pair first. An empty list gives NaN (there is nothing to average).
    """
    if gts is not None:
        if len(values) != len(gts):
            raise InputError(f"got {len(values)} predictions but {len(gts)} ground truths")
        scores = [iou(p, g) for p, g in zip(values, gts, strict=True)]
    else:
        scores = [float(v) for v in values]
    return float(np.mean(scores)) if scores else float("nan")


def _totals(preds: Sequence[Any], gts: Sequence[Any]) -> tuple[int, int, int, int]:
    if len(preds) != len(gts):
        raise InputError(f"got {len(preds)} predictions but {len(gts)} ground truths")
    inter = union = p_area = g_area = 0
    for pred, gt in zip(preds, gts, strict=True):
        p, g = _pair(pred, gt)
        inter += int(np.count_nonzero(p & g))
        union += int(np.count_nonzero(p | g))
        p_area += int(np.count_nonzero(p))
        g_area += int(np.count_nonzero(g))
    return inter, union, p_area, g_area


def area_weighted_iou(preds: Sequence[Any], gts: Sequence[Any]) -> float:
    """``sum(intersections) / sum(unions)`` over all instances.

    Equivalent to a mean of per-instance IoUs in which each instance is weighted by its
    union area, so large objects dominate (the "overall IoU" of referring segmentation);
    use :func:`mean_iou` to weight instances equally. 1.0 if every pair is empty.
    """
    inter, union, _, _ = _totals(preds, gts)
    return 1.0 if union == 0 else inter / union


def area_weighted_dice(preds: Sequence[Any], gts: Sequence[Any]) -> float:
    """``2 * sum(intersections) / sum(|P| + |G|)`` over all instances (1.0 if all empty)."""
    inter, _, p_area, g_area = _totals(preds, gts)
    total = p_area + g_area
    return 1.0 if total == 0 else 2.0 * inter / total


def f1(precision: float, recall: float) -> float:
    """Harmonic mean ``2PR / (P + R)``; 0.0 when both are 0 (nothing matched)."""
    if precision + recall == 0:
        return 0.0
    return 2.0 * precision * recall / (precision + recall)


# --------------------------------------------------------------------------- boundary F


def boundary_map(mask: Any) -> np.ndarray:
    """One-pixel-wide boundary of a mask, as defined by the DAVIS toolkit.

    A pixel is a boundary pixel when its value differs from its right, lower or
    lower-right neighbour (the last row compares only to the right, the last column only
    downwards, and the bottom-right pixel is never a boundary). This marks the pixels on
    both sides of every foreground/background transition that faces right or down, which
    is what DAVIS's ``seg2bmap`` produces; keeping the same rule keeps F comparable to
    published numbers.
    """
    m = np.asarray(mask).astype(bool)
    if m.ndim != 2:
        raise InputError(f"mask has shape {m.shape}; expected HxW")
    east = np.zeros_like(m)
    south = np.zeros_like(m)
    south_east = np.zeros_like(m)
    east[:, :-1] = m[:, 1:]
    south[:-1, :] = m[1:, :]
    south_east[:-1, :-1] = m[1:, 1:]
    b = (m ^ east) | (m ^ south) | (m ^ south_east)
    b[-1, :] = m[-1, :] ^ east[-1, :]
    b[:, -1] = m[:, -1] ^ south[:, -1]
    b[-1, -1] = False
    return b


def _disk_dilate_numpy(b: np.ndarray, r: int) -> np.ndarray:
    """Binary dilation by the disk ``{dx^2 + dy^2 <= r^2}`` in O(r * H * W).

    For each row offset ``dy`` the disk is a horizontal segment of half-width
    ``isqrt(r^2 - dy^2)``; a horizontal "any in window" is a difference of prefix sums.
    """
    h, w = b.shape
    prefix = np.zeros((h, w + 1), dtype=np.int32)
    np.cumsum(b, axis=1, out=prefix[:, 1:])
    cols = np.arange(w)
    out = np.zeros_like(b)
    for dy in range(-r, r + 1):
        k = math.isqrt(r * r - dy * dy)
        lo = np.clip(cols - k, 0, w)
        hi = np.clip(cols + k + 1, 0, w)
        row_hit = (prefix[:, hi] - prefix[:, lo]) > 0
        if dy >= 0:
            out[: h - dy] |= row_hit[dy:]
        else:
            out[-dy:] |= row_hit[: h + dy]
    return out


def _disk_dilate(b: np.ndarray, r: int) -> np.ndarray:
    if r <= 0:
        return b.copy()
    try:
        import cv2
    except ImportError:
        return _disk_dilate_numpy(b, r)
    yy, xx = np.mgrid[-r : r + 1, -r : r + 1]
    kernel = (xx * xx + yy * yy <= r * r).astype(np.uint8)
    return cv2.dilate(b.astype(np.uint8), kernel).astype(bool)


def boundary_precision_recall(
    pred: Any, gt: Any, bound_th: float = 0.008, void: Any = None
) -> tuple[float, float, float]:
    """Boundary precision, recall and F (DAVIS 2017 "F") of one mask pair.

    Boundaries are :func:`boundary_map`; a predicted boundary pixel is correct when a
    ground-truth boundary pixel lies within a disk of radius ``ceil(bound_th * diag)``
    (``diag`` = image diagonal; ``bound_th >= 1`` is taken as a radius in pixels), and
    vice versa for recall. Empty cases follow DAVIS: no boundary in either -> (1, 1, 1);
    predicted boundary but none in ground truth -> precision 0; the reverse -> recall 0.
    """
    p, g = _pair(pred, gt, void)
    radius = int(bound_th) if bound_th >= 1 else int(np.ceil(bound_th * math.hypot(*p.shape)))
    pb = boundary_map(p)
    gb = boundary_map(g)
    n_p = int(np.count_nonzero(pb))
    n_g = int(np.count_nonzero(gb))
    if n_p == 0 and n_g == 0:
        return 1.0, 1.0, 1.0
    if n_p == 0:
        return 1.0, 0.0, 0.0
    if n_g == 0:
        return 0.0, 1.0, 0.0
    precision = int(np.count_nonzero(pb & _disk_dilate(gb, radius))) / n_p
    recall = int(np.count_nonzero(gb & _disk_dilate(pb, radius))) / n_g
    return precision, recall, f1(precision, recall)


def boundary_f_measure(pred: Any, gt: Any, bound_th: float = 0.008, void: Any = None) -> float:
    """DAVIS boundary F-measure of one mask pair (see :func:`boundary_precision_recall`)."""
    return boundary_precision_recall(pred, gt, bound_th, void)[2]


# --------------------------------------------------------------------------- J&F


def _frame_objects(frame: Any, void_label: int | None) -> tuple[dict[int, np.ndarray], Any]:
    """A frame as ({object id: mask}, void mask or None)."""
    if isinstance(frame, Mapping):
        return {int(k): np.asarray(v).astype(bool) for k, v in frame.items()}, None
    labels = np.asarray(frame)
    if labels.ndim != 2:
        raise InputError(
            f"frame has shape {labels.shape}; pass HxW label maps or {{id: mask}} dicts"
        )
    void = (labels == void_label) if void_label is not None else None
    ids = [int(v) for v in np.unique(labels) if v != 0 and v != void_label]
    return {i: labels == i for i in ids}, void


def j_and_f(
    pred_seq: Sequence[Any],
    gt_seq: Sequence[Any],
    bound_th: float = 0.008,
    void_label: int | None = 255,
    exclude_first_last: bool = False,
) -> dict[int, dict[str, float]]:
    """Per-object region similarity J, boundary accuracy F and their mean, over a video.

    Frames are ``HxW`` label maps (0 background, ``void_label`` ignored, other values
    object ids) or ``{object id: mask}`` dicts. Objects are those that appear anywhere in
    the ground truth; an object missing from a predicted frame counts as an empty mask,
    and frames where both are empty score 1. ``exclude_first_last=True`` drops the first
    and last frame as the DAVIS 2017 semi-supervised protocol does (the first frame holds
    the given mask). Returns ``{id: {"J": .., "F": .., "J&F": ..}}`` with the mean over
    frames; use :func:`j_and_f_summary` for the sequence score.
    """
    if len(pred_seq) != len(gt_seq):
        raise InputError(
            f"got {len(pred_seq)} predicted frames but {len(gt_seq)} ground-truth frames; "
            "predict every annotated frame"
        )
    pairs = list(zip(pred_seq, gt_seq, strict=True))
    if exclude_first_last and len(pairs) > 2:
        pairs = pairs[1:-1]
    frames = []
    object_ids: set[int] = set()
    for pred, gt in pairs:
        gt_objs, void = _frame_objects(gt, void_label)
        pred_objs, _ = _frame_objects(pred, None)
        frames.append((pred_objs, gt_objs, void))
        object_ids.update(gt_objs)
    result: dict[int, dict[str, float]] = {}
    for obj in sorted(object_ids):
        js: list[float] = []
        fs: list[float] = []
        for pred_objs, gt_objs, void in frames:
            ref = next(iter(gt_objs.values()), None)
            if ref is None:
                ref = next(iter(pred_objs.values()), None)
            if ref is None:
                js.append(1.0)
                fs.append(1.0)
                continue
            g = gt_objs.get(obj, np.zeros_like(ref))
            p = pred_objs.get(obj, np.zeros_like(g))
            js.append(iou(p, g, void))
            fs.append(boundary_f_measure(p, g, bound_th, void))
        j = float(np.mean(js)) if js else float("nan")
        f = float(np.mean(fs)) if fs else float("nan")
        result[obj] = {"J": j, "F": f, "J&F": (j + f) / 2.0}
    return result


def j_and_f_summary(per_object: Mapping[int, Mapping[str, float]]) -> dict[str, float]:
    """Sequence score: J, F and J&F averaged over objects (NaN if there are none)."""
    if not per_object:
        return {"J": float("nan"), "F": float("nan"), "J&F": float("nan")}
    j = float(np.mean([v["J"] for v in per_object.values()]))
    f = float(np.mean([v["F"] for v in per_object.values()]))
    return {"J": j, "F": f, "J&F": (j + f) / 2.0}


# --------------------------------------------------------------------------- semantic


def _as_label_list(labels: Any) -> list[np.ndarray]:
    if isinstance(labels, np.ndarray):
        return [labels]
    return [np.asarray(x) for x in labels]


def per_class_iou(
    pred_labels: Any,
    gt_labels: Any,
    num_classes: int,
    ignore_index: int | None = 255,
) -> tuple[np.ndarray, float]:
    """Per-class IoU and mean IoU of semantic label maps, accumulated over all images.

    ``pred_labels``/``gt_labels`` are one ``HxW`` label map each or equally long lists
    of them. Counts are summed over the whole dataset before dividing (the standard
    semantic-segmentation protocol), so a class's IoU is ``TP / (TP + FP + FN)`` over
    all pixels. Ground-truth pixels equal to ``ignore_index`` are skipped; a predicted
    ``ignore_index`` means "no prediction" and counts as a miss. A class absent from
    both prediction and ground truth has IoU NaN and is left out of the mean; a class
    predicted but absent from the ground truth has IoU 0.

    Returns:
        ``(ious float64[num_classes], miou)``; ``miou`` is NaN if every class is NaN.
    """
    if num_classes <= 0:
        raise InputError(f"num_classes must be positive, got {num_classes}")
    preds = _as_label_list(pred_labels)
    gts = _as_label_list(gt_labels)
    if len(preds) != len(gts):
        raise InputError(f"got {len(preds)} predicted label maps but {len(gts)} ground truths")
    inter = np.zeros(num_classes, dtype=np.int64)
    gt_area = np.zeros(num_classes, dtype=np.int64)
    pred_area = np.zeros(num_classes, dtype=np.int64)
    for pred, gt in zip(preds, gts, strict=True):
        if pred.shape != gt.shape:
            raise InputError(
                f"predicted labels have shape {pred.shape} but ground truth has {gt.shape}"
            )
        g = gt.astype(np.int64).reshape(-1)
        p = pred.astype(np.int64).reshape(-1)
        valid = g != ignore_index if ignore_index is not None else np.ones_like(g, dtype=bool)
        g = g[valid]
        p = p[valid]
        bad_g = (g < 0) | (g >= num_classes)
        if bad_g.any():
            raise InputError(
                f"ground truth has label {int(g[bad_g][0])} outside 0..{num_classes - 1} "
                f"(ignore_index={ignore_index}); check num_classes"
            )
        in_range = (p >= 0) & (p < num_classes)
        bad_p = ~in_range & (p != ignore_index if ignore_index is not None else True)
        if np.any(bad_p):
            raise InputError(
                f"prediction has label {int(p[bad_p][0])} outside 0..{num_classes - 1}; "
                "check num_classes"
            )
        gt_area += np.bincount(g, minlength=num_classes)
        pred_area += np.bincount(p[in_range], minlength=num_classes)
        hit = in_range & (p == g)
        inter += np.bincount(g[hit], minlength=num_classes)
    union = gt_area + pred_area - inter
    ious = np.full(num_classes, np.nan, dtype=np.float64)
    present = union > 0
    ious[present] = inter[present] / union[present]
    miou = float(np.mean(ious[present])) if present.any() else float("nan")
    return ious, miou


# --------------------------------------------------------------------------- COCO AP


def _prepare_gt(gt: Mapping[str, Any], class_agnostic: bool) -> dict[str, Any]:
    from pycocotools import mask as mask_utils

    if "annotations" not in gt or "images" not in gt:
        raise InputError(
            "ground truth is not a COCO dict; it needs 'images' and 'annotations' lists"
        )
    data = copy.deepcopy(dict(gt))
    anns = data["annotations"]
    for k, ann in enumerate(anns, start=1):
        ann.setdefault("id", k)
        ann.setdefault("iscrowd", 0)
        seg = _bytes_counts(ann.get("segmentation"))
        if seg is not None:
            ann["segmentation"] = seg
        if "area" not in ann:
            if isinstance(seg, dict):
                ann["area"] = float(mask_utils.area(seg))
            elif "bbox" in ann:
                ann["area"] = float(ann["bbox"][2] * ann["bbox"][3])
        if "bbox" not in ann and isinstance(seg, dict):
            ann["bbox"] = [float(v) for v in mask_utils.toBbox(seg)]
        if class_agnostic:
            ann["category_id"] = 1
    if class_agnostic:
        data["categories"] = [{"id": 1, "name": "object"}]
    elif "categories" not in data:
        ids = sorted({int(a["category_id"]) for a in anns})
        data["categories"] = [{"id": i, "name": str(i)} for i in ids]
    return data


def _bytes_counts(rle: Any) -> Any:
    """Compressed RLE with ``bytes`` counts, as pycocotools' C code wants; polygons
    (lists) pass through unchanged."""
    if not isinstance(rle, Mapping):
        return rle
    from zoo.io.masks import compress_rle

    return compress_rle(rle)


def coco_segm_ap(
    gt_coco: Mapping[str, Any],
    results: Iterable[Mapping[str, Any]],
    iou_type: str = "segm",
    class_agnostic: bool = False,
    img_ids: Sequence[int] | None = None,
    max_dets: int = 100,
) -> dict[str, float]:
    """COCO AP, AP50 and AP75 of ``results`` against a COCO ground-truth dict.

    ``results`` is a COCO results list (see :func:`zoo.io.masks.coco_results`).
    ``class_agnostic`` maps every category to 1 on both sides, which is how promptable
    and class-free models are scored. ``img_ids`` restricts the evaluation; ``max_dets``
    is the per-image detection cap (COCO uses 100; automatic mask generation may need
    more). pycocotools' progress prints are swallowed. Values are in [0, 1]; NaN where
    COCO reports "undefined" (-1), i.e. no ground truth. Inputs are not modified.
    """
    if iou_type not in ("segm", "bbox"):
        raise InputError(f"iou_type must be 'segm' or 'bbox', got '{iou_type}'")
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    data = _prepare_gt(gt_coco, class_agnostic)
    dets = [dict(copy.deepcopy(dict(r))) for r in results]
    for det in dets:
        if class_agnostic:
            det["category_id"] = 1
        if iou_type == "segm":
            if "segmentation" not in det:
                raise InputError("a result has no 'segmentation'; segm AP needs mask results")
            # Without 'bbox', loadRes derives area from the mask instead of the box.
            det.pop("bbox", None)
            det["segmentation"] = _bytes_counts(det["segmentation"])
        elif "bbox" not in det:
            if "segmentation" not in det:
                raise InputError("a result has neither 'bbox' nor 'segmentation'")
            from pycocotools import mask as mask_utils

            det["bbox"] = [float(v) for v in mask_utils.toBbox(_bytes_counts(det["segmentation"]))]
    nan = float("nan")
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = data
        coco_gt.createIndex()
        known = set(coco_gt.getImgIds())
        unknown = {d.get("image_id") for d in dets} - known
        if unknown:
            raise InputError(
                f"results refer to image ids {sorted(unknown, key=str)[:5]} that are not in "
                "the ground truth; use the ground truth's image ids"
            )
        if not dets:
            has_gt = any(not a.get("iscrowd", 0) for a in data["annotations"])
            zero = 0.0 if has_gt else nan
            return {"AP": zero, "AP50": zero, "AP75": zero}
        coco_dt = coco_gt.loadRes(dets)
        evaluator = COCOeval(coco_gt, coco_dt, iouType=iou_type)
        if img_ids is not None:
            evaluator.params.imgIds = list(img_ids)
        evaluator.params.maxDets = [1, 10, max_dets]
        evaluator.evaluate()
        evaluator.accumulate()
    # precision[T iou thresholds, R recall points, K classes, A area ranges, M max dets];
    # read it directly (area "all", the largest max_dets) because summarize() hard-codes
    # maxDets=100 for AP and would print.
    precision = evaluator.eval["precision"][:, :, :, 0, -1]
    thresholds = evaluator.params.iouThrs

    def _ap(p: np.ndarray) -> float:
        defined = p[p > -1]
        return float(np.mean(defined)) if defined.size else nan

    t50 = int(np.argmin(np.abs(thresholds - 0.5)))
    t75 = int(np.argmin(np.abs(thresholds - 0.75)))
    return {"AP": _ap(precision), "AP50": _ap(precision[t50]), "AP75": _ap(precision[t75])}
