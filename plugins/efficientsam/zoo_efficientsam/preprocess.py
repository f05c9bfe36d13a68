"""Image conversion into the tensor layout EfficientSAM's ``forward`` expects.

The model's own ``preprocess`` does resizing and normalisation; image decoding is the core's
job (:func:`zoo.io.images.load_image`). What is left is the step between them, kept apart so
tests and the loader convert images the same way.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

__all__ = ["image_to_tensor"]


def image_to_tensor(image: np.ndarray) -> Tensor:
    """``(H, W, 3)`` uint8 RGB -> ``(1, 3, H, W)`` float32 in ``[0, 1]``.

    Matches torchvision's ``ToTensor`` (convert to float, then divide by 255), so results
    are bit-identical to upstream's example pipeline without depending on torchvision.
    """
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected an HxWx3 uint8 RGB array, got {image.dtype} {image.shape}")
    # torch.tensor copies: Pillow-backed arrays are read-only, which from_numpy warns about.
    return torch.tensor(image).permute(2, 0, 1).float().div(255).unsqueeze(0)
