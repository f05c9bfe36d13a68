"""Where each COCO dialect keeps an instance's mask, box and visible part.

Amodal and shadow datasets are COCO files with extra or renamed keys; everything else
(reading the JSON, checking ids, finding images, decoding masks) is the same. So the
reader in :mod:`zoo.data.coco` is written once and asks an :class:`AnnotationAdapter`
the dataset-specific questions: which keys hold the mask and the box, which hold the
visible part, which role a category plays. An adapter is a small frozen object, not a
reader: it never parses JSON and decodes only through
:func:`zoo.io.masks.decode_segmentation`.

Built in:

* :data:`COCO_INSTANCES`: plain COCO ``segmentation``/``bbox``; in a modal dataset the
  mask *is* the visible part.
* :data:`AMODAL`: ``segmentation``/``bbox`` (or the original KINS ``a_segm``/``a_bbox``)
  are the whole object; the visible part is ``visible_mask``/``visible_bbox`` (COCOA-cls,
  D2SA and the synthetic-occlusion generator), ``inmodal_seg``/``inmodal_bbox`` (KINS,
  COCO-style release) or ``i_segm``/``i_bbox`` (original KINS).
* :class:`SobaAdapter`: SOBA instance shadows: object and shadow categories (found by
  name), the per-image ``association`` number pairing an object with its shadow, and the
  ``association_anno`` section.

A method with its own dialect writes another adapter (``AnnotationAdapter(name=...,
mask_keys=...)`` or a subclass) in its plugin and hands it to the core reader.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from zoo.errors import InputError

__all__ = [
    "AMODAL",
    "COCO_INSTANCES",
    "AnnotationAdapter",
    "Box",
    "SobaAdapter",
    "is_mask",
    "xywh_to_xyxy",
]

#: ``x1, y1, x2, y2`` in pixels (the convention of :mod:`zoo.tasks`).
Box = tuple[float, float, float, float]


def _label(ann: Mapping[str, Any]) -> str:
    return f"annotation {ann.get('id')} (image {ann.get('image_id')})"


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, (list, tuple, Mapping)) and len(value) == 0)


def _first(ann: Mapping[str, Any], keys: Sequence[str]) -> Any:
    """The first non-empty value among ``keys``; else the first present one (an empty
    polygon list is still "annotated, covers nothing"); else ``None``."""
    present = [ann[k] for k in keys if ann.get(k) is not None]
    return next((v for v in present if not _empty(v)), present[0] if present else None)


def xywh_to_xyxy(box: Any, what: str = "bbox") -> Box:
    """A COCO ``[x, y, w, h]`` box as ``x1, y1, x2, y2``; ``InputError`` if malformed."""
    try:
        x, y, w, h = (float(v) for v in box)
    except (TypeError, ValueError):
        raise InputError(
            f"{what} {box!r:.60} is not 4 numbers; COCO boxes are [x, y, w, h]"
        ) from None
    if not all(math.isfinite(v) for v in (x, y, w, h)):
        raise InputError(f"{what} {box!r:.60} is not finite; COCO boxes are [x, y, w, h]")
    return (x, y, x + w, y + h)


def is_mask(segmentation: Any) -> bool:
    """True for an RLE (``size`` and ``counts``) or polygons with at least one real
    polygon (three points); boxes-only datasets carry neither."""
    if isinstance(segmentation, Mapping):
        return "counts" in segmentation and "size" in segmentation
    if isinstance(segmentation, (list, tuple)):
        if segmentation and all(isinstance(v, (int, float)) for v in segmentation):
            return len(segmentation) >= 6  # one flat polygon
        return any(isinstance(p, (list, tuple)) and len(p) >= 6 for p in segmentation)
    return isinstance(segmentation, np.ndarray) and segmentation.ndim == 2


@dataclass(frozen=True)
class AnnotationAdapter:
    """The keys one COCO dialect uses, looked up in order (first non-empty wins).

    ``mask_keys``/``box_keys`` describe the instance (the whole object for amodal data);
    ``visible_mask_keys``/``visible_box_keys`` the part that can be seen. Boxes come back
    as ``x1, y1, x2, y2``. Methods take one raw annotation dict and never modify it.
    """

    name: str = "coco"
    mask_keys: tuple[str, ...] = ("segmentation",)
    box_keys: tuple[str, ...] = ("bbox",)
    visible_mask_keys: tuple[str, ...] = ("segmentation",)
    visible_box_keys: tuple[str, ...] = ("bbox",)

    def segmentation(self, ann: Mapping[str, Any]) -> Any:
        """The raw mask value (polygons or RLE), ``None`` when absent."""
        return _first(ann, self.mask_keys)

    def visible_segmentation(self, ann: Mapping[str, Any]) -> Any:
        """The raw visible-part value, ``None`` when the dataset does not annotate it."""
        return _first(ann, self.visible_mask_keys)

    def box(self, ann: Mapping[str, Any]) -> Box | None:
        """The instance box, ``None`` when absent; ``InputError`` when malformed."""
        return self._box(ann, self.box_keys)

    def visible_box(self, ann: Mapping[str, Any]) -> Box | None:
        """The visible-part box, ``None`` when absent; ``InputError`` when malformed."""
        return self._box(ann, self.visible_box_keys)

    def has_mask(self, ann: Mapping[str, Any]) -> bool:
        return is_mask(self.segmentation(ann))

    def mask(self, ann: Mapping[str, Any], height: int, width: int) -> np.ndarray:
        """The instance mask, ``H x W`` bool (``InputError`` if there is none)."""
        seg = self.segmentation(ann)
        if seg is None:
            raise InputError(
                f"{_label(ann)} has no {' / '.join(self.mask_keys)} mask; use annotations "
                "with polygons or RLE masks"
            )
        return self._decode(ann, seg, height, width)

    def visible_mask(self, ann: Mapping[str, Any], height: int, width: int) -> np.ndarray | None:
        """The visible part, ``H x W`` bool, or ``None`` when it is not annotated."""
        seg = self.visible_segmentation(ann)
        return None if seg is None else self._decode(ann, seg, height, width)

    def _box(self, ann: Mapping[str, Any], keys: Sequence[str]) -> Box | None:
        for key in keys:
            if not _empty(ann.get(key)):
                return xywh_to_xyxy(ann[key], f"{_label(ann)}: {key}")
        return None

    @staticmethod
    def _decode(ann: Mapping[str, Any], seg: Any, height: int, width: int) -> np.ndarray:
        from zoo.io.masks import decode_segmentation

        try:
            return decode_segmentation(seg, height, width)
        except InputError as exc:
            raise InputError(f"{_label(ann)}: {exc}") from None


#: Plain COCO instances.
COCO_INSTANCES = AnnotationAdapter()

#: COCOA-cls, D2SA, KINS (both key sets) and :mod:`zoo_sameo.occlusion` output.
AMODAL = AnnotationAdapter(
    name="amodal",
    mask_keys=("segmentation", "a_segm"),
    box_keys=("bbox", "a_bbox"),
    visible_mask_keys=("visible_mask", "inmodal_seg", "i_segm"),
    visible_box_keys=("visible_bbox", "inmodal_bbox", "i_bbox"),
)


@dataclass(frozen=True)
class SobaAdapter(AnnotationAdapter):
    """SOBA (Wang et al., CVPR 2020): objects and their shadows in one COCO file.

    Each object and each shadow is an annotation with ``category_id`` object or shadow
    and an ``association`` number shared by the pair within its image; the
    ``association_anno`` section holds one mask per pair (object and shadow together).
    Category ids are looked up by name (:meth:`for_categories`) because the released
    files and third-party exports do not agree on them.
    """

    name: str = "soba"
    object_category: int = 1
    shadow_category: int = 2

    @classmethod
    def for_categories(cls, categories: Sequence[Mapping[str, Any]]) -> SobaAdapter:
        """Object and shadow ids from categories named ``object``/``shadow`` (any case),
        else 1 and 2 (the SOBA release)."""
        ids = {"object": 1, "shadow": 2}
        for c in categories:
            name = str(c.get("name", "")).strip().lower()
            if name in ids:
                ids[name] = int(c["id"])
        return cls(object_category=ids["object"], shadow_category=ids["shadow"])

    def role(self, ann: Mapping[str, Any]) -> Literal["object", "shadow"] | None:
        """``"object"``, ``"shadow"``, or ``None`` for any other category."""
        cat = ann.get("category_id")
        if cat == self.object_category:
            return "object"
        if cat == self.shadow_category:
            return "shadow"
        return None

    def association(self, ann: Mapping[str, Any]) -> int | None:
        """The pair number (0 or less: unpaired), ``None`` when the key is missing."""
        if "association" not in ann:
            return None
        try:
            return int(ann["association"])
        except (TypeError, ValueError):
            raise InputError(
                f"{_label(ann)} has association {ann['association']!r}; expected an integer"
            ) from None
