"""Segmentation metrics: IoU/Dice, area-weighted variants, DAVIS J&F, semantic mIoU and
COCO mask AP.

Only numpy is imported at module level; ``cv2`` (boundary dilation, optional) and
``pycocotools`` (COCO AP) are imported inside the functions that need them.

Conventions, chosen to match the reference evaluation code of each benchmark:

* masks are boolean arrays (any non-zero value counts as foreground);
* when prediction and ground truth are both empty, IoU, Dice and boundary F are 1.0
  (the prediction is exactly right), as in the DAVIS toolkit;
* ``void`` masks passed to the pairwise functions are excluded from every count; the
  DAVIS protocol (:func:`davis_sequence`) follows davis2017-evaluation's semi-supervised
  mode, where label 255 counts as background unless ``exclude_void=True``.
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
    "davis_sequence",
    "davis_statistics",
    "davis_summary",
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

#: ``zoo eval``'s name for the protocol of davis2017-evaluation's ``--task semi-supervised``.
DAVIS_SEMI_SUPERVISED = "davis2017-semi-supervised"
#: The statistics of davis2017-evaluation's global table, in its column order.
DAVIS_STATISTICS = ("J&F-Mean", "J-Mean", "J-Recall", "J-Decay", "F-Mean", "F-Recall", "F-Decay")


def davis_statistics(per_frame: Sequence[float]) -> dict[str, float]:
    """Mean, recall and decay of one object's per-frame J (or F), as DAVIS 2017 defines them.

    ``Mean`` is the mean over frames (NaN frames skipped), ``Recall`` the fraction of frames
    above 0.5, ``Decay`` the mean of the first quarter of the frames minus that of the last
    quarter (the four bins of davis2017-evaluation's ``db_statistics``, which overlap by one
    frame). One deliberate difference: that code stores the bin edges as ``uint8``, so past
    256 scored frames its edges wrap around; here they do not (DAVIS sequences are shorter,
    so DAVIS numbers are unaffected). NaN for an empty sequence.
    """
    v = np.asarray(list(per_frame), dtype=np.float64)
    nan = float("nan")
    if v.size == 0:
        return {"Mean": nan, "Recall": nan, "Decay": nan}
    recall = float(np.mean(v > 0.5))  # a NaN frame counts as not above 0.5, as there
    edges = (np.round(np.linspace(1, v.size, 5) + 1e-10) - 1).astype(np.int64)
    bins = [v[edges[i] : edges[i + 1] + 1] for i in range(4)]
    return {
        "Mean": _nanmean(v),
        "Recall": recall,
        "Decay": _nanmean(bins[0]) - _nanmean(bins[3]),
    }


def _nanmean(v: np.ndarray) -> float:
    """``np.nanmean`` (what the reference uses), NaN without a warning when all are NaN."""
    if v.size == 0 or np.isnan(v).all():
        return float("nan")
    return float(np.nanmean(v))


def _labels_or_objects(frame: Any, what: str) -> dict[int, np.ndarray] | np.ndarray:
    """A frame as an ``HxW`` integer label map, or ``{object id: bool mask}`` as given."""
    if isinstance(frame, Mapping):
        return {int(k): np.asarray(v).astype(bool) for k, v in frame.items()}
    labels = np.asarray(frame)
    if labels.ndim != 2:
        raise InputError(
            f"{what} has shape {labels.shape}; pass HxW label maps or {{id: mask}} dicts"
        )
    return labels


def _object_mask(frame: dict[int, np.ndarray] | np.ndarray, obj: int, shape: Any) -> np.ndarray:
    if isinstance(frame, dict):
        m = frame.get(obj)
        return np.zeros(shape, dtype=bool) if m is None else m
    return frame == obj


def _frame_shape(frame: dict[int, np.ndarray] | np.ndarray) -> tuple[int, ...] | None:
    if isinstance(frame, dict):
        return next((m.shape for m in frame.values()), None)
    return tuple(frame.shape)


def _first_frame_objects(frame: dict[int, np.ndarray] | np.ndarray, void_label: int | None) -> int:
    """The number of objects DAVIS scores: the largest id in the first annotated frame."""
    if isinstance(frame, dict):
        ids = [k for k, m in frame.items() if k != void_label and m.any()]
    else:
        ids = [int(v) for v in np.unique(frame) if v != void_label]
    return max([0, *ids])


def davis_sequence(
    pred_seq: Sequence[Any],
    gt_seq: Sequence[Any],
    *,
    bound_th: float = 0.008,
    void_label: int | None = 255,
    exclude_void: bool = False,
    exclude_first_last: bool = True,
) -> dict[str, Any]:
    """J and F of every object of one video under the DAVIS 2017 semi-supervised protocol.

    The protocol of davis2017-evaluation (``evaluation_method.py --task semi-supervised``):

    * the objects are ids ``1..N``, ``N`` the largest id in the *first* ground-truth frame
      (an id missing there but below ``N`` is an object that is empty in that frame; an id
      above ``N`` appearing later is not an object and its pixels are background);
    * the first frame (the given mask) and the last frame are not scored
      (``exclude_first_last``); a video with fewer than three frames has nothing left to
      score and comes back with ``status`` ``"too short"`` (the reference stops with an
      error on it);
    * ``void_label`` pixels (255) are background, as the reference passes no void mask in
      this mode; ``exclude_void=True`` leaves them out of every count instead (the DAVIS
      unsupervised convention), a different number than the benchmark's;
    * an object absent from a predicted frame is an empty mask; a frame where prediction
      and ground truth are both empty scores 1 (J and F).

    Frames are ``HxW`` label maps (0 background) or ``{object id: mask}`` dicts. A
    predicted id outside ``1..N`` on a scored frame is an ``InputError`` (the reference
    refuses it too). Returns plain data: ``{"status": "scored" | "too short" |
    "no objects", "frames": n, "scored_frames": k, "objects": {id: {"J": [per frame],
    "F": [per frame], "J-Mean", "J-Recall", "J-Decay", "F-Mean", "F-Recall", "F-Decay",
    "J&F-Mean"}}}``; :func:`davis_summary` aggregates videos.
    """
    if len(pred_seq) != len(gt_seq):
        raise InputError(
            f"got {len(pred_seq)} predicted frames but {len(gt_seq)} ground-truth frames; "
            "predict every annotated frame"
        )
    n = len(gt_seq)
    out: dict[str, Any] = {"status": "scored", "frames": n, "scored_frames": 0, "objects": {}}
    if n == 0:
        out["status"] = "too short"
        return out
    gts = [_labels_or_objects(g, "ground-truth frame") for g in gt_seq]
    num_objects = _first_frame_objects(gts[0], void_label)
    scored = list(range(1, n - 1)) if exclude_first_last else list(range(n))
    if not scored:
        out["status"] = "too short"
        return out
    out["scored_frames"] = len(scored)
    if num_objects == 0:
        out["status"] = "no objects"
        return out
    js: dict[int, list[float]] = {k: [] for k in range(1, num_objects + 1)}
    fs: dict[int, list[float]] = {k: [] for k in range(1, num_objects + 1)}
    for t in scored:
        gt = gts[t]
        pred = _labels_or_objects(pred_seq[t], "predicted frame")
        if isinstance(pred, dict):
            pred_ids = [k for k, m in pred.items() if m.any()]
        else:
            pred_ids = [int(v) for v in np.unique(pred) if v != 0]
        bad = [k for k in pred_ids if not 1 <= k <= num_objects]
        if bad:
            raise InputError(
                f"frame {t}: the prediction has object id {bad[0]} but the first ground-truth "
                f"frame annotates ids 1..{num_objects}; DAVIS scores only those"
            )
        shape = _frame_shape(gt) or _frame_shape(pred)
        if shape is None:  # dicts with no mask on either side: every object empty, exact
            for k in js:
                js[k].append(1.0)
                fs[k].append(1.0)
            continue
        void = None
        if exclude_void and void_label is not None and isinstance(gt, np.ndarray):
            void = gt == void_label
        for k in js:
            g = _object_mask(gt, k, shape)
            p = _object_mask(pred, k, shape)
            js[k].append(iou(p, g, void))
            fs[k].append(boundary_f_measure(p, g, bound_th, void))
    for k in js:
        j = davis_statistics(js[k])
        f = davis_statistics(fs[k])
        out["objects"][k] = {
            "J": js[k],
            "F": fs[k],
            **{f"J-{s}": v for s, v in j.items()},
            **{f"F-{s}": v for s, v in f.items()},
            "J&F-Mean": (j["Mean"] + f["Mean"]) / 2.0,
        }
    return out


def _stat_means(objects: Sequence[Mapping[str, float]]) -> dict[str, float]:
    nan = float("nan")
    stats = {
        s: float(np.mean([o[s] for o in objects])) if objects else nan
        for s in DAVIS_STATISTICS
        if s != "J&F-Mean"
    }
    return {"J&F-Mean": (stats["J-Mean"] + stats["F-Mean"]) / 2.0, **stats}


def davis_summary(sequences: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The DAVIS 2017 tables from :func:`davis_sequence` results keyed by video name.

    ``global``: every statistic averaged over all objects of all videos (one object, one
    vote, as davis2017-evaluation's ``evaluation_method.py``; not a mean of per-video
    means), ``J&F-Mean`` = (J-Mean + F-Mean) / 2, with the object and video counts.
    ``per_object``: ``{"<video>_<id>": statistics}`` (the reference's per-sequence CSV);
    ``per_sequence``: each scored video's statistics averaged over its objects (an extra
    view; the global numbers do not come from it). ``unscored``: ``{video: status}`` for
    videos too short to score or without objects, which are left out of ``global``.
    """
    per_object: dict[str, dict[str, float]] = {}
    per_sequence: dict[str, dict[str, Any]] = {}
    unscored: dict[str, str] = {}
    everything: list[Mapping[str, float]] = []
    for name, seq in sequences.items():
        if seq["status"] != "scored":
            unscored[name] = str(seq["status"])
            continue
        objs = [seq["objects"][k] for k in sorted(seq["objects"])]
        for k in sorted(seq["objects"]):
            per_object[f"{name}_{k}"] = {s: seq["objects"][k][s] for s in DAVIS_STATISTICS}
        per_sequence[name] = {**_stat_means(objs), "objects": len(objs)}
        everything += objs
    return {
        "global": {
            **_stat_means(everything),
            "objects": len(everything),
            "sequences": len(per_sequence),
        },
        "per_sequence": per_sequence,
        "per_object": per_object,
        "unscored": unscored,
    }


