"""Synthetic occlusions: amodal training data made from *modal* instance masks.

Amodal annotations (the whole object, including what is hidden) are rare and expensive;
modal instance masks are everywhere. The trick used for Amodal-LVIS (Tai et al.,
"Segment Anything, Even Occluded", CVPR 2025) is to take objects whose full extent is
known, cut other objects out of their images and paste them *over* the known ones. The
pasted object hides part of the target, so the target's original mask becomes the amodal
ground truth and "original minus paste" its visible mask - both exact, no labelling.

This module does that, in small:

* :func:`occlude` pastes one cut-out over a target instance so that a chosen fraction of
  it disappears, refusing placements that would bury another instance;
* :func:`occlusion_pair` returns the *unoccluded* scene and an *occluded* version of it,
  so every instance is seen both ways (without the unoccluded copies a model learns to
  hallucinate occluders that are not there);
* :func:`synthesize_from_coco` turns any modal COCO instance dataset into COCO-amodal
  annotations (``segmentation``/``bbox`` amodal, ``visible_mask`` visible, as COCOA-cls
  and D2SA write them);
* :func:`make_synthetic_amodal_dataset` does the same with generated shapes on textured
  backgrounds: no download, deterministic under a seed - what the tests train on.

A caveat the synthetic recipe inherits: objects in a real modal dataset may already be
occluded in their source image, and their "amodal" mask is then only the visible part.
Prefer source instances that are complete (``min_solidity`` filters the worst of them).

Only numpy, Pillow, OpenCV and pycocotools are used (no torch). Source datasets are read
with the core COCO reader (:func:`zoo.data.coco.read_coco`) and decoded with
:func:`zoo.io.masks.decode_segmentation`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from zoo.errors import InputError
from zoo.io.masks import mask_bbox

__all__ = [
    "SHAPE_CATEGORIES",
    "AmodalCocoWriter",
    "Cutout",
    "Instance",
    "Scene",
    "cutout_from_mask",
    "make_amodal",
    "make_shapes_scene",
    "make_synthetic_amodal_dataset",
    "occlude",
    "occlusion_pair",
    "paste_cutout",
    "random_shape_cutout",
    "synthesize_from_coco",
    "textured_background",
]

#: Categories of the generated shapes (COCO ``categories`` entries).
SHAPE_CATEGORIES: list[dict[str, Any]] = [
    {"id": 1, "name": "ellipse"},
    {"id": 2, "name": "rectangle"},
    {"id": 3, "name": "triangle"},
]


# --------------------------------------------------------------------------- data types


@dataclass
class Cutout:
    """An object cut out of an image: its pixels and mask, cropped to its box."""

    rgb: np.ndarray  # h x w x 3 uint8
    mask: np.ndarray  # h x w bool
    category_id: int
    source: str = ""

    @property
    def area(self) -> int:
        return int(self.mask.sum())

    def resized(self, scale: float) -> Cutout:
        """The cut-out scaled by ``scale`` (at least 2x2 pixels)."""
        import cv2

        h, w = self.mask.shape
        nh, nw = max(2, round(h * scale)), max(2, round(w * scale))
        rgb = cv2.resize(self.rgb, (nw, nh), interpolation=cv2.INTER_LINEAR)
        mask = cv2.resize(self.mask.astype(np.uint8), (nw, nh), interpolation=cv2.INTER_NEAREST)
        return Cutout(
            rgb=rgb, mask=mask.astype(bool), category_id=self.category_id, source=self.source
        )


@dataclass
class Instance:
    """One object of a scene: its whole (amodal) mask and the part that can be seen."""

    amodal: np.ndarray  # H x W bool
    visible: np.ndarray  # H x W bool, a subset of amodal
    category_id: int
    occluder: bool = False  # pasted by the generator (and therefore complete)

    @property
    def occlusion_rate(self) -> float:
        """Hidden fraction of the object: 1 - visible area / amodal area."""
        a = int(self.amodal.sum())
        return 0.0 if a == 0 else 1.0 - float((self.visible & self.amodal).sum()) / a


@dataclass
class Scene:
    """An image with its instances, back to front (later instances are in front)."""

    image: np.ndarray  # H x W x 3 uint8
    instances: list[Instance] = field(default_factory=list)

    def copy(self) -> Scene:
        return Scene(
            image=self.image.copy(),
            instances=[
                Instance(i.amodal.copy(), i.visible.copy(), i.category_id, i.occluder)
                for i in self.instances
            ],
        )


# --------------------------------------------------------------------------- masks


def cutout_from_mask(
    image: np.ndarray, mask: np.ndarray, category_id: int, source: str = ""
) -> Cutout | None:
    """Crop an object out of ``image``; ``None`` for an empty mask."""
    x, y, w, h = (int(v) for v in mask_bbox(mask))
    if w == 0 or h == 0:
        return None
    return Cutout(
        rgb=image[y : y + h, x : x + w].copy(),
        mask=mask[y : y + h, x : x + w].copy(),
        category_id=int(category_id),
        source=source,
    )


# --------------------------------------------------------------------------- pasting


def paste_cutout(scene: Scene, cutout: Cutout, x: int, y: int) -> Scene:
    """A new scene with ``cutout`` pasted with its top-left corner at ``(x, y)``.

    The pasted object becomes the front-most instance (complete: amodal = visible, clipped
    to the frame), and every existing instance loses the pixels it now covers.
    """
    out = scene.copy()
    hh, ww = out.image.shape[:2]
    h, w = cutout.mask.shape
    x0, y0 = max(0, x), max(0, y)
    x1, y1 = min(ww, x + w), min(hh, y + h)
    if x1 <= x0 or y1 <= y0:
        return out
    sub = cutout.mask[y0 - y : y1 - y, x0 - x : x1 - x]
    full = np.zeros((hh, ww), dtype=bool)
    full[y0:y1, x0:x1] = sub
    region = out.image[y0:y1, x0:x1]
    region[sub] = cutout.rgb[y0 - y : y1 - y, x0 - x : x1 - x][sub]
    for inst in out.instances:
        inst.visible &= ~full
    out.instances.append(
        Instance(amodal=full, visible=full.copy(), category_id=cutout.category_id, occluder=True)
    )
    return out


def occlude(
    scene: Scene,
    target: int,
    cutout: Cutout,
    rng: np.random.Generator,
    *,
    cover: tuple[float, float] = (0.15, 0.6),
    min_visible: float = 0.25,
    scale: tuple[float, float] = (0.5, 1.2),
    tries: int = 40,
) -> Scene | None:
    """Paste ``cutout`` so that it hides a ``cover`` fraction of instance ``target``.

    The cut-out is rescaled so its area is ``scale`` x the target's area (a cup does not
    hide a bus), then placements are sampled around the target until one hides between
    ``cover[0]`` and ``cover[1]`` of the target and leaves every instance at least
    ``min_visible`` visible - a buried object could not be detected, so its box prompt
    would be meaningless. Returns ``None`` when no placement works.
    """
    tgt = scene.instances[target]
    t_area = int(tgt.amodal.sum())
    if t_area == 0 or cutout.area == 0:
        return None
    hh, ww = scene.image.shape[:2]
    tx, ty, tw, th = mask_bbox(tgt.amodal)
    for _ in range(tries):
        s = math.sqrt(rng.uniform(*scale) * t_area / cutout.area)
        cut = cutout.resized(s)
        ch, cw = cut.mask.shape
        if ch >= hh or cw >= ww:
            continue
        # centre of the cut-out anywhere over the target's box, so it overlaps from any side
        cx = rng.uniform(tx, tx + tw)
        cy = rng.uniform(ty, ty + th)
        x = int(np.clip(round(cx - cw / 2), 0, ww - cw))
        y = int(np.clip(round(cy - ch / 2), 0, hh - ch))
        full = np.zeros((hh, ww), dtype=bool)
        full[y : y + ch, x : x + cw] = cut.mask
        newly = float((tgt.visible & full).sum()) / t_area
        if not cover[0] <= newly <= cover[1]:
            continue
        ok = all(
            float((inst.visible & ~full).sum()) >= min_visible * float(inst.amodal.sum())
            for inst in scene.instances
        )
        if ok:
            return paste_cutout(scene, cut, x, y)
    return None


def occlusion_pair(
    scene: Scene,
    donors: Sequence[Cutout],
    rng: np.random.Generator,
    *,
    occluders: tuple[int, int] = (1, 2),
    **occlude_kw: Any,
) -> tuple[Scene, Scene | None]:
    """``(unoccluded, occluded)``: the scene as is, and with 1-2 donors pasted over it.

    Each occluder picks a random instance that is not itself a pasted occluder. The
    occluded scene is ``None`` when no donor could be placed.
    """
    if not donors:
        raise InputError("occlusion_pair needs at least one donor cut-out to paste")
    n = int(rng.integers(occluders[0], occluders[1] + 1))
    occluded: Scene | None = None
    current = scene
    for _ in range(n):
        targets = [i for i, inst in enumerate(current.instances) if not inst.occluder]
        if not targets:
            break
        t = int(rng.choice(targets))
        donor = donors[int(rng.integers(len(donors)))]
        result = occlude(current, t, donor, rng, **occlude_kw)
        if result is not None:
            current = occluded = result
    return scene, occluded


# --------------------------------------------------------------------------- shapes


def textured_background(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A smooth colour gradient plus noise: not flat, so objects cannot be found by colour
    difference alone, yet cheap and deterministic."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    c0, c1 = rng.uniform(40, 215, size=3), rng.uniform(40, 215, size=3)
    t = (
        xx / max(width - 1, 1) * rng.uniform(0.2, 1) + yy / max(height - 1, 1) * rng.uniform(0.2, 1)
    )[..., None]
    t = t / max(float(t.max()), 1e-6)
    img = c0 * (1 - t) + c1 * t + rng.normal(0, 10, size=(height, width, 3))
    return np.clip(img, 0, 255).astype(np.uint8)


def random_shape_cutout(
    rng: np.random.Generator,
    size: tuple[int, int] = (16, 48),
    category_id: int | None = None,
) -> Cutout:
    """A filled ellipse, rectangle or triangle (category 1, 2, 3) with a striped texture."""
    import cv2

    cat = int(category_id) if category_id is not None else int(rng.integers(1, 4))
    h = int(rng.integers(size[0], size[1] + 1))
    w = int(rng.integers(size[0], size[1] + 1))
    mask = np.zeros((h, w), dtype=np.uint8)
    if cat == 1:
        cv2.ellipse(
            mask,
            (w // 2, h // 2),
            (max(1, w // 2 - 1), max(1, h // 2 - 1)),
            0,
            0,
            360,
            1,
            thickness=-1,
        )
    elif cat == 2:
        mask[1 : h - 1, 1 : w - 1] = 1
    elif cat == 3:
        apex = int(rng.integers(1, w - 1))
        pts = np.array([[apex, 0], [0, h - 1], [w - 1, h - 1]], dtype=np.int32)
        cv2.fillPoly(mask, [pts], 1)
    else:
        raise InputError(f"shape category {cat} does not exist; use 1 (ellipse), 2, or 3")
    colour = rng.uniform(0, 255, size=3)
    stripe = rng.uniform(0, 255, size=3)
    period = int(rng.integers(3, 9))
    yy, xx = np.mgrid[0:h, 0:w]
    on = ((xx + yy) // period) % 2 == 0
    rgb = np.where(on[..., None], colour, 0.7 * colour + 0.3 * stripe)
    rgb = np.clip(rgb + rng.normal(0, 6, size=rgb.shape), 0, 255).astype(np.uint8)
    return Cutout(rgb=rgb, mask=mask.astype(bool), category_id=cat, source="shape")


def make_shapes_scene(
    rng: np.random.Generator,
    height: int = 128,
    width: int = 128,
    objects: tuple[int, int] = (1, 3),
    size: tuple[int, int] | None = None,
) -> Scene:
    """A textured background with 1-3 complete, non-overlapping shapes."""
    if size is None:
        side = min(height, width)
        size = (max(8, side // 5), max(10, side // 2))
    scene = Scene(image=textured_background(rng, height, width))
    n = int(rng.integers(objects[0], objects[1] + 1))
    taken = np.zeros((height, width), dtype=bool)
    for _ in range(n):
        cut = random_shape_cutout(rng, size)
        ch, cw = cut.mask.shape
        for _try in range(30):
            x = int(rng.integers(0, max(1, width - cw)))
            y = int(rng.integers(0, max(1, height - ch)))
            if not taken[y : y + ch, x : x + cw][cut.mask[: height - y, : width - x]].any():
                scene = paste_cutout(scene, cut, x, y)
                scene.instances[-1].occluder = False  # a scene object, not a pasted occluder
                taken |= scene.instances[-1].amodal
                break
    return scene


# --------------------------------------------------------------------------- writing


class AmodalCocoWriter:
    """Collects scenes and writes images plus one COCO-amodal JSON.

    Annotation keys follow COCOA-cls / D2SA: ``segmentation`` and ``bbox`` describe the
    amodal mask, ``visible_mask`` (RLE) and ``visible_bbox`` the visible part, and
    ``occlude_rate`` the hidden fraction. ``synthetic_occluder`` marks pasted objects.
    """

    def __init__(self, out_dir: str | Path, categories: Sequence[Mapping[str, Any]]) -> None:
        self.out_dir = Path(out_dir)
        self.image_dir = self.out_dir / "images"
        self.image_dir.mkdir(parents=True, exist_ok=True)
        self.categories = [dict(c) for c in categories]
        self.images: list[dict[str, Any]] = []
        self.annotations: list[dict[str, Any]] = []

    def add(self, scene: Scene, file_name: str, **meta: Any) -> int:
        from zoo.io.images import save_png
        from zoo.io.masks import encode_rle

        image_id = len(self.images) + 1
        h, w = scene.image.shape[:2]
        save_png(self.image_dir / file_name, scene.image)
        self.images.append(
            {"id": image_id, "file_name": file_name, "height": h, "width": w, **meta}
        )
        for inst in scene.instances:
            if not inst.amodal.any():
                continue
            self.annotations.append(
                {
                    "id": len(self.annotations) + 1,
                    "image_id": image_id,
                    "category_id": int(inst.category_id),
                    "segmentation": encode_rle(inst.amodal),
                    "bbox": mask_bbox(inst.amodal),
                    "area": int(inst.amodal.sum()),
                    "iscrowd": 0,
                    "visible_mask": encode_rle(inst.visible & inst.amodal),
                    "visible_bbox": mask_bbox(inst.visible & inst.amodal),
                    "occlude_rate": round(inst.occlusion_rate, 4),
                    "synthetic_occluder": bool(inst.occluder),
                }
            )
        return image_id

    def write(self, name: str = "annotations.json") -> Path:
        from zoo.io.masks import write_json

        path = self.out_dir / name
        write_json(
            path,
            {"images": self.images, "annotations": self.annotations, "categories": self.categories},
        )
        return path


def make_synthetic_amodal_dataset(
    out_dir: str | Path,
    n_scenes: int,
    *,
    height: int = 128,
    width: int = 128,
    seed: int = 0,
    pairs: bool = True,
    objects: tuple[int, int] = (1, 3),
    occluders: tuple[int, int] = (1, 2),
    donors: int = 32,
) -> Path:
    """Generated shapes, occluded by pasted shapes; returns the annotations JSON path.

    With ``pairs`` each scene is written twice, unoccluded (``<k>_full.png``) and occluded
    (``<k>_occ.png``), the Amodal-LVIS recipe; without it only the occluded version is kept
    (handy for evaluation sets where every instance should be occluded).
    """
    if n_scenes < 1:
        raise InputError(f"n_scenes must be at least 1, got {n_scenes}")
    rng = np.random.default_rng(seed)
    side = min(height, width)
    pool = [
        random_shape_cutout(rng, (max(8, side // 5), max(10, side // 2))) for _ in range(donors)
    ]
    writer = AmodalCocoWriter(out_dir, SHAPE_CATEGORIES)
    for k in range(n_scenes):
        scene = make_shapes_scene(rng, height, width, objects)
        full, occ = occlusion_pair(scene, pool, rng, occluders=occluders)
        if pairs or occ is None:
            writer.add(full, f"{k:05d}_full.png", scene_index=k, occluded_version=False)
        if occ is not None:
            writer.add(occ, f"{k:05d}_occ.png", scene_index=k, occluded_version=True)
    return writer.write()


def _solidity(mask: np.ndarray) -> float:
    """Area over convex-hull area: low for fragmented masks (often already occluded)."""
    import cv2

    pts = cv2.findNonZero(mask.astype(np.uint8))
    if pts is None:
        return 0.0
    hull = cv2.convexHull(pts)
    hull_area = float(cv2.contourArea(hull))
    return 1.0 if hull_area <= 0 else min(1.0, float(mask.sum()) / hull_area)


def synthesize_from_coco(
    annotations: str | Path | Mapping[str, Any],
    images_dir: str | Path,
    out_dir: str | Path,
    *,
    max_images: int | None = None,
    seed: int = 0,
    pairs: bool = True,
    occluders: tuple[int, int] = (1, 2),
    min_area: int = 256,
    min_solidity: float = 0.6,
    max_donors: int = 2000,
    cover: tuple[float, float] = (0.15, 0.6),
) -> Path:
    """Make COCO-amodal training data from a *modal* COCO instance dataset.

    Instances at least ``min_area`` pixels large and ``min_solidity`` solid serve as
    donors; each image's instances are then occluded by donors from *other* images (the
    same object pasted onto itself would teach nothing). Crowd annotations are skipped.
    Returns the path of the written annotations JSON (images under ``out_dir/images``).
    """
    from zoo.data.coco import read_coco
    from zoo.io.images import load_image
    from zoo.io.masks import decode_segmentation

    coco = read_coco(annotations)
    images_dir = Path(images_dir)
    rng = np.random.default_rng(seed)
    by_image: dict[int, list[Mapping[str, Any]]] = {}
    for ann in coco.annotations:
        if ann.get("iscrowd", 0) or "segmentation" not in ann:
            continue
        by_image.setdefault(ann["image_id"], []).append(ann)
    entries = [(iid, im) for iid, im, _ in coco.iter_images() if iid in by_image]
    if max_images is not None:
        entries = entries[:max_images]

    def load(iid: int, im: Mapping[str, Any]) -> tuple[np.ndarray, list[tuple[np.ndarray, int]]]:
        path = coco.find_image(iid, images_dir)
        if path is None:
            raise InputError(
                f"image {im['file_name']} (id {iid}) is missing from {images_dir}; check the "
                "images folder"
            )
        img = load_image(path)
        h, w = img.shape[:2]
        objs = [
            (decode_segmentation(a["segmentation"], h, w), int(a["category_id"]))
            for a in by_image[iid]
        ]
        return img, [(m, c) for m, c in objs if m.sum() >= min_area]

    donors: list[tuple[int, Cutout]] = []
    for iid, im in entries:
        if len(donors) >= max_donors:
            break
        img, objs = load(iid, im)
        for m, c in objs:
            if _solidity(m) >= min_solidity:
                cut = cutout_from_mask(img, m, c, source=str(iid))
                if cut is not None:
                    donors.append((iid, cut))
    if not donors:
        raise InputError(
            f"no instance is large ({min_area}+ px) and solid enough to paste; lower "
            "min_area/min_solidity or use a dataset with larger objects"
        )
    categories = coco.categories or [
        {"id": c, "name": str(c)} for c in sorted({int(a["category_id"]) for a in coco.annotations})
    ]
    writer = AmodalCocoWriter(out_dir, categories)
    for iid, im in entries:
        img, objs = load(iid, im)
        if not objs:
            continue
        scene = Scene(image=img, instances=[Instance(m, m.copy(), c) for m, c in objs])
        pool = [cut for src, cut in donors if src != iid] or [cut for _, cut in donors]
        full, occ = occlusion_pair(scene, pool, rng, occluders=occluders, cover=cover)
        stem = Path(str(im["file_name"])).stem
        if pairs or occ is None:
            writer.add(full, f"{stem}_full.png", source_image_id=iid, occluded_version=False)
        if occ is not None:
            writer.add(occ, f"{stem}_occ.png", source_image_id=iid, occluded_version=True)
    return writer.write()


def iter_instances(scenes: Iterable[Scene]) -> Iterable[Instance]:
    """All instances of several scenes (small convenience for tests and notebooks)."""
    for s in scenes:
        yield from s.instances


def make_amodal(out: Path, *, images: int, seed: int) -> dict[str, Any]:
    """``zoo data make amodal``: :func:`make_synthetic_amodal_dataset` with ``images``
    scenes, each written unoccluded and occluded (128 x 128 px)."""
    import json

    ann = make_synthetic_amodal_dataset(out, images, seed=seed)
    data = json.loads(ann.read_text())
    return {
        "scenes": images,
        "images": len(data["images"]),
        "instances": len(data["annotations"]),
        "contents": ["annotations.json", "images/"],
        "try": "zoo eval sameo-amodal --annotations {out}/annotations.json --images "
        "{out}/images --gt-boxes --weights random",
    }
