"""Detector boxes as prompts: the one reader of a detections file, for every surface.

A detections file is what any detector writes for pycocotools' ``COCO.loadRes``: a list of
``{"image_id", "bbox": [x, y, w, h], "score", "category_id"[, "segmentation"]}`` (or a dict
holding such a list under ``annotations``/``detections``). ``zoo run --detections``,
``zoo batch --detections``, ``zoo eval`` and a concept model used as a detector
(``--detector sam3``) all produce the same :class:`Detection` lists, with one set of rules:

* ``image_id`` may be an integer (COCO) or a string (a file name or its stem);
* ``category_id`` defaults to 1, ``score`` to 1.0; both must be numbers;
* boxes below ``score_thr`` and boxes of zero area are dropped and counted (a detector
  that emits a degenerate box must not abort a whole run); anything else malformed is a
  one-line :class:`~zoo.errors.InputError` naming the entry.

Numpy- and torch-free.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zoo.errors import InputError

__all__ = ["Detection", "DetectionFile", "read_detections", "select_for_image"]


@dataclass(frozen=True)
class Detection:
    """One detector output: ``box`` x1,y1,x2,y2 pixels; ``segmentation`` an optional modal
    mask (RLE or polygons) a family may use (SAMEO draws it as the visible part)."""

    image_id: Any
    box: tuple[float, float, float, float]
    score: float = 1.0
    category_id: int = 1
    segmentation: Any = None
    #: the concept a concept model found it for (``--detector``), else ``None``
    label: str | None = None


@dataclass
class DetectionFile:
    """Detections grouped per image, and what was dropped on the way."""

    by_image: dict[Any, list[Detection]] = field(default_factory=dict)
    stats: dict[str, int] = field(
        default_factory=lambda: {"read": 0, "kept": 0, "below_threshold": 0, "zero_area": 0}
    )
    source: str = ""

    def for_key(self, key: Any) -> list[Detection]:
        """The detections of one batch item (its integer key, or its file name)."""
        if key in self.by_image:
            return self.by_image[key]
        return self.by_image.get(str(key), [])

    def for_item(self, key: Any, location: str | None = None) -> list[Detection]:
        """A batch item's detections: by its key (COCO image id or position), else by the
        file name or stem of its location."""
        found = self.for_key(key)
        if found or location is None:
            return found
        name = Path(str(location)).name
        return self.by_image.get(name) or self.by_image.get(Path(name).stem) or []

    def notes(self) -> list[str]:
        n = self.stats.get("zero_area", 0)
        return [f"{n} detection(s) with zero-area boxes were skipped"] if n else []


def _number(value: Any, what: str, k: int, path: str) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise InputError(f"detections[{k}] in {path} has a non-numeric {what} {value!r}") from None
    if not math.isfinite(v):
        raise InputError(f"detections[{k}] in {path} has a non-finite {what}")
    return v


def parse_detections(
    data: Any, *, score_thr: float | None = None, source: str = "detections"
) -> DetectionFile:
    """:func:`read_detections` for data already in memory (a list of dicts)."""
    if isinstance(data, Mapping):
        for key in ("detections", "annotations"):
            if isinstance(data.get(key), list):
                data = data[key]
                break
    if not isinstance(data, list):
        raise InputError(
            f"{source} must be a COCO results list like "
            '[{"image_id": 1, "bbox": [x, y, w, h], "score": 0.9, "category_id": 1}]'
        )
    out = DetectionFile(source=source)
    out.stats["read"] = len(data)
    thr = 0.0 if score_thr is None else float(score_thr)
    for k, d in enumerate(data):
        if not isinstance(d, Mapping) or "image_id" not in d:
            raise InputError(f"detections[{k}] in {source} needs 'image_id' and 'bbox'")
        image_id = d["image_id"]
        if isinstance(image_id, bool) or not isinstance(image_id, (int, str)):
            raise InputError(
                f"detections[{k}] in {source} has image_id {image_id!r}; use an integer or "
                "the image's file name"
            )
        box = d.get("bbox")
        if not isinstance(box, Sequence) or isinstance(box, str) or len(box) != 4:
            raise InputError(
                f"detections[{k}] in {source} has bbox {box!r}; COCO boxes are 4 numbers x,y,w,h"
            )
        x, y, w, h = (_number(v, "bbox value", k, source) for v in box)
        score = _number(d.get("score", 1.0), "score", k, source)
        cat = d.get("category_id", 1)
        if isinstance(cat, bool) or (isinstance(cat, float) and not cat.is_integer()):
            raise InputError(f"detections[{k}] in {source} has category_id {cat!r}; use an integer")
        try:
            cat = int(cat)
        except (TypeError, ValueError):
            raise InputError(
                f"detections[{k}] in {source} has category_id {cat!r}; use an integer"
            ) from None
        if w <= 0 or h <= 0:
            out.stats["zero_area"] += 1
            continue
        if score < thr:
            out.stats["below_threshold"] += 1
            continue
        det = Detection(
            image_id=image_id,
            box=(x, y, x + w, y + h),
            score=score,
            category_id=cat,
            segmentation=d.get("segmentation"),
            label=d.get("label") if isinstance(d.get("label"), str) else None,
        )
        out.by_image.setdefault(image_id, []).append(det)
        out.stats["kept"] += 1
    return out


def read_detections(
    path: str | os.PathLike[str], score_thr: float | None = None, *, flag: str = "--detections"
) -> DetectionFile:
    """Read a detections file (see the module docstring); one-line errors name the entry."""
    from zoo.io.jsonfiles import read_json

    data = read_json(path, "detections file", flag)
    return parse_detections(data, score_thr=score_thr, source=f"{flag} {Path(path).name}")


def select_for_image(
    dets: DetectionFile, image: str | os.PathLike[str], image_id: str | None = None
) -> tuple[Any, list[Detection]]:
    """The detections of one ``--image`` in a (possibly multi-image) file: by ``--image-id``,
    by the file's only image, or by the image's file name or stem."""
    if image_id is not None:
        for key, items in dets.by_image.items():
            if str(key) == str(image_id):
                return key, items
        ids = ", ".join(str(k) for k in list(dets.by_image)[:5]) or "none"
        raise InputError(
            f"--image-id {image_id} has no detections in {dets.source} (above the score "
            f"threshold); its ids include {ids}"
        )
    if not dets.by_image:
        return None, []
    if len(dets.by_image) == 1:
        return next(iter(dets.by_image.items()))
    p = Path(image)
    for key, items in dets.by_image.items():
        if str(key) in (p.name, p.stem):
            return key, items
    raise InputError(
        f"{dets.source} holds detections for {len(dets.by_image)} images; say which one "
        "--image is with --image-id ID"
    )
