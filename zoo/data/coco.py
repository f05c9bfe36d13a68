"""A small reader for COCO *instance* annotations: images, boxes and masks.

Several plugins train or evaluate on "an image folder plus a COCO JSON" (the format every
labelling tool exports), so the parsing and the error messages live here once. The API is
three classes and one function:

* :class:`CocoDataset` ``(annotations, images_dir)``: validates the JSON against the folder
  up front (every referenced image id exists, every image file is present) so that a
  typo fails in a second instead of half-way through a training run.
* :class:`CocoImage`: one image entry: ``load()`` the RGB pixels, its ``instances``,
  ``boxes()`` (``N x 4`` ``x1, y1, x2, y2``) and ``masks()`` (``N x H x W`` bool).
* :class:`CocoInstance`: one annotation: ``box`` (``x1, y1, x2, y2``), ``category_id``,
  ``has_mask`` and ``mask(h, w)`` (polygons, uncompressed or compressed RLE, decoded by
  pycocotools).
* :func:`build_coco`: the reverse direction, ``masks -> COCO dict`` (RLE segmentations),
  for tools that *write* datasets (synthetic data, corrupted copies).

Example::

    from zoo.data.coco import CocoDataset

    ds = CocoDataset("instances_val.json", "val2017/", require_masks=True)
    for item in ds:
        rgb = item.load()            # H x W x 3 uint8
        masks = item.masks()         # N x H x W bool, one per instance
        boxes = item.boxes()         # N x 4 float32, x1, y1, x2, y2 (pixels)

Conventions: boxes are converted from COCO's ``[x, y, w, h]`` to ``x1, y1, x2, y2``
(``x2 = x + w``), the convention of :mod:`zoo.tasks`. Annotations marked ``iscrowd`` are
skipped by default (they describe groups, not instances). Every problem a user can fix
raises :class:`zoo.errors.InputError` with a one-line message naming the file, the id and
the fix.

Only numpy, Pillow and the standard library are imported at module level.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from zoo.errors import InputError

__all__ = [
    "IMAGE_SUFFIXES",
    "CocoDataset",
    "CocoImage",
    "CocoInstance",
    "build_coco",
    "check_images_dir",
    "list_images",
]

#: File suffixes treated as images when a folder is scanned.
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")


def _iter_images(root: Path) -> Iterator[Path]:
    return (p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def check_images_dir(folder: str | os.PathLike[str]) -> Path:
    """``folder`` as a Path, or an ``InputError`` if it is missing, a file, or has no image.

    "The folder is empty" gets its own message because it is far more common than a single
    missing file (wrong folder, unmounted disk). Stops at the first image found, so it is
    cheap even on a 100k-image folder.
    """
    root = Path(folder)
    if not root.exists():
        raise InputError(f"images folder {root} does not exist; check --images")
    if not root.is_dir():
        raise InputError(f"--images {root} is a file; give the folder that holds the images")
    if next(_iter_images(root), None) is None:
        raise InputError(
            f"images folder {root} contains no images ({', '.join(IMAGE_SUFFIXES)}); check --images"
        )
    return root


def list_images(folder: str | os.PathLike[str]) -> list[Path]:
    """Every image file under ``folder`` (recursively), sorted; an ``InputError`` if none."""
    root = check_images_dir(folder)
    return sorted(_iter_images(root))


# --------------------------------------------------------------------------- records


@dataclass
class CocoInstance:
    """One annotation. ``segmentation`` is kept raw and decoded on demand (it is big)."""

    id: int
    image_id: int
    category_id: int
    box: tuple[float, float, float, float]
    segmentation: Any = None
    area: float = 0.0
    iscrowd: bool = False

    @property
    def has_mask(self) -> bool:
        """True when the annotation carries a polygon or an RLE (boxes-only sets do not)."""
        seg = self.segmentation
        if seg is None:
            return False
        if isinstance(seg, Mapping):
            return "counts" in seg and "size" in seg
        if isinstance(seg, list):
            return any(isinstance(p, list) and len(p) >= 6 for p in seg)
        return False

    def mask(self, height: int, width: int) -> np.ndarray:
        """Decode the segmentation into an ``H x W`` bool mask (pycocotools)."""
        if not self.has_mask:
            raise InputError(
                f"annotation {self.id} (image {self.image_id}) has no segmentation mask; "
                "use annotations with polygons or RLE masks"
            )
        from pycocotools import mask as mask_utils

        seg = self.segmentation
        try:
            if isinstance(seg, list):
                polys = [p for p in seg if isinstance(p, list) and len(p) >= 6]
                rles = mask_utils.frPyObjects(polys, height, width)
                rle = mask_utils.merge(rles)
            elif isinstance(seg.get("counts"), list):
                rle = mask_utils.frPyObjects(seg, height, width)
            else:
                counts = seg["counts"]
                size = [int(v) for v in seg["size"]]
                if size != [height, width]:
                    raise InputError(
                        f"annotation {self.id}: RLE size {size[1]}x{size[0]} differs from "
                        f"image {self.image_id} ({width}x{height}); the mask belongs to "
                        "another image size"
                    )
                rle = {
                    "size": size,
                    "counts": counts.encode("ascii") if isinstance(counts, str) else counts,
                }
            with warnings.catch_warnings():
                # pycocotools predates NumPy 2's __array__(copy=) protocol and warns on
                # every decode; the result is correct.
                warnings.simplefilter("ignore", DeprecationWarning)
                decoded = mask_utils.decode(rle)
        except InputError:
            raise
        except Exception as exc:
            raise InputError(
                f"annotation {self.id} (image {self.image_id}) has an unreadable segmentation "
                f"({type(exc).__name__}: {exc}); fix or drop it"
            ) from exc
        if decoded.ndim == 3:
            decoded = decoded.max(axis=2)
        return np.ascontiguousarray(decoded.astype(bool))


@dataclass
class CocoImage:
    """One image entry with its (non-crowd) instances."""

    id: int
    file_name: str
    path: Path
    height: int
    width: int
    instances: list[CocoInstance] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.instances)

    def load(self) -> np.ndarray:
        """The image as ``H x W x 3 uint8`` RGB, checked against the annotated size."""
        from zoo.io.images import load_image

        img = load_image(self.path)
        if img.shape[:2] != (self.height, self.width):
            raise InputError(
                f"image {self.id} ({self.path.name}) is {img.shape[1]}x{img.shape[0]} but the "
                f"annotations say {self.width}x{self.height}; the folder holds other images "
                "than the JSON describes"
            )
        return img

    def boxes(self) -> np.ndarray:
        """``N x 4`` float32 boxes ``x1, y1, x2, y2`` in pixels."""
        if not self.instances:
            return np.zeros((0, 4), dtype=np.float32)
        return np.array([i.box for i in self.instances], dtype=np.float32)

    def masks(self) -> np.ndarray:
        """``N x H x W`` bool masks, one per instance (``InputError`` if one has none)."""
        if not self.instances:
            return np.zeros((0, self.height, self.width), dtype=bool)
        return np.stack([i.mask(self.height, self.width) for i in self.instances])

    @property
    def category_ids(self) -> list[int]:
        return [i.category_id for i in self.instances]


# --------------------------------------------------------------------------- dataset


def _int_id(value: Any, what: str, path: Path) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise InputError(f"{path}: {what} {value!r} is not an integer id") from None


def _box_from(
    ann: Mapping[str, Any], ann_id: int, path: Path
) -> tuple[float, float, float, float] | None:
    bbox = ann.get("bbox")
    if bbox is None:
        return None
    try:
        x, y, w, h = (float(v) for v in bbox)
    except (TypeError, ValueError):
        raise InputError(
            f"{path}: annotation {ann_id} has a malformed bbox {bbox!r}; "
            "COCO boxes are [x, y, w, h]"
        ) from None
    if not all(np.isfinite([x, y, w, h])):
        raise InputError(f"{path}: annotation {ann_id} has a non-finite bbox {bbox!r}")
    return (x, y, x + w, y + h)


class CocoDataset(Sequence[CocoImage]):
    """COCO instance annotations joined with an image folder, validated on construction.

    Args:
        annotations: path to the COCO JSON (or an already parsed dict).
        images_dir: folder holding the images; ``file_name`` is looked up relative to it,
            then by its base name (exports often keep a ``train2017/`` prefix).
        require_masks: ``True`` (or a string saying *why*, used in the message) makes a
            missing segmentation an error up front instead of at decode time.
        include_crowd: keep ``iscrowd`` annotations (skipped by default).
        image_ids: restrict to these image ids (an unknown id is an error).
        drop_empty: leave out images that have no (non-crowd) instance.

    Raises:
        InputError: missing/invalid JSON, empty or missing folder, an annotation pointing
            at an image id that is not listed, a listed image absent from the folder,
            masks required but absent, unknown ``image_ids``.
    """

    def __init__(
        self,
        annotations: str | os.PathLike[str] | Mapping[str, Any],
        images_dir: str | os.PathLike[str],
        *,
        require_masks: bool | str = False,
        include_crowd: bool = False,
        image_ids: Sequence[int] | None = None,
        drop_empty: bool = False,
    ) -> None:
        self.images_dir = Path(images_dir)
        check_images_dir(self.images_dir)  # existence / emptiness, with their own messages
        if isinstance(annotations, Mapping):
            data: Any = annotations
            self.annotations_path = Path("<dict>")
        else:
            self.annotations_path = Path(annotations)
            data = self._read_json(self.annotations_path)
        src = self.annotations_path
        if not isinstance(data, Mapping) or not isinstance(data.get("images"), list):
            raise InputError(
                f"{src} is not a COCO instance file: it needs an 'images' list (and "
                "'annotations'); export COCO format from your labelling tool"
            )
        anns = data.get("annotations")
        if anns is None:
            anns = []
        if not isinstance(anns, list):
            raise InputError(f"{src}: 'annotations' must be a list")
        self.categories: dict[int, str] = {}
        for c in data.get("categories") or []:
            if isinstance(c, Mapping) and "id" in c:
                self.categories[_int_id(c["id"], "category id", src)] = str(c.get("name", c["id"]))

        entries: dict[int, dict[str, Any]] = {}
        for im in data["images"]:
            if not isinstance(im, Mapping) or "id" not in im or "file_name" not in im:
                raise InputError(
                    f"{src}: every image entry needs 'id' and 'file_name', got {im!r:.80}"
                )
            entries[_int_id(im["id"], "image id", src)] = dict(im)

        by_image: dict[int, list[CocoInstance]] = {i: [] for i in entries}
        for k, ann in enumerate(anns):
            if not isinstance(ann, Mapping) or "image_id" not in ann:
                raise InputError(f"{src}: annotation #{k} has no 'image_id'")
            ann_id = _int_id(ann.get("id", k), "annotation id", src)
            img_id = _int_id(ann["image_id"], "image id", src)
            if img_id not in entries:
                raise InputError(
                    f"{src}: annotation {ann_id} refers to image id {img_id}, which is not in "
                    "'images'; the JSON is incomplete or mixes two exports"
                )
            crowd = bool(ann.get("iscrowd", 0))
            if crowd and not include_crowd:
                continue
            inst = CocoInstance(
                id=ann_id,
                image_id=img_id,
                category_id=int(ann.get("category_id", 1)),
                box=(0.0, 0.0, 0.0, 0.0),
                segmentation=ann.get("segmentation"),
                area=float(ann.get("area", 0.0) or 0.0),
                iscrowd=crowd,
            )
            box = _box_from(ann, ann_id, src)
            if box is None and not inst.has_mask:
                raise InputError(
                    f"{src}: annotation {ann_id} has neither a bbox nor a segmentation; "
                    "every instance needs at least a box"
                )
            if box is not None:
                inst.box = box
            else:
                inst.box = (float("nan"),) * 4  # type: ignore[assignment]  # filled below
            if require_masks and not inst.has_mask:
                why = require_masks if isinstance(require_masks, str) else "masks are required"
                raise InputError(
                    f"{src}: annotation {ann_id} (image {img_id}) has no segmentation mask; {why}"
                )
            by_image[img_id].append(inst)

        wanted = list(entries) if image_ids is None else [int(i) for i in image_ids]
        unknown = [i for i in wanted if i not in entries]
        if unknown:
            raise InputError(
                f"image id {unknown[0]} is not in {src} ({len(entries)} images listed); "
                "check the ids you asked for"
            )
        self.images: list[CocoImage] = []
        for img_id in sorted(wanted):
            im = entries[img_id]
            path = self._find_file(str(im["file_name"]), img_id)
            h, w = im.get("height"), im.get("width")
            if h is None or w is None:
                from PIL import Image

                with Image.open(path) as pil:
                    w, h = pil.size
            item = CocoImage(
                id=img_id,
                file_name=str(im["file_name"]),
                path=path,
                height=int(h),
                width=int(w),
                instances=by_image[img_id],
            )
            for inst in item.instances:
                if not np.isfinite(inst.box[0]):
                    from zoo.io.masks import mask_bbox

                    x, y, bw, bh = mask_bbox(inst.mask(item.height, item.width))
                    inst.box = (x, y, x + bw, y + bh)
            if drop_empty and not item.instances:
                continue
            self.images.append(item)
        self._by_id = {im.id: im for im in self.images}

    # ------------------------------------------------------------------ helpers
    @staticmethod
    def _read_json(path: Path) -> Any:
        if not path.exists():
            raise InputError(f"annotations file {path} does not exist; check --annotations")
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise InputError(
                f"annotations file {path} is not valid JSON: {exc.msg} (line {exc.lineno})"
            ) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"cannot read annotations file {path}: {exc}") from None

    def _find_file(self, file_name: str, image_id: int) -> Path:
        direct = self.images_dir / file_name
        if direct.is_file():
            return direct
        base = self.images_dir / Path(file_name).name
        if base.is_file():
            return base
        raise InputError(
            f"image {image_id} ({file_name}) is not in {self.images_dir}; the annotations and "
            "the images folder do not match (check --images)"
        )

    # ------------------------------------------------------------------ sequence API
    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> CocoImage:  # type: ignore[override]
        return self.images[index]

    def __iter__(self) -> Iterator[CocoImage]:
        return iter(self.images)

    def by_id(self, image_id: int) -> CocoImage:
        """The image with COCO id ``image_id`` (``InputError`` if it is not in this set)."""
        try:
            return self._by_id[int(image_id)]
        except KeyError:
            raise InputError(f"image id {image_id} is not in {self.annotations_path}") from None

    @property
    def num_instances(self) -> int:
        return sum(len(im) for im in self.images)

    @property
    def has_masks(self) -> bool:
        """True when every instance carries a segmentation (so masks() never fails)."""
        return all(inst.has_mask for im in self.images for inst in im.instances)

    def subset(self, image_ids: Sequence[int]) -> CocoDataset:
        """A view on some of the images (same objects, no re-validation)."""
        new = object.__new__(CocoDataset)
        new.__dict__.update(self.__dict__)
        keep = {int(i) for i in image_ids}
        new.images = [im for im in self.images if im.id in keep]
        new._by_id = {im.id: im for im in new.images}
        return new


# --------------------------------------------------------------------------- writing


def build_coco(
    items: Sequence[Mapping[str, Any]],
    categories: Mapping[int, str] | None = None,
) -> dict[str, Any]:
    """A COCO instance dict from ``[{"file_name", "masks", "category_ids"?, "boxes_only"?}]``.

    Masks are written as compressed RLE with ``bbox`` and ``area`` from the mask;
    ``boxes_only=True`` drops the segmentation (to build weakly labelled sets). Image and
    annotation ids count from 1. Write the result with :func:`zoo.io.masks.write_json`.
    """
    from zoo.io.masks import encode_rles, mask_bbox

    images, anns = [], []
    ann_id = 1
    for img_id, item in enumerate(items, start=1):
        masks = np.asarray(item["masks"]).astype(bool)
        if masks.ndim != 3:
            raise InputError(f"{item.get('file_name')}: masks must be N x H x W, got {masks.shape}")
        h, w = int(masks.shape[1]), int(masks.shape[2])
        images.append({"id": img_id, "file_name": str(item["file_name"]), "height": h, "width": w})
        cats = list(item.get("category_ids") or [1] * len(masks))
        for m, rle, cat in zip(masks, encode_rles(masks), cats, strict=True):
            entry: dict[str, Any] = {
                "id": ann_id,
                "image_id": img_id,
                "category_id": int(cat),
                "iscrowd": 0,
                "bbox": mask_bbox(m),
                "area": float(m.sum()),
            }
            if not item.get("boxes_only"):
                entry["segmentation"] = rle
            anns.append(entry)
            ann_id += 1
    names = categories or {1: "object"}
    return {
        "images": images,
        "annotations": anns,
        "categories": [{"id": int(k), "name": str(v)} for k, v in sorted(names.items())],
    }
