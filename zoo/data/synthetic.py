"""A small synthetic COCO instance-segmentation set: something to try ``zoo eval`` on with
no download. Textured backgrounds with filled ellipses and rectangles (two categories),
masks as COCO RLE. Clearly synthetic: its numbers say nothing about real photos."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["make_coco"]

CATEGORIES = {1: "ellipse", 2: "rectangle"}


def make_coco(
    out: Path, *, images: int = 8, seed: int = 0, height: int = 240, width: int = 320
) -> dict[str, Any]:
    """Write ``out/annotations.json`` + ``out/images/*.jpg``; returns a summary."""
    import cv2
    from PIL import Image

    from zoo.data.coco import build_coco

    rng = np.random.default_rng(seed)
    (out / "images").mkdir(parents=True, exist_ok=True)
    items = []
    for k in range(images):
        img = rng.integers(50, 120, (height, width, 3), dtype=np.uint8)
        masks: list[np.ndarray] = []
        cats: list[int] = []
        for s in range(int(rng.integers(2, 5))):
            m = np.zeros((height, width), np.uint8)
            cx = int(rng.integers(width // 8, width - width // 8))
            cy = int(rng.integers(height // 8, height - height // 8))
            rx, ry = int(rng.integers(12, width // 6)), int(rng.integers(10, height // 6))
            if s % 2:
                cv2.rectangle(m, (cx - rx, cy - ry), (cx + rx, cy + ry), 1, -1)
            else:
                cv2.ellipse(m, (cx, cy), (rx, ry), int(rng.integers(0, 180)), 0, 360, 1, -1)
            mask = m.astype(bool) & ~np.any(masks, axis=0) if masks else m.astype(bool)
            if mask.sum() < 50:
                continue
            masks.append(mask)
            cats.append(2 if s % 2 else 1)
            img[mask] = rng.integers(150, 255, 3, dtype=np.uint8)
        name = f"{k + 1:012d}.jpg"
        Image.fromarray(img).save(out / "images" / name, quality=95)
        items.append({"file_name": name, "masks": np.stack(masks), "category_ids": cats})
    coco = build_coco(items, CATEGORIES)
    (out / "annotations.json").write_text(json.dumps(coco))
    return {
        "images": len(coco["images"]),
        "instances": len(coco["annotations"]),
        "contents": ["annotations.json", "images/"],
        "try": "zoo eval sam2:tiny --annotations {out}/annotations.json --images {out}/images",
    }
