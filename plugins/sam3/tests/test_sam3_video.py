"""Concept tracking through videos: frame-by-frame streaming with flat memory, against
transformers' own loop (``Sam3VideoProcessor.init_video_session(video=...)`` +
``propagate_in_video_iterator`` + ``postprocess_outputs``) on the same weights and frames.

Random weights score every detection near 0.25, below SAM 3's detection (0.5) and new-track
(0.7) thresholds, so both sides run with those thresholds at 0: every frame then has
detections, new tracks, matching, hot-start bookkeeping and memory to prune.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from sam3_fixtures import FRAMES

import zoo
from zoo.errors import InputError
from zoo.results import ConceptFrameResult


def frames(n: int, side: int = 96) -> list[np.ndarray]:
    """``n`` frames of the bedroom fixture video (first 24 repeated), resized small."""
    from PIL import Image

    files = sorted(FRAMES.glob("*.jpg"))
    if not files:
        pytest.skip(f"{FRAMES} is absent (the shared fixture video is not checked out)")
    out = []
    for i in range(n):
        with Image.open(files[i % len(files)]) as im:
            out.append(np.asarray(im.convert("RGB").resize((side + side // 2, side))))
    return out


def eager(model: Any) -> None:
    video = model.net.video
    video.score_threshold_detection = 0.0
    video.new_det_thresh = 0.0


def reference(
    model: Any, clip: list[np.ndarray], text: str, start: int = 0
) -> list[dict[str, Any]]:
    """transformers' own video loop on a preloaded video, with the same weights."""
    from zoo_sam3.video import postprocessor

    proc = postprocessor(model)
    session = proc.init_video_session(video=clip, inference_device="cpu", dtype=torch.float32)
    proc.add_text_prompt(session, text)
    out = []
    with torch.inference_mode():
        for o in model.net.video.propagate_in_video_iterator(session, start_frame_idx=start):
            post = proc.postprocess_outputs(session, o)
            out.append(
                {
                    "frame": o.frame_idx,
                    "ids": post["object_ids"].tolist(),
                    "masks": post["masks"].numpy(),
                    "scores": post["scores"].numpy(),
                    "boxes": post["boxes"].numpy(),
                }
            )
    return out


def check_same(ours: list[ConceptFrameResult], ref: list[dict[str, Any]]) -> int:
    assert [f.frame_index for f in ours[-len(ref) :]] == [r["frame"] for r in ref]
    tracked = 0
    for f, r in zip(ours[-len(ref) :], ref, strict=True):
        assert sorted(f.masks) == r["ids"]
        for j, oid in enumerate(r["ids"]):
            np.testing.assert_array_equal(f.masks[oid], r["masks"][j])
            assert abs(f.scores[oid] - float(r["scores"][j])) < 1e-6
            np.testing.assert_allclose(f.boxes[oid], r["boxes"][j], atol=1e-4)
        tracked += len(r["ids"])
    return tracked


@pytest.fixture(scope="module")
def video_model():  # type: ignore[no-untyped-def]
    model = zoo.load("sam3", weights="random", arch="tiny", device="cpu")
    eager(model)
    return model


def test_streamed_tracking_equals_transformers_loop(video_model) -> None:  # type: ignore[no-untyped-def]
    clip = frames(4)
    ours = list(video_model.track_concepts(clip, "a bed"))
    assert [f.frame_index for f in ours] == [0, 1, 2, 3]
    assert all(isinstance(f, ConceptFrameResult) and f.concepts == ["a bed"] for f in ours)
    assert check_same(ours, reference(video_model, clip, "a bed")) > 0
    f = ours[-1]
    assert f.image_size == (96, 144) and f.provenance.is_random
    assert {c["category_id"] for c in f.to_coco()} == {1}


def test_frames_before_the_prompt_frame_are_empty(video_model) -> None:  # type: ignore[no-untyped-def]
    clip = frames(4)
    ours = list(video_model.track_concepts(clip, "a bed", prompt_frame=2))
    assert [len(f) for f in ours[:2]] == [0, 0]
    check_same(ours, reference(video_model, clip, "a bed", start=2))


