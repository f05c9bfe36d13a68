"""SOBA pair sets for the SOAP comparison with pysobatools (numpy only, no zoo import).

``test_opseg_soap_reference.py`` scores these with :class:`zoo_opseg.metrics.SoapAccumulator`
and compares with numbers recorded by running pysobatools' ``SOAPeval.evaluate_asso`` (the
reference SOAP code of stevewongv/InstanceShadowDetection, ``projects/LISA/SOAP.py``) on
the same masks. Keep this module free of zoo and of numpy's random generators: the script
that runs the reference imports it too.

An image is ``(height, width, ground-truth pairs, predicted pairs)``: a ground-truth pair is
``(object mask, shadow mask, association mask or None)`` (None: the union, as sam-zoo
derives it), a predicted pair ``(object mask, shadow mask, score)``; a predicted pair's
association mask is the union of its object and shadow, which is what sam-zoo predicts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # the reference runs on Python 3.9, where ``X | None`` is no value
    Rect = tuple[int, int, int, int]  # y0, y1, x0, x1
    Image = tuple[
        int,
        int,
        list[tuple[np.ndarray, np.ndarray, np.ndarray | None]],
        list[tuple[np.ndarray, np.ndarray, float]],
    ]


class Lcg:
    """A tiny deterministic generator (Numerical Recipes' 32-bit LCG)."""

    def __init__(self, seed: int) -> None:
        self.state = seed & 0xFFFFFFFF

    def next(self) -> int:
        self.state = (1664525 * self.state + 1013904223) & 0xFFFFFFFF
        return self.state >> 8

    def randint(self, lo: int, hi: int) -> int:
        return lo + self.next() % (hi - lo + 1)


def rect(h: int, w: int, r: Rect) -> np.ndarray:
    m = np.zeros((h, w), dtype=bool)
    m[max(r[0], 0) : max(r[1], 0), max(r[2], 0) : max(r[3], 0)] = True
    return m


def two_pairs() -> list[Image]:
    """One prediction fits two ground-truth pairs at IoU 0.5.

    Prediction A (score 0.875) reaches 0.5 on pair 1 (association IoU 0.635, object 0.5,
    shadow 0.692) and on pair 2 (association 0.710, object 0.5625, shadow 0.698).
    Prediction B (0.75) is pair 2 exactly and misses pair 1. pysobatools takes pair 1 for
    A: after a match, the matched association IoU is the bar every later candidate's
    association, object and shadow IoU must reach, and pair 2's object (0.5625) does not;
    B then takes pair 2. Taking the highest association IoU instead gives A pair 2 and
    leaves B a false positive.
    """
    h = w = 40
    g1 = (rect(h, w, (5, 15, 5, 15)), rect(h, w, (15, 25, 5, 15)), None)
    g2o, g2s = rect(h, w, (8, 18, 8, 17)), rect(h, w, (15, 26, 7, 16))
    a = (rect(h, w, (5, 16, 8, 18)), rect(h, w, (16, 26, 5, 17)), 0.875)
    b = (g2o.copy(), g2s.copy(), 0.75)
    return [(h, w, [g1, (g2o, g2s, None)], [a, b])]


def _jitter(rng: Lcg, r: Rect, amount: int) -> Rect:
    return (
        r[0] + rng.randint(-amount, amount),
        r[1] + rng.randint(-amount, amount),
        r[2] + rng.randint(-amount, amount),
        r[3] + rng.randint(-amount, amount),
    )


def random_images(seed: int, count: int) -> list[Image]:
    """Scenes of object/shadow pairs (the shadow below its object, some pairs crowding
    each other) with a jittery predictor: misses, duplicates, false pairs, swapped
    shadows, explicit association masks, and one image with more than 20 predictions."""
    rng = Lcg(seed)
    images: list[Image] = []
    score_k = 0

    def score() -> float:  # distinct (no ties to break), in a random order
        nonlocal score_k
        score_k += 1
        return (rng.randint(0, 999) * 4096 + score_k) / 2.0**22

    for i in range(count):
        h, w = 48, 64
        gts: list[tuple[np.ndarray, np.ndarray, np.ndarray | None]] = []
        rects: list[tuple[Rect, Rect]] = []
        for _ in range(rng.randint(1, 4)):
            if rects and rng.randint(0, 3) == 0:  # a pair crowding the previous one
                o, s = rects[-1]
                o, s = _jitter(rng, o, 2), _jitter(rng, s, 2)
            else:
                y, x = rng.randint(0, 24), rng.randint(0, 48)
                o = (y, y + rng.randint(8, 16), x, x + rng.randint(8, 14))
                s = (o[1], o[1] + rng.randint(5, 10), o[2] + rng.randint(-2, 3), o[3] + 2)
            rects.append((o, s))
            om, sm = rect(h, w, o), rect(h, w, s)
            assoc = None
            if rng.randint(0, 2) == 0:  # an annotated association mask wider than the union
                assoc = om | sm | rect(h, w, (o[0], s[1], min(o[2], s[2]) - 1, max(o[3], s[3])))
            gts.append((om, sm, assoc))
        preds: list[tuple[np.ndarray, np.ndarray, float]] = []
        for k, (o, s) in enumerate(rects):
            mode = rng.randint(0, 9)
            if mode == 0:
                continue  # missed
            po, ps = rect(h, w, _jitter(rng, o, 1)), rect(h, w, _jitter(rng, s, 1))
            if mode == 1 and len(rects) > 1:  # the shadow of another pair
                ps = rect(h, w, rects[(k + 1) % len(rects)][1])
            preds.append((po, ps, score()))
            if mode == 2:  # a duplicate
                preds.append((rect(h, w, _jitter(rng, o, 1)), rect(h, w, s), score()))
        for _ in range(rng.randint(0, 2)):  # false pairs
            y, x = rng.randint(0, 36), rng.randint(0, 54)
            fo, fs = rect(h, w, (y, y + 6, x, x + 6)), rect(h, w, (y + 6, y + 10, x, x + 8))
            preds.append((fo, fs, score()))
        if i == 2:  # more than the 20 detections per image SOBA's evaluator keeps
            for j in range(22):
                fo, fs = rect(h, w, (j, j + 3, 0, 3)), rect(h, w, (j + 3, j + 5, 0, 3))
                preds.append((fo, fs, score()))
        images.append((h, w, gts, preds))
    return images


def sets() -> dict[str, list[Image]]:
    """Each evaluated on its own (SOAP is a dataset-level AP)."""
    return {
        "two-pairs": two_pairs(),
        "random-1": random_images(1, 12),
        "random-2": random_images(2, 12),
        "random-3": random_images(3, 16),
    }
