"""Learning-rate schedules as plain functions of the step: resumable by construction.

A schedule that is a pure function of ``step`` needs no state of its own in a resumable
checkpoint and gives exactly the same rate after ``--resume`` as in an uninterrupted run.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def warmup_cosine(step: int, total: int, *, warmup: int, floor: float = 0.0) -> float:
    """Multiplier of the base rate: linear warm-up over ``warmup`` steps (``(step+1)/warmup``),
    then cosine decay from 1 to ``floor`` at the last step (SAMEO: floor 0; OpSeg: 0.1)."""
    if warmup and step < warmup:
        return (step + 1) / warmup
    t = min(max(step - warmup, 0) / max(total - warmup, 1), 1.0)
    return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * t))


def warmup_step_decay(
    step: int, total: int, *, warmup: int, decay_at: Sequence[float], factor: float
) -> float:
    """Multiplier of the base rate: linear warm-up, then divided by ``factor`` at each
    fraction of ``total`` in ``decay_at`` (WeSAM: 2/3 and 8/9 of the steps, factor 10)."""
    if warmup and step < warmup:
        return (step + 1) / warmup
    drops = sum(1 for f in decay_at if step >= int(f * total))
    return float(factor**-drops)


def warmup_steps(
    total: int,
    *,
    fraction: float | None = None,
    steps: int | None = None,
    at_most: float | None = None,
) -> int:
    """The warm-up length a recipe asks for: a fraction of ``total`` (at least 1) or a
    number of steps, optionally capped at a fraction of ``total``."""
    if fraction is not None:
        n = max(1, round(fraction * total))
    else:
        n = int(steps or 0)
    if at_most is not None:
        n = min(n, int(total * at_most))
    return n
