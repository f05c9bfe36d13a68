"""SAM2Long for sam-zoo: a training-free memory tree over SAM 2 for video segmentation.

Public API (imported lazily, so that registering the plugin does not import torch):

* :func:`load_sam2_model` - build a ``sam2`` video model with the reference flags.
* :class:`SAM2LongTracker` - streaming tracker; ``track(frames, prompts)`` yields
  :class:`TrackedFrame` results in order as soon as each frame is final.
* :class:`SAM2LongConfig`, :class:`ObjectPrompt` - options and per-object prompts.
* :class:`TreeRecorder`, :class:`FrameRecord` - per-frame diagnostics of the tree.
* :mod:`zoo_sam2long.tree`, :mod:`zoo_sam2long.memory` - the pure selection rules.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = [
    "FrameRecord",
    "ObjectPrompt",
    "SAM2LongConfig",
    "SAM2LongTracker",
    "TrackedFrame",
    "TreeRecorder",
    "load_sam2_model",
]

if TYPE_CHECKING:
    from .tracker import (
        FrameRecord,
        ObjectPrompt,
        SAM2LongConfig,
        SAM2LongTracker,
        TrackedFrame,
        TreeRecorder,
        load_sam2_model,
    )


def __getattr__(name: str) -> Any:
    if name in __all__:
        from . import tracker

        return getattr(tracker, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
