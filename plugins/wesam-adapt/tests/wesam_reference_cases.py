"""Model outputs and ground truth for the comparison with WeSAM's ``validate`` (numpy only).

``test_wesam_validate_reference.py`` scores these with :mod:`zoo_wesam.validate` and
compares with numbers recorded by running ``utils/eval_utils.validate`` of
zhang-haojie/wesam itself (with segmentation-models-pytorch's metrics) on the same arrays.
Keep this module free of zoo and of numpy's random generators: the script that runs the
reference imports it too.

An image is ``(logits, ground truth)``: ``N x H x W`` float32 decoder outputs (logits, what
WeSAM's ``Model.forward`` returns and ``validate`` thresholds at 0.5) and ``N x H x W``
uint8 masks, one per annotated instance. Logits between 0 and 0.5 are common on purpose:
they are foreground for SAM's own ``> 0`` but not for WeSAM's validation.
"""

from __future__ import annotations

import numpy as np

H, W = 24, 32


class Lcg:
    """A tiny deterministic generator (Numerical Recipes' 32-bit LCG)."""

    def __init__(self, seed: int) -> None:
        self.state = seed & 0xFFFFFFFF

    def next(self) -> int:
        self.state = (1664525 * self.state + 1013904223) & 0xFFFFFFFF
        return self.state >> 8

    def randint(self, lo: int, hi: int) -> int:
        return lo + self.next() % (hi - lo + 1)


def rect(y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
    m = np.zeros((H, W), dtype=np.uint8)
    m[max(y0, 0) : max(y1, 0), max(x0, 0) : max(x1, 0)] = 1
    return m


def _logits(mask: np.ndarray, inside: float, outside: float) -> np.ndarray:
    return np.where(mask > 0, inside, outside).astype(np.float32)


def issue_example() -> list[tuple[np.ndarray, np.ndarray]]:
    """Image 1: one instance, IoU 1; image 2: three instances, IoU 0 (issue 18)."""
    g1 = rect(4, 12, 4, 12)[None]
    p1 = _logits(g1[0], 6.0, -6.0)[None]
    g2 = np.stack([rect(2, 8, 2, 8), rect(10, 16, 10, 16), rect(16, 22, 20, 28)])
    p2 = np.stack([_logits(rect(2, 8, 20, 26), 5.0, -5.0) for _ in range(3)])
    return [(p1, g1), (p2, g2)]


def edge_cases() -> list[tuple[np.ndarray, np.ndarray]]:
    """Empty masks and the threshold: both empty (IoU 1), ground truth empty with a
    prediction (0), a prediction of logits in (0, 0.5) only (empty at 0.5)."""
    empty = np.zeros((H, W), np.uint8)
    g = rect(6, 18, 6, 18)
    both_empty = (_logits(empty, 3.0, -3.0)[None], empty[None])
    fp_only = (_logits(rect(0, 5, 0, 5), 2.0, -2.0)[None], empty[None])
    weak = np.stack([_logits(g, 0.3, -1.0), _logits(g, 0.5, -1.0), _logits(g, 0.49, 0.51)])
    weak_case = (weak, np.stack([g, g, g]))
    return [both_empty, fp_only, weak_case]


def random_images(seed: int, count: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Images with 1 to 5 boxes each and soft, shifted, noisy logits around them."""
    rng = Lcg(seed)
    out = []
    yy, xx = np.mgrid[0:H, 0:W]
    for _ in range(count):
        gts, preds = [], []
        for _ in range(rng.randint(1, 5)):
            y0, x0 = rng.randint(0, H - 8), rng.randint(0, W - 8)
            y1, x1 = y0 + rng.randint(3, 10), x0 + rng.randint(3, 12)
            gts.append(rect(y0, y1, x0, x1))
            dy, dx = rng.randint(-2, 2), rng.randint(-2, 2)
            cy, cx = (y0 + y1) / 2 + dy, (x0 + x1) / 2 + dx
            ry, rx = (y1 - y0) / 2 + rng.randint(0, 2), (x1 - x0) / 2 + rng.randint(0, 2)
            d = np.maximum(np.abs(yy - cy) / ry, np.abs(xx - cx) / rx)  # 1 on the box edge
            noise = np.array([[rng.randint(-100, 100) / 200.0 for _ in range(W)] for _ in range(H)])
            preds.append((2.5 * (1.0 - d) + noise).astype(np.float32))
        out.append((np.stack(preds), np.stack(gts)))
    return out


def sets() -> dict[str, list[tuple[np.ndarray, np.ndarray]]]:
    return {
        "issue-example": issue_example(),
        "edge-cases": edge_cases(),
        "random": random_images(5, 10),
        "all": issue_example() + edge_cases() + random_images(5, 10),
    }
