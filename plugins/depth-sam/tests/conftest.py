"""Shared fixtures of the depth-sam tests: the real ScanNet frame and one small random model.

Building the model (SAM 2.1 tiny + CLIP ViT-B/16 at random init) is the expensive part on
CPU, so one instance is built per session with the settings that keep a run small
(256 px SAM input, a 3x3 point grid, thresholds off so random weights still yield masks)
and shared; ``zoo.model.load`` is memoised for the CLI tests so `zoo run` in-process reuses
the same build for the same settings.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

SHARED = Path(__file__).resolve().parents[3].parent / "shared"
FRAME = SHARED / "fixtures" / "rgbd" / "scannet_scene0000_00_1660"

#: loader settings of the shared test model (random weights produce few masks otherwise)
SMALL = {
    "image_size": 256,
    "points_per_side": 3,
    "pred_iou_thresh": 0.0,
    "stability_score_thresh": 0.0,
    "min_region_area": 0,
    "max_masks": 3,
}
#: the same settings as `zoo run` options (so in-process CLI runs reuse the shared model)
SMALL_ARGS = [
    "--image-size",
    "256",
    "--points-per-side",
    "3",
    "--pred-iou-thresh",
    "0",
    "--stability-thresh",
    "0",
    "--min-region",
    "0",
    "--max-masks",
    "3",
]
VOCAB = ["wall", "floor", "chair", "table"]


@pytest.fixture(scope="session")
def depthsam_frame() -> Path:
    if not (FRAME / "depth.png").is_file():
        pytest.skip(f"shared RGB-D fixture not found at {FRAME} (needs ../shared/fixtures)")
    return FRAME


_CACHE: dict[Any, Any] = {}


def cached_load(name: str, **kwargs: Any) -> Any:
    """``zoo.model.load`` memoised on its arguments (a fresh seed-0 build on a miss)."""
    import torch

    from zoo.model import load

    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    key = (name, tuple(sorted((k, repr(v)) for k, v in kwargs.items())))
    if key not in _CACHE:
        torch.manual_seed(0)
        _CACHE[key] = load(name, **kwargs)
    return _CACHE[key]


@pytest.fixture(scope="session")
def depthsam_model() -> Any:
    """The shared small random-weights model."""
    return cached_load("depth-sam", weights="random", device="cpu", **SMALL)


@pytest.fixture
def depthsam_memo_load(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make in-process `zoo run/eval` reuse models built with the same arguments."""
    import zoo.model

    real = zoo.model.load

    def memo(name: str, **kwargs: Any) -> Any:
        if kwargs.get("weights") != "random":
            return real(name, **kwargs)
        return cached_load(name, **kwargs)

    monkeypatch.setattr(zoo.model, "load", memo)
