"""The ``sam2long-video`` family as the zoo sees it: registration, card, loading, schemas."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from zoo.errors import InputError
from zoo.registry import get_registry
from zoo.tasks import VideoFrameResult

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
    assert [t.value for t in fam.tasks] == ["video"]
    for size in ("tiny", "small", "base-plus", "large"):
        v = reg.variants[f"sam2long-video:{size}"]
        base = reg.variants.get(f"sam2:{size}")
        if base is not None:  # the sam2 plugin is a dependency, but be robust to its absence
            assert v.weights == base.weights


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

    from zoo.model import load

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
        assert r.provenance.is_random
        assert set(r.scores) == {1} and np.isfinite(r.scores[1])


def test_track_mask_prompt_on_later_frame(model) -> None:  # type: ignore[no-untyped-def]
    from zoo.tasks import ObjectPrompt, Prompts

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
        lambda m: list(m.track(_frames(2), {"boxes": [[0, 0, W * 3, H * 3]]})),
        lambda m: list(m.track(_frames(2), {"boxes": [[0, 0, 5, 5]]}, prompt_frame=2)),
        lambda m: list(m.track(_frames(2), [{"box": [0, 0, 5, 5], "mask": np.ones((H, W), bool)}])),
        lambda m: list(m.track(_frames(2), [{"mask": np.ones((H + 1, W), bool)}])),
        lambda m: list(
            m.track(_frames(2), [{"box": [0, 0, 5, 5], "object_id": 2}, {"box": [1, 1, 5, 5]}])
        ),
    ],
    ids=["no-frames", "box-outside", "prompt-frame", "mask+box", "mask-size", "dup-id"],
)
def test_bad_inputs_are_input_errors(model, call) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InputError) as info:
        call(model)
    assert "\n" not in str(info.value).strip()


def test_half_precision_is_refused() -> None:
    from zoo.model import load

    with pytest.raises(InputError):
        load("sam2long-video:tiny", weights="random", device="cpu", dtype="bfloat16")
