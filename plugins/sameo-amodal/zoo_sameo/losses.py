"""SAMEO's training objective: Dice + Focal on the mask, L1 on the predicted IoU.

loss = Dice + Focal(gamma=2) + 0.05 * |predicted IoU - IoU of the predicted mask|

EfficientSAM predicts three masks per box. As in SAM's training, the mask loss only
back-propagates through the best of the three (the decoder may spread its hypotheses),
while the IoU head is trained on all three, because inference keeps the mask with the
highest *predicted* IoU: the head must rank every candidate, not only the best one.
Everything is computed in float32, also under mixed precision.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def dice_loss(logits: Tensor, target: Tensor, eps: float = 1.0) -> Tensor:
    """Soft Dice loss per mask: ``(..., H, W)`` -> ``(...)``."""
    p = logits.float().sigmoid()
    t = target.float()
    num = 2.0 * (p * t).sum(dim=(-2, -1)) + eps
    den = p.sum(dim=(-2, -1)) + t.sum(dim=(-2, -1)) + eps
    return 1.0 - num / den


def focal_loss(logits: Tensor, target: Tensor, alpha: float = 0.25, gamma: float = 2.0) -> Tensor:
    """Sigmoid focal loss (Lin et al.) averaged over pixels: ``(..., H, W)`` -> ``(...)``.

    ``alpha < 0`` disables the class weighting.
    """
    x = logits.float()
    t = target.float()
    ce = F.binary_cross_entropy_with_logits(x, t, reduction="none")
    p = x.sigmoid()
    p_t = p * t + (1 - p) * (1 - t)
    loss = ce * (1 - p_t) ** gamma
    if alpha >= 0:
        loss = (alpha * t + (1 - alpha) * (1 - t)) * loss
    return loss.mean(dim=(-2, -1))


@torch.no_grad()
def mask_iou(logits: Tensor, target: Tensor) -> Tensor:
    """IoU of the binarised prediction (logit > 0) with the target: ``(...)``; 1 if both empty."""
    pred = logits > 0
    t = target.bool()
    inter = (pred & t).sum(dim=(-2, -1)).float()
    union = (pred | t).sum(dim=(-2, -1)).float()
    return torch.where(union > 0, inter / union.clamp(min=1), torch.ones_like(union))


def sameo_loss(
    logits: Tensor,
    iou_pred: Tensor,
    target: Tensor,
    *,
    iou_weight: float = 0.05,
    focal_alpha: float = 0.25,
    focal_gamma: float = 2.0,
) -> tuple[Tensor, dict[str, float]]:
    """Total loss for ``logits (N, M, h, w)``, ``iou_pred (N, M)``, amodal ``target (N, h, w)``.

    Returns the scalar loss and its parts (floats, for the progress bar and the log).
    """
    tgt = target[:, None].expand_as(logits)
    dice = dice_loss(logits, tgt)
    focal = focal_loss(logits, tgt, alpha=focal_alpha, gamma=focal_gamma)
    per_mask = dice + focal  # N, M
    best = per_mask.argmin(dim=1)
    idx = torch.arange(logits.shape[0], device=logits.device)
    mask_term = per_mask[idx, best].mean()
    true_iou = mask_iou(logits, tgt)
    iou_term = (iou_pred.float() - true_iou).abs().mean()
    total = mask_term + iou_weight * iou_term
    parts = {
        "loss": float(total.detach()),
        "dice": float(dice[idx, best].mean().detach()),
        "focal": float(focal[idx, best].mean().detach()),
        "iou_l1": float(iou_term.detach()),
        "iou": float(true_iou[idx, best].mean()),
    }
    return total, parts
