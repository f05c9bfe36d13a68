"""SAMEO's training objective: Dice + Focal on the mask, L1 on the predicted IoU.

loss = Dice + Focal(gamma=2) + 0.05 * |predicted IoU - IoU of the predicted mask|

The terms are the shared :mod:`zoo.training.losses` primitives with SAMEO's conventions
spelled out: focal alpha *balances* the classes (RetinaNet/SAM style, ``alpha_mode=
"balanced"``), Dice is per mask with smoothing 1, an empty prediction of an empty target
has IoU 1, and the IoU head is trained with L1 (SAM uses MSE). What stays here is the
formula: EfficientSAM predicts three masks per box and, as in SAM's training, the mask loss
back-propagates only through the best of the three (the decoder may spread its
hypotheses), while the IoU head is trained on all three, because inference keeps the mask
with the highest *predicted* IoU: the head must rank every candidate, not only the best.
Everything is computed in float32, also under mixed precision.
"""

from __future__ import annotations

import torch
from torch import Tensor

from zoo.training.losses import dice_loss, iou_head_loss, mask_iou, sigmoid_focal_loss


def sameo_loss(
    logits: Tensor,
    iou_pred: Tensor,
    target: Tensor,
    *,
    iou_weight: float = 0.05,
    focal_alpha: float | None = 0.25,
    focal_gamma: float = 2.0,
) -> tuple[Tensor, dict[str, float]]:
    """Total loss for ``logits (N, M, h, w)``, ``iou_pred (N, M)``, amodal ``target (N, h, w)``.

    Returns the scalar loss and its parts (floats, for the progress bar and the log).
    ``focal_alpha=None`` disables the class balancing.
    """
    logits = logits.float()
    tgt = target[:, None].expand_as(logits).float()
    dice = dice_loss(logits, tgt, smoothing=1.0)
    focal = sigmoid_focal_loss(
        logits, tgt, alpha=focal_alpha, gamma=focal_gamma, alpha_mode="balanced", reduction="mask"
    )
    per_mask = dice + focal  # N, M
    best = per_mask.argmin(dim=1)
    idx = torch.arange(logits.shape[0], device=logits.device)
    mask_term = per_mask[idx, best].mean()
    true_iou = mask_iou(logits, tgt, empty=1.0)
    iou_term = iou_head_loss(iou_pred.float(), true_iou, kind="l1")
    total = mask_term + iou_weight * iou_term
    parts = {
        "loss": float(total.detach()),
        "dice": float(dice[idx, best].mean().detach()),
        "focal": float(focal[idx, best].mean().detach()),
        "iou_l1": float(iou_term.detach()),
        "iou": float(true_iou[idx, best].mean()),
    }
    return total, parts
