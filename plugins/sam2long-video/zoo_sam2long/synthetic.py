"""A small synthetic DAVIS-layout dataset (``zoo data make davis``): a textured background
with a red rectangle moving right and a green disk moving left, their ground truth as
palette PNGs (ids 1 and 2). Clearly synthetic: something to try ``zoo eval
sam2long-video`` on with no download; its numbers say nothing about real videos."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["make_davis", "write_davis"]

#: Frames per video ``zoo data make davis`` writes (``--images`` counts videos).
FRAMES = 8


def make_davis(
    root: Path,
    videos: int = 1,
    frames: int = 4,
    *,
    seed: int = 0,
    height: int = 96,
    width: int = 128,
) -> Path:
    """Write ``root/JPEGImages/shapes<v>/<t>.jpg`` and ``root/Annotations/shapes<v>/<t>.png``."""
    from PIL import Image

    from zoo.io.masks import save_palette_png

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    for v in range(videos):
        img_dir = root / "JPEGImages" / f"shapes{v}"
        ann_dir = root / "Annotations" / f"shapes{v}"
        img_dir.mkdir(parents=True)
        ann_dir.mkdir(parents=True)
        bg = rng.integers(60, 120, size=(height, width, 3)).astype(np.uint8)
        for t in range(frames):
            img = bg.copy()
            label = np.zeros((height, width), np.uint8)
            x = (10 + 8 * t + 4 * v) % max(1, width - 30)
            img[20:50, x : x + 30] = (230, 40, 40)
            label[20:50, x : x + 30] = 1
            disk = (yy - 70) ** 2 + (xx - (100 - 6 * t) % width) ** 2 < 12**2
            img[disk] = (40, 200, 60)
            label[disk] = 2
            Image.fromarray(img).save(img_dir / f"{t:05d}.jpg", quality=95)
            save_palette_png(ann_dir / f"{t:05d}.png", label)
    return root


def write_davis(out: Path, *, images: int, seed: int) -> dict[str, Any]:
    """``zoo data make davis``: ``images`` videos of :data:`FRAMES` frames each."""
    make_davis(out, videos=images, frames=FRAMES, seed=seed)
    return {
        "videos": images,
        "frames": images * FRAMES,
        "objects": 2 * images,
        "contents": ["JPEGImages/<video>/*.jpg", "Annotations/<video>/*.png"],
        "try": "zoo eval sam2long-video --dataset {out} --weights random --image-size 256",
    }
