"""One result model for every task (see :mod:`zoo.results.base` for the output layout).

Every task result has ``save(dir, image=...)``, ``to_coco()``, ``overlay(image)`` and a
lossless ``to_dict()`` / ``from_dict()``; plugins subclass these (adding fields and extra
files) or fill them as they are.
"""

from __future__ import annotations

from .amodal import AmodalInstance, AmodalResult
from .base import (
    DEFAULT_FORMATS,
    FORMATS,
    TEST_MODE_NOTE,
    CocoInstance,
    Provenance,
    TaskResult,
    check_formats,
    result_from_dict,
)
from .concept import ConceptFrameResult, ConceptInstance, ConceptResult
from .promptable import SegmentationResult
from .rgbd import RGBDResult
from .shadow import SOBA_CATEGORIES, ShadowInstance, ShadowResult
from .video import VideoFrameResult

#: The result type of each task (``adapt`` returns a new variant, not a result).
RESULT_TYPES = {
    SegmentationResult.task: SegmentationResult,
    AmodalResult.task: AmodalResult,
    ShadowResult.task: ShadowResult,
    RGBDResult.task: RGBDResult,
    VideoFrameResult.task: VideoFrameResult,
    ConceptResult.task: ConceptResult,
}

__all__ = [
    "DEFAULT_FORMATS",
    "FORMATS",
    "RESULT_TYPES",
    "SOBA_CATEGORIES",
    "TEST_MODE_NOTE",
    "AmodalInstance",
    "AmodalResult",
    "CocoInstance",
    "ConceptFrameResult",
    "ConceptInstance",
    "ConceptResult",
    "Provenance",
    "RGBDResult",
    "SegmentationResult",
    "ShadowInstance",
    "ShadowResult",
    "TaskResult",
    "VideoFrameResult",
    "check_formats",
    "result_from_dict",
]
