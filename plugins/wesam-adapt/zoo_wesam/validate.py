"""WeSAM's validation metric: mIoU and F1 averaged per image, decoder logits >= 0.5.

WeSAM's ``validate`` (zhang-haojie/wesam, ``utils/eval_utils.py``) scores each image with
segmentation-models-pytorch: ``get_stats(pred, gt, mode="binary", threshold=0.5)`` on the
*logits* the decoder returns (no sigmoid: a pixel is foreground when its logit is at least
0.5, a probability of 0.62, where SAM's own masks use ``> 0``), then
``iou_score``/``f1_score`` with ``reduction="micro-imagewise"``, which over an image's
``N x H x W`` stack is the mean over its instances of ``tp / (tp + fp + fn)`` and
``2tp / (2tp + fp + fn)`` (1 when an instance's prediction and ground truth are both
empty). The reported numbers average those per-image values over images: an image with
one instance weighs as much as an image with ten. That is protocol ``wesam-validate``;
the mean over all instances pooled together is an extra, named ``miou_per_instance`` /
``f1_per_instance``.

Two differences from the reference, both by construction rather than choice of formula:
WeSAM scores at its SAM 1 input (longest side resized to 1024, padded square) and zoo at
the image's own size (SAM 2.1 has no padded input to score at); and WeSAM's
``AverageMeter.update(value, num_images)`` runs once per image with the batch size as
weight, so with a batch size that does not divide the number of images the last batch's
images weigh less; zoo weighs every image the same (what WeSAM gives with batch size 1).

Everything here takes and returns plain data (arrays, lists, dicts).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

#: ``zoo eval``'s name for WeSAM's validation protocol.
WESAM_VALIDATE = "wesam-validate"
#: WeSAM's ``get_stats(..., threshold=0.5)`` on logits.
LOGIT_THRESHOLD = 0.5


def binarize(pred: Any, threshold: float = LOGIT_THRESHOLD) -> np.ndarray:
    """Bool masks: floating logits ``>= threshold`` (smp's rule); bool masks unchanged."""
    arr = np.asarray(pred)
    if arr.dtype == np.bool_:
        return arr
    if np.issubdtype(arr.dtype, np.floating):
        return arr >= threshold
    return arr.astype(bool)


def image_scores(
    preds: Any, gts: Any, threshold: float = LOGIT_THRESHOLD
) -> tuple[list[float], list[float]]:
    """Per-instance IoU and F1 of one image: ``preds`` (``N x H x W`` logits, or masks
    already thresholded) against ``gts`` (``N x H x W``); 1 where both are empty."""
    from zoo.errors import InputError
    from zoo.metrics import dice, iou

    p = binarize(preds, threshold)
    g = np.asarray(gts).astype(bool)
    if p.shape != g.shape or p.ndim != 3:
        raise InputError(f"predictions {p.shape} and ground truth {g.shape} must both be N x H x W")
    return [iou(a, b) for a, b in zip(p, g, strict=True)], [
        dice(a, b) for a, b in zip(p, g, strict=True)
    ]


def summarize(per_image: Sequence[tuple[Sequence[float], Sequence[float]]]) -> dict[str, Any]:
    """``[(instance IoUs, instance F1s) per image]`` -> the protocol's numbers.

    ``miou``/``f1``: the mean over images of each image's instance mean (WeSAM's
    ``validate``); ``miou_per_instance``/``f1_per_instance``: the mean over all instances
    pooled. Images without instances are left out (``scored_images`` counts the others).
    NaN when nothing was scored.
    """
    scored = [(list(i), list(f)) for i, f in per_image if len(i)]
    nan = float("nan")
    pooled_i = [v for i, _ in scored for v in i]
    pooled_f = [v for _, f in scored for v in f]
    return {
        "miou": float(np.mean([np.mean(i) for i, _ in scored])) if scored else nan,
        "f1": float(np.mean([np.mean(f) for _, f in scored])) if scored else nan,
        "miou_per_instance": float(np.mean(pooled_i)) if pooled_i else nan,
        "f1_per_instance": float(np.mean(pooled_f)) if pooled_f else nan,
        "scored_images": len(scored),
        "instances": len(pooled_i),
    }


@contextmanager
def logit_threshold(model: Any, threshold: float = LOGIT_THRESHOLD) -> Iterator[str]:
    """Make a SAM 2.1 model's masks ``logit >= threshold`` for the duration; yields what
    the masks are (recorded beside the numbers).

    :class:`zoo_sam2.model.Sam2Model` (and so every WeSAM model) keeps ``logit >
    mask_threshold``; the largest float32 below ``threshold`` turns that into ``>=`` on its
    float32 logits. A model without ``mask_threshold`` (another family given to
    ``--compare``) keeps its own masks, and the yielded text says so.
    """
    if not hasattr(model, "mask_threshold"):
        yield "the model's own masks"
        return
    saved = model.mask_threshold
    model.mask_threshold = float(np.nextafter(np.float32(threshold), np.float32(-np.inf)))
    try:
        yield f"logit >= {threshold:g}"
    finally:
        model.mask_threshold = saved
