"""Shared fixtures of the depth-sam tests: the real ScanNet frame and one small random model.

Building the model (SAM 2.1 tiny + CLIP ViT-B/16 at random init) is the expensive part on
CPU, so one instance is built per session with the settings that keep a run small
(256 px SAM input, a 3x3 point grid, thresholds off so random weights still yield masks)
and shared; ``zoo.loading.load_resolved`` is memoised for the CLI tests so an in-process
``zoo run`` reuses the same build for the same settings.
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
    *("--image-size", "256", "--points-per-side", "3", "--pred-iou-thresh", "0"),
    *("--stability-thresh", "0", "--min-region", "0", "--max-masks", "3"),
]
VOCAB = ["wall", "floor", "chair", "table"]


@pytest.fixture(scope="session")
def depthsam_frame() -> Path:
    if not (FRAME / "depth.png").is_file():
        pytest.skip(f"shared RGB-D fixture not found at {FRAME} (needs ../shared/fixtures)")
    return FRAME


_CACHE: dict[Any, Any] = {}


def _key(name: str, kwargs: dict[str, Any]) -> Any:
    return name, tuple(sorted((k, repr(v)) for k, v in kwargs.items() if v is not None))


def cached_load(name: str, **kwargs: Any) -> Any:
    """``zoo.load`` memoised on its arguments (seeded, so a miss builds the same model)."""
    from zoo.loading import load

    key = _key(name, kwargs)
    if key not in _CACHE:
        _CACHE[key] = load(name, **kwargs)
    return _CACHE[key]


@pytest.fixture(scope="session")
def depthsam_model() -> Any:
    """The shared small random-weights model."""
    return cached_load("depth-sam", weights="random", device="cpu", **SMALL)


@pytest.fixture
def depthsam_memo_load(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make in-process `zoo run/eval` (which load through ``load_resolved``) reuse models
    built with the same arguments; other weights than random go through unchanged."""
    import zoo.loading

    real = zoo.loading.load_resolved

    def memo(family: Any, variant: Any, **kwargs: Any) -> Any:
        if kwargs.get("weights") != "random" or kwargs.get("checkpoint") is not None:
            return real(family, variant, **kwargs)
        name = variant.name if variant is not None else family.name
        kw = {k: v for k, v in kwargs.items() if k != "progress"}
        key = _key(name, kw)
        if key not in _CACHE:
            _CACHE[key] = real(family, variant, **kwargs)
        return _CACHE[key]

    monkeypatch.setattr(zoo.loading, "load_resolved", memo)