def test_two_concepts_and_an_exemplar_on_the_prompt_frame(video_model) -> None:  # type: ignore[no-untyped-def]
    """Exemplar boxes reach the detector on the prompt frame only (transformers' video model
    takes text alone); each track keeps its concept as its category."""
    clip = frames(2)
    plain = list(video_model.track_concepts(clip, ["a bed", "a lamp"]))
    boxed = list(
        video_model.track_concepts(
            clip, ["a bed", "a lamp"], [{"box": [20, 20, 100, 80], "concept": 1}]
        )
    )
    assert [f.frame_index for f in boxed] == [0, 1] and boxed[-1].concepts == ["a bed", "a lamp"]
    assert {k for f in boxed for k in f.concept_ids.values()} <= {0, 1}
    differs = any(
        sorted(a.masks) != sorted(b.masks)
        or any(not np.array_equal(a.masks[k], b.masks[k]) for k in a.masks)
        or a.scores != b.scores
        for a, b in zip(plain, boxed, strict=True)
    )
    assert differs
    assert "run_detection" not in vars(video_model.net.video)  # the hook is gone afterwards


@pytest.mark.slow
def test_exemplar_only_concept_is_found_then_tracked(video_model) -> None:  # type: ignore[no-untyped-def]
    only = list(video_model.track_concepts(frames(3), None, [{"box": [20, 20, 100, 80]}]))
    assert only[0].concepts == ["visual"] and len(only[0]) > 0


def test_bad_video_input_is_one_line(video_model) -> None:  # type: ignore[no-untyped-def]
    clip = frames(2)
    for call, needle in (
        (lambda: video_model.track_concepts([], "a bed"), "empty"),
        (lambda: video_model.track_concepts(clip, "a bed", prompt_frame=5), "outside the video"),
        (lambda: video_model.track_concepts(clip, None), "nothing to find"),
        (lambda: video_model.track_concepts(clip, "x", [{"box": [1000, 0, 1100, 5]}]), "outside"),
    ):
        with pytest.raises(InputError, match=needle) as info:
            list(call())
        assert "\n" not in str(info.value)


@pytest.mark.slow
def test_long_stream_equals_transformers_loop(video_model) -> None:  # type: ignore[no-untyped-def]
    """24 frames: past the memory windows, so pruning has dropped outputs by the end."""
    clip = frames(24, side=56)
    ours = list(video_model.track_concepts(clip, "a bed"))
    assert check_same(ours, reference(video_model, clip, "a bed")) > 0


@pytest.mark.slow
def test_pruning_keeps_the_session_flat() -> None:
    """After many frames the session holds a bounded number of frames and outputs."""
    from zoo_sam3 import video as v

    model = zoo.load("sam3", weights="random", arch="tiny", device="cpu")
    eager(model)
    model.net.video.max_num_objects = 2  # two tracks are enough to fill the memory
    seen: list[dict[str, int]] = []
    real = v.prune

    def spy(session: Any, frame: int, net: Any) -> None:
        real(session, frame, net)
        outputs = session.output_dict_per_obj.values()
        heavy = sum(
            len(o["non_cond_frame_outputs"])
            + sum(len(c) > 1 for c in o["cond_frame_outputs"].values())
            for o in outputs
        )
        seen.append(
            {
                "frames": len(session.processed_frames),
                "per_object": heavy // max(1, len(session.output_dict_per_obj)),
                "scores": len(session.obj_id_to_tracker_score_frame_wise),
            }
        )

    v.prune = spy  # type: ignore[assignment]
    try:
        out = list(model.track_concepts(frames(20, side=56), "a bed"))
    finally:
        v.prune = real  # type: ignore[assignment]
    cfg = model.net.video.tracker_model.config
    window = max(cfg.num_maskmem, cfg.max_object_pointers_in_encoder) + cfg.max_cond_frame_num
    assert len(out) == 20 and sum(len(f) for f in out) > 0
    assert all(s["frames"] == 0 for s in seen)
    assert max(s["per_object"] for s in seen) <= window
    assert max(s["per_object"] for s in seen) >= cfg.num_maskmem  # it did fill up
    assert max(s["scores"] for s in seen) <= 1
