"""Input helpers that turn images and SAM-style prompts into EfficientSAM tensors.

The model's own ``preprocess`` does resizing and normalisation; these helpers only
produce the ``[0, 1]`` float tensor and the point/label layout the model expects, so
callers never have to know the label ids.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from .model import LABEL_BOX_BOTTOM_RIGHT, LABEL_BOX_TOP_LEFT, LABEL_PADDING

__all__ = ["boxes_to_prompts", "image_to_tensor", "load_image", "points_to_prompts"]


def image_to_tensor(image: np.ndarray) -> Tensor:
    """``(H, W, 3)`` uint8 RGB -> ``(1, 3, H, W)`` float32 in ``[0, 1]``.

    Matches torchvision's ``ToTensor`` (convert to float, then divide by 255), so
    results are bit-identical to upstream's example pipeline without the dependency.
    """
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected an HxWx3 uint8 RGB array, got {image.dtype} {image.shape}")
    # torch.tensor copies: Pillow-backed arrays are read-only, which from_numpy warns about.
    t = torch.tensor(image).permute(2, 0, 1).float().div(255)
    return t.unsqueeze(0)


def load_image(path: str | Path) -> Tensor:
    """Decode an image file with Pillow into a ``(1, 3, H, W)`` ``[0, 1]`` tensor."""
    from PIL import Image  # local: keeps `import zoo_efficientsam` light

    with Image.open(path) as im:
        return image_to_tensor(np.asarray(im.convert("RGB")))


def boxes_to_prompts(
    boxes: Tensor | np.ndarray | Sequence[Sequence[float]],
) -> tuple[Tensor, Tensor]:
    """``(Q, 4)`` xyxy boxes -> points ``(1, Q, 2, 2)`` and labels ``(1, Q, 2)``.

    EfficientSAM encodes a box as its two corners labelled 2 (top-left) and 3
    (bottom-right); each box becomes one query, so all boxes share one decoder call.
    """
    b = torch.as_tensor(boxes, dtype=torch.float32).reshape(-1, 4)
    points = b.view(-1, 2, 2).unsqueeze(0)
    labels = torch.tensor([LABEL_BOX_TOP_LEFT, LABEL_BOX_BOTTOM_RIGHT], dtype=torch.int64)
    return points, labels.expand(b.shape[0], 2).unsqueeze(0).clone()


def points_to_prompts(
    points: Tensor | np.ndarray, labels: Tensor | np.ndarray
) -> tuple[Tensor, Tensor]:
    """``(N, 2)`` clicks with ``(N,)`` labels (1 fg / 0 bg) -> one query ``(1, 1, N, ·)``."""
    p = torch.as_tensor(points, dtype=torch.float32).reshape(1, 1, -1, 2)
    lab = torch.as_tensor(labels, dtype=torch.int64).reshape(1, 1, -1)
    if p.shape[2] != lab.shape[2]:
        raise ValueError(f"{p.shape[2]} points but {lab.shape[2]} labels")
    if (lab == LABEL_PADDING).any():
        raise ValueError("label -1 is reserved for padding")
    return p, lab
