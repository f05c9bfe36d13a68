"""Prompts from weak labels: a box, sparse clicks, or a coarse polygon per instance.

WeSAM adapts with only weak supervision on the target domain; the three kinds of the
paper are built here from whatever the annotation file holds:

* ``box``: the instance's box (COCO ``bbox``; a mask is not needed);
* ``point``: 5 positive clicks drawn uniformly inside the mask and 5 negative clicks
  drawn uniformly outside it (anywhere in the image), as upstream;
* ``coarse``: the outer contour of the mask simplified with a tolerance of 5% of its
  length (Douglas-Peucker, at least 3 px, as upstream), whose box is the prompt.

Coordinates are input-image pixels. Clicks are integer pixel indices ``(col, row)`` (SAM
adds the half-pixel itself); boxes are continuous ``x1, y1, x2, y2`` clipped to the image.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import get_args

import numpy as np

from zoo.errors import InputError
from zoo.prompts import ObjectPrompt, Prompts

from .config import PromptKind

KINDS: tuple[str, ...] = get_args(PromptKind)


def check_kind(kind: str) -> str:
    k = str(kind).strip().lower()
    aliases = {"boxes": "box", "points": "point", "clicks": "point", "polygon": "coarse"}
    k = aliases.get(k, k)
    if k not in KINDS:
        raise InputError(f"unknown --prompt {kind!r}; use box, point or coarse")
    return k


def needs_masks(kind: str) -> bool:
    return check_kind(kind) in ("point", "coarse")


@dataclass
class WeakPrompts:
    """Prompts for ``N`` instances of one image: either boxes or clicks, never both."""

    kind: str
    height: int
    width: int
    boxes: np.ndarray | None = None  # N x 4 float32
    points: np.ndarray | None = None  # N x K x 2 float32 (col, row)
    labels: np.ndarray | None = None  # N x K int32 (1 inside, 0 outside)

    def __len__(self) -> int:
        arr = self.boxes if self.boxes is not None else self.points
        return 0 if arr is None else int(arr.shape[0])

    def flipped(self, horizontal: bool, vertical: bool) -> WeakPrompts:
        """The same prompts on a flipped image (WeSAM's weak augmentation)."""
        boxes = None if self.boxes is None else self.boxes.copy()
        points = None if self.points is None else self.points.copy()
        w, h = self.width, self.height
        if horizontal:
            if boxes is not None:
                boxes[:, [0, 2]] = w - boxes[:, [2, 0]]
            if points is not None:
                points[..., 0] = (w - 1) - points[..., 0]
        if vertical:
            if boxes is not None:
                boxes[:, [1, 3]] = h - boxes[:, [3, 1]]
            if points is not None:
                points[..., 1] = (h - 1) - points[..., 1]
        return WeakPrompts(self.kind, h, w, boxes, points, self.labels)

    def sam_inputs(self) -> tuple[np.ndarray, np.ndarray]:
        """SAM's sparse input: ``N x K x 2`` coordinates and ``N x K`` labels.

        A box is two corner points labelled 2 and 3 (how SAM 2 encodes boxes).
        """
        if self.boxes is not None:
            coords = self.boxes.reshape(-1, 2, 2).astype(np.float32)
            labels = np.tile(np.array([[2, 3]], dtype=np.int32), (len(self.boxes), 1))
            return coords, labels
        assert self.points is not None and self.labels is not None
        return self.points.astype(np.float32), self.labels.astype(np.int32)

    def to_prompts(self) -> Prompts:
        """The same prompts as :class:`zoo.tasks.Prompts` (for ``model.segment``)."""
        if self.boxes is not None:
            return Prompts(
                objects=[
                    ObjectPrompt(box=tuple(float(v) for v in b))  # type: ignore[arg-type]
                    for b in self.boxes
                ]
            )
        assert self.points is not None and self.labels is not None
        return Prompts(
            objects=[
                ObjectPrompt(
                    points=[(float(x), float(y)) for x, y in pts], labels=[int(v) for v in labs]
                )
                for pts, labs in zip(self.points, self.labels, strict=True)
            ]
        )


def clip_boxes(boxes: np.ndarray, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Boxes clipped to the image and the indices of those that keep a positive area."""
    b = np.asarray(boxes, dtype=np.float32).reshape(-1, 4).copy()
    b[:, [0, 2]] = np.clip(b[:, [0, 2]], 0, width)
    b[:, [1, 3]] = np.clip(b[:, [1, 3]], 0, height)
    keep = np.flatnonzero((b[:, 2] - b[:, 0] >= 1) & (b[:, 3] - b[:, 1] >= 1))
    return b[keep], keep


def sample_points(
    mask: np.ndarray, rng: np.random.Generator, n_pos: int = 5, n_neg: int = 5
) -> tuple[np.ndarray, np.ndarray] | None:
    """``n_pos`` clicks inside and ``n_neg`` outside ``mask`` (uniform, with replacement).

    ``None`` when the mask is empty or covers the whole image (no valid negative).
    """
    inside = np.flatnonzero(mask.ravel())
    outside = np.flatnonzero(~mask.ravel())
    if inside.size == 0 or (n_neg > 0 and outside.size == 0):
        return None
    w = mask.shape[1]
    pos = rng.choice(inside, n_pos, replace=True)
    neg = rng.choice(outside, n_neg, replace=True) if n_neg else np.zeros(0, dtype=int)
    idx = np.concatenate([pos, neg])
    pts = np.stack([idx % w, idx // w], axis=1).astype(np.float32)
    labels = np.concatenate([np.ones(n_pos, np.int32), np.zeros(n_neg, np.int32)])
    return pts, labels


def coarse_polygon(
    mask: np.ndarray, tolerance: float = 0.05, min_epsilon: float = 3.0
) -> np.ndarray | None:
    """The largest outer contour simplified to ``tolerance`` x its length (``M x 2`` x, y)."""
    import cv2

    m = np.ascontiguousarray(mask.astype(np.uint8))
    contours, _ = cv2.findContours(m, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        return None
    c = max(contours, key=cv2.contourArea)
    eps = max(tolerance * cv2.arcLength(c, True), min_epsilon)
    return cv2.approxPolyDP(c, eps, True).reshape(-1, 2).astype(np.float32)


def coarse_box(mask: np.ndarray, tolerance: float = 0.05) -> np.ndarray | None:
    """Box ``x1, y1, x2, y2`` of the coarse polygon (the mask's box if it degenerates)."""
    poly = coarse_polygon(mask, tolerance)
    if poly is None:
        return None
    x1, y1 = poly.min(axis=0)
    x2, y2 = poly.max(axis=0) + 1.0  # vertices are pixel indices; the box closes after them
    if x2 - x1 < 2 or y2 - y1 < 2:
        rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
        x1, x2, y1, y2 = cols[0], cols[-1] + 1.0, rows[0], rows[-1] + 1.0
    return np.array([x1, y1, x2, y2], dtype=np.float32)


def make_prompts(
    kind: str,
    height: int,
    width: int,
    rng: np.random.Generator,
    *,
    boxes: np.ndarray | None = None,
    masks: np.ndarray | None = None,
    num_points: int = 5,
    tolerance: float = 0.05,
) -> tuple[WeakPrompts, np.ndarray]:
    """Prompts of ``kind`` and the indices of the instances they cover.

    Instances that cannot be prompted (a box of zero area after clipping, an empty mask,
    a mask covering the whole image for clicks) are dropped; the returned indices say
    which ones remain, in order.
    """
    kind = check_kind(kind)
    if kind == "box":
        if boxes is None:
            raise InputError("box prompts need boxes")
        b, keep = clip_boxes(boxes, height, width)
        return WeakPrompts(kind, height, width, boxes=b), keep
    if masks is None:
        raise InputError(
            f"--prompt {kind} needs instance masks; the annotations have only boxes "
            "(use --prompt box)"
        )
    if kind == "point":
        pts, labs, keep_l = [], [], []
        for i, m in enumerate(masks):
            s = sample_points(m, rng, num_points, num_points)
            if s is not None:
                pts.append(s[0])
                labs.append(s[1])
                keep_l.append(i)
        k = 2 * num_points
        points = np.stack(pts) if pts else np.zeros((0, k, 2), np.float32)
        labels = np.stack(labs) if labs else np.zeros((0, k), np.int32)
        return WeakPrompts(kind, height, width, points=points, labels=labels), np.array(
            keep_l, dtype=int
        )
    cb, keep_c = [], []
    for i, m in enumerate(masks):
        box = coarse_box(m, tolerance)
        if box is not None:
            cb.append(box)
            keep_c.append(i)
    arr = np.stack(cb) if cb else np.zeros((0, 4), np.float32)
    b, keep2 = clip_boxes(arr, height, width)
    keep = np.array(keep_c, dtype=int)[keep2] if len(keep_c) else np.zeros(0, dtype=int)
    return WeakPrompts(kind, height, width, boxes=b), keep
