"""The ``sam2long-video`` family as the zoo sees it: registration, options, loading, results."""

from __future__ import annotations

import dataclasses
import inspect
import json
import subprocess
import sys

import numpy as np
import pytest

from zoo.errors import InputError
from zoo.registry import get_registry
from zoo.results import VideoFrameResult

H, W = 120, 160


def test_registration_does_not_import_torch() -> None:
    code = "import sys, zoo_sam2long.plugin; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_family_and_variants_borrow_sam2_weights() -> None:
    reg = get_registry()
    info = next(p for p in reg.plugins if p.name == "sam2long-video")
    assert info.error is None
    fam = reg.families["sam2long-video"]
    assert list(fam.tasks) == ["video"]
    for size in ("tiny", "small", "base-plus", "large"):
        v = reg.variants[f"sam2long-video:{size}"]
        base = reg.variants.get(f"sam2:{size}")
        assert v.weights is not None and v.weights.same_as == f"sam2:{size}"
        if base is not None:  # the sam2 plugin is a dependency, but be robust to its absence
            assert base.weights is not None
            assert (v.weights.uri, v.weights.sha256, v.weights.size) == (
                base.weights.uri,
                base.weights.sha256,
                base.weights.size,
            )


def test_options_are_declared_once_with_the_tree_defaults() -> None:
    from zoo_sam2long.plugin import ZOO_PLUGIN_API, Sam2LongOptions
    from zoo_sam2long.tracker import SAM2LongConfig

    fam = get_registry().families["sam2long-video"]
    assert ZOO_PLUGIN_API == 3 and fam.options is Sam2LongOptions
    opts = fam.options
    # --frame and --mask are the video task's options: not re-declared here
    assert opts.names() == [
        "pathways",
        "iou_threshold",
        "uncertainty",
        "image_size",
        "no_baseline",
        "exclude_void",
    ]
    # upstream names stay usable, each as an alias of one option
    assert opts.lookup("iou_thre") == "iou_threshold"
    assert get_registry().task("video").options.lookup("prompt_frame") == "frame"
    assert set(opts.loader_names()) == {"pathways", "iou_threshold", "uncertainty", "image_size"}
    # every option is bounded (no unbounded work from a typo)
    for row in opts.describe():
        if row["type"] in ("int", "float"):
            assert {"ge", "le"} <= set(row.get("bounds", {})), row["name"]
    # the declared defaults are the tracker's own (one truth, shown by `zoo info`)
    tree = {f.name: f.default for f in dataclasses.fields(SAM2LongConfig)}
    assert opts.default_of("pathways") == tree["num_pathways"]
    assert opts.default_of("iou_threshold") == tree["iou_threshold"]
    assert opts.default_of("uncertainty") == tree["uncertainty"]


def test_create_takes_the_load_context() -> None:
    from zoo_sam2long.model import SAM2LongVideoModel

    params = list(inspect.signature(SAM2LongVideoModel.create).parameters.values())
    assert params[0].name == "ctx" and any(p.kind is p.VAR_KEYWORD for p in params)


def test_loader_kwargs_map_to_the_tree_config() -> None:
    from zoo_sam2long.model import _tree_config

    cfg = _tree_config({"pathways": 2, "iou_thre": 0.3, "uncertainty": 1.5})
    assert (cfg.num_pathways, cfg.iou_threshold, cfg.uncertainty) == (2, 0.3, 1.5)
    with pytest.raises(InputError, match="iou_thre"):
        _tree_config({"iou_thre": 0.3, "iou_threshold": 0.2})
    with pytest.raises(InputError, match="pathways must be"):
        _tree_config({"pathways": 0})


def test_misspelt_or_unbounded_loader_kwarg_is_refused_before_building() -> None:
    from zoo.loading import load

    with pytest.raises(InputError, match=r"unknown option pathway .*did you mean pathways\?"):
        load("sam2long-video:tiny", weights="random", device="cpu", pathway=2)
    with pytest.raises(InputError, match="pathways: 99 is above the maximum 16"):
        load("sam2long-video:tiny", weights="random", device="cpu", pathways=99)


def test_card_validates() -> None:
    from zoo.cards import load_card

    fam = get_registry().families["sam2long-video"]
    assert fam.card
    card = load_card(fam.card)
    assert card.zoo.family == "sam2long-video"
    assert set(card.zoo.tasks) == set(fam.tasks)


@pytest.fixture(scope="module")
def model():  # type: ignore[no-untyped-def]
    import torch

    from zoo.loading import load

    torch.manual_seed(0)
    return load("sam2long-video:tiny", weights="random", device="cpu", image_size=256, pathways=2)


def _frames(n: int) -> list[np.ndarray]:
    rng = np.random.default_rng(1)
    out = []
    for t in range(n):
        f = rng.integers(0, 50, size=(H, W, 3), dtype=np.uint8)
        f[30:80, 40 + 3 * t : 90 + 3 * t] = 200
        out.append(f)
    return out


