"""SAM 2's own automatic mask generator over a loaded network, for ``segment_everything``.

SAM 2 ships ``SAM2AutomaticMaskGenerator`` (three masks per grid point, its own
filtering and NMS); running it over the very network ``zoo.load`` built gives the masks
upstream users know, bit for bit, instead of the core grid procedure's one-mask-per-point
approximation. Two adjustments, both about running outside upstream's defaults:

* ``SAM2ImagePredictor`` hard-codes the backbone feature sizes of a 1024-px input; they
  are derived from the model so a reduced ``image_size`` (tests, CPU) works.
* the generator's ``min_mask_region_area`` needs SAM 2's compiled CUDA extension and is
  otherwise skipped with a warning; the generator gets 0 and the core's
  :func:`zoo.everything.remove_small_regions` does SAM 1's clean-up on the CPU.

Other code that wants SAM 2 proposals on arbitrary images (depth-sam renders) calls
:func:`make_generator` once and :func:`generate` per image, or simply
``Sam2Model.segment_everything``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from zoo.everything import EverythingSettings, remove_small_regions

__all__ = ["Proposals", "generate", "make_generator", "num_batches"]


@dataclass
class Proposals:
    """What one generator call found: masks, predicted IoU, stability, prompt points."""

    masks: np.ndarray
    scores: np.ndarray
    stability: np.ndarray
    points: np.ndarray


def make_generator(sam_model: Any, settings: EverythingSettings) -> Any:
    """A ``SAM2AutomaticMaskGenerator`` with ``settings`` over ``sam_model`` (a SAM2Base)."""
    from sam2.automatic_mask_generator import SAM2AutomaticMaskGenerator

    from .build import fit_image_predictor

    gen = _generator(SAM2AutomaticMaskGenerator, sam_model, settings)
    fit_image_predictor(gen.predictor)
    return gen


def _generator(cls: Any, sam_model: Any, settings: EverythingSettings) -> Any:
    return cls(
        sam_model,
        points_per_side=settings.points_per_side,
        points_per_batch=settings.points_per_batch,
        pred_iou_thresh=settings.pred_iou_thresh,
        stability_score_thresh=settings.stability_score_thresh,
        stability_score_offset=settings.stability_score_offset,
        box_nms_thresh=settings.box_nms_thresh,
        min_mask_region_area=0,  # see the module docstring
        multimask_output=settings.multimask,
        output_mode="binary_mask",
    )


def num_batches(settings: EverythingSettings) -> int:
    """Decoder batches of one generator pass (one crop layer): a progress bar's total."""
    return -(-(settings.points_per_side**2) // settings.points_per_batch)


def generate(
    generator: Any,
    image: np.ndarray,
    settings: EverythingSettings,
    on_batch: Callable[[int], None] | None = None,
) -> Proposals:
    """Run ``generator`` on an ``HxWx3 uint8`` image, then the CPU small-region clean-up.

    ``on_batch(1)`` is called after each decoder batch of prompt points (SAM 2's generator
    has no hook of its own, so its per-batch step is wrapped for the duration of the call).
    """
    if on_batch is not None:
        step = generator._process_batch

        def counted(*args: Any, **kwargs: Any) -> Any:
            out = step(*args, **kwargs)
            on_batch(1)
            return out

        generator._process_batch = counted
    try:
        anns = generator.generate(np.ascontiguousarray(image))
    finally:
        if on_batch is not None:
            del generator._process_batch  # back to the class's method
    h, w = image.shape[:2]
    if not anns:
        empty = np.zeros(0, dtype=np.float32)
        return Proposals(np.zeros((0, h, w), dtype=bool), empty, empty, np.zeros((0, 2)))
    masks = np.stack([np.asarray(a["segmentation"], dtype=bool) for a in anns])
    scores = np.array([a["predicted_iou"] for a in anns], dtype=np.float32)
    stab = np.array([a["stability_score"] for a in anns], dtype=np.float32)
    points = np.array([a["point_coords"][0] for a in anns], dtype=np.float64)
    masks, idx = remove_small_regions(masks, settings.min_region_area, settings.box_nms_thresh)
    return Proposals(masks, scores[idx], stab[idx], points[idx])
