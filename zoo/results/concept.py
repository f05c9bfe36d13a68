"""``concept``: every instance of each named concept in an image (SAM 3's task).

A concept is a noun phrase ("dog", "red car") and/or exemplar boxes; the model returns all
instances it finds, each with a mask, a box and a score, and a *presence* score per concept
(how sure it is that the concept occurs in the image at all). Concepts are categories:
COCO ``category_id`` is the concept's position + 1 and ``run.json`` lists them by name.

:class:`ConceptFrameResult` is the same for one frame of a video (a track per instance).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from pydantic import Field, model_validator

from zoo.prompts import ConceptPrompts
from zoo.specs import Task

from .base import CocoInstance, TaskResult
from .video import VideoFrameResult


@dataclass(frozen=True)
class ConceptInstance:
    """One detection: its mask, box (``x1, y1, x2, y2`` pixels), score and concept."""

    mask: np.ndarray
    box: tuple[float, float, float, float]
    score: float
    concept_id: int
    concept: str


def _xywh(box: Any) -> list[float]:
    x1, y1, x2, y2 = (float(v) for v in box)
    return [x1, y1, x2 - x1, y2 - y1]


def _categories(concepts: list[str]) -> list[dict[str, Any]]:
    return [{"id": k + 1, "name": c} for k, c in enumerate(concepts)]


def _labels(names: list[str], scores: Any, prefix: list[str] | None = None) -> list[str]:
    out = []
    for i, (n, s) in enumerate(zip(names, scores, strict=True)):
        head = f"{prefix[i]} " if prefix else ""
        out.append(f"{head}{n} {float(s):.2f}")
    return out


class ConceptResult(TaskResult):
    """All instances of ``concepts`` in one image.

    Per instance (N): ``masks`` N x H x W bool, ``boxes`` N x 4 float32 (``x1, y1, x2, y2``
    pixels, the model's box, not the mask's), ``scores`` N float32 (instance score x
    presence score, the number the threshold was applied to) and ``concept_ids`` N int64
    (index into ``concepts``). Per concept (K): ``presence`` K float32. ``prompts`` keeps
    the concepts and exemplars asked for; ``threshold`` the score threshold used.
    Instances come grouped by concept, in concept order.
    """

    task: ClassVar[Task] = Task.CONCEPT

    concepts: list[str]
    masks: np.ndarray
    boxes: np.ndarray
    scores: np.ndarray
    concept_ids: np.ndarray
    presence: np.ndarray
    prompts: ConceptPrompts | None = None
    threshold: float | None = None

    @model_validator(mode="after")
    def _shapes(self) -> ConceptResult:
        h, w = self.image_size
        if self.masks.ndim != 3 or self.masks.shape[1:] != (h, w):
            raise ValueError(f"masks must be N x {h} x {w}, got {self.masks.shape}")
        if self.masks.dtype != np.bool_:
            raise ValueError(f"masks must be bool, got {self.masks.dtype}")
        n, k = self.masks.shape[0], len(self.concepts)
        if not k:
            raise ValueError("a concept result needs at least one concept")
        if self.boxes.shape != (n, 4):
            raise ValueError(f"boxes must have shape ({n}, 4), got {self.boxes.shape}")
        if self.scores.shape != (n,) or self.concept_ids.shape != (n,):
            raise ValueError(f"scores and concept_ids must have shape ({n},)")
        if n and (self.concept_ids.min() < 0 or self.concept_ids.max() >= k):
            raise ValueError(f"concept_ids must index the {k} concepts")
        if self.presence.shape != (k,):
            raise ValueError(f"presence must have one score per concept ({k},)")
        return self

    def __len__(self) -> int:
        return int(self.masks.shape[0])

    @property
    def instances(self) -> list[ConceptInstance]:
        """The detections as objects (views of the arrays), in output order."""
        return [
            ConceptInstance(
                mask=self.masks[i],
                box=tuple(float(v) for v in self.boxes[i]),  # type: ignore[arg-type]
                score=float(self.scores[i]),
                concept_id=int(self.concept_ids[i]),
                concept=self.concepts[int(self.concept_ids[i])],
            )
            for i in range(len(self))
        ]

    def of(self, concept: str | int) -> np.ndarray:
        """Indices of the instances of one concept (by text or index)."""
        k = self.concepts.index(concept) if isinstance(concept, str) else int(concept)
        return np.flatnonzero(self.concept_ids == k)

    def coco_instances(self) -> list[CocoInstance]:
        """One entry per instance; ``category_id`` = concept index + 1, ``pred_bbox`` the
        model's box as ``[x, y, w, h]`` (COCO's ``bbox`` is the mask's)."""
        return [
            CocoInstance(
                self.masks[i],
                float(self.scores[i]),
                int(self.concept_ids[i]) + 1,
                {
                    "concept": self.concepts[int(self.concept_ids[i])],
                    "pred_bbox": _xywh(self.boxes[i]),
                },
            )
            for i in range(len(self))
        ]

    def mask_files(self) -> list[tuple[str, np.ndarray]]:
        return [(f"{self.file_stem}_{i:03d}", m) for i, m in enumerate(self.masks)]

    def run_record(self) -> dict[str, Any]:
        counts = np.bincount(self.concept_ids.astype(np.int64), minlength=len(self.concepts))
        return {
            "categories": _categories(self.concepts),
            "concepts": [
                {
                    "id": k + 1,
                    "name": c,
                    "presence": float(self.presence[k]),
                    "instances": int(counts[k]),
                }
                for k, c in enumerate(self.concepts)
            ],
            **({"threshold": self.threshold} if self.threshold is not None else {}),
            **({"prompts": self.prompts.to_json()} if self.prompts is not None else {}),
        }

    def colors(self) -> np.ndarray:
        """One RGB per concept (instances of a concept share it)."""
        from zoo.io.overlay import distinct_colors

        return distinct_colors(len(self.concepts))

    def draw(self, image: np.ndarray) -> np.ndarray:
        """Masks and boxes in their concept's colour, each labelled ``concept score``;
        exemplar boxes dashed (green positive, red negative)."""
        from zoo.io.overlay import NEGATIVE_COLOR, POSITIVE_COLOR, draw_boxes, overlay_masks

        out = image.copy()
        if len(self):
            colors = self.colors()[self.concept_ids.astype(np.int64)]
            out = overlay_masks(out, self.masks, colors=colors)
            names = [self.concepts[int(k)] for k in self.concept_ids]
            out = draw_boxes(out, self.boxes, colors=colors, labels=_labels(names, self.scores))
        if self.prompts is not None and self.prompts.exemplars:
            ex = self.prompts.exemplars
            out = draw_boxes(
                out,
                [e.box for e in ex],
                colors=[POSITIVE_COLOR if e.label == 1 else NEGATIVE_COLOR for e in ex],
                labels=[
                    ("+ " if e.label == 1 else "- ") + self.concepts[int(e.concept or 0)]
                    for e in ex
                ],
                dashed=True,
            )
        return out


