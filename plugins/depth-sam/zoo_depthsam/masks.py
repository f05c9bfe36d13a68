"""Class-agnostic mask proposals on depth renders and RGB, and their merging.

Mask generation is the shared "segment everything" code every SAM 2 family uses
(:mod:`zoo_sam2.everything`: ``SAM2AutomaticMaskGenerator`` over the loaded network, with
SAM 1's small-region clean-up done on the CPU by :func:`zoo.everything.remove_small_regions`).
What is depth-sam's own lives here:

* **proposal sets** (:class:`MaskSet`): masks with scores, stability and the image they were
  found on ("depth" or "rgb");
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

from zoo.everything import EverythingSettings

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


#: SAM 2's generator knobs (``zoo.everything.EverythingSettings``): SAD runs it with 64
#: points per side, IoU 0.7, stability 0.8, NMS 0.7 and a 100 px clean-up (the option defaults).
GeneratorSettings = EverythingSettings


def generate(
    generator: Any,
    image: np.ndarray,
    settings: GeneratorSettings,
    source: str,
    on_batch: Callable[[int], None] | None = None,
) -> MaskSet:
    """SAM 2's generator (the shared :func:`zoo_sam2.everything.generate`) on one image, as a
    :class:`MaskSet` labelled with its ``source``; masks emptied by the clean-up are dropped."""
    from zoo_sam2.everything import generate as sam2_generate

    found = sam2_generate(generator, image, settings, on_batch=on_batch)
    h, w = image.shape[:2]
    if len(found.masks) == 0:
        return MaskSet.empty((h, w))
    ms = MaskSet(
        masks=found.masks,
        scores=found.scores,
        stability=found.stability,
        source=[source] * len(found.masks),
    )
    area = ms.masks.reshape(len(ms), -1).sum(axis=1)
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
