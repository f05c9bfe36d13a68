"""WeSAM's self-training losses, on mask *logits* (before the sigmoid).

For one image with ``N`` prompted instances, the student (strong view), teacher (weak view)
and anchor (frozen source model, weak view) each give ``N`` mask logits and ``N`` predicted
IoUs; the teacher's binarised mask is the student's pseudo-label::

    L = 20 * focal(student, teacher > 0)           # alpha 0.8, gamma 2
        + dice(student, teacher > 0)
        + mse(iou_pred_student, IoU(student > 0, teacher > 0))
        + 0.5 * dice(student, anchor > 0) + 0.5 * dice(teacher, anchor > 0)   # anchor
        + infonce(teacher embedding, anchor embedding, pooled per instance, T = 0.3)

Conventions follow the authors' implementation where the paper is silent (their ``losses.py``
was read, not copied): the focal loss is ``mean(alpha * (1 - p_t)^gamma * BCE)`` with a
*constant* alpha (not the class-balanced ``alpha_t`` of RetinaNet); the Dice loss has a +1
smoothing and pools all instances of the image; embeddings are L2-normalised per pixel
before being averaged under a mask; an empty prediction of an empty pseudo-label has IoU 0
(``inter / (union + eps)``). The focal, Dice and IoU terms are :mod:`zoo.training.losses`
called with exactly those conventions; the formula and the contrastive term are WeSAM's.

One deliberate difference: the upstream contrastive term is
``-log(sum_i e^{s_ii} / sum_ij e^{s_ij})``; we use the standard InfoNCE
``mean_i -log(e^{s_ii} / sum_j e^{s_ij})`` (each instance must pick out its own anchor
among all instances of the image), the usual form of an instance-level InfoNCE.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from zoo.training.losses import dice_loss, iou_head_loss, mask_iou, sigmoid_focal_loss


def pooled_embeddings(embed: torch.Tensor, mask_logits: torch.Tensor) -> torch.Tensor:
    """Mean of the per-pixel L2-normalised embedding under each instance's mask.

    ``embed``: ``C x h x w``; ``mask_logits``: ``N x H' x W'`` (any size, resized to
    ``h x w`` bilinearly and thresholded at 0). Empty masks give a zero vector.
    """
    e = F.normalize(embed, dim=0, p=2)
    m = (
        F.interpolate(
            mask_logits.detach()[:, None].float(),
            size=e.shape[-2:],
            mode="bilinear",
            align_corners=False,
        )[:, 0]
        > 0
    )
    m = m.to(e.dtype)
    area = m.flatten(1).sum(1).clamp(min=1.0)
    return torch.einsum("chw,nhw->nc", e, m) / area[:, None]


def contrastive_loss(
    embed_x: torch.Tensor,
    embed_y: torch.Tensor,
    masks_x: torch.Tensor,
    masks_y: torch.Tensor,
    temperature: float = 0.3,
) -> torch.Tensor:
    """InfoNCE between instances: instance i of view x must match instance i of view y.

    ``s_ij = cos(pool_x(i), pool_y(j)) / T``; loss ``= mean_i CE(s_i, i)``. Zero for a
    single instance (there is no negative to contrast with).
    """
    px = pooled_embeddings(embed_x, masks_x)
    py = pooled_embeddings(embed_y, masks_y)
    sim = F.cosine_similarity(px[:, None, :], py[None, :, :], dim=-1) / temperature
    labels = torch.arange(sim.shape[0], device=sim.device)
    return F.cross_entropy(sim, labels)


@dataclass
class LossWeights:
    focal: float = 20.0
    dice: float = 1.0
    iou: float = 1.0
    anchor: float = 1.0
    contrastive: float = 1.0
    focal_alpha: float = 0.8
    focal_gamma: float = 2.0
    temperature: float = 0.3


def wesam_losses(
    *,
    student_logits: torch.Tensor,
    student_iou: torch.Tensor,
    teacher_logits: torch.Tensor,
    anchor_logits: torch.Tensor,
    teacher_embed: torch.Tensor,
    anchor_embed: torch.Tensor,
    teacher_lowres: torch.Tensor,
    anchor_lowres: torch.Tensor,
    weights: LossWeights | None = None,
) -> dict[str, torch.Tensor]:
    """All terms for one image, plus their weighted ``total``.

    Mask logits are ``N x H x W`` at the loss resolution; ``*_lowres`` are the decoder's
    ``N x h x w`` logits used to pool the ``C x h' x w'`` image embeddings.
    """
    w = weights or LossWeights()
    pseudo = (teacher_logits.detach() > 0).to(student_logits.dtype)
    anchor = (anchor_logits.detach() > 0).to(student_logits.dtype)
    terms = {
        "focal": sigmoid_focal_loss(
            student_logits,
            pseudo,
            alpha=w.focal_alpha,
            gamma=w.focal_gamma,
            alpha_mode="constant",
            reduction="mean",
        ),
        "dice": dice_loss(student_logits, pseudo, pooled=True),
        "iou": iou_head_loss(
            student_iou.reshape(-1),
            mask_iou(student_logits, pseudo, empty=None).to(student_iou.dtype),
            kind="mse",
        ),
        "anchor": 0.5 * dice_loss(student_logits, anchor, pooled=True)
        + 0.5 * dice_loss(teacher_logits, anchor, pooled=True),
        "contrastive": contrastive_loss(
            teacher_embed, anchor_embed.detach(), teacher_lowres, anchor_lowres, w.temperature
        ),
    }
    terms["total"] = (
        w.focal * terms["focal"]
        + w.dice * terms["dice"]
        + w.iou * terms["iou"]
        + w.anchor * terms["anchor"]
        + w.contrastive * terms["contrastive"]
    )
    return terms
