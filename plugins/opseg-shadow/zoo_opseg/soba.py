"""Reading SOBA-format instance-shadow annotations.

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

import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from zoo.errors import InputError

OBJECT, SHADOW = 1, 2


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

    def decode(self, ann: dict[str, Any] | None) -> np.ndarray | None:
        return None if ann is None else ann_to_mask(ann, self.height, self.width)


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


def ann_to_mask(ann: dict[str, Any], height: int, width: int) -> np.ndarray:
    """Decode a polygon / RLE ``segmentation`` into a ``bool HxW`` mask."""
    import warnings

    from pycocotools import mask as mask_utils

    seg = ann.get("segmentation")
    try:
        if isinstance(seg, list):
            polys = [p for p in seg if isinstance(p, list) and len(p) >= 6 and len(p) % 2 == 0]
            if not polys:
                return np.zeros((height, width), dtype=bool)
            rle = mask_utils.merge(mask_utils.frPyObjects(polys, height, width))
        elif isinstance(seg, dict):
            counts = seg["counts"]
            h, w = (int(v) for v in seg["size"])
            if isinstance(counts, list):
                rle = mask_utils.frPyObjects({"size": [h, w], "counts": counts}, h, w)
            else:
                rle = {
                    "size": [h, w],
                    "counts": counts.encode() if isinstance(counts, str) else counts,
                }
        else:
            raise TypeError(f"segmentation is a {type(seg).__name__}")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            m = mask_utils.decode(rle)
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(
            f"annotation {ann.get('id')} (image {ann.get('image_id')}) has an unreadable "
            f"segmentation ({exc}); expected COCO polygons or RLE"
        ) from None
    m = np.asarray(m).astype(bool)
    if m.ndim == 3:
        m = m.any(axis=2)
    if m.shape != (height, width):
        raise InputError(
            f"annotation {ann.get('id')} (image {ann.get('image_id')}) is "
            f"{m.shape[1]}x{m.shape[0]} "
            f"but its image is {width}x{height}; the annotation file does not match"
        )
    return m


def mask_box(mask: np.ndarray) -> tuple[float, float, float, float] | None:
    """The tight ``x1, y1, x2, y2`` box of a mask (pixel edges), None if empty."""
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    return float(cols[0]), float(rows[0]), float(cols[-1] + 1), float(rows[-1] + 1)


def _category_ids(data: dict[str, Any]) -> tuple[int, int]:
    """Object and shadow category ids: by name when ``categories`` names them, else 1 and 2."""
    obj, sha = OBJECT, SHADOW
    for c in data.get("categories") or []:
        if not isinstance(c, dict):
            continue
        name = str(c.get("name", "")).strip().lower()
        if name == "object":
            obj = int(c["id"])
        elif name == "shadow":
            sha = int(c["id"])
    return obj, sha


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
    if not path.is_file():
        raise InputError(f"annotations {path} does not exist; pass a SOBA-format JSON file")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InputError(
            f"annotations {path} is not valid JSON: {exc.msg} (line {exc.lineno})"
        ) from None
    except UnicodeDecodeError:
        raise InputError(f"annotations {path} is not a text JSON file") from None
    if (
        not isinstance(data, dict)
        or not isinstance(data.get("images"), list)
        or not isinstance(data.get("annotations"), list)
    ):
        raise InputError(
            f"annotations {path} is not COCO/SOBA-like: it needs 'images' and 'annotations' lists"
        )
    obj_cat, sha_cat = _category_ids(data)
    warn: list[str] = []
    img_dir = Path(images) if images is not None else None
    if img_dir is not None and not img_dir.is_dir():
        raise InputError(f"--images {img_dir} is not a folder")

    imgs: dict[int, SobaImage] = {}
    for rec in data["images"]:
        try:
            iid = int(rec["id"])
            fname = str(rec["file_name"])
            h, w = int(rec["height"]), int(rec["width"])
        except (KeyError, TypeError, ValueError):
            raise InputError(
                f"annotations {path}: image entry {str(rec)[:80]} needs id, file_name, "
                "height, width"
            ) from None
        imgs[iid] = SobaImage(iid, fname, img_dir / fname if img_dir else None, h, w)

    by_pair: dict[tuple[int, int], SobaPair] = {}
    skipped_cat = unknown_img = dup = unassoc = 0
    solo = -1  # unassociated instances (association 0) get their own negative keys
    for ann in data["annotations"]:
        if not isinstance(ann, dict):
            raise InputError(f"annotations {path}: an annotation is not an object: {str(ann)[:60]}")
        cat = ann.get("category_id")
        if cat not in (obj_cat, sha_cat):
            skipped_cat += 1
            continue
        if "association" not in ann:
            raise InputError(
                f"annotations {path}: annotation {ann.get('id')} (image {ann.get('image_id')}) has "
                "no 'association' field; SOBA pairs each object with its shadow through it - is "
                "this a plain COCO file?"
            )
        ann_img = ann.get("image_id")
        if ann_img not in imgs:
            unknown_img += 1
            continue
        try:
            a = int(ann["association"])
        except (TypeError, ValueError):
            raise InputError(
                f"annotations {path}: annotation {ann.get('id')} has association "
                f"{ann['association']!r}; expected an integer"
            ) from None
        if a <= 0:
            unassoc += 1
            a, solo = solo, solo - 1
        pair = by_pair.setdefault((ann_img, a), SobaPair(association=a))
        role = "object" if cat == obj_cat else "shadow"
        if getattr(pair, role) is not None:
            dup += 1
            continue
        setattr(pair, role, ann)

    # association_anno: by its 'association' field when present, else by order per image
    assoc_anns = [x for x in data.get("association_anno") or [] if isinstance(x, dict)]
    per_image: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for entry in assoc_anns:
        per_image[entry.get("image_id")].append(entry)
    unlinked = 0
    for iid, entries in per_image.items():
        if all("association" in e for e in entries):
            for e in entries:
                target = by_pair.get((iid, int(e["association"])))
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
