"""Shadow metrics: the OpSeg table (mIoU, mDice, area-weighted IoU/Dice) and SOAP.

Definitions (per category, objects and shadows separately; one term per ground-truth
instance, predicted from that instance's ground-truth box):

* ``mIoU`` = mean over instances of ``|P∩G| / |P∪G|``; ``mDice`` = mean of
  ``2|P∩G| / (|P|+|G|)``. Every instance counts the same, whatever its size.
* ``W.IoU`` (area-weighted IoU) = ``Σ|P∩G| / Σ|P∪G|`` over all instances of the split, i.e.
  the mean of per-instance IoUs weighted by each instance's union area; ``W.Dice`` =
  ``2Σ|P∩G| / Σ(|P|+|G|)``, per-instance Dice weighted by ``|P|+|G|``. Large instances
  dominate these, which is why W.IoU of shadows falls below their mIoU for the original
  SAM 2.1 in the paper (large shadows are where it fails). These are
  :func:`zoo.metrics.area_weighted_iou` / :func:`~zoo.metrics.area_weighted_dice`; the
  OpSeg authors have not published their evaluation code, so this pooled definition is
  ours, stated so that numbers can be compared knowingly.
* An instance whose prediction and ground truth are both empty scores 1 (the
  :mod:`zoo.metrics` convention).

SOAP (Wang et al., CVPR 2020) is COCO-style AP over object-shadow *pairs*
(``"protocol": "soba-soap"``), computed as pysobatools' ``SOAPeval.evaluate_asso`` does
(stevewongv/InstanceShadowDetection, the code behind SOBA's published SOAP): a predicted
pair matches a ground-truth pair at IoU threshold ``t`` only if the association masks (union
of object and shadow, or SOBA's ``association_anno``), the objects *and* the shadows each
reach the bar. Predictions go in descending score order; for each, the free ground-truth
pairs are tried in order, the bar starting at ``t``; once a pair matches, its association
IoU becomes the bar a later pair's association, object and shadow IoU must all reach to
replace it (:func:`soap_matches`). So a prediction that fits two pairs keeps the first
unless the second is at least as good on all three masks - not simply the higher
association IoU. Precision is interpolated at 101 recall points and averaged over ``t`` in
0.50:0.95:0.05 (SOAP; the thresholds are pycocotools' ``np.linspace``), or read at 0.50/0.75
(SOAP50/75). At most ``max_dets`` pairs per image are scored (20, as SOBA's evaluator does).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: pycocotools' / pysobatools' ``iouThrs`` exactly (0.9 is 0.8999999999999999 there).
DEFAULT_THRESHOLDS = tuple(np.linspace(0.5, 0.95, 10, endpoint=True).tolist())
#: ``zoo eval``'s name for the pair metric's protocol.
SOBA_SOAP = "soba-soap"
METRIC_KEYS = ("mIoU", "mDice", "wIoU", "wDice")
METRIC_LABELS = {"mIoU": "mIoU", "mDice": "mDice", "wIoU": "W.IoU", "wDice": "W.Dice"}


@dataclass
class MaskScores:
    """Per-instance IoU/Dice plus pooled pixel counts of one category."""

    ious: list[float] = field(default_factory=list)
    dices: list[float] = field(default_factory=list)
    inter: int = 0
    union: int = 0
    pred_area: int = 0
    gt_area: int = 0

    def add(self, pred: np.ndarray, gt: np.ndarray) -> tuple[float, float]:
        """Score one instance; returns its (IoU, Dice)."""
        p = np.asarray(pred, dtype=bool)
        g = np.asarray(gt, dtype=bool)
        if p.shape != g.shape:
            raise ValueError(f"prediction {p.shape} and ground truth {g.shape} differ in shape")
        i = int(np.count_nonzero(p & g))
        u = int(np.count_nonzero(p | g))
        ps, gs = int(np.count_nonzero(p)), int(np.count_nonzero(g))
        iou = 1.0 if u == 0 else i / u
        dice = 1.0 if ps + gs == 0 else 2.0 * i / (ps + gs)
        self.ious.append(iou)
        self.dices.append(dice)
        self.inter += i
        self.union += u
        self.pred_area += ps
        self.gt_area += gs
        return iou, dice

    def summary(self) -> dict[str, float]:
        nan = float("nan")
        total = self.pred_area + self.gt_area
        return {
            "mIoU": float(np.mean(self.ious)) if self.ious else nan,
            "mDice": float(np.mean(self.dices)) if self.dices else nan,
            "wIoU": (1.0 if self.union == 0 else self.inter / self.union) if self.ious else nan,
            "wDice": (1.0 if total == 0 else 2.0 * self.inter / total) if self.ious else nan,
            "n": len(self.ious),
        }


def _rles(masks: Sequence[np.ndarray]) -> list[Any]:
    from pycocotools import mask as mask_utils

    if not masks:
        return []
    stack = np.asfortranarray(np.stack([np.asarray(m, dtype=np.uint8) for m in masks], axis=-1))
    return list(mask_utils.encode(stack))


def _iou_matrix(dets: list[Any], gts: list[Any]) -> np.ndarray:
    from pycocotools import mask as mask_utils

    if not dets or not gts:
        return np.zeros((len(dets), len(gts)))
    return np.asarray(mask_utils.iou(dets, gts, [0] * len(gts)), dtype=np.float64).reshape(
        len(dets), len(gts)
    )


def soap_matches(
    assoc: np.ndarray,
    objects: np.ndarray,
    shadows: np.ndarray,
    thresholds: Sequence[float] | np.ndarray,
) -> np.ndarray:
    """Which predicted pairs are true positives, per IoU threshold (pysobatools' rule).

    ``assoc``/``objects``/``shadows``: ``D x G`` IoU matrices of the association, object and
    shadow masks, predictions in descending score order, ground-truth pairs in annotation
    order. For each threshold, each prediction in turn tries every ground-truth pair not yet
    taken: a pair is a candidate when its association IoU reaches the bar and so do its
    object and shadow IoUs; a candidate replaces the previous one and its association IoU
    becomes the new bar (which starts at the threshold). The last candidate is taken.
    Returns ``D x T`` bools.
    """
    d_count, g_count = assoc.shape
    tps = np.zeros((d_count, len(thresholds)), dtype=bool)
    for t_i, t in enumerate(thresholds):
        taken = np.zeros(g_count, dtype=bool)
        for d in range(d_count):
            bar = min(float(t), 1 - 1e-10)
            match = -1
            for g in range(g_count):
                if taken[g] or assoc[d, g] < bar:
                    continue
                if objects[d, g] < bar or shadows[d, g] < bar:
                    continue
                bar, match = float(assoc[d, g]), g
            if match >= 0:
                taken[match] = True
                tps[d, t_i] = True
    return tps


class SoapAccumulator:
    """SOAP over a dataset, one image at a time (no masks are kept between images)."""

    def __init__(self, thresholds: Sequence[float] = DEFAULT_THRESHOLDS, max_dets: int = 20):
        self.thresholds = np.asarray(list(thresholds), dtype=np.float64)
        self.max_dets = int(max_dets)
        self.n_gt = 0
        self.scores: list[float] = []
        self.tp: list[np.ndarray] = []  # one bool vector over thresholds per detection

    def add_image(
        self,
        gt_pairs: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray | None]],
        pred_pairs: Sequence[tuple[np.ndarray, np.ndarray, float]],
    ) -> None:
        """``gt_pairs``: (object, shadow, association mask or None = union) per GT pair;
        ``pred_pairs``: (object, shadow, score) per predicted pair."""
        self.n_gt += len(gt_pairs)
        if not pred_pairs:
            return
        order = np.argsort([-float(s) for _, _, s in pred_pairs], kind="mergesort")
        dets = [pred_pairs[i] for i in order[: self.max_dets]]
        g_obj = _rles([g[0] for g in gt_pairs])
        g_sha = _rles([g[1] for g in gt_pairs])
        g_asc = _rles([g[2] if g[2] is not None else (g[0] | g[1]) for g in gt_pairs])
        d_obj = _rles([d[0] for d in dets])
        d_sha = _rles([d[1] for d in dets])
        d_asc = _rles([d[0] | d[1] for d in dets])
        a = _iou_matrix(d_asc, g_asc)
        o = _iou_matrix(d_obj, g_obj)
        s = _iou_matrix(d_sha, g_sha)
        tps = soap_matches(a, o, s, self.thresholds)
        self.scores.extend(float(d[2]) for d in dets)
        self.tp.extend(tps)

    def result(self) -> dict[str, float]:
        nan = float("nan")
        if self.n_gt == 0:
            return {"SOAP": nan, "SOAP50": nan, "SOAP75": nan, "n": 0}
        aps = np.zeros(len(self.thresholds))
        if self.scores:
            order = np.argsort(-np.asarray(self.scores), kind="mergesort")
            tp = np.stack(self.tp)[order]  # D x T
            rec_thrs = np.linspace(0.0, 1.0, 101)
            for t_i in range(len(self.thresholds)):
                tpc = np.cumsum(tp[:, t_i])
                fpc = np.cumsum(~tp[:, t_i])
                recall = tpc / self.n_gt
                precision = tpc / np.maximum(tpc + fpc, np.finfo(np.float64).eps)
                precision = np.maximum.accumulate(precision[::-1])[::-1]
                idx = np.searchsorted(recall, rec_thrs, side="left")
                q = np.where(
                    idx < len(precision), precision[np.minimum(idx, len(precision) - 1)], 0.0
                )
                aps[t_i] = float(np.mean(q))
        out = {"SOAP": float(np.mean(aps))}
        for name, t in (("SOAP50", 0.5), ("SOAP75", 0.75)):
            hit = np.flatnonzero(np.isclose(self.thresholds, t))
            out[name] = float(aps[hit[0]]) if hit.size else nan
        out["n"] = self.n_gt
        return out


def parse_thresholds(text: str) -> tuple[float, ...]:
    """``"0.5"``, ``"0.5,0.75"`` or ``"0.5:0.95:0.05"`` -> thresholds in (0, 1].

    A range is spaced as pycocotools spaces ``iouThrs`` (``np.linspace``, not rounded), so
    the default ``0.5:0.95:0.05`` is exactly :data:`DEFAULT_THRESHOLDS`.
    """
    from zoo.errors import InputError

    try:
        if ":" in text:
            lo, hi, step = (float(v) for v in text.split(":"))
            if step <= 0 or hi < lo:
                raise ValueError(text)
            count = int(np.round((hi - lo) / step)) + 1
            vals = np.linspace(lo, hi, count, endpoint=True).tolist()
        else:
            vals = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise InputError(
            f"bad --iou-thresholds {text!r}; write 0.5, 0.5,0.75 or 0.5:0.95:0.05"
        ) from None
    if not vals or any(not 0.0 < v <= 1.0 for v in vals):
        raise InputError(f"--iou-thresholds {text!r} must be numbers in (0, 1]")
    return tuple(vals)
