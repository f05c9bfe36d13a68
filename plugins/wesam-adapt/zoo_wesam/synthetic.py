"""A tiny synthetic target domain in COCO format: coloured shapes on textures.

Tests, the benchmark and the README demo need a dataset with real instance masks and no
download. Each image has a random textured background (stripes, checkers or smooth noise)
and 2-4 non-overlapping shapes (ellipse, rectangle, triangle); the annotation file holds
their RLE masks and boxes (or boxes only). Pass the folder through
:func:`zoo_wesam.corruptions.corrupt_folder` to get the shifted domain.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def _texture(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    import cv2

    kind = int(rng.integers(3))
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    c1 = rng.uniform(40, 215, 3)
    c2 = rng.uniform(40, 215, 3)
    if kind == 0:
        period = rng.uniform(6, 18)
        angle = rng.uniform(0, np.pi)
        t = (np.sin((xx * np.cos(angle) + yy * np.sin(angle)) * 2 * np.pi / period) + 1) / 2
    elif kind == 1:
        cell = int(rng.integers(6, 16))
        t = (((yy // cell) + (xx // cell)) % 2).astype(np.float32)
    else:
        noise = rng.random((h // 8 + 1, w // 8 + 1)).astype(np.float32)
        t = cv2.resize(noise, (w, h), interpolation=cv2.INTER_CUBIC).clip(0, 1)
    img = c1 * t[..., None] + c2 * (1 - t[..., None])
    img += rng.normal(0, 6, img.shape)
    return img.clip(0, 255).astype(np.uint8)


def _shape_mask(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    import cv2

    m = np.zeros((h, w), np.uint8)
    cx, cy = rng.uniform(0.2 * w, 0.8 * w), rng.uniform(0.2 * h, 0.8 * h)
    r = rng.uniform(0.08, 0.2) * min(h, w)
    kind = int(rng.integers(3))
    if kind == 0:
        cv2.ellipse(
            m,
            (int(cx), int(cy)),
            (int(r), int(r * rng.uniform(0.6, 1.0))),
            float(rng.uniform(0, 180)),
            0,
            360,
            1,
            -1,
        )
    elif kind == 1:
        cv2.rectangle(m, (int(cx - r), int(cy - r * 0.7)), (int(cx + r), int(cy + r * 0.7)), 1, -1)
    else:
        ang = rng.uniform(0, 2 * np.pi) + np.array([0, 2.1, 4.2])
        pts = np.stack([cx + r * np.cos(ang), cy + r * np.sin(ang)], 1).astype(np.int32)
        cv2.fillPoly(m, [pts], 1)
    return m.astype(bool)


def make_shapes_dataset(
    folder: str | Path,
    n_images: int = 4,
    *,
    height: int = 96,
    width: int = 128,
    seed: int = 0,
    boxes_only: bool = False,
    min_shapes: int = 2,
    max_shapes: int = 3,
) -> dict[str, Any]:
    """Write ``folder/images/*.png`` and ``folder/annotations.json``; returns their paths."""
    from PIL import Image

    from zoo.data.coco import build_coco
    from zoo.io.masks import write_json

    rng = np.random.default_rng(seed)
    root = Path(folder)
    img_dir = root / "images"
    img_dir.mkdir(parents=True, exist_ok=True)
    items = []
    for i in range(n_images):
        img = _texture(height, width, rng)
        masks: list[np.ndarray] = []
        taken = np.zeros((height, width), bool)
        for _ in range(60):
            if len(masks) >= int(rng.integers(min_shapes, max_shapes + 1)):
                break
            m = _shape_mask(height, width, rng)
            if m.sum() < 40 or (m & taken).any():
                continue
            taken |= m
            masks.append(m)
            img[m] = (rng.uniform(0, 255, 3) * 0.7 + _texture(height, width, rng)[m] * 0.3).astype(
                np.uint8
            )
        name = f"img_{i:03d}.png"
        Image.fromarray(img).save(img_dir / name)
        items.append({"file_name": name, "masks": np.stack(masks), "boxes_only": boxes_only})
    coco = build_coco(items, {1: "shape"})
    write_json(root / "annotations.json", coco)
    return {"images": img_dir, "annotations": root / "annotations.json", "coco": coco}


def make_shapes(out: Path, *, images: int, seed: int) -> dict[str, Any]:
    """``zoo data make shapes``: :func:`make_shapes_dataset` with ``images`` images."""
    made = make_shapes_dataset(out, images, seed=seed)
    return {
        "images": len(made["coco"]["images"]),
        "instances": len(made["coco"]["annotations"]),
        "contents": ["annotations.json", "images/"],
        "try": "zoo train wesam-adapt --base sam2:tiny --weights random --images {out}/images "
        "--annotations {out}/annotations.json --name try-shapes --steps 2 --image-size 256",
    }
