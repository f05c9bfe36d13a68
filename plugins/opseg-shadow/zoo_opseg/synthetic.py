"""Synthetic instance-shadow scenes in the SOBA annotation format.

Why this exists: SOBA (Wang et al., CVPR 2020) cannot be redistributed with the code and no
test may download it, yet shadow models need object/shadow *pairs* to be tested, trained
and evaluated end to end. :func:`shadow_scene` draws objects standing on a textured ground,
each casting a darker, sheared copy of itself (a planar projection from one light
direction, so all shadows in a scene agree), and :func:`write_soba_dataset` writes images
plus a SOBA-style JSON that the real dataset's readers accept.

The SOBA JSON layout written here (the same keys as the released ``SOBA_*.json``):

* ``images``: ``{id, file_name, height, width}``;
* ``categories``: ``{1: "Object", 2: "Shadow"}``;
* ``annotations``: one per object and one per shadow, ``category_id`` 1 or 2, COCO RLE
  ``segmentation``, ``bbox`` ``[x, y, w, h]``, ``area``, ``iscrowd`` 0, and
  ``association``: the per-image pair number shared by an object and its shadow (1, 2, ...);
* ``association``: the association categories (``{1: "object-shadow"}``);
* ``association_anno``: one per pair, the union of the object and shadow masks, with
  ``category_id`` 1 and the same ``association`` number (SOAP, the association AP,
  matches these before checking the object and the shadow).

Only numpy, OpenCV and pycocotools (through :mod:`zoo.io`) are used: no torch.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from zoo.errors import InputError

__all__ = [
    "SOBA_ASSOCIATION_CATEGORIES",
    "SOBA_CATEGORIES",
    "ShadowScene",
    "make_soba",
    "shadow_scene",
    "soba_dict",
    "write_soba_dataset",
]

SOBA_CATEGORIES = [
    {"id": 1, "name": "Object", "supercategory": "object"},
    {"id": 2, "name": "Shadow", "supercategory": "shadow"},
]
SOBA_ASSOCIATION_CATEGORIES = [{"id": 1, "name": "object-shadow", "supercategory": "association"}]

_PALETTE = np.array(
    [
        [200, 40, 40],
        [40, 90, 210],
        [230, 170, 30],
        [40, 160, 70],
        [150, 60, 170],
        [20, 150, 160],
        [220, 110, 40],
        [120, 120, 130],
    ],
    dtype=np.float32,
)


@dataclass
class ShadowScene:
    """One synthetic image with its object/shadow pairs (pair ``i`` = association ``i+1``)."""

    image: np.ndarray
    object_masks: list[np.ndarray]
    shadow_masks: list[np.ndarray]
    light: tuple[float, float] = (0.0, 0.0)
    meta: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.object_masks)


def _ground(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """A textured ground: base colour, a lighting gradient, blotches and fine grain.

    Texture matters: on a flat colour a shadow is a trivially thresholdable region; grain and
    blotches make the darkening the only reliable cue, as in real photos.
    """
    import cv2

    base = rng.uniform(120, 200, size=3).astype(np.float32)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    gx, gy = rng.uniform(-0.25, 0.25, size=2)
    grad = 1.0 + gx * (xx / max(w - 1, 1) - 0.5) + gy * (yy / max(h - 1, 1) - 0.5)
    blotch = rng.normal(0.0, 1.0, size=(max(h // 16, 2), max(w // 16, 2))).astype(np.float32)
    blotch = cv2.resize(blotch, (w, h), interpolation=cv2.INTER_CUBIC) * 10.0
    grain = rng.normal(0.0, 7.0, size=(h, w, 3)).astype(np.float32)
    img = base[None, None, :] * grad[..., None] + blotch[..., None] + grain
    return img


def _object_mask(
    h: int,
    w: int,
    cx: float,
    base_y: float,
    ow: float,
    oh: float,
    kind: str,
    rng: np.random.Generator,
) -> np.ndarray:
    """A standing object whose lowest row is ``base_y`` (where it touches the ground)."""
    import cv2

    m = np.zeros((h, w), dtype=np.uint8)
    top = base_y - oh
    if kind == "box":
        cv2.rectangle(m, (int(cx - ow / 2), int(top)), (int(cx + ow / 2), int(base_y)), 1, -1)
    elif kind == "ellipse":
        cv2.ellipse(
            m, (int(cx), int(base_y - oh / 2)), (int(ow / 2), int(oh / 2)), 0, 0, 360, 1, -1
        )
    elif kind == "figure":  # a body with a head: the person-like silhouettes SOBA is full of
        head_r = max(2, int(ow * 0.3))
        cv2.rectangle(
            m, (int(cx - ow / 2), int(top + 2 * head_r)), (int(cx + ow / 2), int(base_y)), 1, -1
        )
        cv2.circle(m, (int(cx), int(top + head_r)), head_r, 1, -1)
    else:  # triangle (a cone, a tent)
        pts = np.array(
            [[cx - ow / 2, base_y], [cx + ow / 2, base_y], [cx + rng.uniform(-0.2, 0.2) * ow, top]],
            dtype=np.int32,
        )
        cv2.fillPoly(m, [pts], 1)
    return m.astype(bool)


def _cast(mask: np.ndarray, base_y: float, sx: float, sy: float) -> np.ndarray:
    """Project an object mask onto the ground plane: the sheared, squashed copy a distant
    light casts. Pixel ``(x, y)`` at height ``base_y - y`` above the ground lands at
    ``(x + sx * (base_y - y), base_y + sy * (base_y - y))``."""
    import cv2

    h, w = mask.shape
    m = np.array([[1.0, -sx, sx * base_y], [0.0, -sy, (1.0 + sy) * base_y]], dtype=np.float32)
    warped = cv2.warpAffine(
        mask.astype(np.uint8), m, (w, h), flags=cv2.INTER_NEAREST, borderValue=0
    )
    return warped.astype(bool)


def shadow_scene(
    height: int = 240,
    width: int = 320,
    n_objects: int | None = None,
    seed: int = 0,
    *,
    max_objects: int = 3,
    min_shadow_area: int = 40,
) -> ShadowScene:
    """Draw one scene of ``n_objects`` (default: 1..``max_objects``) objects with shadows.

    All shadows share one light direction (``light = (sx, sy)``: horizontal shear and
    ground-plane length per unit of object height); the shadow darkens the ground by
    35-55 % with a one-pixel penumbra; objects are solid, shaded colours and are drawn over
    shadows, so each shadow mask is the *visible* shadow (object pixels removed), as SOBA
    annotates it. Deterministic for a given ``seed``.
    """
    import cv2

    if height < 32 or width < 32:
        raise InputError(f"scene must be at least 32x32 pixels, got {width}x{height}")
    rng = np.random.default_rng(seed)
    n = int(n_objects) if n_objects is not None else int(rng.integers(1, max_objects + 1))
    if n < 1:
        raise InputError(f"n_objects must be >= 1, got {n}")
    sx = float(rng.uniform(0.4, 1.1) * rng.choice([-1.0, 1.0]))
    sy = float(rng.uniform(0.25, 0.55))
    h, w = height, width
    objects: list[np.ndarray] = []
    shadows: list[np.ndarray] = []
    occupied = np.zeros((h, w), dtype=bool)
    tries = 0
    while len(objects) < n and tries < 200:
        tries += 1
        ow = rng.uniform(0.08, 0.18) * w
        oh = rng.uniform(0.18, 0.35) * h
        cx = rng.uniform(0.1 * w + ow / 2, 0.9 * w - ow / 2)
        base_y = rng.uniform(0.15 * h + oh, 0.72 * h)
        kind = str(rng.choice(["box", "ellipse", "figure", "triangle"]))
        obj = _object_mask(h, w, cx, base_y, ow, oh, kind, rng)
        cast = _cast(obj, base_y, sx, sy)
        footprint = cv2.dilate((obj | cast).astype(np.uint8), np.ones((7, 7), np.uint8)) > 0
        if (footprint & occupied).any():
            continue
        if int((cast & ~obj).sum()) < min_shadow_area or obj.sum() < min_shadow_area:
            continue
        objects.append(obj)
        shadows.append(cast)
        occupied |= footprint
    if len(objects) < n:
        raise InputError(
            f"could not place {n} non-overlapping objects in a {width}x{height} scene; "
            "use a larger image or fewer objects"
        )
    any_obj = np.zeros((h, w), dtype=bool)
    for o in objects:
        any_obj |= o
    shadows = [s & ~any_obj for s in shadows]

    img = _ground(h, w, rng)
    shade = np.zeros((h, w), dtype=np.float32)
    for s in shadows:
        shade = np.maximum(shade, s.astype(np.float32) * float(rng.uniform(0.35, 0.55)))
    shade = np.asarray(cv2.GaussianBlur(shade, (3, 3), 0.8), dtype=np.float32)  # penumbra
    # skylight keeps shadows bluish: red is darkened a little more than blue
    tint = np.array([1.05, 1.0, 0.9], dtype=np.float32)
    img = (img * (1.0 - shade[..., None] * tint[None, None, :])).astype(np.float32)
    yy = np.mgrid[0:h, 0:w][0].astype(np.float32)
    for o in objects:
        colour = _PALETTE[int(rng.integers(len(_PALETTE)))] * rng.uniform(0.8, 1.1)
        rows = np.flatnonzero(o.any(axis=1))
        top, bottom = rows[0], rows[-1]
        shading = 1.1 - 0.35 * (yy - top) / max(bottom - top, 1)  # lit from above
        obj_px = colour[None, None, :] * shading[..., None] + rng.normal(0, 5, (h, w, 3))
        img = np.where(o[..., None], obj_px, img)
    image = np.clip(img, 0, 255).astype(np.uint8)
    return ShadowScene(
        image=image, object_masks=objects, shadow_masks=shadows, light=(sx, sy), meta={"seed": seed}
    )


def _ann(
    mask: np.ndarray, ann_id: int, image_id: int, category_id: int, association: int
) -> dict[str, Any]:
    from zoo.io.masks import encode_rle, mask_bbox

    return {
        "id": ann_id,
        "image_id": image_id,
        "category_id": category_id,
        "segmentation": encode_rle(mask),
        "area": int(mask.sum()),
        "bbox": mask_bbox(mask),
        "iscrowd": 0,
        "association": association,
    }


def soba_dict(
    scenes: list[ShadowScene], file_names: list[str], first_image_id: int = 1
) -> dict[str, Any]:
    """The SOBA-format annotation dict of ``scenes`` (see the module docstring)."""
    if len(scenes) != len(file_names):
        raise InputError(f"got {len(scenes)} scenes but {len(file_names)} file names")
    images, anns, assoc = [], [], []
    ann_id = 1
    assoc_id = 1
    for k, (scene, name) in enumerate(zip(scenes, file_names, strict=True)):
        image_id = first_image_id + k
        h, w = scene.image.shape[:2]
        images.append({"id": image_id, "file_name": name, "height": h, "width": w})
        for j, (o, s) in enumerate(zip(scene.object_masks, scene.shadow_masks, strict=True)):
            a = j + 1
            anns.append(_ann(o, ann_id, image_id, 1, a))
            anns.append(_ann(s, ann_id + 1, image_id, 2, a))
            ann_id += 2
            assoc.append(_ann(o | s, assoc_id, image_id, 1, a))
            assoc_id += 1
    return {
        # The old module path stays in the text so that files written before the move to
        # zoo_opseg are byte-identical to files written now (same seed, same bytes).
        "info": {"description": "synthetic SOBA-format instance-shadow scenes (zoo.data.shadows)"},
        "licenses": [],
        "images": images,
        "categories": SOBA_CATEGORIES,
        "association": SOBA_ASSOCIATION_CATEGORIES,
        "annotations": anns,
        "association_anno": assoc,
    }


def write_soba_dataset(
    out_dir: str | os.PathLike[str],
    n_images: int = 8,
    height: int = 240,
    width: int = 320,
    *,
    seed: int = 0,
    max_objects: int = 3,
    json_name: str = "annotations.json",
) -> Path:
    """Write ``n_images`` scenes as ``out_dir/images/*.png`` plus a SOBA-format JSON.

    Returns the JSON path; the image folder for ``--images`` is ``out_dir/images``. Image
    ``k`` uses seed ``seed * 100003 + k``, so datasets with different seeds do not share
    scenes. Files are written atomically.
    """
    from zoo.io.images import save_png
    from zoo.io.masks import write_json

    if n_images < 1:
        raise InputError(f"n_images must be >= 1, got {n_images}")
    out = Path(out_dir)
    img_dir = out / "images"
    img_dir.mkdir(parents=True, exist_ok=True)
    scenes, names = [], []
    for k in range(n_images):
        scene = shadow_scene(height, width, seed=seed * 100003 + k, max_objects=max_objects)
        name = f"shadow_{seed:03d}_{k:04d}.png"
        save_png(img_dir / name, scene.image)
        scenes.append(scene)
        names.append(name)
    path = out / json_name
    write_json(path, soba_dict(scenes, names))
    json.loads(path.read_text())  # fail here, not in a user's reader, if it is not valid JSON
    return path


def make_soba(out: Path, *, images: int, seed: int) -> dict[str, Any]:
    """``zoo data make soba``: :func:`write_soba_dataset` with ``images`` scenes."""
    ann = write_soba_dataset(out, n_images=images, seed=seed)
    data = json.loads(ann.read_text())
    cats = {c["id"]: c["name"] for c in data["categories"]}
    return {
        "images": len(data["images"]),
        **{
            f"{name.lower()}s": sum(a["category_id"] == cid for a in data["annotations"])
            for cid, name in cats.items()
        },
        "contents": ["annotations.json", "images/"],
        "try": "zoo eval opseg-shadow --annotations {out}/annotations.json --images "
        "{out}/images --weights random --size tiny --image-size 256",
    }
