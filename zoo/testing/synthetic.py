"""Synthetic inputs the conformance kit and tests feed every family: cheap, deterministic,
numpy only."""

from __future__ import annotations

import numpy as np


def synthetic_image(height: int = 240, width: int = 320, seed: int = 0) -> np.ndarray:
    """A textured RGB image with two solid shapes: cheap, deterministic, non-trivial."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    img = np.stack(
        [(xx * 255 // max(width - 1, 1)), (yy * 255 // max(height - 1, 1)), np.full_like(xx, 96)],
        axis=-1,
    ).astype(np.int32)
    img += rng.integers(-20, 21, size=img.shape)
    img[height // 5 : height // 2, width // 6 : width // 2] = (220, 40, 40)
    cy, cx, r = int(height * 0.65), int(width * 0.7), min(height, width) // 6
    img[(yy - cy) ** 2 + (xx - cx) ** 2 < r * r] = (40, 60, 220)
    return np.clip(img, 0, 255).astype(np.uint8)


def synthetic_depth(height: int = 240, width: int = 320) -> np.ndarray:
    """Metric depth of a tilted plane with a box in front of it (metres, float32)."""
    yy = np.mgrid[0:height, 0:width][0].astype(np.float32)
    depth = 2.0 + 1.5 * yy / height
    depth[height // 4 : height // 2, width // 4 : width // 2] = 1.2
    return depth.astype(np.float32)


def synthetic_boxes(height: int = 240, width: int = 320) -> np.ndarray:
    """Boxes around the two shapes of :func:`synthetic_image`."""
    cy, cx, r = int(height * 0.65), int(width * 0.7), min(height, width) // 6
    return np.array(
        [[width // 6, height // 5, width // 2, height // 2], [cx - r, cy - r, cx + r, cy + r]],
        dtype=np.float32,
    )


__all__ = ["synthetic_boxes", "synthetic_depth", "synthetic_image"]
