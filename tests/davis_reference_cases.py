"""DAVIS 2017 test videos for the reference comparison (numpy only, no zoo import).

``tests/test_metrics_reference.py`` scores these with :func:`zoo.metrics.davis_sequence`
and compares with numbers recorded by running davis2017-evaluation itself on the same
label maps (written as DAVIS-layout palette PNGs). Keep this module free of zoo and of
numpy's random generators (their streams may change between numpy versions): the same
file is imported by the script that runs the reference in its own environment.

Each case is ``(ground truth, prediction)``: lists of ``HxW`` uint8 label maps, 0 the
background, 255 void, other values object ids.
"""

from __future__ import annotations

import numpy as np

H, W = 48, 64


class Lcg:
    """A tiny deterministic generator (Numerical Recipes' 32-bit LCG)."""

    def __init__(self, seed: int) -> None:
        self.state = seed & 0xFFFFFFFF

    def next(self) -> int:
        self.state = (1664525 * self.state + 1013904223) & 0xFFFFFFFF
        return self.state >> 8

    def randint(self, lo: int, hi: int) -> int:
        """An integer in ``lo..hi`` inclusive."""
        return lo + self.next() % (hi - lo + 1)


def rect(y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
    m = np.zeros((H, W), dtype=bool)
    m[max(y0, 0) : max(y1, 0), max(x0, 0) : max(x1, 0)] = True
    return m


def paint(*objects: tuple[int, np.ndarray]) -> np.ndarray:
    """A label map; later objects are drawn over earlier ones."""
    out = np.zeros((H, W), dtype=np.uint8)
    for oid, m in objects:
        out[m] = oid
    return out


def _leave_reenter() -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Object 2 leaves (frames 4-6) and comes back; the tracker loses it late and
    predicts it while it is away (frame 5), then finds it again from frame 8."""
    gt, pred = [], []
    for t in range(10):
        o1 = rect(5 + t, 20 + t, 4 + 2 * t, 20 + 2 * t)
        o2 = rect(28, 44, 40, 58) if t not in (4, 5, 6) else np.zeros((H, W), bool)
        gt.append(paint((1, o1), (2, o2)))
        p1 = rect(5 + t, 21 + t, 5 + 2 * t, 20 + 2 * t)
        if t < 4:
            p2 = rect(29, 44, 40, 57)
        elif t == 5:
            p2 = rect(30, 40, 44, 50)
        elif t >= 8:
            p2 = rect(28, 43, 41, 58)
        else:
            p2 = np.zeros((H, W), bool)
        pred.append(paint((1, p1), (2, p2)))
    pred[0] = gt[0].copy()
    return gt, pred


def _late_entry() -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Id 3 enters at frame 3 but the first frame has ids 1 and 2 only: the reference
    does not score it (its pixels are background) and the tracker never heard of it."""
    gt, pred = [], []
    for t in range(8):
        o1, o2 = rect(4, 20, 4, 24), rect(24, 40, 8, 28)
        o3 = rect(10, 30, 40, 60) if t >= 3 else np.zeros((H, W), bool)
        gt.append(paint((1, o1), (2, o2), (3, o3)))
        p2 = rect(24, 40, 8, 28) | (rect(12, 24, 40, 52) if t >= 4 else rect(0, 0, 0, 0))
        pred.append(paint((1, rect(4, 19, 4, 24)), (2, p2)))
    pred[0] = paint((1, rect(4, 20, 4, 24)), (2, rect(24, 40, 8, 28)))
    return gt, pred


def _id_gap() -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The first frame holds ids 1 and 3: the reference scores 1, 2 and 3. Object 2
    enters at frame 2 and is never predicted; before that it is empty on both sides."""
    gt, pred = [], []
    for t in range(6):
        o2 = rect(30, 42, 30, 42) if t >= 2 else np.zeros((H, W), bool)
        gt.append(paint((1, rect(4, 18, 4, 18)), (2, o2), (3, rect(6, 22, 40, 60))))
        pred.append(paint((1, rect(4, 18, 5, 19)), (3, rect(7, 22, 40, 58))))
    return gt, pred


def _first_frame_only() -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Object 2 is annotated in frame 0 only; the tracker keeps it: J = F = 0 there."""
    gt, pred = [], []
    for t in range(6):
        o2 = rect(30, 40, 30, 40) if t == 0 else np.zeros((H, W), bool)
        gt.append(paint((1, rect(4, 20, 4 + t, 20 + t)), (2, o2)))
        pred.append(paint((1, rect(4, 20, 4 + t, 21 + t)), (2, rect(30, 40, 31, 40))))
    return gt, pred


def _void_ring() -> tuple[list[np.ndarray], list[np.ndarray]]:
    """A 10x10 object inside a one-pixel void ring (label 255), predicted 12x12."""
    gt, pred = [], []
    for _ in range(5):
        g = np.zeros((H, W), np.uint8)
        g[rect(19, 31, 19, 31)] = 255
        g[rect(20, 30, 20, 30)] = 1
        gt.append(g)
        pred.append(paint((1, rect(19, 31, 19, 31))))
    return gt, pred


def _one_object_perfect() -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The issue's video a: one object, tracked perfectly over 5 frames."""
    gt = [paint((1, rect(10, 30, 10, 30))) for _ in range(5)]
    return gt, [g.copy() for g in gt]


def _three_objects_two_lost() -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The issue's video b: three objects, 2 and 3 lost after frame 0."""
    gt = [
        paint((1, rect(4, 16, 4, 16)), (2, rect(20, 32, 4, 16)), (3, rect(20, 32, 30, 42)))
        for _ in range(5)
    ]
    pred = [gt[0].copy()] + [paint((1, rect(4, 16, 4, 16))) for _ in range(4)]
    return gt, pred


def _jittered(seed: int, frames: int, objects: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Moving boxes with a tracker that jitters, sometimes misses and sometimes speckles;
    objects are drawn in id order, so later ones occlude earlier ones."""
    rng = Lcg(seed)
    boxes = []
    for _ in range(objects):
        y0, x0 = rng.randint(0, H - 16), rng.randint(0, W - 16)
        boxes.append([y0, y0 + rng.randint(6, 15), x0, x0 + rng.randint(6, 15)])
    gt, pred = [], []
    for t in range(frames):
        g, p = [], []
        for k, (y0, y1, x0, x1) in enumerate(boxes, start=1):
            dy, dx = rng.randint(-1, 1), rng.randint(-2, 2)
            box = [y0 + dy * t // 2, y1 + dy * t // 2, x0 + dx * t // 3, x1 + dx * t // 3]
            absent = t > 0 and rng.randint(0, 9) == 0
            g.append((k, rect(*box) if not absent else rect(0, 0, 0, 0)))
            mode = rng.randint(0, 9)
            if mode == 0:
                pm = rect(0, 0, 0, 0)  # missed
            else:
                j = [rng.randint(-2, 2) for _ in range(4)]
                pm = rect(box[0] + j[0], box[1] + j[1], box[2] + j[2], box[3] + j[3])
                if mode == 1:  # speckle
                    for _ in range(6):
                        pm[rng.randint(0, H - 1), rng.randint(0, W - 1)] = True
            p.append((k, pm))
        gt.append(paint(*g))
        pred.append(paint(*p))
    pred[0] = gt[0].copy()
    return gt, pred


def _drift() -> tuple[list[np.ndarray], list[np.ndarray]]:
    """30 frames where the prediction slides off the object: J and F decay."""
    gt, pred = [], []
    for t in range(30):
        gt.append(paint((1, rect(10, 34, 10, 34))))
        pred.append(paint((1, rect(10, 34, 10 + t // 2, 34 + t // 2))))
    return gt, pred


def cases() -> dict[str, tuple[list[np.ndarray], list[np.ndarray]]]:
    """Every scored video of the comparison, by sequence name."""
    return {
        "leave-reenter": _leave_reenter(),
        "late-entry": _late_entry(),
        "id-gap": _id_gap(),
        "first-frame-only": _first_frame_only(),
        "void-ring": _void_ring(),
        "a-one-object": _one_object_perfect(),
        "b-three-objects": _three_objects_two_lost(),
        "jitter-3": _jittered(3, 12, 3),
        "jitter-7": _jittered(7, 9, 4),
        "drift": _drift(),
    }


def two_frame_case() -> tuple[list[np.ndarray], list[np.ndarray]]:
    """A two-frame video: nothing is left once the first and last frames are excluded."""
    gt = [paint((1, rect(10, 30, 10, 30))) for _ in range(2)]
    return gt, [gt[0].copy(), paint((1, rect(10, 30, 12, 30)))]
