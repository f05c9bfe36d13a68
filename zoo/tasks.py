"""Task interfaces: what a model promises to the CLI, the conformance kit and user code.

A family declares the tasks it implements (in its card and its ``FamilySpec``); everything
else talks to a model only through these interfaces, so a new method plugs in without the
core knowing anything about it. Inputs are :mod:`zoo.prompts`, outputs :mod:`zoo.results`;
both are re-exported here for convenience.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol, runtime_checkable

from zoo.prompts import (
    ConceptPrompts,
    Exemplar,
    ObjectPrompt,
    Prompts,
    ShadowPrompt,
    as_concept_prompts,
    as_prompts,
    as_shadow_prompts,
)
from zoo.results import (
    AmodalInstance,
    AmodalResult,
    ConceptFrameResult,
    ConceptResult,
    Provenance,
    RGBDResult,
    SegmentationResult,
    ShadowInstance,
    ShadowResult,
    TaskResult,
    VideoFrameResult,
)
from zoo.specs import Task

__all__ = [
    "TASK_METHODS",
    "TASK_PROTOCOLS",
    "AmodalInstance",
    "AmodalResult",
    "ConceptFrameResult",
    "ConceptPrompts",
    "ConceptResult",
    "Exemplar",
    "ObjectPrompt",
    "Prompts",
    "Provenance",
    "RGBDResult",
    "SegmentationResult",
    "ShadowInstance",
    "ShadowPrompt",
    "ShadowResult",
    "Task",
    "TaskResult",
    "VideoFrameResult",
    "as_concept_prompts",
    "as_prompts",
    "as_shadow_prompts",
]


# --------------------------------------------------------------------------- interfaces


@runtime_checkable
class PromptableModel(Protocol):
    def set_image(self, image: Any) -> None: ...

    def segment(
        self, image: Any, prompts: Any, *, multimask: bool = False
    ) -> SegmentationResult: ...


@runtime_checkable
class AmodalModel(Protocol):
    def segment_amodal(self, image: Any, boxes: Any) -> AmodalResult: ...


@runtime_checkable
class ShadowModel(Protocol):
    def segment_shadows(self, image: Any, prompts: Any) -> ShadowResult: ...


@runtime_checkable
class RGBDModel(Protocol):
    def segment_rgbd(
        self, image: Any, depth: Any, intrinsics: Any = None, vocabulary: Any = None
    ) -> RGBDResult: ...


@runtime_checkable
class VideoModel(Protocol):
    def track(self, frames: Any, prompts: Any) -> Iterator[VideoFrameResult]: ...


@runtime_checkable
class ConceptModel(Protocol):
    """``concept``: every instance of each concept (noun phrases and/or exemplar boxes).

    ``concepts`` is ``"dog;red car"`` or ``["dog", "red car"]``; ``exemplars`` are
    ``[{"box": [x1, y1, x2, y2], "label": 1, "concept": "dog"}]`` (see
    :func:`zoo.prompts.as_concept_prompts`); instances scoring at most ``threshold`` are
    dropped. ``image=None`` reuses the image of ``set_image``.
    """

    def set_image(self, image: Any) -> None: ...

    def find(
        self,
        image: Any,
        concepts: Any = None,
        exemplars: Any = None,
        *,
        threshold: float = 0.5,
    ) -> ConceptResult: ...


@runtime_checkable
class AdaptModel(Protocol):
    def adapt(self, dataset: Any, prompt_kind: str, config: Any) -> Any: ...


TASK_PROTOCOLS: dict[Task, type] = {
    Task.PROMPTABLE: PromptableModel,
    Task.AMODAL: AmodalModel,
    Task.SHADOW: ShadowModel,
    Task.RGBD: RGBDModel,
    Task.VIDEO: VideoModel,
    Task.ADAPT: AdaptModel,
    Task.CONCEPT: ConceptModel,
}


#: The method each task adds to a model.
TASK_METHODS: dict[Task, str] = {
    Task.PROMPTABLE: "segment",
    Task.AMODAL: "segment_amodal",
    Task.SHADOW: "segment_shadows",
    Task.RGBD: "segment_rgbd",
    Task.VIDEO: "track",
    Task.ADAPT: "adapt",
    Task.CONCEPT: "find",
}
