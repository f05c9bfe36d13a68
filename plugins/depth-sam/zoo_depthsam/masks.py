"""Class-agnostic mask proposals: SAM 2.1's automatic mask generator, cleanup and merging.

Mask generation reuses ``sam2.automatic_mask_generator.SAM2AutomaticMaskGenerator`` over
the model built by ``zoo_sam2.build.build_sam2_model`` (its predictor fitted to the model's
input size by ``zoo_sam2.build.fit_image_predictor``). Two things are done here rather than
inside the generator:

* **small regions.** SAM 1's generator removed holes and islands below
  ``min_mask_region_area`` with OpenCV (SAD used 100 px). SAM 2's generator instead hands
  the number to its predictor, which needs SAM 2's compiled CUDA extension and otherwise
  only warns and skips. So the generator gets 0 and :func:`remove_small_regions` does the
  SAM 1 clean-up on the CPU, then re-runs box NMS preferring masks the clean-up left
  unchanged (as SAM 1 did).
* **merging depth and RGB proposals** (``--mode both``): :func:`merge_nms` is a greedy
  non-maximum suppression on *mask* IoU (not box IoU: a table top and the floor around it
  have overlapping boxes but disjoint masks) across both sets, highest predicted IoU first,
  depth before RGB on ties because SAD's premise is that depth masks follow geometry.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .geometry import resize_nearest


@dataclass
class MaskSet:
    """N proposals at one resolution: bool masks, SAM's predicted IoU and stability, origin."""

    masks: np.ndarray
    scores: np.ndarray
    stability: np.ndarray
    source: list[str] = field(default_factory=list)
    #: position of each mask in the set it was proposed in (survives select/merge, so a
    #: per-source result such as a class can be looked up after merging)
    ids: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))

    def __post_init__(self) -> None:
        if len(self.ids) != len(self.masks):
            self.ids = np.arange(len(self.masks), dtype=np.int64)

    def renumbered(self) -> MaskSet:
        """The same masks with ``ids`` reset to their positions in this set."""
        return MaskSet(
            self.masks,
            self.scores,
            self.stability,
            list(self.source),
            np.arange(len(self.masks), dtype=np.int64),
        )

    def __len__(self) -> int:
        return int(self.masks.shape[0])

    @property
    def hw(self) -> tuple[int, int]:
        return int(self.masks.shape[1]), int(self.masks.shape[2])

    @classmethod
    def empty(cls, hw: Sequence[int]) -> MaskSet:
        h, w = int(hw[0]), int(hw[1])
        return cls(
            np.zeros((0, h, w), dtype=bool), np.zeros(0, np.float32), np.zeros(0, np.float32), []
        )

    def select(self, idx: Sequence[int] | np.ndarray) -> MaskSet:
        ix = np.asarray(idx, dtype=np.int64).reshape(-1)
        return MaskSet(
            self.masks[ix],
            self.scores[ix],
            self.stability[ix],
            [self.source[i] for i in ix],
            self.ids[ix],
        )

    def resized(self, hw: Sequence[int]) -> MaskSet:
        """Nearest-neighbour resize (depth-resolution masks -> RGB resolution)."""
        if tuple(hw) == self.hw:
            return self
        return MaskSet(
            np.ascontiguousarray(resize_nearest(self.masks, hw)),
            self.scores,
            self.stability,
            list(self.source),
            self.ids,
        )

    @staticmethod
    def concat(sets: Sequence[MaskSet]) -> MaskSet:
        hw = sets[0].hw
        return MaskSet(
            np.concatenate([s.masks for s in sets]) if sets else np.zeros((0, *hw), bool),
            np.concatenate([s.scores for s in sets]).astype(np.float32),
            np.concatenate([s.stability for s in sets]).astype(np.float32),
            [src for s in sets for src in s.source],
            np.concatenate([s.ids for s in sets]).astype(np.int64),
        )


@dataclass(frozen=True)
class GeneratorSettings:
    """The automatic mask generator's knobs (SAD: 64 points, IoU 0.5-0.8, stability 0.8, 100 px)."""

    points_per_side: int = 64
    points_per_batch: int = 64
    pred_iou_thresh: float = 0.7
    stability_score_thresh: float = 0.8
    box_nms_thresh: float = 0.7
    min_region_area: int = 100


def make_generator(sam_model: Any, settings: GeneratorSettings) -> Any:
    """A ``SAM2AutomaticMaskGenerator`` that also works when ``image_size`` is not 1024."""
    from sam2.automatic_mask_generator import SAM2AutomaticMaskGenerator
    from zoo_sam2.build import fit_image_predictor

    gen = SAM2AutomaticMaskGenerator(
        sam_model,
        points_per_side=settings.points_per_side,
        points_per_batch=settings.points_per_batch,
        pred_iou_thresh=settings.pred_iou_thresh,
        stability_score_thresh=settings.stability_score_thresh,
        box_nms_thresh=settings.box_nms_thresh,
        min_mask_region_area=0,  # done on the CPU below; see the module docstring
        output_mode="binary_mask",
    )
    fit_image_predictor(gen.predictor)
    return gen


