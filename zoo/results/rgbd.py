"""``rgbd``: masks with open-vocabulary class labels, optionally lifted to a 3-D point cloud."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from pydantic import model_validator

from .base import TEST_MODE_NOTE, CocoInstance, TaskResult


class RGBDResult(TaskResult):
    """Masks of one RGB-D frame with class names; ``points_*`` describe a labelled cloud.

    ``class_ids`` index ``vocabulary`` (so COCO ``category_id`` = index + 1 and ``run.json``
    lists the categories); ``points_instance`` / ``points_label`` give each point's mask
    and class index (-1 = none).
    """

    task: ClassVar[str] = "rgbd"

    masks: np.ndarray
    labels: list[str]
    scores: np.ndarray
    vocabulary: list[str] | None = None
    class_ids: np.ndarray | None = None
    points_xyz: np.ndarray | None = None
    points_rgb: np.ndarray | None = None
    points_instance: np.ndarray | None = None
    points_label: np.ndarray | None = None

    @model_validator(mode="after")
    def _shapes(self) -> RGBDResult:
        h, w = self.image_size
        if self.masks.ndim != 3 or self.masks.shape[1:] != (h, w):
            raise ValueError(f"masks must be N x {h} x {w}, got {self.masks.shape}")
        n = self.masks.shape[0]
        if len(self.labels) != n or self.scores.shape != (n,):
            raise ValueError("labels and scores must have one entry per mask")
        if self.class_ids is not None and self.class_ids.shape != (n,):
            raise ValueError("class_ids must have one entry per mask")
        return self

    def __len__(self) -> int:
        return int(self.masks.shape[0])

    def coco_instances(self) -> list[CocoInstance]:
        out = []
        for i in range(len(self)):
            cat = int(self.class_ids[i]) + 1 if self.class_ids is not None else 1
            out.append(
                CocoInstance(self.masks[i], float(self.scores[i]), cat, {"label": self.labels[i]})
            )
        return out

    def run_record(self) -> dict[str, Any]:
        if not self.vocabulary:
            return {}
        return {"categories": [{"id": k + 1, "name": n} for k, n in enumerate(self.vocabulary)]}

    def draw(self, image: np.ndarray) -> np.ndarray:
        from zoo.io.overlay import distinct_colors, overlay_masks

        colors = None
        if self.class_ids is not None and self.vocabulary:
            colors = distinct_colors(len(self.vocabulary))[self.class_ids] if len(self) else None
        return overlay_masks(image, self.masks, colors=colors)

    def write_extra(
        self, folder: Path, image: np.ndarray | None, formats: Sequence[str]
    ) -> list[Path]:
        """``points.ply`` (x y z, colour, instance, label) when the cloud was computed."""
        if self.points_xyz is None:
            return []
        from zoo.io.ply import write_ply

        n = self.points_xyz.shape[0]
        extra = {
            "instance": self.points_instance
            if self.points_instance is not None
            else np.full(n, -1, np.int32),
            "label": self.points_label
            if self.points_label is not None
            else np.full(n, -1, np.int32),
        }
        comments = [f"zoo:model {self.provenance.model}", f"zoo:weights {self.provenance.weights}"]
        if self.provenance.is_random:
            comments.append(f"zoo:note {TEST_MODE_NOTE}")
        p = folder / "points.ply"
        write_ply(p, self.points_xyz, self.points_rgb, extra=extra, comments=comments)
        return [p]