class ConceptFrameResult(VideoFrameResult):
    """One frame of concept tracking: ``{object id: mask}`` plus each track's box, concept
    and score (``scores``). COCO ``category_id`` is the track's concept index + 1."""

    task: ClassVar[str] = "concept-video"

    concepts: list[str]
    boxes: dict[int, tuple[float, float, float, float]] = Field(default_factory=dict)
    concept_ids: dict[int, int] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _tracks(self) -> ConceptFrameResult:
        h, w = self.image_size
        for oid, m in self.masks.items():
            if m.shape != (h, w) or m.dtype != np.bool_:
                raise ValueError(
                    f"object {oid}: mask must be bool {h}x{w}, got {m.dtype} {m.shape}"
                )
            if oid not in self.concept_ids or not 0 <= self.concept_ids[oid] < len(self.concepts):
                raise ValueError(f"object {oid} has no concept among the {len(self.concepts)}")
        return self

    def coco_instances(self) -> list[CocoInstance]:
        out = []
        for oid, m in sorted(self.masks.items()):
            k = int(self.concept_ids[oid])
            extra: dict[str, Any] = {
                "object_id": int(oid),
                "frame_index": self.frame_index,
                "frame_name": self.frame_name,
                "concept": self.concepts[k],
            }
            if oid in self.boxes:
                extra["pred_bbox"] = _xywh(self.boxes[oid])
            out.append(CocoInstance(m, float(self.scores.get(oid, 0.0)), k + 1, extra))
        return out

    def run_record(self) -> dict[str, Any]:
        return {"categories": _categories(self.concepts)}

    def draw(self, image: np.ndarray) -> np.ndarray:
        from zoo.io.overlay import draw_boxes

        out = super().draw(image)
        ids = [oid for oid in sorted(self.masks) if oid in self.boxes]
        if not ids:
            return out
        from zoo.io.masks import davis_palette

        colors = davis_palette()[np.minimum(np.array(ids), 255)]
        names = [self.concepts[self.concept_ids[i]] for i in ids]
        labels = _labels(names, [self.scores.get(i, 0.0) for i in ids], [f"#{i}" for i in ids])
        return draw_boxes(out, [self.boxes[i] for i in ids], colors=colors, labels=labels)
