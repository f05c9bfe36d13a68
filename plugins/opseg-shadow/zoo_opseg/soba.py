"""Reading SOBA-format instance-shadow annotations.

The JSON is parsed and checked by the core reader (:func:`zoo.data.coco.read_coco`), the
SOBA keys are known to :class:`zoo.data.adapters.SobaAdapter` and masks are decoded by
:func:`zoo.io.masks.decode_segmentation`; this module holds the pairing rules below.

SOBA (Wang et al., "Instance Shadow Detection", CVPR 2020) is COCO-like JSON:

* ``annotations``: one entry per object (``category_id`` 1) and per shadow
  (``category_id`` 2), each with ``association``: a per-image number shared by an object
  and the shadow it casts;
* ``association_anno``: one entry per pair (its mask covers object and shadow), used by
  SOAP; linked to the pair through its own ``association`` field when present, else by
  order within the image (the released files list them in pair order);
* polygons or RLE segmentations, ``bbox`` as ``[x, y, w, h]``.

What is wrong with a file decides what happens:

* an object/shadow annotation without ``association`` -> :class:`InputError` (the file is
  plain COCO or damaged; pairing it by guesswork would make every number meaningless);
* a shadow without an object, or an object without a shadow -> kept as a one-sided
  instance (it still has a ground-truth mask to score with its box) and left out of SOAP,
  with one warning that counts them;
* two objects (or two shadows) claiming one association -> the first is kept, warned;
* categories other than object/shadow, empty masks, annotations of unknown images ->
  skipped, warned.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from zoo.data.adapters import SobaAdapter
from zoo.data.coco import read_coco
from zoo.errors import InputError


@dataclass
class SobaPair:
    """One association of one image: its object and/or shadow annotation (raw dicts)."""

    association: int
    object: dict[str, Any] | None = None
    shadow: dict[str, Any] | None = None
    association_ann: dict[str, Any] | None = None

    @property
    def complete(self) -> bool:
        return self.object is not None and self.shadow is not None


@dataclass
class SobaImage:
    image_id: int
    file_name: str
    path: Path | None
    height: int
    width: int
    pairs: list[SobaPair] = field(default_factory=list)
    adapter: SobaAdapter = field(default_factory=SobaAdapter, repr=False)

    def decode(self, ann: dict[str, Any] | None) -> np.ndarray | None:
        """The ``bool HxW`` mask of one of this image's annotations (``None`` for none)."""
        return None if ann is None else self.adapter.mask(ann, self.height, self.width)


@dataclass
class SobaDataset:
    path: Path
    images: list[SobaImage]
    warnings: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.images)

    def count(self) -> dict[str, int]:
        pairs = [p for im in self.images for p in im.pairs]
        return {
            "images": len(self.images),
            "objects": sum(p.object is not None for p in pairs),
            "shadows": sum(p.shadow is not None for p in pairs),
            "pairs": sum(p.complete for p in pairs),
        }


def mask_box(mask: np.ndarray) -> tuple[float, float, float, float] | None:
    """The tight ``x1, y1, x2, y2`` box of a mask (pixel edges), None if empty."""
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    return float(cols[0]), float(rows[0]), float(cols[-1] + 1), float(rows[-1] + 1)


def find_split(dataset: Path, split: str) -> tuple[Path, Path]:
    """``(annotations, images)`` of a SOBA release folder for ``split`` (test or challenge)."""
    pattern = {"test": "*val*.json", "challenge": "*challenge*.json"}[split]
    cands = sorted(dataset.glob(f"annotations/{pattern}")) or sorted(dataset.glob(pattern))
    if not cands:
        raise InputError(
            f"no SOBA {split} annotations ({pattern}) in {dataset} or {dataset}/annotations; "
            "pass --annotations FILE --images DIR"
        )
    return cands[0], dataset


