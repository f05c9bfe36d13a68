"""Behaviour of the streaming tracker on a small, fast model (no fixture needed).

A random-weight SAM 2.1 tiny is built at 256-px input (16x fewer pixels than usual) and
its IoU head is given the same kind of edit as the golden checkpoint (identical, amplified
rows for the three multimask IoUs plus distinct biases), so the tree actually branches on
random weights.  The tests check properties that must hold for any weights:

* de-duplication and batching do not change outputs or decisions;
* frames are read lazily and emitted in order, early when pathways agree;
* what is held stays bounded on a long video;
* several objects, each with its own prompt kind and prompt frame, get exclusive masks.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
import torch
from zoo_sam2long import (
    ObjectPrompt,
    SAM2LongConfig,
    SAM2LongTracker,
    TrackedFrame,
    TreeRecorder,
)

import zoo

H, W = 96, 128


@pytest.fixture(scope="module")
def small_model() -> torch.nn.Module:
    # the network users get (the one SAM 2 builder, reference flags), at 256-px input
    model = zoo.load(
        "sam2long-video:tiny", weights="random", device="cpu", image_size=256, seed=0
    ).model
    head = model.sam_mask_decoder.iou_prediction_head.layers[2]
    with torch.no_grad():
        mean = head.weight[1:4].mean(0, keepdim=True)
        head.weight[1:4] = 100 * mean
        head.bias[1:4] = torch.tensor([-6.7, -6.9, -6.77])
    return model


def _video(n: int, seed: int = 0) -> list[np.ndarray]:
    """A bright square drifting right over a noisy background."""
    rng = np.random.default_rng(seed)
    frames = []
    for t in range(n):
        img = rng.integers(0, 60, size=(H, W, 3), dtype=np.uint8)
        x0 = 20 + 2 * t
        img[30:70, x0 : x0 + 40] = (220, 180, 40)
        frames.append(img)
    return frames


def _run(
    model: torch.nn.Module,
    frames: list[np.ndarray] | Iterator[np.ndarray],
    prompts: list[ObjectPrompt],
    num_frames: int | None = None,
    recorder: TreeRecorder | None = None,
    **cfg: object,
) -> tuple[list[TrackedFrame], SAM2LongTracker]:
    tracker = SAM2LongTracker(model, SAM2LongConfig(**cfg), recorder=recorder)  # type: ignore[arg-type]
    return list(tracker.track(frames, prompts, num_frames=num_frames)), tracker


BOX = ObjectPrompt(1, box=(20, 30, 60, 70))


def test_dedup_and_batching_do_not_change_results(small_model: torch.nn.Module) -> None:
    frames = _video(6)
    rec_a, rec_b = TreeRecorder(), TreeRecorder()
    fast, tr_fast = _run(small_model, frames, [BOX], recorder=rec_a, dedup=True, batch=True)
    plain, tr_plain = _run(small_model, frames, [BOX], recorder=rec_b, dedup=False, batch=False)
    kept_a = [[(c.pathway, c.mask_index) for c in r.kept] for r in rec_a.records]
    kept_b = [[(c.pathway, c.mask_index) for c in r.kept] for r in rec_b.records]
    assert kept_a == kept_b
    for a, b in zip(fast, plain, strict=True):
        assert a.frame_idx == b.frame_idx
        assert torch.allclose(a.lowres_logits, b.lowres_logits, rtol=0, atol=1e-5)
    # the tree did branch, and duplicated pathways were evaluated once
    assert any(len({c.pathway for c in r.kept}) > 1 for r in rec_a.records if r.kind == "tree")
    assert tr_fast.stats["distinct_evals"] < tr_plain.stats["distinct_evals"]
    assert tr_plain.stats["distinct_evals"] == tr_plain.stats["pathway_evals"]


@pytest.mark.parametrize("pathways", [1, 3])
def test_speed_shortcuts_change_no_bit(small_model: torch.nn.Module, pathways: int) -> None:
    """Sharing memory attention's first layer across pathways and objects, the cached
    rotary table with in-place key rotation, and encoding a kept mask's memory only when a
    later frame reads it give bit-identical outputs and decisions to the plain path; the
    last frame's masks are never encoded."""
    frames = _video(6)
    prompts = [BOX, ObjectPrompt(2, frame_idx=1, points=[[100, 10]], labels=[1])]
    rec_a, rec_b = TreeRecorder(keep_slot_logits=True), TreeRecorder(keep_slot_logits=True)
    fast, tr_fast = _run(small_model, frames, prompts, recorder=rec_a, num_pathways=pathways)
    plain, tr_plain = _run(
        small_model,
        frames,
        prompts,
        recorder=rec_b,
        num_pathways=pathways,
        share_first_layer=False,
        lazy_memory=False,
        cache_rope=False,
    )
    for a, b in zip(fast, plain, strict=True):
        assert a.frame_idx == b.frame_idx
        assert torch.equal(a.lowres_logits, b.lowres_logits)
        assert a.ious == b.ious and a.object_scores == b.object_scores
    assert len(rec_a.records) == len(rec_b.records)
    for ra, rb in zip(rec_a.records, rec_b.records, strict=True):
        assert (ra.frame_idx, ra.obj_id, ra.kind) == (rb.frame_idx, rb.obj_id, rb.kind)
        assert ra.ious == rb.ious and ra.object_scores == rb.object_scores
        assert ra.kept == rb.kept
        assert all(torch.equal(x, y) for x, y in zip(ra.slot_lowres, rb.slot_lowres, strict=True))
    if pathways > 1:
        assert any(len({c.pathway for c in r.kept}) > 1 for r in rec_a.records if r.kind == "tree")
    # the plain path encodes each object's distinct kept masks of the last frame; the lazy
    # one does not (everything else is encoded exactly once either way)
    last = [r for r in rec_b.records if r.frame_idx == len(frames) - 1]
    unused = sum(len({(c.pathway, c.mask_index) for c in r.kept}) for r in last)
    assert unused > 0
    assert tr_plain.stats["memory_encodings"] - tr_fast.stats["memory_encodings"] <= unused
    assert tr_fast.stats["memory_encodings"] < tr_plain.stats["memory_encodings"]


