"""Reading amodal annotations (detections are read by the core: :mod:`zoo.detections`).

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

import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from zoo.data.adapters import AMODAL
from zoo.data.coco import read_coco
from zoo.errors import InputError
from zoo.io.masks import decode_segmentation, segmentation_rle

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
