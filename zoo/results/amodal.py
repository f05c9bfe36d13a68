"""``amodal``: whole-object masks (visible + hidden parts) for detector or user boxes."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from .base import ArrayModel, CocoInstance, TaskResult


class AmodalInstance(ArrayModel):
    """One object: its amodal mask, the visible part where known, and its scores.

    ``score`` is what ranks it (detector score x predicted IoU with detections, else the
    predicted IoU); ``pred_iou`` and ``det_score`` keep the two factors apart.
    """

    amodal_mask: np.ndarray
    visible_mask: np.ndarray | None = None
    score: float
    box: tuple[float, float, float, float]
    category_id: int | None = None
    pred_iou: float | None = None
    det_score: float | None = None


class AmodalResult(TaskResult):
    """Amodal instances of one image. ``segmentation`` in COCO output is the amodal mask,
    as amodal benchmarks (COCOA-cls, D2SA, KINS) score it; the visible part rides along as
    ``visible_segmentation``."""

    task: ClassVar[str] = "amodal"
    file_stem: ClassVar[str] = "amodal"

    instances: list[AmodalInstance]

    def __len__(self) -> int:
        return len(self.instances)

    @property
    def amodal_masks(self) -> np.ndarray:
        h, w = self.image_size
        if not self.instances:
            return np.zeros((0, h, w), dtype=bool)
        return np.stack([i.amodal_mask for i in self.instances])

    def coco_instances(self) -> list[CocoInstance]:
        from zoo.io.masks import encode_rle

        out = []
        for inst in self.instances:
            x1, y1, x2, y2 = inst.box
            extra: dict[str, Any] = {"prompt_box": [x1, y1, x2 - x1, y2 - y1]}
            if inst.pred_iou is not None:
                extra["pred_iou"] = inst.pred_iou
            if inst.det_score is not None:
                extra["det_score"] = inst.det_score
            if inst.visible_mask is not None:
                extra["visible_segmentation"] = encode_rle(inst.visible_mask)
            cat = 1 if inst.category_id is None else int(inst.category_id)
            out.append(CocoInstance(inst.amodal_mask, float(inst.score), cat, extra))
        return out

    def mask_files(self) -> list[tuple[str, np.ndarray]]:
        files = []
        for i, inst in enumerate(self.instances):
            files.append((f"amodal_{i:03d}", inst.amodal_mask))
            if inst.visible_mask is not None:
                files.append((f"visible_{i:03d}", inst.visible_mask))
        return files

    def draw(self, image: np.ndarray) -> np.ndarray:
        """Visible part solid, hidden part striped; without a visible mask, all solid."""
        from zoo.io.overlay import overlay_amodal

        if not self.instances:
            return image.copy()
        visible = None
        if any(i.visible_mask is not None for i in self.instances):
            visible = np.stack(
                [
                    i.amodal_mask if i.visible_mask is None else i.visible_mask
                    for i in self.instances
                ]
            )
        return overlay_amodal(image, self.amodal_masks, visible)
