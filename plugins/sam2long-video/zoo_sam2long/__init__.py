"""SAM2Long for sam-zoo: a training-free memory tree over SAM 2 for video segmentation.

Public API (imported lazily, so that registering the plugin does not import torch):

* ``zoo.load("sam2long-video:tiny")`` gives a :class:`SAM2LongVideoModel`; its
  ``track(frames, prompts, record=False)`` yields :class:`zoo.results.VideoFrameResult`
  frames in order as soon as each is final (``record=True`` adds the tracker's internals,
  see :func:`zoo_sam2long.model.frame_record`).
* :class:`SAM2LongTracker` - the streaming tracker on a bare SAM 2 video model
  (``model.model``); yields :class:`TrackedFrame` results.
* :class:`SAM2LongConfig`, :class:`ObjectPrompt` - options and per-object prompts.
* :class:`TreeRecorder`, :class:`FrameRecord` - per-frame diagnostics of the tree.
* :mod:`zoo_sam2long.tree`, :mod:`zoo_sam2long.memory` - the pure selection rules.

The SAM 2 network itself is built by the ``sam2`` plugin (:mod:`zoo_sam2.build`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = [
    "FrameRecord",
    "ObjectPrompt",
    "SAM2LongConfig",
    "SAM2LongTracker",
    "SAM2LongVideoModel",
    "TrackedFrame",
    "TreeRecorder",
]

if TYPE_CHECKING:
    from .model import SAM2LongVideoModel
    from .tracker import (
        FrameRecord,
        ObjectPrompt,
        SAM2LongConfig,
        SAM2LongTracker,
        TrackedFrame,
        TreeRecorder,
    )


def __getattr__(name: str) -> Any:
    if name == "SAM2LongVideoModel":
        from .model import SAM2LongVideoModel

        return SAM2LongVideoModel
    if name in __all__:
        from . import tracker

        return getattr(tracker, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
