"""Reading amodal annotations and detections.

Amodal datasets all extend COCO and name the visible part differently (COCOA-cls / D2SA
``visible_mask``, KINS ``inmodal_seg`` or ``i_segm``, :mod:`zoo_sameo.occlusion`
``visible_mask`` plus ``visible_bbox``). The core reader (:func:`zoo.data.coco.read_coco`)
parses and checks the JSON, the :data:`zoo.data.adapters.AMODAL` adapter knows those keys,
and :func:`zoo.io.masks.decode_segmentation` decodes the masks; what is left here is
SAMEO's policy for imperfect data:

An annotation with no visible part has its amodal box as modal box (with a warning), and
belongs to neither the occluded nor the unoccluded evaluation subset. ``iscrowd``
annotations are not instances (nothing is prompted with or trained on them) but each
image's ``crowd`` regions, which :meth:`AmodalDataset.coco_gt` hands to pycocotools with
``iscrowd`` 1, so a detection on one is ignored as COCO evaluation defines it. Annotations without
a usable mask or box are skipped (counted in a warning). Masks are decoded lazily (a
KINS-size file holds ~100k instances).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from zoo.data.adapters import AMODAL
from zoo.data.coco import read_coco, read_json
from zoo.errors import InputError
from zoo.io.masks import decode_segmentation, segmentation_rle


def _valid_box(b: Any) -> bool:
    try:
        vals = [float(v) for v in b]
    except (TypeError, ValueError):
        return False
    return len(vals) == 4 and all(math.isfinite(v) for v in vals)


# --------------------------------------------------------------------------- annotations


@dataclass
class AmodalAnnotation:
    """One ground-truth instance. Boxes are ``x1, y1, x2, y2`` pixels."""

    id: int
    image_id: Any
    category_id: int
    amodal_box: tuple[float, float, float, float]
    modal_box: tuple[float, float, float, float]
    segmentation: Any
    visible_segmentation: Any = None
    iscrowd: int = 0

    @property
    def visible_known(self) -> bool:
        return self.visible_segmentation is not None

    def amodal_mask(self, height: int, width: int) -> np.ndarray:
        return decode_segmentation(self.segmentation, height, width)

    def visible_mask(self, height: int, width: int) -> np.ndarray | None:
        """The visible part (clipped to the amodal mask), or ``None`` when not annotated."""
        if self.visible_segmentation is None:
            return None
        return decode_segmentation(self.visible_segmentation, height, width)


@dataclass
class AmodalImage:
    id: Any
    file_name: str
    path: Path
    height: int
    width: int
    annotations: list[AmodalAnnotation] = field(default_factory=list)
    #: ``iscrowd`` regions: ignore regions for AP, never instances
    crowd: list[AmodalAnnotation] = field(default_factory=list)


@dataclass
class AmodalDataset:
    """A COCO-amodal dataset: images (with their instances) and categories."""

    images: list[AmodalImage]
    categories: list[dict[str, Any]]
    source: str = ""
    warnings: list[str] = field(default_factory=list)

    @property
    def num_instances(self) -> int:
        return sum(len(im.annotations) for im in self.images)

    def by_id(self) -> dict[Any, AmodalImage]:
        return {im.id: im for im in self.images}

    def coco_gt(self) -> dict[str, Any]:
        """A plain COCO ground-truth dict of the amodal masks (for ``coco_segm_ap``), crowd
        regions included with ``iscrowd`` 1 (pycocotools' ignore regions)."""
        images = [
            {"id": im.id, "file_name": im.file_name, "height": im.height, "width": im.width}
            for im in self.images
        ]
        anns = []
        for im in self.images:
            for a in [*im.annotations, *im.crowd]:
                seg = a.segmentation
                if isinstance(seg, list):  # polygons: pycocotools needs the image size
                    seg = segmentation_rle(seg, im.height, im.width)
                x1, y1, x2, y2 = a.amodal_box
                anns.append(
                    {
                        "id": a.id,
                        "image_id": im.id,
                        "category_id": a.category_id,
                        "segmentation": seg,
                        "bbox": [x1, y1, x2 - x1, y2 - y1],
                        "iscrowd": a.iscrowd,
                    }
                )
        return {"images": images, "annotations": anns, "categories": self.categories}


def _usable_box(box: tuple[float, float, float, float] | None) -> bool:
    return box is not None and box[2] > box[0] and box[3] > box[1]


def load_amodal_coco(
    annotations: str | Path | Mapping[str, Any],
    images_dir: str | Path,
    *,
    check_images: bool = True,
    skip_crowd: bool = True,
) -> AmodalDataset:
    """Read a COCO-amodal JSON (COCOA-cls, D2SA, KINS or :mod:`zoo_sameo.occlusion` style).

    ``check_images`` verifies up front that every image with annotations exists in
    ``images_dir`` - far better than failing after an hour of training. Images without
    instances are kept (they still count for false positives in evaluation). Images
    without ``height``/``width`` are measured from the file header. ``skip_crowd``
    (default): ``iscrowd`` annotations are not instances but the image's ``crowd``
    regions; ``False`` makes them instances like any other.
    """
    coco = read_coco(annotations)
    src = "" if isinstance(annotations, Mapping) else str(annotations)
    images_dir = Path(images_dir)
    if not images_dir.is_dir():
        raise InputError(f"image folder {images_dir} does not exist; check --images")

    images: dict[int, AmodalImage] = {}
    for image_id, entry, _ in coco.iter_images():
        name = str(entry["file_name"])
        path = coco.find_image(image_id, images_dir) or images_dir / name
        h, w = int(entry.get("height") or 0), int(entry.get("width") or 0)
        images[image_id] = AmodalImage(image_id, name, path, h, w)

    no_visible = empty = 0
    needs_modal_box: list[tuple[AmodalImage, AmodalAnnotation]] = []
    for ann in coco.annotations:
        crowd = skip_crowd and bool(ann.get("iscrowd", 0))
        img = images[int(ann["image_id"])]
        with coco.context():  # a malformed box
            amodal_box, modal_box = AMODAL.box(ann), AMODAL.visible_box(ann)
        seg = AMODAL.segmentation(ann)
        if crowd:
            if seg and amodal_box is not None:  # an ignore region for AP, not an instance
                img.crowd.append(
                    AmodalAnnotation(
                        id=int(ann["id"]),
                        image_id=img.id,
                        category_id=int(ann.get("category_id", 1)),
                        amodal_box=amodal_box,
                        modal_box=amodal_box,
                        segmentation=seg,
                        iscrowd=1,
                    )
                )
            continue
        if not seg or amodal_box is None or not _usable_box(amodal_box):
            empty += 1
            continue
        vis = AMODAL.visible_segmentation(ann) or None
        if not _usable_box(modal_box):
            modal_box = None
        if vis is None:
            no_visible += 1
        a = AmodalAnnotation(
            id=int(ann["id"]),
            image_id=img.id,
            category_id=int(ann.get("category_id", 1)),
            amodal_box=amodal_box,
            modal_box=modal_box or amodal_box,
            segmentation=seg,
            visible_segmentation=vis,
            iscrowd=int(ann.get("iscrowd", 0)),
        )
        img.annotations.append(a)
        if modal_box is None and vis is not None:
            needs_modal_box.append((img, a))  # measured from the visible mask below

    kept = list(images.values())  # images without instances still count for false positives
    annotated = [im for im in kept if im.annotations]
    notes: list[str] = []
    if no_visible:
        notes.append(
            f"{no_visible} annotation(s) have no visible mask (neither 'visible_mask' nor "
            "'inmodal_seg'): their modal box is their amodal box, and they are left out of the "
            "occluded/unoccluded split"
        )
    if empty:
        notes.append(f"{empty} annotation(s) without a usable segmentation or box were skipped")
    for n in notes:
        warnings.warn(n, stacklevel=2)
    if not annotated:
        raise InputError(
            f"annotations {src or '(dict)'} hold no usable instances (need 'segmentation' and "
            "'bbox' per annotation)"
        )
    if check_images:
        missing = [im for im in annotated if not im.path.is_file()]
        if missing:
            raise InputError(
                f"{len(missing)} annotated image(s) are missing from {images_dir}, e.g. "
                f"{missing[0].file_name}; check --images"
            )
    for im in kept:
        if (im.height <= 0 or im.width <= 0) and im.path.is_file():
            im.height, im.width = coco.image_size(im.id, im.path)
    for im, a in needs_modal_box:
        vm = a.visible_mask(im.height, im.width)
        ys, xs = np.nonzero(vm) if vm is not None else ((), ())
        if len(xs):
            a.modal_box = (float(min(xs)), float(min(ys)), float(max(xs)) + 1, float(max(ys)) + 1)
    categories = coco.categories or [
        {"id": c, "name": str(c)}
        for c in sorted({a.category_id for im in kept for a in im.annotations})
    ]
    return AmodalDataset(
        images=kept, categories=[dict(c) for c in categories], source=src, warnings=notes
    )


def occlusion_rate(amodal: np.ndarray, visible: np.ndarray | None) -> float | None:
    """Hidden fraction of an instance, ``None`` when the visible part is unknown."""
    if visible is None:
        return None
    a = int(amodal.sum())
    return 0.0 if a == 0 else 1.0 - float((visible & amodal).sum()) / a


# --------------------------------------------------------------------------- detections


@dataclass
class Detection:
    """One detector output: ``box`` x1,y1,x2,y2 pixels; ``segmentation`` a modal mask."""

    image_id: Any
    box: tuple[float, float, float, float]
    score: float
    category_id: int | None
    segmentation: Any = None


def load_detections(
    path: str | Path, *, score_thr: float = 0.0
) -> tuple[dict[Any, list[Detection]], dict[str, int]]:
    """Read a COCO results-format detections JSON, grouped by image id.

    Accepts a plain list (what detectors write for ``COCOeval.loadRes``) or a dict with
    an ``annotations``/``detections`` list (``zoo run`` results). Entries below
    ``score_thr`` and boxes of zero area are dropped and counted, so a detector that
    outputs a degenerate box does not abort a whole evaluation. Anything else that is
    malformed is an :class:`InputError` naming the entry.
    """
    data = read_json(path, "detections file", "--detections")
    if isinstance(data, Mapping):
        for key in ("detections", "annotations"):
            if isinstance(data.get(key), list):
                data = data[key]
                break
    if not isinstance(data, list):
        raise InputError(
            f"detections file {path} must be a COCO results list like "
            '[{"image_id": 1, "bbox": [10, 20, 50, 40], "score": 0.9, "category_id": 1}] '
            "(bbox is x,y,w,h)"
        )
    out: dict[Any, list[Detection]] = {}
    stats = {"read": len(data), "kept": 0, "below_threshold": 0, "zero_area": 0}
    for k, d in enumerate(data):
        if not isinstance(d, Mapping):
            raise InputError(f"detections[{k}] in {path} is not an object with image_id and bbox")
        if "image_id" not in d:
            raise InputError(f"detections[{k}] in {path} has no 'image_id'")
        box = d.get("bbox")
        if not _valid_box(box):
            raise InputError(
                f"detections[{k}] in {path} has bbox {box!r}; COCO boxes are 4 numbers x,y,w,h"
            )
        score = d.get("score", 1.0)
        try:
            score = float(score)
        except (TypeError, ValueError):
            raise InputError(
                f"detections[{k}] in {path} has a non-numeric score {score!r}"
            ) from None
        if not math.isfinite(score):
            raise InputError(f"detections[{k}] in {path} has a non-finite score")
        x, y, w, h = (float(v) for v in box)  # type: ignore[union-attr]
        if w <= 0 or h <= 0:
            stats["zero_area"] += 1
            continue
        if score < score_thr:
            stats["below_threshold"] += 1
            continue
        cat = d.get("category_id")
        try:
            cat = None if cat is None else int(cat)
        except (TypeError, ValueError):
            raise InputError(
                f"detections[{k}] in {path} has category_id {cat!r}; use an integer"
            ) from None
        out.setdefault(d["image_id"], []).append(
            Detection(
                image_id=d["image_id"],
                box=(x, y, x + w, y + h),
                score=score,
                category_id=cat,
                segmentation=d.get("segmentation"),
            )
        )
        stats["kept"] += 1
    if stats["zero_area"]:
        warnings.warn(
            f"{stats['zero_area']} detection(s) with zero-area boxes were skipped", stacklevel=2
        )
    return out, stats


def clip_box(box: Sequence[float], height: int, width: int) -> tuple[float, float, float, float]:
    """Clip a box to the image: detectors often overshoot the border by a pixel or two."""
    x1, y1, x2, y2 = (float(v) for v in box)
    return (
        min(max(x1, 0.0), width),
        min(max(y1, 0.0), height),
        min(max(x2, 0.0), width),
        min(max(y2, 0.0), height),
    )
