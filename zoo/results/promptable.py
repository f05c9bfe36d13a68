"""``promptable``: one mask per object prompt (or per proposal of "segment everything")."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from pydantic import model_validator

from zoo.prompts import Prompts

from .base import CocoInstance, TaskResult


class SegmentationResult(TaskResult):
    """Masks for one image: ``masks`` N x H x W bool, one per object prompt.

    ``scores`` are the model's predicted IoU; ``low_res_logits`` the decoder's output
    before upsampling (N x h x w), kept for mask-prompt refinement and parity checks;
    ``category_ids`` are carried through from detections or annotations.
    """

    task: ClassVar[str] = "promptable"

    masks: np.ndarray
    scores: np.ndarray
    low_res_logits: np.ndarray | None = None
    prompts: Prompts | None = None
    category_ids: list[int] | None = None

    @model_validator(mode="after")
    def _shapes(self) -> SegmentationResult:
        h, w = self.image_size
        if self.masks.ndim != 3 or self.masks.shape[1:] != (h, w):
            raise ValueError(f"masks must be N x {h} x {w}, got {self.masks.shape}")
        if self.masks.dtype != np.bool_:
            raise ValueError(f"masks must be bool, got {self.masks.dtype}")
        if self.scores.shape != (self.masks.shape[0],):
            raise ValueError(f"scores must have shape ({self.masks.shape[0]},)")
        if self.category_ids is not None and len(self.category_ids) != self.masks.shape[0]:
            raise ValueError("category_ids must have one entry per mask")
        return self

    def __len__(self) -> int:
        return int(self.masks.shape[0])

    def coco_instances(self) -> list[CocoInstance]:
        cats = self.category_ids or [1] * len(self)
        return [
            CocoInstance(mask=m, score=float(s), category_id=int(c))
            for m, s, c in zip(self.masks, self.scores, cats, strict=True)
        ]

    def mask_files(self) -> list[tuple[str, np.ndarray]]:
        return [(f"{self.file_stem}_{i:03d}", m) for i, m in enumerate(self.masks)]

    def draw(self, image: np.ndarray) -> np.ndarray:
        from zoo.io.overlay import overlay_masks

        boxes = points = labels = None
        if self.prompts is not None:
            bx = [o.box for o in self.prompts.objects if o.box is not None]
            boxes = np.array(bx, dtype=float) if bx else None
            pts = [p for o in self.prompts.objects for p in (o.points or [])]
            labs = [lab for o in self.prompts.objects for lab in (o.labels or [])]
            if pts:
                points, labels = np.array(pts, dtype=float), np.array(labs)
        return overlay_masks(image, self.masks, boxes=boxes, points=points, labels=labels)
