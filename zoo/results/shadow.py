"""``shadow``: objects and their cast shadows, paired (SOBA conventions)."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from .base import ArrayModel, CocoInstance, TaskResult

#: SOBA's categories: what ``category_id`` means in shadow results.
SOBA_CATEGORIES = [
    {"id": 1, "name": "Object", "supercategory": "object"},
    {"id": 2, "name": "Shadow", "supercategory": "shadow"},
]


class ShadowInstance(ArrayModel):
    """One object-shadow pair; either side may be missing (shadow-only prompts)."""

    association_id: int
    object_mask: np.ndarray | None
    shadow_mask: np.ndarray | None
    object_score: float | None = None
    shadow_score: float | None = None

    @property
    def pair_score(self) -> float:
        """A pair's confidence: the mean of the member scores that exist."""
        vals = [s for s in (self.object_score, self.shadow_score) if s is not None]
        return float(np.mean(vals)) if vals else 0.0


class ShadowResult(TaskResult):
    """Pairs of one image. COCO output follows SOBA: ``category_id`` 1 object / 2 shadow and
    an ``association`` number shared by a pair; ``run.json`` holds ``association_anno``
    (one union mask per complete pair, what SOAP matches first)."""

    task: ClassVar[str] = "shadow"

    instances: list[ShadowInstance]

    def __len__(self) -> int:
        return len(self.instances)

    def coco_instances(self) -> list[CocoInstance]:
        out = []
        for inst in self.instances:
            for cat, mask, score in (
                (1, inst.object_mask, inst.object_score),
                (2, inst.shadow_mask, inst.shadow_score),
            ):
                if mask is not None:
                    s = 0.0 if score is None else float(score)
                    out.append(CocoInstance(mask, s, cat, {"association": inst.association_id}))
        return out

    def mask_files(self) -> list[tuple[str, np.ndarray]]:
        files = []
        for inst in self.instances:
            for role, mask in (("object", inst.object_mask), ("shadow", inst.shadow_mask)):
                if mask is not None:
                    files.append((f"{role}_{inst.association_id:03d}", mask))
        return files

    def association_entries(self, image_id: int = 1) -> list[dict[str, Any]]:
        """SOBA ``association_anno``: the union of each complete pair, with its pair score."""
        from zoo.io.masks import coco_results

        pairs = [
            i for i in self.instances if i.object_mask is not None and i.shadow_mask is not None
        ]
        if not pairs:
            return []
        unions = np.stack([p.object_mask | p.shadow_mask for p in pairs])  # type: ignore[operator]
        return coco_results(
            unions,
            [p.pair_score for p in pairs],
            image_id=image_id,
            category_ids=1,
            extra=[{"association": p.association_id} for p in pairs],
        )

    def run_record(self) -> dict[str, Any]:
        return {"categories": SOBA_CATEGORIES, "association_anno": self.association_entries()}

    def draw(self, image: np.ndarray) -> np.ndarray:
        """Each object solid, its shadow hatched in a lighter tint of the same colour."""
        from zoo.io.overlay import overlay_pairs

        h, w = self.image_size
        empty = np.zeros((h, w), dtype=bool)
        if not self.instances:
            return image.copy()
        objs = [i.object_mask if i.object_mask is not None else empty for i in self.instances]
        shads = [i.shadow_mask if i.shadow_mask is not None else empty for i in self.instances]
        return overlay_pairs(image, objs, shads)
