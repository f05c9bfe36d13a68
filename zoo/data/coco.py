"""The one COCO reader: images, boxes and masks of any COCO-style dataset.

Plugins train or evaluate on "an image folder plus a COCO JSON" (the format every
labelling tool exports, and the base of the amodal and shadow datasets), so the parsing,
the checks and the error messages live here once:

* :func:`read_coco` ``(annotations)`` -> :class:`CocoFile`: the JSON read once and checked
  for structure (ids, image references, required keys), annotations grouped per image,
  nothing decoded. Every dataset reader starts here, including the amodal reader of
  ``zoo_sameo`` and the SOBA reader of ``zoo_opseg``.
* :class:`CocoDataset` ``(annotations, images_dir)``: a :class:`CocoFile` joined with an
  image folder and validated up front (every image file is present), so that a typo fails
  in a second instead of half-way through a training run. Items are :class:`CocoImage`
  (``load()``, ``boxes()``, ``masks()``) holding :class:`CocoInstance` (``box``,
  ``category_id``, ``has_mask``, ``mask(h, w)``, ``visible_mask(h, w)``).
* Dataset dialects are :mod:`zoo.data.adapters` (plain COCO, amodal, SOBA): which keys
  hold the mask, the box and the visible part. Masks are decoded only by
  :func:`zoo.io.masks.decode_segmentation` (polygons, compressed or uncompressed RLE).
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
(``x2 = x + w``), the convention of :mod:`zoo.tasks`. Image ids are integers. Annotations
marked ``iscrowd`` describe groups, not instances: by default they are not among an image's
``instances`` (nothing prompts or trains on them) but are kept in its ``crowd`` list, so that
evaluation can hand them to pycocotools as the ignore regions COCO defines them as. Every
problem a user can fix raises :class:`zoo.errors.InputError` with a one-line message
naming the file, the id and the fix. Annotation dicts are kept as parsed (no copies) and
masks are decoded on demand, so a KINS-size file (~100k instances) costs its JSON only.

Only numpy, Pillow and the standard library are imported at module level.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from zoo.data.adapters import AMODAL, COCO_INSTANCES, AnnotationAdapter, Box, SobaAdapter, is_mask
from zoo.errors import InputError, hint
from zoo.io.jsonfiles import read_json

__all__ = [
    "AMODAL",
    "COCO_INSTANCES",
    "IMAGE_SUFFIXES",
    "AnnotationAdapter",
    "CocoDataset",
    "CocoFile",
    "CocoImage",
    "CocoInstance",
    "SobaAdapter",
    "build_coco",
    "check_images_dir",
    "list_images",
    "read_coco",
    "read_json",
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


# --------------------------------------------------------------------------- reading


def _int_id(value: Any, what: str, src: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise InputError(f"{src}: {what} {value!r:.40} is not an integer; fix that entry") from None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


_NO_BOX: Box = (float("nan"),) * 4  # type: ignore[assignment]  # "measure it from the mask"


@dataclass
class CocoFile:
    """A COCO JSON read once and checked for structure; nothing decoded, nothing copied.

    ``images`` maps each image id to its entry, ``annotations`` lists the annotation
    dicts in file order (each with an integer ``image_id`` of a listed image and an
    ``id``), ``by_image`` groups the same dicts per image. The dicts are the parsed JSON
    itself: read them, do not modify them. Dataset-specific sections (SOBA's
    ``association_anno``) are in :meth:`section`.
    """

    source: str
    images: dict[int, Mapping[str, Any]]
    annotations: list[Mapping[str, Any]]
    by_image: dict[int, list[Mapping[str, Any]]]
    categories: list[Mapping[str, Any]]
    raw: Mapping[str, Any] = field(repr=False, default_factory=dict)
    skipped_unknown_image: int = 0

    def image(self, image_id: int) -> Mapping[str, Any]:
        """The entry of ``image_id`` (``InputError`` naming the file if it is not listed)."""
        try:
            return self.images[int(image_id)]
        except (KeyError, TypeError, ValueError):
            raise InputError(
                f"image id {image_id!r} is not in {self.source} ({len(self.images)} images "
                "listed); check the ids you asked for"
            ) from None

    @contextlib.contextmanager
    def context(self) -> Iterator[None]:
        """Prefix the file name to an ``InputError`` raised inside: adapters only know the
        annotation they were given, the user needs to know which file holds it."""
        try:
            yield
        except InputError as exc:
            if str(exc).startswith(self.source):
                raise
            raise InputError(f"{self.source}: {exc}") from None

    def category_names(self) -> dict[int, str]:
        return {int(c["id"]): str(c.get("name", c["id"])) for c in self.categories}

    def section(self, key: str) -> list[Mapping[str, Any]]:
        """A top-level list of objects other than images/annotations, ``[]`` if absent."""
        value = self.raw.get(key) or []
        if not isinstance(value, list):
            raise InputError(f"{self.source}: '{key}' must be a list of objects")
        return [v for v in value if isinstance(v, Mapping)]

    def iter_images(self) -> Iterator[tuple[int, Mapping[str, Any], list[Mapping[str, Any]]]]:
        """``(image_id, entry, annotations)`` one image at a time, in file order."""
        for image_id, entry in self.images.items():
            yield image_id, entry, self.by_image[image_id]

    def find_image(self, image_id: int, images_dir: str | os.PathLike[str]) -> Path | None:
        """The image file: ``file_name`` under ``images_dir``, else its base name there
        (exports often keep a ``train2017/`` prefix); ``None`` if neither exists."""
        name = str(self.image(image_id)["file_name"])
        for path in (Path(images_dir) / name, Path(images_dir) / Path(name).name):
            if path.is_file():
                return path
        return None

    def image_size(self, image_id: int, path: Path | None = None) -> tuple[int, int]:
        """``(height, width)`` from the entry, else from the header of ``path``."""
        entry = self.image(image_id)
        h, w = entry.get("height"), entry.get("width")
        if h and w:
            return _int_id(h, "height", self.source), _int_id(w, "width", self.source)
        if path is None or not path.is_file():
            raise InputError(
                f"{self.source}: image {image_id} has no height/width and its file is not "
                "there to measure; add them to the entry or check the images folder"
            )
        from PIL import Image

        with Image.open(path) as pil:
            w, h = pil.size
        return int(h), int(w)


def read_coco(
    annotations: str | os.PathLike[str] | Mapping[str, Any],
    *,
    what: str = "annotations file",
    require_annotations: bool = True,
    unknown_images: Literal["error", "skip"] = "error",
) -> CocoFile:
    """Parse a COCO JSON (path or parsed dict) and check what every reader relies on.

    Checked: the file exists and is JSON; ``images`` is a list of objects with an integer
    ``id`` (unique) and a ``file_name``; ``annotations`` is a list of objects with an
    integer ``image_id`` of a listed image (``unknown_images="skip"`` counts them in
    ``skipped_unknown_image`` instead) and integer ``id``s (numbered from 1 in file order
    where missing); ``categories`` entries have an integer ``id``. Each failure is a
    one-line :class:`InputError` naming the file and the fix. ``require_annotations=False``
    accepts an images-only file (unlabelled data). Masks are not decoded here.
    """
    if isinstance(annotations, Mapping):
        src, data = "annotations (dict)", annotations
    else:
        path = Path(annotations)
        src, data = str(path), read_json(path, what)
    anns = data.get("annotations") if isinstance(data, Mapping) else None
    if anns is None and not require_annotations and isinstance(data, Mapping):
        anns = []
    if not isinstance(anns, list):
        anns = None
    if not isinstance(data, Mapping) or not isinstance(data.get("images"), list) or anns is None:
        raise InputError(
            f"{src} is not a COCO instance file: a COCO dict needs 'images' and "
            "'annotations' lists; export COCO format from your labelling tool"
        )
    images: dict[int, Mapping[str, Any]] = {}
    for k, im in enumerate(data["images"]):
        if not isinstance(im, Mapping) or "id" not in im or "file_name" not in im:
            raise InputError(f"{src}: images[{k}] needs 'id' and 'file_name', got {im!r:.80}")
        image_id = _int_id(im["id"], "image id", src)
        if image_id in images:
            raise InputError(f"{src}: image id {image_id} is listed twice; ids must be unique")
        images[image_id] = im
    by_image: dict[int, list[Mapping[str, Any]]] = {i: [] for i in images}
    kept: list[Mapping[str, Any]] = []
    skipped = 0
    for k, ann in enumerate(anns):
        if not isinstance(ann, Mapping) or "image_id" not in ann:
            raise InputError(f"{src}: annotations[{k}] is not an object with an 'image_id'")
        image_id = _int_id(ann["image_id"], "image id", src)
        ann_id = _int_id(ann.get("id", k + 1), "annotation id", src)
        if image_id not in images:
            if unknown_images == "skip":
                skipped += 1
                continue
            raise InputError(
                f"{src}: annotation {ann_id} refers to image id {image_id}, which is not in "
                "'images'; the JSON is incomplete or mixes two exports"
            )
        if not (_is_int(ann.get("id")) and _is_int(ann["image_id"])):  # normalise, never mutate
            ann = {**ann, "id": ann_id, "image_id": image_id}
        kept.append(ann)
        by_image[image_id].append(ann)
    categories = data.get("categories") or []
    if not isinstance(categories, list) or not all(
        isinstance(c, Mapping) and "id" in c for c in categories
    ):
        raise InputError(f"{src}: 'categories' must be a list of objects with an 'id'")
    for c in categories:
        _int_id(c["id"], "category id", src)
    return CocoFile(src, images, kept, by_image, categories, data, skipped)


# --------------------------------------------------------------------------- records


@dataclass
class CocoInstance:
    """One annotation. ``segmentation`` is kept raw and decoded on demand (it is big).

    ``visible_segmentation``/``visible_box`` are the visible part where the adapter
    knows one (amodal data); for plain COCO they are the instance itself.
    """

    id: int
    image_id: int
    category_id: int
    box: Box
    segmentation: Any = None
    area: float = 0.0
    iscrowd: bool = False
    visible_segmentation: Any = None
    visible_box: Box | None = None
    source: str = field(default="", repr=False)

    @property
    def has_mask(self) -> bool:
        """True when the annotation carries a polygon or an RLE (boxes-only sets do not)."""
        return is_mask(self.segmentation)

    def mask(self, height: int, width: int) -> np.ndarray:
        """Decode the segmentation into an ``H x W`` bool mask."""
        if not self.has_mask:
            raise InputError(
                f"{self._where()} has no segmentation mask; use annotations with polygons or "
                "RLE masks"
            )
        return self._decode(self.segmentation, height, width)

    def visible_mask(self, height: int, width: int) -> np.ndarray | None:
        """The visible part, or ``None`` when the dataset does not annotate it."""
        seg = self.visible_segmentation
        return None if seg is None else self._decode(seg, height, width)

    def _where(self) -> str:
        where = f"annotation {self.id} (image {self.image_id})"
        return f"{self.source}: {where}" if self.source else where

    def _decode(self, seg: Any, height: int, width: int) -> np.ndarray:
        from zoo.io.masks import decode_segmentation

        try:
            return decode_segmentation(seg, height, width)
        except InputError as exc:
            raise InputError(f"{self._where()}: {exc}") from None


@dataclass
class CocoImage:
    """One image entry with its (non-crowd) instances and its crowd regions.

    ``crowd``: the ``iscrowd`` annotations (unless the dataset was read with
    ``include_crowd=True``, which puts them among ``instances``); COCO evaluation ignores a
    detection that falls on one instead of counting it as a false positive.
    """

    id: int
    file_name: str
    path: Path
    height: int
    width: int
    instances: list[CocoInstance] = field(default_factory=list)
    crowd: list[CocoInstance] = field(default_factory=list)

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


class CocoDataset(Sequence[CocoImage]):
    """COCO instance annotations joined with an image folder, validated on construction.

    Args:
        annotations: path to the COCO JSON (or an already parsed dict).
        images_dir: folder holding the images; ``file_name`` is looked up relative to it,
            then by its base name (exports often keep a ``train2017/`` prefix).
        require_masks: ``True`` (or a string saying *why*, used in the message) makes a
            missing segmentation an error up front instead of at decode time.
        include_crowd: count ``iscrowd`` annotations as instances (by default they are
            not instances but each image's ``crowd`` regions).
        image_ids: restrict to these image ids (an unknown id is an error).
        drop_empty: leave out images that have no (non-crowd) instance.
        adapter: the dataset's dialect (:data:`~zoo.data.adapters.AMODAL` reads the
            whole-object mask as the instance and fills ``visible_*``).

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
        adapter: AnnotationAdapter = COCO_INSTANCES,
    ) -> None:
        self.images_dir = Path(images_dir)
        check_images_dir(self.images_dir)  # existence / emptiness, with their own messages
        self.annotations_path = (
            Path("<dict>") if isinstance(annotations, Mapping) else Path(annotations)
        )
        coco = read_coco(annotations, require_annotations=False)
        src = coco.source
        self.categories: dict[int, str] = coco.category_names()
        wanted = list(coco.images) if image_ids is None else [int(i) for i in image_ids]
        for i in wanted:
            coco.image(i)  # unknown id: InputError naming the file
        keep = set(wanted)
        by_image: dict[int, list[CocoInstance]] = {i: [] for i in keep}
        crowd_of: dict[int, list[CocoInstance]] = {i: [] for i in keep}
        for ann in coco.annotations:
            img_id = int(ann["image_id"])
            crowd = bool(ann.get("iscrowd", 0))
            if img_id not in keep:
                continue
            with coco.context():  # a malformed box
                box, visible_box = adapter.box(ann), adapter.visible_box(ann)
            inst = CocoInstance(
                id=int(ann["id"]),
                image_id=img_id,
                category_id=_int_id(ann.get("category_id", 1), "category id", src),
                box=box or _NO_BOX,
                segmentation=adapter.segmentation(ann),
                area=float(ann.get("area", 0.0) or 0.0),
                iscrowd=crowd,
                visible_segmentation=adapter.visible_segmentation(ann),
                visible_box=visible_box,
                source=src,
            )
            if crowd and not include_crowd:
                if box is not None or inst.has_mask:  # an ignore region, not an instance
                    crowd_of[img_id].append(inst)
                continue
            if box is None and not inst.has_mask:
                raise InputError(
                    f"{src}: annotation {inst.id} has neither a bbox nor a segmentation; "
                    "every instance needs at least a box"
                )
            if require_masks and not inst.has_mask:
                why = require_masks if isinstance(require_masks, str) else "masks are required"
                raise InputError(
                    f"{src}: annotation {inst.id} (image {img_id}) has no segmentation mask; {why}"
                )
            by_image[img_id].append(inst)

        self.images: list[CocoImage] = []
        for img_id in sorted(keep):
            path = coco.find_image(img_id, self.images_dir)
            name = str(coco.image(img_id)["file_name"])
            if path is None:
                raise InputError(
                    f"image {img_id} ({name}) is not in {self.images_dir}; the annotations and "
                    f"the images folder do not match (check {hint('--images', 'images_dir')})"
                )
            h, w = coco.image_size(img_id, path)
            item = CocoImage(img_id, name, path, h, w, by_image[img_id], crowd_of[img_id])
            for inst in [*item.instances, *item.crowd]:
                if inst.box is _NO_BOX:  # box measured from the mask
                    from zoo.io.masks import mask_bbox

                    x, y, bw, bh = mask_bbox(inst.mask(item.height, item.width))
                    inst.box = (x, y, x + bw, y + bh)
            if drop_empty and not item.instances:
                continue
            self.images.append(item)
        self._by_id = {im.id: im for im in self.images}

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
