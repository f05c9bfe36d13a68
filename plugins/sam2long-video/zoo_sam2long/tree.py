"""Pure selection logic of the SAM2Long memory tree (no model, no torch).

SAM2Long (Ding et al., arXiv 2410.16268) keeps ``P`` memory pathways.  On every tracked
frame each pathway proposes three masks; this module decides which ``P`` of the ``3P``
candidates survive and become the next frame's pathways.  It is kept free of torch so the
rule can be unit-tested against recorded candidates without running a network.

The rule reproduces the reference implementation exactly, including its tie behaviour:

* score of a candidate = parent pathway's accumulated score + ``ln(IoU + 1e-5)``; the
  logarithm is taken with NumPy in float64 like the reference, so accumulated scores match
  to the last bit, not merely to a tolerance;
* candidates are ordered best-first with a *stable* sort, so equal scores keep the
  pathway-major, then mask-index order in which they were produced;
* if the largest ``|object-score logit|`` over the pathways exceeds ``uncertainty`` the
  model is confident and the top ``P`` are kept;
* otherwise candidates are taken in score order while their ``round(±IoU, 2)`` (negative
  when the pathway's object score is <= 0) has not been seen, which removes near-duplicate
  masks; if that leaves fewer than ``P``, every pathway not yet represented contributes its
  best candidate (in pathway order) until ``P`` are kept.

Kept candidates become slots ``0..P-1`` in the order they were kept.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

#: Added to the predicted IoU before taking the log, so a zero IoU does not give -inf.
LOG_EPS = 1e-5


@dataclass(frozen=True)
class Candidate:
    """One (pathway, mask) proposal on a frame.

    Attributes:
        pathway: index of the parent pathway (slot on the previous frame).
        mask_index: which of the decoder's three multimask outputs (0, 1, 2).
        score: accumulated score if this candidate is kept (float64).
        iou: predicted IoU of the mask (a float32 value held in a Python float).
        signed_iou: ``iou``, negated when the pathway's object-score logit is <= 0; used
            only for the near-duplicate test.
    """

    pathway: int
    mask_index: int
    score: float
    iou: float
    signed_iou: float


def score_candidates(
    acc_scores: Sequence[float],
    ious: Sequence[Sequence[float]],
    object_scores: Sequence[float],
) -> list[Candidate]:
    """Build all candidates of one frame, pathway-major then mask order.

    Args:
        acc_scores: accumulated score of each pathway (length ``P``).
        ious: predicted IoUs, ``ious[p][j]`` for pathway ``p`` and mask ``j``.
        object_scores: object-score logit of each pathway (one per pathway: the decoder
            predicts a single object score shared by the three masks).
    """
    if not (len(acc_scores) == len(ious) == len(object_scores)):
        raise ValueError("acc_scores, ious and object_scores need one entry per pathway")
    out: list[Candidate] = []
    for p, (acc, row, obj) in enumerate(zip(acc_scores, ious, object_scores, strict=True)):
        for j, iou in enumerate(row):
            iou = float(iou)
            # np.log on a Python float runs the float64 ufunc, exactly like the reference.
            score = float(acc + np.log(iou + LOG_EPS))
            signed = iou if float(obj) > 0 else -iou
            out.append(Candidate(p, j, score, iou, signed))
    return out


def select_candidates(
    candidates: Sequence[Candidate],
    object_scores: Sequence[float],
    num_keep: int,
    uncertainty: float,
) -> list[Candidate]:
    """Choose the candidates that become the next frame's pathways (slot order).

    Args:
        candidates: output of :func:`score_candidates` (pathway-major order matters for ties).
        object_scores: object-score logit of each pathway.
        num_keep: number of pathways ``P``.
        uncertainty: confidence threshold on ``max |object score|``.
    """
    if num_keep < 1:
        raise ValueError("num_keep must be >= 1")
    # sorted() is stable, and reverse=True keeps equal elements in their original order.
    ranked = sorted(candidates, key=lambda c: c.score, reverse=True)
    if max(abs(float(s)) for s in object_scores) > uncertainty:
        return list(ranked[:num_keep])

    kept: list[Candidate] = []
    seen: set[float] = set()
    for cand in ranked:
        key = round(cand.signed_iou, 2)
        if key not in seen:
            kept.append(cand)
            seen.add(key)
        if len(kept) == num_keep:
            break
    if len(kept) < num_keep:
        # Too many near-identical masks: favour diversity of *memory* instead, by letting
        # each unrepresented pathway keep its own best candidate.
        represented = {c.pathway for c in kept}
        for p in range(len(object_scores)):
            if p not in represented:
                best = next((c for c in ranked if c.pathway == p), None)
                if best is not None:
                    kept.append(best)
            if len(kept) == num_keep:
                break
    return kept


def select(
    acc_scores: Sequence[float],
    ious: Sequence[Sequence[float]],
    object_scores: Sequence[float],
    num_keep: int,
    uncertainty: float,
) -> list[Candidate]:
    """Score and select in one call (see :func:`score_candidates`, :func:`select_candidates`)."""
    cands = score_candidates(acc_scores, ious, object_scores)
    return select_candidates(cands, object_scores, num_keep, uncertainty)
