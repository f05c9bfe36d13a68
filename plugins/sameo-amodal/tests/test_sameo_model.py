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
    from zoo import load

    torch.set_num_threads(1)
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
    model.max_batch = 128  # one decoder call for all boxes (the CPU default chunks them)
    calls = {"n": 0}
    enc = model.model.image_encoder
    hook = enc.register_forward_hook(lambda *a: calls.__setitem__("n", calls["n"] + 1))
    try:
        batched = model.segment_amodal(
            img, boxes, scores=np.linspace(0.5, 0.9, 5), category_ids=[1, 2, 3, 4, 5]
        )
        singles = [model.segment_amodal(img, boxes[i : i + 1]) for i in range(5)]
    finally:
        hook.remove()
        model.max_batch = None
    assert calls["n"] == 1  # same pixels: the embedding was reused
    for i, single in enumerate(singles):
        a = batched.instances[i].amodal_mask
        b = single.instances[0].amodal_mask
        assert a.shape == (H, W) and a.dtype == np.bool_
        assert (a != b).mean() < 1e-3  # float noise of a batched matmul at most
        assert batched.instances[i].pred_iou == pytest.approx(
            single.instances[0].pred_iou, abs=1e-4
        )
    # refined score = detector score x predicted IoU (clipped to [0, 1]); both kept
    for inst, det in zip(batched.instances, np.linspace(0.5, 0.9, 5), strict=True):
        assert inst.pred_iou is not None and inst.det_score == pytest.approx(det)
        assert inst.score == pytest.approx(det * min(max(inst.pred_iou, 0.0), 1.0), abs=1e-6)
    assert all(i.det_score is None for i in singles[0].instances)
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
    from zoo.decoder_chunks import default_max_batch

    # the core's per-device default, sized on CPU from the decoder's per-prompt activation
    assert model.decoder_batch == default_max_batch("cpu", model.decoder_prompt_bytes)
    for a, b in zip(full.instances, chunked.instances, strict=True):
        assert (a.amodal_mask != b.amodal_mask).mean() < 1e-3


def test_moving_devices_drops_the_cached_embedding(model: Any) -> None:
    """The cached embedding lives on the old device: ``to()`` forgets it, the next call on
    the same pixels embeds again (on the new device)."""
    img = synthetic_image(H, W, seed=4)
    model.segment_amodal(img, synthetic_boxes(H, W))
    assert model._embedding is not None
    model.to("cpu")
    assert model._embedding is None and model._fingerprint is None
    r = model.segment_amodal(img, synthetic_boxes(H, W))
    assert len(r.instances) == 2 and model._embedding.device.type == "cpu"


def test_bad_inputs(model: Any) -> None:
    img = synthetic_image(H, W)
    for bad, needle in [
        ([[10, 10, 10, 50]], "x2<=x1"),
        ([[W * 2, 0, W * 3, 10]], "outside"),
        ([[1, 2, 3]], "N x 4"),
        ([], "no boxes"),
        ([[0, 0, float("nan"), 5]], "non-finite"),
    ]:
        with pytest.raises(InputError, match=needle):
            model.segment_amodal(img, np.asarray(bad, dtype=float))
    with pytest.raises(InputError, match="scores"):
        model.segment_amodal(img, _boxes(2), scores=[0.5])
    # a box crossing the image edge is clipped to it (as every surface does), not refused
    crossing = model.segment_amodal(img, np.array([[-10.0, 5, W + 20, 50]]))
    assert crossing.instances[0].box == (0.0, 5.0, float(W), 50.0)
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
    assert {
        "amodal_000.png",
        "amodal_001.png",
        "visible_000.png",
        "results.json",
        "overlay.png",
    } <= names
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
    from zoo import load

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
    torch.save(
        {"decoder": dec, "encoder": enc, "base": "vitt", "image_size": SIZE}, tmp_path / "s.pt"
    )
    out2 = load("sameo-amodal", checkpoint=tmp_path / "s.pt", device="cpu").segment_amodal(
        img, boxes
    )
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


def _perturbed_network(seed: int) -> Any:
    torch.manual_seed(seed)
    net = build_network("vitt", SIZE)
    with torch.no_grad():
        for p in net.mask_decoder.parameters():
            p.add_(0.01 * torch.randn_like(p))
    return net


