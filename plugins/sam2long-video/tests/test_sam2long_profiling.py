"""The per-stage profiler (``zoo_sam2long.profiling``): free when off, exclusive times that
add up, and a profile of the path users run (``zoo.load`` + ``track``) with every stage
present and the hooks gone afterwards."""

from __future__ import annotations

import time

import numpy as np
import pytest
from zoo_sam2long.profiling import (
    StageProfile,
    active,
    detail_stage,
    profile_stages,
    stage,
)

import zoo


def test_stage_is_free_and_inert_without_a_profile() -> None:
    assert active() is None
    assert stage("x") is stage("y")  # one shared no-op context manager
    with stage("x"), detail_stage("y"):
        pass
    assert active() is None


def test_exclusive_times_add_up() -> None:
    with profile_stages() as prof:
        with stage("outer"):
            time.sleep(0.02)
            with stage("inner"):
                time.sleep(0.03)
        with detail_stage("hidden"):  # not recorded without detail=True
            time.sleep(0.001)
    rows = {r["stage"]: r for r in prof.rows()}
    assert set(rows) == {"outer", "inner", "other", "total"}
    assert rows["inner"]["wall_s"] >= 0.03 and 0.02 <= rows["outer"]["wall_s"] < 0.03 + 0.02
    assert rows["outer"]["calls"] == rows["inner"]["calls"] == 1
    parts = sum(r["wall_s"] for n, r in rows.items() if n != "total")
    assert parts == pytest.approx(prof.wall_s)
    assert isinstance(prof, StageProfile) and active() is None


def test_profile_of_the_user_path_and_hooks_removed() -> None:
    model = zoo.load("sam2long-video:tiny", weights="random", device="cpu", image_size=256, seed=0)
    frames = np.zeros((4, 64, 96, 3), np.uint8)
    frames[:, 20:40, 30:60] = 200
    hooks_before = len(model.model.image_encoder._forward_hooks)
    with profile_stages(model.model, detail=True) as prof:
        out = list(model.track(frames, {"boxes": [[30, 20, 60, 40]]}, pathways=2))
    assert len(out) == 4
    calls = {n: s.calls for n, s in prof.stages.items()}
    assert calls["image encoder"] == 4  # once per frame, whatever the number of pathways
    for name in ("frame loading", "memory bank", "memory attention", "mask decoder"):
        assert calls[name] > 0, name
    assert calls["memory encoder"] >= 2
    assert calls["memory attention: cross-attention (q, RoPE, softmax, out)"] > 0
    assert calls["memory attention: memory K/V projections"] > 0
    assert len(model.model.image_encoder._forward_hooks) == hooks_before
    assert prof.rows()[-1]["stage"] == "total"