def j_and_f(
    pred_seq: Sequence[Any],
    gt_seq: Sequence[Any],
    bound_th: float = 0.008,
    void_label: int | None = 255,
    exclude_first_last: bool = False,
    exclude_void: bool = False,
) -> dict[int, dict[str, float]]:
    """Per-object mean J, F and J&F over a video: :func:`davis_sequence` in short.

    The same object set (ids ``1..`` the largest id of the first ground-truth frame) and
    void rule (``void_label`` pixels are background unless ``exclude_void``) as the DAVIS
    2017 semi-supervised protocol; all frames are scored unless ``exclude_first_last``.
    Returns ``{id: {"J": .., "F": .., "J&F": ..}}``; use :func:`j_and_f_summary` for the
    sequence score and :func:`davis_summary` for a benchmark. A sequence left without
    frames to score is an ``InputError``.
    """
    seq = davis_sequence(
        pred_seq,
        gt_seq,
        bound_th=bound_th,
        void_label=void_label,
        exclude_void=exclude_void,
        exclude_first_last=exclude_first_last,
    )
    if seq["status"] == "too short":
        raise InputError(
            f"a {seq['frames']}-frame sequence has no frame left to score once the first and "
            "last are excluded; DAVIS needs at least 3 frames"
        )
    return {
        k: {"J": o["J-Mean"], "F": o["F-Mean"], "J&F": o["J&F-Mean"]}
        for k, o in seq["objects"].items()
    }


def j_and_f_summary(per_object: Mapping[int, Mapping[str, float]]) -> dict[str, float]:
    """Sequence score: J, F and J&F averaged over objects (NaN if there are none)."""
    if not per_object:
        return {"J": float("nan"), "F": float("nan"), "J&F": float("nan")}
    j = float(np.mean([v["J"] for v in per_object.values()]))
    f = float(np.mean([v["F"] for v in per_object.values()]))
    return {"J": j, "F": f, "J&F": (j + f) / 2.0}


# --------------------------------------------------------------------------- semantic

#: ``zoo eval``'s name for the semantic-segmentation protocol of :func:`per_class_iou`:
#: mmsegmentation's ``intersect_and_union`` summed over the dataset, mIoU the mean over the
#: classes present (NaN classes left out), as its ``IoUMetric`` reports it.
MMSEG_MIOU = "mmseg-miou"


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

#: ``zoo eval``'s name for pycocotools' ``COCOeval(iouType="segm")`` protocol: class-aware,
#: crowd annotations as ignore regions, 100 detections per image.
COCO_SEGM = "coco-segm"


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
