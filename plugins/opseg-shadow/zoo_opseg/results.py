"""Writing shadow results: per-mask PNGs, a SOBA/COCO-style results JSON, a paired overlay.

The results JSON follows SOBA's conventions so SOBA tooling can read it: ``category_id`` 1
for objects and 2 for shadows, an ``association`` number shared by an object and its
shadow, and an ``association_anno`` list holding one union mask per pair (what SOAP, the
association AP, matches first). Every entry carries its ``score`` (the decoder's predicted
IoU; a pair's score is the mean of its two members').
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from zoo.tasks import ShadowResult

CATEGORIES = [
    {"id": 1, "name": "Object", "supercategory": "object"},
    {"id": 2, "name": "Shadow", "supercategory": "shadow"},
]


def pair_score(inst: Any) -> float:
    """A pair's confidence: the mean of the member scores that exist."""
    vals = [s for s in (inst.object_score, inst.shadow_score) if s is not None]
    return float(np.mean(vals)) if vals else 0.0


def soba_entries(
    result: ShadowResult, image_id: int | str = 0, extra: dict[str, Any] | None = None
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``(annotations, association_anno)`` of one image in SOBA results form."""
    from zoo.io.masks import coco_results

    masks: list[np.ndarray] = []
    scores: list[float] = []
    cats: list[int] = []
    extras: list[dict[str, Any]] = []
    assoc_masks: list[np.ndarray] = []
    assoc_scores: list[float] = []
    assoc_extras: list[dict[str, Any]] = []
    for inst in result.instances:
        for cat, mask, score in (
            (1, inst.object_mask, inst.object_score),
            (2, inst.shadow_mask, inst.shadow_score),
        ):
            if mask is None:
                continue
            masks.append(mask)
            scores.append(float(score) if score is not None else 0.0)
            cats.append(cat)
            extras.append({"association": inst.association_id, **(extra or {})})
        if inst.object_mask is not None and inst.shadow_mask is not None:
            assoc_masks.append(inst.object_mask | inst.shadow_mask)
            assoc_scores.append(pair_score(inst))
            assoc_extras.append({"association": inst.association_id, **(extra or {})})
    anns = coco_results(np.stack(masks), scores, image_id, cats, extras) if masks else []
    assoc = (
        coco_results(np.stack(assoc_masks), assoc_scores, image_id, 1, assoc_extras)
        if assoc_masks
        else []
    )
    return anns, assoc


def save_shadow_result(
    result: ShadowResult,
    out_dir: str | Path,
    image: Any = None,
    formats: Sequence[str] = ("png", "coco"),
    image_id: int | str = 0,
) -> list[Path]:
    """Write ``object_<id>.png``/``shadow_<id>.png``, ``results.json`` and ``overlay.png``.

    Everything goes through :func:`zoo.io.atomic.atomic_output_dir`, so a failure leaves
    ``out_dir`` without any of these files. The overlay draws each object solid and its
    shadow hatched in a lighter tint of the same colour
    (:func:`zoo.io.overlay.overlay_pairs`); a missing side is drawn as an empty mask.
    """
    from zoo.io.atomic import atomic_output_dir
    from zoo.io.images import load_image, save_png
    from zoo.io.masks import write_json
    from zoo.io.overlay import overlay_pairs

    h, w = result.image_size
    written: list[str] = []
    with atomic_output_dir(out_dir) as tmp:
        tmp = Path(tmp)
        if "png" in formats:
            for inst in result.instances:
                for role, mask in (("object", inst.object_mask), ("shadow", inst.shadow_mask)):
                    if mask is None:
                        continue
                    name = f"{role}_{inst.association_id:03d}.png"
                    save_png(tmp / name, mask.astype(np.uint8) * 255)
                    written.append(name)
        if "coco" in formats or "json" in formats:
            anns, assoc = soba_entries(result, image_id=image_id)
            write_json(
                tmp / "results.json",
                {
                    "provenance": result.provenance.model_dump(mode="json"),
                    "image_size": [h, w],
                    "categories": CATEGORIES,
                    "annotations": anns,
                    "association_anno": assoc,
                },
            )
            written.append("results.json")
        if image is not None:
            empty = np.zeros((h, w), dtype=bool)
            objs = [i.object_mask if i.object_mask is not None else empty for i in result.instances]
            shads = [
                i.shadow_mask if i.shadow_mask is not None else empty for i in result.instances
            ]
            label = result.provenance.label if result.provenance.is_random else None
            save_png(
                tmp / "overlay.png", overlay_pairs(load_image(image), objs, shads, label_text=label)
            )
            written.append("overlay.png")
    out = Path(out_dir)
    return [out / n for n in written]
