"""SameoModel: batched inference, scoring, checkpoints, and refusing the wrong weights."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from zoo_sameo.build import build_network, read_checkpoint, save_checkpoint, split_state

from zoo.errors import InputError, WeightsError
from zoo.testing import synthetic_boxes, synthetic_image

H, W = 120, 160
SIZE = 128  # encoder input of the test models (EfficientSAM's real one is 1024)


@pytest.fixture(scope="module")
def model() -> Any:
    from zoo.model import load

    torch.set_num_threads(1)
    torch.manual_seed(0)
    return load("sameo-amodal", weights="random", device="cpu", image_size=SIZE)


def _boxes(n: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    x1 = rng.uniform(0, W / 2, n)
    y1 = rng.uniform(0, H / 2, n)
    return np.stack([x1, y1, x1 + rng.uniform(10, W / 2, n), y1 + rng.uniform(10, H / 2, n)], 1)


def test_batched_equals_one_box_at_a_time(model: Any) -> None:
    """N boxes go through one decoder call against one cached embedding; the result must
    equal decoding them one by one, and the encoder must run once."""
    img = synthetic_image(H, W)
    boxes = _boxes(5)
    model.max_batch = 128  # one decoder call for all boxes (the CPU default is one per box)
    calls = {"n": 0}
    enc = model.model.image_encoder
    hook = enc.register_forward_hook(lambda *a: calls.__setitem__("n", calls["n"] + 1))
    try:
        batched = model.segment_amodal(img, boxes, scores=np.linspace(0.5, 0.9, 5),
                                       category_ids=[1, 2, 3, 4, 5])
        singles = [model.segment_amodal(img, boxes[i:i + 1]) for i in range(5)]
    finally:
        hook.remove()
        model.max_batch = None
    assert calls["n"] == 1  # same pixels: the embedding was reused
    for i, single in enumerate(singles):
        a = batched.instances[i].amodal_mask
        b = single.instances[0].amodal_mask
        assert a.shape == (H, W) and a.dtype == np.bool_
        assert (a != b).mean() < 1e-3  # float noise of a batched matmul at most
        assert batched.pred_ious[i] == pytest.approx(single.pred_ious[0], abs=1e-4)
    # refined score = detector score x predicted IoU (clipped to [0, 1])
    for inst, det, iou in zip(batched.instances, np.linspace(0.5, 0.9, 5), batched.pred_ious,
                              strict=True):
        assert inst.score == pytest.approx(det * min(max(iou, 0.0), 1.0), abs=1e-6)
    assert [i.category_id for i in batched.instances] == [1, 2, 3, 4, 5]
    assert batched.provenance.is_random


def test_max_batch_chunks_give_the_same_masks(model: Any) -> None:
    img = synthetic_image(H, W, seed=1)
    boxes = _boxes(7)
    model.max_batch = 128
    try:
        full = model.segment_amodal(img, boxes)
        model.max_batch = 3
        chunked = model.segment_amodal(img, boxes)
    finally:
        model.max_batch = None
    assert model.decoder_batch == 1  # CPU default: one box per call
    for a, b in zip(full.instances, chunked.instances, strict=True):
        assert (a.amodal_mask != b.amodal_mask).mean() < 1e-3


def test_bad_inputs(model: Any) -> None:
    img = synthetic_image(H, W)
    for bad, needle in [([[10, 10, 10, 50]], "x2<=x1"), ([[0, 0, W * 2, 10]], "outside"),
                        ([[1, 2, 3]], "N x 4"), ([], "no boxes"), ([[0, 0, float("nan"), 5]],
                                                                    "non-finite")]:
        with pytest.raises(InputError, match=needle):
            model.segment_amodal(img, np.asarray(bad, dtype=float))
    with pytest.raises(InputError, match="scores"):
        model.segment_amodal(img, _boxes(2), scores=[0.5])
    with pytest.raises(InputError, match="visible mask"):
        model.segment_amodal(img, _boxes(1), visible_masks=[np.ones((5, 5), bool)])


def test_non_rgb_images_are_converted(model: Any, tmp_path: Path) -> None:
    from PIL import Image

    rgb = synthetic_image(H, W)
    gray = Image.fromarray(rgb).convert("L")
    rgba = Image.fromarray(rgb).convert("RGBA")
    gray.save(tmp_path / "g.png")
    for image in (tmp_path / "g.png", rgba, np.asarray(gray)):
        r = model.segment_amodal(image, synthetic_boxes(H, W))
        assert r.image_size == (H, W) and len(r.instances) == 2


def test_visible_mask_is_clipped_and_drawn_hatched(model: Any, tmp_path: Path) -> None:
    img = synthetic_image(H, W)
    boxes = synthetic_boxes(H, W)
    plain = model.segment_amodal(img, boxes)
    visible = [np.ones((H, W), bool), None]
    r = model.segment_amodal(img, boxes, visible_masks=visible)
    assert np.array_equal(r.instances[0].visible_mask, r.instances[0].amodal_mask)
    assert r.instances[1].visible_mask is None
    files = r.save(tmp_path / "out", image=img, image_id=3)
    names = {f.name for f in files}
    assert {"amodal_000.png", "amodal_001.png", "visible_000.png", "results.json",
            "overlay.png"} <= names
    coco = r.to_coco(image_id=3)
    assert coco[0]["image_id"] == 3 and "visible_segmentation" in coco[0]
    assert "visible_segmentation" not in coco[1]
    # hidden part drawn differently: half-visible mask vs fully visible mask
    half = np.zeros((H, W), bool)
    half[:, : W // 2] = True
    a = plain.overlay(img)
    b = model.segment_amodal(img, boxes, visible_masks=[half, half]).overlay(img)
    assert a.shape == (H, W, 3) and not np.array_equal(a, b)


def test_checkpoint_roundtrip_and_refusals(model: Any, tmp_path: Path) -> None:
    from zoo.model import load

    img = synthetic_image(H, W)
    boxes = synthetic_boxes(H, W)
    # perturb the decoder so a silently skipped load would be caught
    with torch.no_grad():
        for p in model.model.mask_decoder.parameters():
            p.add_(0.01 * torch.randn_like(p))
    ref = model.segment_amodal(img, boxes)
    path = save_checkpoint(tmp_path / "s.safetensors", model.model, base="vitt", image_size=SIZE)
    ck = read_checkpoint(path)
    assert ck.base == "vitt" and ck.image_size == SIZE and ck.encoder is not None
    again = load("sameo-amodal", checkpoint=path, device="cpu")
    assert again.image_size == SIZE  # taken from the checkpoint
    out = again.segment_amodal(img, boxes)
    for x, y in zip(ref.instances, out.instances, strict=True):
        assert np.array_equal(x.amodal_mask, y.amodal_mask)
    assert out.provenance.weights == str(path) and not out.provenance.is_random

    # torch.save({"decoder": ..., "encoder": ...}) layout loads too
    enc, dec = split_state(model.model)
    torch.save({"decoder": dec, "encoder": enc, "base": "vitt", "image_size": SIZE},
               tmp_path / "s.pt")
    out2 = load("sameo-amodal", checkpoint=tmp_path / "s.pt", device="cpu").segment_amodal(
        img, boxes)
    assert np.array_equal(out2.instances[0].amodal_mask, ref.instances[0].amodal_mask)

    # a decoder trained on another base is refused even though its shapes fit
    with pytest.raises(WeightsError, match="vitt base"):
        load("sameo-amodal:vits", checkpoint=path, device="cpu")
    torch.save({"decoder": dec, "base": "vits"}, tmp_path / "other.pt")
    with pytest.raises(WeightsError, match="vits base"):
        load("sameo-amodal:vitt", checkpoint=tmp_path / "other.pt", device="cpu")
    # a plain EfficientSAM checkpoint would give modal masks: refused, not loaded
    torch.save({"model": model.model.state_dict()}, tmp_path / "esam.pt")
    with pytest.raises(WeightsError, match="plain EfficientSAM"):
        load("sameo-amodal", checkpoint=tmp_path / "esam.pt", device="cpu")
    with pytest.raises(InputError, match="trained at image_size"):
        load("sameo-amodal", checkpoint=path, device="cpu", image_size=256)


def test_build_network_matches_efficientsam_at_1024() -> None:
    """At EfficientSAM's own size the network is exactly the zoo_efficientsam build."""
    from zoo_efficientsam.build import build_efficientsam

    ours = set(build_network("vitt", 1024).state_dict())
    assert ours == set(build_efficientsam("vitt").state_dict())
    small = {k: tuple(v.shape) for k, v in build_network("vitt", 128).state_dict().items()}
    big = {k: tuple(v.shape) for k, v in build_efficientsam("vitt").state_dict().items()}
    assert small == big  # same checkpoint layout at any input size
    with pytest.raises(InputError):
        build_network("vitx", 128)
    with pytest.raises(InputError):
        build_network("vitt", 100)
