"""COCO scenes with crowd regions for the pycocotools comparison (numpy only, no zoo import).

``tests/test_metrics_reference.py`` (core evaluator) and the sameo-amodal tests (amodal
reader) score these through zoo's own readers and compare with numbers recorded by running
pycocotools' ``COCOeval`` on the same ground truth and results. Keep this module free of
zoo and of numpy's random generators: the script that runs the reference imports it too.

:func:`scenes` gives ``(ground truth, predictions)``: a COCO instances dict (rectangular
instances as polygons, crowd regions as uncompressed RLE, as COCO stores them) and, per
image, one predicted mask per non-crowd annotation in annotation order, with its score and
category: what the core evaluator produces when it prompts each instance with its box.
"""

from __future__ import annotations

from typing import Any

import numpy as np

Rect = tuple[int, int, int, int]  # y0, y1, x0, x1 (pixel rows/columns, end exclusive)


def rect_mask(h: int, w: int, r: Rect) -> np.ndarray:
    m = np.zeros((h, w), dtype=bool)
    m[r[0] : r[1], r[2] : r[3]] = True
    return m


def uncompressed_rle(mask: np.ndarray) -> dict[str, Any]:
    """COCO's uncompressed RLE: column-major run lengths, starting with background."""
    flat = np.asarray(mask, dtype=bool).flatten(order="F")
    counts: list[int] = []
    value, run = False, 0
    for v in flat:
        if bool(v) == value:
            run += 1
        else:
            counts.append(run)
            value, run = bool(v), 1
    counts.append(run)
    return {"size": [int(mask.shape[0]), int(mask.shape[1])], "counts": counts}


def polygon(r: Rect) -> list[list[float]]:
    """A rectangle's outline as a COCO polygon (pixel corners)."""
    y0, y1, x0, x1 = r
    return [[float(v) for v in (x0, y0, x1, y0, x1, y1, x0, y1)]]


# (image id, height, width, [(category, rect, iscrowd, predicted rect or None, score)])
_SCENES: list[tuple[int, int, int, list[tuple[int, Rect, int, Rect | None, float]]]] = [
    # the shape of case: a 40x40 image with one crowd region; the prediction for
    # instance 2 misses it and falls on the crowd region (ignored, not a false positive)
    (
        1,
        40,
        40,
        [
            (1, (4, 16, 4, 16), 0, (4, 16, 5, 17), 0.875),
            (1, (4, 14, 24, 36), 0, (16, 30, 24, 36), 0.9375),
            (1, (22, 38, 2, 38), 1, None, 0.0),
        ],
    ),
    # two categories, a crowd region of category 2 overlapping a category-2 prediction
    (
        2,
        40,
        48,
        [
            (1, (2, 18, 2, 20), 0, (3, 18, 2, 20), 0.75),
            (2, (22, 36, 4, 20), 0, (20, 34, 4, 20), 0.625),
            (2, (4, 20, 28, 46), 0, (22, 38, 28, 46), 0.8125),
            (2, (20, 38, 26, 47), 1, None, 0.0),
            (1, (30, 39, 30, 40), 0, (30, 39, 30, 33), 0.5),
        ],
    ),
    # crowd only: nothing to prompt, nothing predicted
    (3, 32, 32, [(1, (0, 20, 0, 20), 1, None, 0.0)]),
    # a plain image without crowd: one good, one empty prediction
    (
        4,
        36,
        36,
        [
            (1, (5, 25, 5, 25), 0, (5, 25, 6, 25), 0.6875),
            (2, (26, 34, 2, 30), 0, (0, 0, 0, 0), 0.25),
        ],
    ),
]


def scenes() -> tuple[dict[str, Any], dict[int, list[tuple[np.ndarray, float, int]]]]:
    """The ground truth and the predictions (see the module docstring)."""
    images, anns = [], []
    preds: dict[int, list[tuple[np.ndarray, float, int]]] = {}
    ann_id = 1
    for image_id, h, w, items in _SCENES:
        images.append({"id": image_id, "file_name": f"im{image_id}.png", "height": h, "width": w})
        for cat, r, crowd, pred, score in items:
            y0, y1, x0, x1 = r
            ann: dict[str, Any] = {
                "id": ann_id,
                "image_id": image_id,
                "category_id": cat,
                "iscrowd": crowd,
                "bbox": [float(x0), float(y0), float(x1 - x0), float(y1 - y0)],
                "area": float((y1 - y0) * (x1 - x0)),
            }
            if crowd:
                ann["segmentation"] = uncompressed_rle(rect_mask(h, w, r))
            else:
                ann["segmentation"] = polygon(r)
                assert pred is not None
                preds.setdefault(image_id, []).append((rect_mask(h, w, pred), score, cat))
            anns.append(ann)
            ann_id += 1
    gt = {
        "images": images,
        "annotations": anns,
        "categories": [{"id": 1, "name": "thing"}, {"id": 2, "name": "stuff-ish"}],
    }
    return gt, preds