def load_soba(
    annotations: str | Path,
    images: str | Path | None = None,
    *,
    max_images: int | None = None,
    check_files: bool = True,
) -> SobaDataset:
    """Parse and validate a SOBA-format JSON (see the module docstring for the rules).

    ``images`` is the folder that ``file_name`` is relative to; with ``check_files`` every
    image must exist, so an evaluation fails before any model is loaded.
    """
    path = Path(annotations)
    coco = read_coco(path, what="annotations", unknown_images="skip")
    adapter = SobaAdapter.for_categories(coco.categories)
    obj_cat, sha_cat = adapter.object_category, adapter.shadow_category
    warn: list[str] = []
    img_dir = Path(images) if images is not None else None
    if img_dir is not None and not img_dir.is_dir():
        raise InputError(f"--images {img_dir} is not a folder")

    imgs: dict[int, SobaImage] = {}
    for iid, rec, _ in coco.iter_images():
        try:
            h, w = int(rec["height"]), int(rec["width"])
        except (KeyError, TypeError, ValueError):
            raise InputError(
                f"annotations {path}: image entry {str(rec)[:80]} needs id, file_name, "
                "height, width"
            ) from None
        fname = str(rec["file_name"])
        imgs[iid] = SobaImage(iid, fname, img_dir / fname if img_dir else None, h, w, [], adapter)

    by_pair: dict[tuple[int, int], SobaPair] = {}
    skipped_cat = dup = unassoc = 0
    unknown_img = coco.skipped_unknown_image
    solo = -1  # unassociated instances (association 0) get their own negative keys
    for ann in coco.annotations:
        role = adapter.role(ann)
        if role is None:
            skipped_cat += 1
            continue
        with coco.context():
            a = adapter.association(ann)
        if a is None:
            raise InputError(
                f"annotations {path}: annotation {ann.get('id')} (image {ann.get('image_id')}) has "
                "no 'association' field; SOBA pairs each object with its shadow through it - is "
                "this a plain COCO file?"
            )
        ann_img = int(ann["image_id"])
        if a <= 0:
            unassoc += 1
            a, solo = solo, solo - 1
        pair = by_pair.setdefault((ann_img, a), SobaPair(association=a))
        if getattr(pair, role) is not None:
            dup += 1
            continue
        setattr(pair, role, ann)

    # association_anno: by its 'association' field when present, else by order per image
    assoc_anns = coco.section("association_anno")
    per_image: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for entry in assoc_anns:
        per_image[entry.get("image_id")].append(dict(entry))
    unlinked = 0
    for iid, entries in per_image.items():
        if all("association" in e for e in entries):
            for e in entries:
                with coco.context():
                    key = adapter.association(e)  # not None: every entry has the field
                    target = by_pair.get((iid, key)) if key is not None else None
                if target is not None:
                    target.association_ann = e
                else:
                    unlinked += 1
        else:
            complete = sorted(
                (pr for (i, k), pr in by_pair.items() if i == iid and k > 0 and pr.complete),
                key=lambda pr: pr.association,
            )
            entries = sorted(entries, key=lambda e: e.get("id", 0))
            if len(complete) == len(entries):
                for pr, e in zip(complete, entries, strict=True):
                    pr.association_ann = e
            else:
                unlinked += len(entries)

    one_sided = {"object": 0, "shadow": 0}
    for (iid, _), pair in sorted(by_pair.items(), key=lambda kv: (kv[0][0], abs(kv[0][1]))):
        imgs[iid].pairs.append(pair)
        if not pair.complete:
            one_sided["shadow" if pair.object is None else "object"] += 1

    if one_sided["shadow"]:
        warn.append(
            f"{one_sided['shadow']} shadows have no object: scored for shadows, left out of SOAP"
        )
    if one_sided["object"]:
        warn.append(
            f"{one_sided['object']} objects have no shadow: scored for objects, left out of SOAP"
        )
    if unassoc:
        warn.append(f"{unassoc} annotations have association 0 (unpaired)")
    if dup:
        warn.append(f"{dup} annotations repeat an object/shadow of an association; kept the first")
    if skipped_cat:
        warn.append(
            f"{skipped_cat} annotations are neither object ({obj_cat}) nor shadow "
            f"({sha_cat}); skipped"
        )
    if unknown_img:
        warn.append(f"{unknown_img} annotations refer to unknown image ids; skipped")
    if unlinked:
        warn.append(
            f"{unlinked} association_anno entries could not be linked to a pair; "
            "SOAP uses the union of object and shadow instead"
        )

    images_out = [im for _, im in sorted(imgs.items()) if im.pairs]
    if not images_out:
        raise InputError(f"annotations {path} has no object or shadow annotations to evaluate")
    if max_images:
        images_out = images_out[: int(max_images)]
    if check_files and img_dir is not None:
        missing = [im.file_name for im in images_out if im.path is None or not im.path.is_file()]
        if missing:
            raise InputError(
                f"{len(missing)} images of {path.name} are missing from {img_dir} (e.g. "
                f"{missing[0]}); --images must be the folder file_name is relative to"
            )
    return SobaDataset(path=path, images=images_out, warnings=warn)