def num_batches(settings: GeneratorSettings) -> int:
    """Decoder batches of one generator pass (one crop layer): the progress bar's total."""
    return -(-(settings.points_per_side**2) // settings.points_per_batch)


def _boxes(masks: np.ndarray) -> np.ndarray:
    """XYXY boxes of each mask (zeros for empty masks), float32."""
    out = np.zeros((len(masks), 4), dtype=np.float32)
    for i, m in enumerate(masks):
        rows = np.flatnonzero(m.any(axis=1))
        if rows.size:
            cols = np.flatnonzero(m.any(axis=0))
            out[i] = (cols[0], rows[0], cols[-1], rows[-1])
    return out


def remove_small_regions(ms: MaskSet, min_area: int, nms_thresh: float) -> MaskSet:
    """SAM 1's post-processing: fill holes and drop islands below ``min_area`` pixels,
    drop masks left smaller than ``min_area``, then box NMS preferring unchanged masks."""
    if min_area <= 0 or len(ms) == 0:
        return ms
    import torch
    from sam2.utils.amg import remove_small_regions as _clean
    from torchvision.ops import batched_nms

    masks = ms.masks.copy()
    unchanged = np.ones(len(ms), dtype=np.float32)
    for i in range(len(ms)):
        m, changed_holes = _clean(masks[i], min_area, mode="holes")
        m, changed_islands = _clean(m, min_area, mode="islands")
        masks[i] = m
        if changed_holes or changed_islands:
            unchanged[i] = 0.0
    area = masks.reshape(len(masks), -1).sum(axis=1)
    keep = np.flatnonzero(area >= min_area)
    if keep.size == 0:
        return MaskSet.empty(ms.hw)
    boxes = torch.from_numpy(_boxes(masks[keep]))
    order = batched_nms(
        boxes,
        torch.from_numpy(unchanged[keep]),
        torch.zeros(len(keep), dtype=torch.int64),
        nms_thresh,
    ).numpy()
    idx = keep[np.sort(order)]
    out = ms.select(idx)
    out.masks = masks[idx]
    return out


def generate(
    generator: Any,
    image: np.ndarray,
    settings: GeneratorSettings,
    source: str,
    on_batch: Callable[[int], None] | None = None,
) -> MaskSet:
    """Run the generator on an ``HxWx3 uint8`` image; zero proposals give an empty set.

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
        return MaskSet.empty((h, w))
    ms = MaskSet(
        masks=np.stack([np.asarray(a["segmentation"], dtype=bool) for a in anns]),
        scores=np.array([a["predicted_iou"] for a in anns], dtype=np.float32),
        stability=np.array([a["stability_score"] for a in anns], dtype=np.float32),
        source=[source] * len(anns),
    )
    ms = remove_small_regions(ms, settings.min_region_area, settings.box_nms_thresh)
    area = ms.masks.reshape(len(ms), -1).sum(axis=1) if len(ms) else np.zeros(0)
    return ms.select(np.flatnonzero(area > 0)).renumbered()


def mask_iou_matrix(masks: np.ndarray) -> np.ndarray:
    """Pairwise mask IoU (NxN float64) through pycocotools' RLE IoU: memory O(RLE size),
    where a dense N x H*W product would need gigabytes for a few hundred 640x480 masks."""
    from pycocotools import mask as mask_utils

    n = len(masks)
    if n == 0:
        return np.zeros((0, 0))
    rles = mask_utils.encode(np.asfortranarray(masks.transpose(1, 2, 0).astype(np.uint8)))
    return np.asarray(mask_utils.iou(rles, rles, [0] * n), dtype=np.float64).reshape(n, n)


_SOURCE_RANK = {"depth": 0, "rgb": 1}


def merge_nms(sets: Sequence[MaskSet], iou_thresh: float = 0.7) -> MaskSet:
    """Greedy mask-IoU NMS over the union of proposal sets (all at the same resolution).

    Masks are visited by predicted IoU (descending; depth before RGB on ties) and kept
    unless their mask IoU with an already kept mask exceeds ``iou_thresh``. The result is
    in visiting order.
    """
    if not sets:
        raise ValueError("merge_nms needs at least one (possibly empty) MaskSet")
    hw = sets[0].hw
    nonempty = [s for s in sets if len(s)]
    if not nonempty:
        return MaskSet.empty(hw)
    allm = MaskSet.concat(nonempty)
    ranks = np.array([_SOURCE_RANK.get(s, 2) for s in allm.source])
    order = np.lexsort((np.arange(len(allm)), ranks, -allm.scores))
    iou = mask_iou_matrix(allm.masks)
    kept: list[int] = []
    for i in order:
        if all(iou[i, j] <= iou_thresh for j in kept):
            kept.append(int(i))
    return allm.select(kept)