def test_track_yields_schema_results(model) -> None:  # type: ignore[no-untyped-def]
    prompts = {"boxes": [[40, 30, 90, 80]]}
    out = list(model.track(_frames(3), prompts))
    assert [r.frame_index for r in out] == [0, 1, 2]
    for r in out:
        assert isinstance(r, VideoFrameResult)
        assert set(r.masks) == {1}
        assert r.masks[1].dtype == np.bool_ and r.masks[1].shape == (H, W)
        assert r.image_size == (H, W) and r.frame_name == f"{r.frame_index:05d}"
        assert r.provenance.is_random and r.provenance.model == "sam2long-video:tiny"
        assert set(r.scores) == {1} and np.isfinite(r.scores[1])
        # the presence logit says why a mask may be empty (<= 0: judged absent)
        presence = r.extra["object_scores"][1]
        assert np.isfinite(presence) and (presence > 0 or not r.masks[1].any())
        assert "sam2long" not in r.extra  # internals only on request


def test_record_exposes_internals_and_round_trips(model) -> None:  # type: ignore[no-untyped-def]
    seen: list[tuple[int, int]] = []
    out = list(
        model.track(
            _frames(3),
            {"points": [[60, 50]], "labels": [1]},
            record=True,
            progress=lambda done, total: seen.append((done, total)),
        )
    )
    assert seen == [(1, 3), (2, 3), (3, 3)]
    kinds = []
    for r in out:
        rec = r.extra["sam2long"]
        obj = rec["objects"][1]
        assert obj["lowres_logits"].shape == (64, 64) and obj["lowres_logits"].dtype == np.float32
        np.testing.assert_array_equal(r.masks[1], obj["logits"] > 0)
        assert 1 <= rec["frames_read"] <= 3
        kinds.append(obj["tree"]["kind"])
        back = VideoFrameResult.from_dict(json.loads(json.dumps(r.to_dict())))
        assert back.to_dict() == r.to_dict()
    assert kinds == ["prompt", "first", "tree"]
    tree = out[2].extra["sam2long"]["objects"][1]["tree"]
    assert len(tree["kept"]) == 2 and tree["slot_lowres"].shape == (2, 64, 64)
    assert len(tree["ious"]) == 2 and all(len(row) == 3 for row in tree["ious"])


def test_track_mask_prompt_on_later_frame(model) -> None:  # type: ignore[no-untyped-def]
    from zoo.prompts import ObjectPrompt, Prompts

    mask = np.zeros((H, W), bool)
    mask[30:80, 46:96] = True
    prompts = Prompts(
        objects=[
            ObjectPrompt(box=(40, 30, 90, 80), object_id=7),
            ObjectPrompt(mask=mask, object_id=9),
        ]
    )
    out = list(model.track(_frames(4), prompts, prompt_frame=2))
    assert [r.frame_index for r in out] == [0, 1, 2, 3]
    assert not out[0].masks[7].any() and not out[1].masks[9].any()
    assert out[2].masks[9].any()


@pytest.mark.parametrize(
    "call",
    [
        lambda m: list(m.track([], {"boxes": [[0, 0, 5, 5]]})),
        lambda m: list(m.track(_frames(2), {"boxes": [[W * 2, H * 2, W * 3, H * 3]]})),
        lambda m: list(m.track(_frames(2), {"boxes": [[0, 0, 5, 5]]}, prompt_frame=2)),
        lambda m: list(m.track(_frames(2), [{"box": [0, 0, 5, 5], "mask": np.ones((H, W), bool)}])),
        lambda m: list(m.track(_frames(2), [{"mask": np.ones((H + 1, W), bool)}])),
        lambda m: list(
            m.track(_frames(2), [{"box": [0, 0, 5, 5], "object_id": 2}, {"box": [1, 1, 5, 5]}])
        ),
        lambda m: list(m.track(_frames(2), [{"box": [0, 0, 5, 5], "object_id": 256}])),
        lambda m: list(m.track(_frames(2), [{"box": [0, 0, 5, 5], "object_id": 0}])),
        lambda m: list(m.track(_frames(2), [{"mask": np.zeros((H, W), bool)}])),
        lambda m: list(m.track(_frames(2), {"points": [[5, 5]], "labels": [3]})),
    ],
    ids=[
        "no-frames",
        "box-outside",
        "prompt-frame",
        "mask+box",
        "mask-size",
        "dup-id",
        "id-256",
        "id-0",
        "empty-mask",
        "label-3",
    ],
)
def test_bad_inputs_are_input_errors(model, call) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InputError) as info:
        call(model)
    assert "\n" not in str(info.value).strip()


def test_a_box_crossing_the_edge_is_clipped(model) -> None:  # type: ignore[no-untyped-def]
    """As on every task (zoo.prompts.Prompts.fit): the part inside the frame is tracked."""
    inside = list(model.track(_frames(2), {"boxes": [[40, 30, W, H]]}))
    crossing = list(model.track(_frames(2), {"boxes": [[40, 30, W * 3, H * 3]]}))
    for a, b in zip(inside, crossing, strict=True):
        np.testing.assert_array_equal(a.masks[1], b.masks[1])


def test_half_precision_is_refused() -> None:
    from zoo.loading import load

    with pytest.raises(InputError):
        load("sam2long-video:tiny", weights="random", device="cpu", dtype="bfloat16")