def test_streaming_is_lazy_and_ordered(small_model: torch.nn.Module) -> None:
    frames = _video(6)
    pulled = 0

    def source() -> Iterator[np.ndarray]:
        nonlocal pulled
        for f in frames:
            pulled += 1
            yield f

    tracker = SAM2LongTracker(small_model, SAM2LongConfig(num_pathways=1))
    seen = []
    for out in tracker.track(source(), [BOX], num_frames=len(frames)):
        # with one pathway every frame is final as soon as it has been tracked
        assert pulled == out.frame_idx + 1
        seen.append(out.frame_idx)
        assert out.masks.shape == (1, H, W) and out.logits.shape == (1, H, W)
    assert seen == list(range(len(frames)))


@pytest.mark.slow
def test_unknown_length_matches_known_length_for_long_videos(
    small_model: torch.nn.Module,
) -> None:
    # min(T, 16) is the same for T >= 16 whether or not T is known
    frames = _video(17)
    known, _ = _run(small_model, frames, [BOX], num_frames=17, num_pathways=2)
    unknown, _ = _run(small_model, iter(frames), [BOX], num_pathways=2)
    for a, b in zip(known, unknown, strict=True):
        assert torch.equal(a.lowres_logits, b.lowres_logits)


def test_memory_stays_bounded(
    small_model: torch.nn.Module, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a short look-back (min(T, 4) - 1 = 3 frames) makes the bound visible on a short video
    monkeypatch.setattr(small_model, "max_obj_ptrs_in_encoder", 4)
    n, lookback = 16, 4
    frames = _video(n)
    pulled = 0

    def source() -> Iterator[np.ndarray]:
        nonlocal pulled
        for f in frames:
            pulled += 1
            yield f

    tracker = SAM2LongTracker(small_model, SAM2LongConfig(num_pathways=3))
    peak_nodes = peak_mems = max_lag = 0
    outs = []
    for out in tracker.track(source(), [BOX], num_frames=n):
        outs.append(out.frame_idx)
        fp = tracker.footprint()
        peak_nodes = max(peak_nodes, fp["nodes"])
        peak_mems = max(peak_mems, fp["memories"])
        max_lag = max(max_lag, pulled - 1 - out.frame_idx)
    assert outs == list(range(n))
    # Held per pathway: at most the look-back (3 reliable frames + the previous one) of
    # stored memories, and history nodes only for the look-back plus the undecided window.
    assert peak_mems <= 3 * lookback
    assert peak_nodes <= 3 * (lookback + max_lag + 1)
    assert peak_nodes < 3 * n  # an unpruned tree would hold every frame of every pathway


def test_several_objects_and_prompt_kinds(small_model: torch.nn.Module) -> None:
    frames = _video(6)
    square = np.zeros((H, W), bool)
    square[30:70, 20:60] = True
    prompts = [
        ObjectPrompt(1, box=(20, 30, 60, 70)),
        ObjectPrompt(2, points=[[100, 10]], labels=[1]),
        ObjectPrompt(3, frame_idx=2, mask=square),
    ]
    outs, _ = _run(small_model, frames, prompts, num_pathways=2)
    assert [o.frame_idx for o in outs] == list(range(6))
    for o in outs:
        assert o.obj_ids == [1, 2, 3]
        assert o.masks.shape == (3, H, W)
        # SAM 2's non-overlap constraint: a pixel belongs to at most one object
        assert int(o.masks.sum(0).max()) <= 1
        if o.frame_idx < 2:
            assert not o.masks[2].any()
            assert torch.all(o.lowres_logits[2] == -1024.0)


def test_prompt_validation(small_model: torch.nn.Module) -> None:
    with pytest.raises(ValueError):
        ObjectPrompt(1)
    with pytest.raises(ValueError):
        ObjectPrompt(1, box=(0, 0, 1, 1), mask=np.zeros((2, 2), bool))
    with pytest.raises(ValueError):
        ObjectPrompt(1, points=[[1, 2]])
    tracker = SAM2LongTracker(small_model)
    with pytest.raises(ValueError):
        list(tracker.track(_video(2), [ObjectPrompt(1, frame_idx=5, box=(0, 0, 9, 9))]))
    with pytest.raises(ValueError):
        list(tracker.track(_video(2), [BOX, BOX]))
