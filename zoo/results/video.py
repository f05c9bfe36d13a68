"""``video``: one frame of a track, ``{object id: mask}``, as frames are decided."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import numpy as np
from pydantic import Field

from .base import CocoInstance, TaskResult


class VideoFrameResult(TaskResult):
    """The masks of every tracked object in one frame (frames stream lazily from ``track``).

    COCO entries carry ``object_id`` (the track), ``frame_index`` and ``frame_name``;
    :meth:`label_map` gives the DAVIS-style id map written as a palette PNG per frame.
    """

    task: ClassVar[str] = "video"
    file_stem: ClassVar[str] = "object"

    frame_index: int
    frame_name: str
    masks: dict[int, np.ndarray]
    scores: dict[int, float] = Field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.masks)

    def coco_instances(self) -> list[CocoInstance]:
        return [
            CocoInstance(
                m,
                float(self.scores.get(oid, 0.0)),
                1,
                {
                    "object_id": int(oid),
                    "frame_index": self.frame_index,
                    "frame_name": self.frame_name,
                },
            )
            for oid, m in sorted(self.masks.items())
        ]

    def mask_files(self) -> list[tuple[str, np.ndarray]]:
        return [(f"object_{oid:03d}", m) for oid, m in sorted(self.masks.items())]

    def label_map(self) -> np.ndarray:
        """H x W uint8 object ids (0 = background); later ids win where masks overlap."""
        h, w = self.image_size
        out = np.zeros((h, w), dtype=np.uint8)
        for oid, m in sorted(self.masks.items()):
            out[m] = oid
        return out

    def save_palette(self, path: str | Path) -> Path:
        """Write :meth:`label_map` as a DAVIS palette PNG carrying the provenance."""
        from zoo.io.masks import save_palette_png

        save_palette_png(path, self.label_map(), text=self.provenance.png_text())
        return Path(path)

    def draw(self, image: np.ndarray) -> np.ndarray:
        from zoo.io.masks import davis_palette
        from zoo.io.overlay import overlay_masks

        ids = sorted(self.masks)
        if not ids:
            return image.copy()
        colors = davis_palette()[np.minimum(np.array(ids), 255)]
        return overlay_masks(image, np.stack([self.masks[i] for i in ids]), colors=colors)
