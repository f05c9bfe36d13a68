"""Small synthetic RGB-D frames (``zoo data make rgbd``): a floor whose depth recedes with
the image row, a box and a ball standing on it nearer the camera, their labels in the
``index`` format (0 unlabelled, 1 floor, 2 box, 3 ball). The frame-folder layout ``zoo
eval depth-sam`` reads: ``frame_<k>/color.jpg``, ``depth.png`` (uint16 millimetres) and
``label.png``. Clearly synthetic: something to try the commands on, not a benchmark."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["CLASSES", "make_rgbd"]

#: The classes of the labels, in index order (label 1 is the first).
CLASSES = ("floor", "box", "ball")
HEIGHT, WIDTH = 120, 160


def _frame(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    h, w = HEIGHT, WIDTH
    yy, xx = np.mgrid[0:h, 0:w]
    depth = (4000 - 2500 * yy / (h - 1)).astype(np.float64)  # far at the top, near below
    label = np.ones((h, w), np.uint8)
    img = np.empty((h, w, 3), np.uint8)
    img[:] = rng.integers(90, 140, 3, dtype=np.uint8)
    img = np.clip(img + rng.integers(-12, 12, (h, w, 1)), 0, 255).astype(np.uint8)
    bw, bh = int(rng.integers(25, 45)), int(rng.integers(20, 35))
    bx, by = int(rng.integers(5, w // 2 - bw)), int(rng.integers(h // 3, h - bh - 5))
    box = (slice(by, by + bh), slice(bx, bx + bw))
    depth[box] = depth[by + bh - 1, bx] - 300
    label[box] = 2
    img[box] = rng.integers(150, 255, 3, dtype=np.uint8)
    r = int(rng.integers(10, 18))
    cx, cy = int(rng.integers(w // 2 + r, w - r - 2)), int(rng.integers(h // 3, h - r - 2))
    ball = (yy - cy) ** 2 + (xx - cx) ** 2 < r**2
    depth[ball] = (
        depth[min(h - 1, cy + r), cx]
        - 200
        - 150 * np.sqrt(np.clip(1 - ((yy[ball] - cy) ** 2 + (xx[ball] - cx) ** 2) / r**2, 0, 1))
    )
    label[ball] = 3
    img[ball] = rng.integers(30, 90, 3, dtype=np.uint8)
    label[:2] = 0  # a strip left unlabelled, as real annotations have
    return img, depth.astype(np.uint16), label


def make_rgbd(out: Path, *, images: int, seed: int) -> dict[str, Any]:
    """``zoo data make rgbd``: ``images`` frames (see the module docstring)."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    for k in range(images):
        folder = out / f"frame_{k:03d}"
        folder.mkdir(parents=True)
        img, depth, label = _frame(rng)
        Image.fromarray(img).save(folder / "color.jpg", quality=95)
        Image.fromarray(depth).save(folder / "depth.png")
        Image.fromarray(label, mode="L").save(folder / "label.png")
    classes = ",".join(CLASSES)
    return {
        "frames": images,
        "classes": classes,
        "label_format": "index",
        "contents": ["frame_<k>/color.jpg", "frame_<k>/depth.png", "frame_<k>/label.png"],
        "try": f"zoo eval depth-sam --dataset {{out}} --classes {classes} --label-format index "
        "--weights random --image-size 256 --points-per-side 4",
    }