def test_decoder_only_checkpoint_asks_for_its_base(tmp_path: Path) -> None:
    """A checkpoint without the encoder side needs its EfficientSAM base: the variant's
    optional ``base`` file, which the core resolves only when the model asks for it."""
    import shutil

    import zoo
    from zoo.registry import get_registry, reset_registry
    from zoo.specs import VariantSpec, WeightsSpec
    from zoo.training.store import variant_dir, write_variant

    net = _perturbed_network(3)
    base_file = tmp_path / "efficient_sam_vitt.pt"
    torch.save({"model": net.state_dict()}, base_file)  # upstream's {"model": ...} layout
    dec_only = save_checkpoint(
        tmp_path / "dec.safetensors", net, base="vitt", image_size=SIZE, include_encoder=False
    )
    full = save_checkpoint(tmp_path / "full.safetensors", net, base="vitt", image_size=SIZE)
    assert read_checkpoint(dec_only).encoder is None
    img, boxes = synthetic_image(H, W), synthetic_boxes(H, W)
    ref = zoo.load("sameo-amodal", checkpoint=full, device="cpu").segment_amodal(img, boxes)

    # from Python the base can be named next to the decoder
    m = zoo.load("sameo-amodal", checkpoint={"decoder": dec_only, "base": base_file}, device="cpu")
    out = m.segment_amodal(img, boxes)
    for x, y in zip(ref.instances, out.instances, strict=True):
        assert np.array_equal(x.amodal_mask, y.amodal_mask)
    assert out.provenance.files == {"decoder": str(dec_only), "base": str(base_file)}
    # the registered architectures declare the base as an optional EfficientSAM file: here
    # (offline, not cached) the core's one-line message names that file
    with pytest.raises(WeightsError, match="efficient_sam_vitt") as info:
        zoo.load("sameo-amodal", checkpoint=dec_only, device="cpu")
    assert "\n" not in str(info.value)

    # a trained variant whose file is decoder-only declares the base as same_as + optional
    folder = variant_dir("sameo-amodal", "deconly")
    folder.mkdir(parents=True)
    shutil.copy(dec_only, folder / "decoder.safetensors")
    spec = VariantSpec(
        family="sameo-amodal",
        tag="deconly",
        checkpoints={
            "decoder": WeightsSpec(uri=str(folder / "decoder.safetensors")),
            "base": WeightsSpec(same_as="efficientsam:vitt", optional=True),
        },
        config={"base": "vitt", "image_size": SIZE},
    )
    write_variant(folder, spec)
    reset_registry()
    reg = get_registry()
    declared = reg.variants["sameo-amodal:deconly"].checkpoints["base"]
    assert declared.optional and declared.uri == reg.variants["efficientsam:vitt"].weights.uri
    # offline and not cached: the core's one-line message names the EfficientSAM file
    with pytest.raises(WeightsError, match="efficient_sam_vitt"):
        zoo.load("sameo-amodal:deconly", device="cpu")
    # a local base file in its place: the variant's decoder on it
    m2 = zoo.load("sameo-amodal:deconly", checkpoint={"base": base_file}, device="cpu")
    out2 = m2.segment_amodal(img, boxes)
    assert all(
        np.array_equal(x.amodal_mask, y.amodal_mask)
        for x, y in zip(ref.instances, out2.instances, strict=True)
    )
    # a complete checkpoint in place of the decoder never asks for the base (offline here)
    m3 = zoo.load("sameo-amodal:deconly", checkpoint=full, device="cpu")
    assert "base" not in m3.provenance("amodal").files


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_half_precision_on_cpu(dtype: str) -> None:
    """``dtype=`` casts the network once; boxes keep float32 coordinates (issue 11 item 1)."""
    import zoo

    img, boxes = synthetic_image(H, W), _boxes(4)
    ref = zoo.load("sameo-amodal", weights="random", device="cpu", image_size=SIZE)
    half = zoo.load("sameo-amodal", weights="random", device="cpu", image_size=SIZE, dtype=dtype)
    assert next(half.model.parameters()).dtype == getattr(torch, dtype)
    a = ref.segment_amodal(img, boxes, scores=[0.9] * 4)
    b = half.segment_amodal(img, boxes, scores=[0.9] * 4)
    for x, y in zip(a.instances, b.instances, strict=True):
        assert y.amodal_mask.dtype == np.bool_ and np.isfinite(y.score)
        assert (x.amodal_mask == y.amodal_mask).mean() > 0.97
        assert y.pred_iou == pytest.approx(x.pred_iou, abs=0.02)


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
