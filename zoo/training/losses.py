"""Mask losses with every convention spelled out as a parameter.

Each family keeps its own loss *formula* (SAMEO: Dice + Focal + 0.05 L1 on IoU; WeSAM:
20 focal + dice + IoU MSE + anchor + InfoNCE; OpSeg: SAM's 20:1:1), but the terms are the
same few functions. Their published variants differ in small conventions - whether focal
alpha balances classes or is a constant, whether Dice pools all instances, what IoU an
empty pair has - so those are explicit arguments here, never silent defaults a caller
has to know about.

Shapes: ``logits`` and ``target`` are ``(..., H, W)``; per-mask reductions return ``(...)``.
Computations run in the dtype given (callers cast to float32 under mixed precision).
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

Reduction = Literal["mask", "mean", "none"]


def _reduce(per_pixel: Tensor, reduction: Reduction) -> Tensor:
    if reduction == "none":
        return per_pixel
    if reduction == "mask":
        return per_pixel.mean(dim=(-2, -1))
    return per_pixel.mean()


def sigmoid_focal_loss(
    logits: Tensor,
    target: Tensor,
    *,
    alpha: float | None = 0.25,
    gamma: float = 2.0,
    alpha_mode: Literal["balanced", "constant"] = "balanced",
    reduction: Reduction = "mask",
) -> Tensor:
    """Focal loss (Lin et al.) on mask logits.

    ``alpha_mode="balanced"`` is RetinaNet's ``alpha_t = alpha t + (1 - alpha)(1 - t)`` with
    ``p_t`` from the probabilities (SAM, SAMEO, OpSeg); ``"constant"`` multiplies every
    pixel by ``alpha`` and takes ``p_t = exp(-BCE)`` (WeSAM's convention). ``alpha=None``
    disables the weighting. ``reduction``: ``"mask"`` mean over H, W; ``"mean"`` over all.
    """
    t = target.to(logits.dtype)
    ce = F.binary_cross_entropy_with_logits(logits, t, reduction="none")
    if alpha_mode == "constant":
        p_t = torch.exp(-ce)
        # (alpha * (1 - p_t)^gamma) * BCE, in this order: float products are not associative,
        # and this is the order WeSAM's published numbers come from
        weight = (1.0 - p_t) ** gamma if alpha is None else alpha * (1.0 - p_t) ** gamma
        return _reduce(weight * ce, reduction)
    p = logits.sigmoid()
    p_t = p * t + (1 - p) * (1 - t)
    loss = ce * (1 - p_t) ** gamma
    if alpha is not None:
        loss = (alpha * t + (1 - alpha) * (1 - t)) * loss
    return _reduce(loss, reduction)


def dice_loss(
    logits: Tensor,
    target: Tensor,
    *,
    smoothing: float = 1.0,
    pooled: bool = False,
) -> Tensor:
    """Soft Dice ``1 - (2 sum(p t) + s) / (sum p + sum t + s)``, ``p = sigmoid(logits)``.

    Per mask (``(...)``) by default; ``pooled=True`` sums every pixel of every mask into one
    score (WeSAM pools an image's instances).
    """
    p = logits.sigmoid()
    t = target.to(p.dtype)
    if pooled:
        p, t = p.flatten(), t.flatten()
        return 1.0 - (2.0 * (p * t).sum() + smoothing) / (p.sum() + t.sum() + smoothing)
    num = 2.0 * (p * t).sum(dim=(-2, -1)) + smoothing
    den = p.sum(dim=(-2, -1)) + t.sum(dim=(-2, -1)) + smoothing
    return 1.0 - num / den


@torch.no_grad()
def mask_iou(
    logits: Tensor, target: Tensor, *, empty: float | None = 1.0, eps: float = 1e-7
) -> Tensor:
    """IoU of ``logits > 0`` with a binary target, per mask (no gradient).

    ``empty``: the IoU when prediction and target are both empty (``1.0``: a correct
    "nothing here"); ``None`` uses ``inter / (union + eps)`` instead, which gives 0 there.
    """
    pred = logits > 0
    t = target > 0.5 if target.dtype.is_floating_point else target.bool()
    inter = (pred & t).sum(dim=(-2, -1)).float()
    union = (pred | t).sum(dim=(-2, -1)).float()
    if empty is None:
        return inter / (union + eps)
    return torch.where(union > 0, inter / union.clamp(min=1), torch.full_like(union, empty))


def iou_head_loss(
    predicted: Tensor,
    actual: Tensor,
    *,
    kind: Literal["mse", "l1"] = "mse",
    reduction: Literal["mean", "none"] = "mean",
) -> Tensor:
    """Loss of the IoU head against the IoU the mask really has (SAM: MSE; SAMEO: L1)."""
    diff = predicted.to(actual.dtype) - actual
    per = diff**2 if kind == "mse" else diff.abs()
    return per.mean() if reduction == "mean" else per
