""" "Segment everything": automatic mask generation for every promptable family.

The procedure is SAM's: prompt the model with a regular grid of single foreground clicks,
batched; drop masks whose predicted IoU or stability (how little the mask changes when the
logit cut-off moves) is low; remove duplicates with box non-maximum suppression; optionally
clean small holes and islands and drop masks under a minimum area.

Two implementations share :class:`EverythingSettings`:

* this module's :func:`grid_everything` works for *any* promptable model through its
  public ``segment`` (so EfficientSAM, WeSAM variants and third-party families get it
  without code): one mask per grid point (the best of three by predicted IoU when
  ``multimask``), stability measured on the model's ``low_res_logits`` when it returns them;
* a family may override ``segment_everything`` with its own generator: SAM 2 runs the
  ``sam2`` package's ``SAM2AutomaticMaskGenerator`` over the loaded network
  (``zoo_sam2.everything``), which keeps all three masks per point as upstream does.

``model.segment_everything(image, **settings)`` is the entry point (``ZooModel`` provides
the grid default); ``zoo run NAME --everything`` and ``zoo batch NAME --everything`` call it.
The result is a :class:`~zoo.results.SegmentationResult` whose ``prompts`` are the kept
grid points and whose ``extra["stability_scores"]`` holds one stability per mask.

Test mode: with random weights almost no mask passes SAM's thresholds, so thresholds the
caller did not give are relaxed to 0 (as depth-sam does), and the result says so.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from zoo.errors import InputError

__all__ = [
    "EVERYTHING_OPTION_NAMES",
    "EverythingSettings",
    "build_point_grid",
    "grid_everything",
    "nms_keep",
    "remove_small_regions",
    "resolve_settings",
    "stability_scores",
]


@dataclass(frozen=True)
class EverythingSettings:
    """The generator's knobs; defaults are SAM 2's ``SAM2AutomaticMaskGenerator``'s."""

    points_per_side: int = 32
    points_per_batch: int = 64
    pred_iou_thresh: float = 0.8
    stability_score_thresh: float = 0.95
    stability_score_offset: float = 1.0
    box_nms_thresh: float = 0.7
    min_region_area: int = 0
    multimask: bool = True

    def __post_init__(self) -> None:
        if self.points_per_side < 1 or self.points_per_batch < 1:
            raise InputError("points_per_side and points_per_batch must be at least 1")
        if not 0.0 <= self.box_nms_thresh <= 1.0:
            raise InputError(f"box_nms_thresh must be in [0, 1], got {self.box_nms_thresh}")
        if self.min_region_area < 0:
            raise InputError(f"min_region_area must be >= 0, got {self.min_region_area}")

    def record(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


#: The keyword names ``segment_everything`` accepts (also the ``--everything`` CLI options).
EVERYTHING_OPTION_NAMES = tuple(f.name for f in dataclasses.fields(EverythingSettings))
_THRESHOLDS = ("pred_iou_thresh", "stability_score_thresh")


def resolve_settings(model: Any, **given: Any) -> EverythingSettings:
    """Settings from the keywords a caller gave (``None`` = not given).

    Unknown keywords are a one-line error naming the accepted ones. In test mode
    (``model.weights`` starts with ``random``) thresholds that were not given become 0.
    """
    unknown = sorted(set(given) - set(EVERYTHING_OPTION_NAMES))
    if unknown:
        raise InputError(
            f"segment_everything got unknown setting {unknown[0]!r}; it accepts "
            + ", ".join(EVERYTHING_OPTION_NAMES)
        )
    values = {k: v for k, v in given.items() if v is not None}
    if str(getattr(model, "weights", "")).startswith("random"):
        for k in _THRESHOLDS:
            values.setdefault(k, 0.0)
    return EverythingSettings(**values)


def build_point_grid(n_per_side: int) -> np.ndarray:
    """``n*n x 2`` points in ``[0, 1]``, cell centres (SAM's ``build_point_grid``)."""
    offset = 1 / (2 * n_per_side)
    side = np.linspace(offset, 1 - offset, n_per_side)
    xs = np.tile(side[None, :], (n_per_side, 1))
    ys = np.tile(side[:, None], (1, n_per_side))
    return np.stack([xs, ys], axis=-1).reshape(-1, 2)


def stability_scores(logits: np.ndarray, threshold: float = 0.0, offset: float = 1.0) -> np.ndarray:
    """IoU between the masks cut at ``threshold + offset`` and ``threshold - offset``.

    A mask whose pixels sit far from the cut-off keeps its shape (score near 1); a blurry
    one does not. Empty unions score 0.
    """
    flat = logits.reshape(logits.shape[0], -1)
    inter = (flat > threshold + offset).sum(axis=1, dtype=np.int64)
    union = (flat > threshold - offset).sum(axis=1, dtype=np.int64)
    return np.where(union > 0, inter / np.maximum(union, 1), 0.0).astype(np.float32)


def mask_boxes(masks: np.ndarray) -> np.ndarray:
    """XYXY boxes (inclusive pixel indices, SAM's convention) of ``N x H x W`` masks."""
    out = np.zeros((len(masks), 4), dtype=np.float32)
    for i, m in enumerate(masks):
        rows = np.flatnonzero(m.any(axis=1))
        if rows.size:
            cols = np.flatnonzero(m.any(axis=0))
            out[i] = (cols[0], rows[0], cols[-1], rows[-1])
    return out


def nms_keep(boxes: np.ndarray, scores: np.ndarray, iou_thresh: float) -> np.ndarray:
    """Indices kept by box NMS, highest score first (torchvision's ``batched_nms``)."""
    if len(boxes) == 0:
        return np.zeros(0, dtype=np.int64)
    import torch
    from torchvision.ops import batched_nms

    keep = batched_nms(
        torch.as_tensor(boxes, dtype=torch.float32),
        torch.as_tensor(scores, dtype=torch.float32),
        torch.zeros(len(boxes), dtype=torch.int64),
        iou_threshold=float(iou_thresh),
    )
    return keep.numpy().astype(np.int64)


def _clean_regions(mask: np.ndarray, area: int, mode: str) -> tuple[np.ndarray, bool]:
    """Fill holes (``mode="holes"``) or drop islands smaller than ``area`` pixels.

    The algorithm of SAM's ``amg.remove_small_regions`` (Apache-2.0), on OpenCV's
    connected components.
    """
    import cv2

    holes = mode == "holes"
    working = (holes ^ mask).astype(np.uint8)
    n_labels, regions, stats, _ = cv2.connectedComponentsWithStats(working, connectivity=8)  # type: ignore[call-overload]
    sizes = stats[:, -1][1:]
    small = [i + 1 for i, s in enumerate(sizes) if s < area]
    if not small:
        return mask, False
    fill = [0, *small]
    if not holes:
        fill = [i for i in range(n_labels) if i not in fill]
        if not fill:  # every region is small: keep the largest
            fill = [int(np.argmax(sizes)) + 1]
    return np.isin(regions, fill), True


def remove_small_regions(
    masks: np.ndarray, min_area: int, nms_thresh: float
) -> tuple[np.ndarray, np.ndarray]:
    """SAM 1's clean-up: fill holes and drop islands under ``min_area`` pixels, drop masks
    left under ``min_area``, then box NMS preferring masks the clean-up left unchanged.

    Returns ``(cleaned masks, indices kept)``; kept masks stay in their input order.
    """
    if min_area <= 0 or len(masks) == 0:
        return masks, np.arange(len(masks), dtype=np.int64)
    cleaned = masks.copy()
    unchanged = np.ones(len(masks), dtype=np.float32)
    for i in range(len(masks)):
        m, ch1 = _clean_regions(cleaned[i], min_area, "holes")
        m, ch2 = _clean_regions(m, min_area, "islands")
        cleaned[i] = m
        if ch1 or ch2:
            unchanged[i] = 0.0
    area = cleaned.reshape(len(cleaned), -1).sum(axis=1)
    big = np.flatnonzero(area >= min_area)
    if big.size == 0:
        return cleaned[:0], big
    order = nms_keep(mask_boxes(cleaned[big]), unchanged[big], nms_thresh)
    idx = big[np.sort(order)]
    return cleaned[idx], idx


def grid_everything(model: Any, image: Any, settings: EverythingSettings) -> Any:
    """The core generator over ``model.segment`` (see the module docstring)."""
    from zoo.io.images import load_image
    from zoo.prompts import ObjectPrompt, Prompts

    img = load_image(image)
    h, w = img.shape[:2]
    grid = build_point_grid(settings.points_per_side) * np.array([[w, h]], dtype=np.float64)
    from pycocotools import mask as mask_utils

    from zoo.progress import work

    rles: list[Any] = []
    boxes, scores, stab, points = [], [], [], []
    starts = range(0, len(grid), settings.points_per_batch)
    with work("segment everything", len(starts), "batches") as advance:
        for start in starts:
            chunk = grid[start : start + settings.points_per_batch]
            prompts = Prompts(
                objects=[ObjectPrompt(points=[(float(x), float(y))], labels=[1]) for x, y in chunk]
            )
            res = model.segment(img, prompts, multimask=settings.multimask)
            advance(1)
            s = np.asarray(res.scores, dtype=np.float32)
            if res.low_res_logits is not None:
                st = stability_scores(
                    np.asarray(res.low_res_logits, np.float32), 0.0, settings.stability_score_offset
                )
            else:  # the family returns no logits: stability cannot be measured, so it passes
                st = np.ones(len(s), dtype=np.float32)
            keep = np.ones(len(s), dtype=bool)
            if settings.pred_iou_thresh > 0:
                keep &= s > settings.pred_iou_thresh
            if settings.stability_score_thresh > 0:
                keep &= st >= settings.stability_score_thresh
            idx = np.flatnonzero(keep)
            if idx.size == 0:
                continue
            kept = np.asarray(res.masks)[idx]
            rles += mask_utils.encode(np.asfortranarray(kept.transpose(1, 2, 0).astype(np.uint8)))
            boxes.append(mask_boxes(kept))
            scores.append(s[idx])
            stab.append(st[idx])
            points.append(chunk[idx])
    if rles:
        all_scores = np.concatenate(scores)
        order = nms_keep(np.concatenate(boxes), all_scores, settings.box_nms_thresh)
        masks = np.stack([mask_utils.decode(rles[i]).astype(bool) for i in order])
        sc, st_all, pts = (
            all_scores[order],
            np.concatenate(stab)[order],
            np.concatenate(points)[order],
        )
        masks, idx = remove_small_regions(masks, settings.min_region_area, settings.box_nms_thresh)
        sc, st_all, pts = sc[idx], st_all[idx], pts[idx]
    else:
        masks = np.zeros((0, h, w), dtype=bool)
        sc = st_all = np.zeros(0, dtype=np.float32)
        pts = np.zeros((0, 2))
    return everything_result(model, masks, sc, st_all, pts, settings, "zoo.everything (grid)")


def everything_result(
    model: Any,
    masks: np.ndarray,
    scores: np.ndarray,
    stability: np.ndarray,
    points: np.ndarray,
    settings: EverythingSettings,
    generator: str,
) -> Any:
    """The :class:`SegmentationResult` both generators return (points as the prompts)."""
    from zoo.prompts import ObjectPrompt, Prompts
    from zoo.results import SegmentationResult
    from zoo.specs import Task

    h, w = masks.shape[1:] if masks.ndim == 3 else (0, 0)
    prompts = (
        Prompts(
            objects=[ObjectPrompt(points=[(float(x), float(y))], labels=[1]) for x, y in points]
        )
        if len(points)
        else None
    )
    return SegmentationResult(
        masks=np.ascontiguousarray(masks, dtype=bool),
        scores=np.asarray(scores, dtype=np.float32),
        prompts=prompts,
        image_size=(int(h), int(w)),
        provenance=model.provenance(Task.PROMPTABLE),
        extra={
            "everything": {"generator": generator, **settings.record()},
            "stability_scores": [float(v) for v in stability],
        },
    )
