"""Writing SAMEO results: COCO RLE results JSON, mask PNGs and the amodal overlay.

The core :class:`zoo.tasks.AmodalResult` has no writers yet, so they live here; they
follow ``SegmentationResult.save`` (same file names, atomic output folder) so that tools
reading ``zoo run`` outputs see the same layout for every task.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from zoo.errors import InputError

if TYPE_CHECKING:
    from .model import SameoResult


def amodal_coco_results(result: SameoResult, image_id: int | str = 0) -> list[dict[str, Any]]:
    """COCO results entries (``COCOeval.loadRes`` format) for the amodal masks.

    ``segmentation`` is the amodal mask, as amodal benchmarks (COCOA-cls, D2SA, KINS)
    score it; the known visible part, the predicted IoU and the detector score ride along
    under their own keys.
    """
    from zoo.io.masks import coco_results, encode_rle

    if not result.instances:
        return []
    extras: list[dict[str, Any]] = []
    for i, inst in enumerate(result.instances):
        x1, y1, x2, y2 = inst.box
        e: dict[str, Any] = {
            "prompt_box": [x1, y1, x2 - x1, y2 - y1],
            "pred_iou": result.pred_ious[i] if i < len(result.pred_ious) else None,
            "model": result.provenance.model,
            "weights": result.provenance.weights,
        }
        if result.det_scores is not None:
            e["det_score"] = result.det_scores[i]
        if inst.visible_mask is not None:
            e["visible_segmentation"] = encode_rle(inst.visible_mask)
        extras.append(e)
    cats = [1 if i.category_id is None else int(i.category_id) for i in result.instances]
    return coco_results(result.amodal_masks, [i.score for i in result.instances],
                        image_id=image_id, category_ids=cats, extra=extras)  # type: ignore[arg-type]


def amodal_overlay(result: SameoResult, image: Any) -> np.ndarray:
    """Amodal masks over the image: visible part solid, hidden part striped.

    Where no visible mask is known for an instance its whole amodal mask is drawn solid
    (nothing is claimed about occlusion). Test-mode outputs carry the provenance caption.
    """
    from zoo.io.images import load_image
    from zoo.io.overlay import draw_label_text, overlay_amodal

    img = load_image(image)
    label = result.provenance.label if result.provenance.is_random else None
    if not result.instances:
        return draw_label_text(img, label) if label else img
    amodal = result.amodal_masks
    visible = None
    if any(i.visible_mask is not None for i in result.instances):
        visible = np.stack([i.amodal_mask if i.visible_mask is None else i.visible_mask
                            for i in result.instances])
    return overlay_amodal(img, amodal, visible, label_text=label)


def save_amodal(
    result: SameoResult,
    out_dir: str | Path,
    image: Any = None,
    formats: Sequence[str] = ("png", "coco"),
    image_id: int | str = 0,
) -> list[Path]:
    """Write ``amodal_NNN.png`` (and ``visible_NNN.png`` where known), ``results.json`` and,
    given the image, ``overlay.png`` - all or nothing (atomic output folder)."""
    from zoo.io.atomic import atomic_output_dir
    from zoo.io.images import save_png
    from zoo.io.masks import write_json

    bad = set(formats) - {"png", "coco", "json"}
    if bad:
        raise InputError(f"unknown format {sorted(bad)[0]!r}; use png, coco or json")
    written: list[Path] = []
    with atomic_output_dir(out_dir) as tmp:
        tmp = Path(tmp)
        if "png" in formats:
            for i, inst in enumerate(result.instances):
                p = tmp / f"amodal_{i:03d}.png"
                save_png(p, inst.amodal_mask)
                written.append(p)
                if inst.visible_mask is not None:
                    p = tmp / f"visible_{i:03d}.png"
                    save_png(p, inst.visible_mask)
                    written.append(p)
        if "coco" in formats or "json" in formats:
            p = tmp / "results.json"
            write_json(p, {
                "provenance": result.provenance.model_dump(mode="json"),
                "task": "amodal",
                "image_size": list(result.image_size),
                "annotations": amodal_coco_results(result, image_id),
            })
            written.append(p)
        if image is not None:
            p = tmp / "overlay.png"
            save_png(p, amodal_overlay(result, image))
            written.append(p)
    out = Path(out_dir)
    return [out / p.name for p in written]
