"""Meta's ``sam3.pt`` layout against transformers' ``Sam3VideoModel``, key by key.

Meta's keys and shapes were recorded from its own model at random init
(``meta_ref/record_keys.py`` -> ``data/meta_sam3_keys.json``); transformers' come from
building its model (empty, on the ``meta`` device). Numbers asserted here are counted from
those two lists, not from the conversion under test.
"""

from __future__ import annotations

import re

import pytest
import torch
from zoo_sam3.convert import META, TRANSFORMERS, layout_of, meta_to_transformers, to_transformers

from zoo.errors import WeightsError


@pytest.fixture(scope="module")
def meta_keys() -> dict[str, list[int]]:
    from sam3_meta_layout import meta_keys

    return meta_keys()


@pytest.fixture(scope="module")
def hf_shapes() -> dict[str, list[int]]:
    from transformers import Sam3VideoConfig, Sam3VideoModel

    with torch.device("meta"):
        model = Sam3VideoModel(Sam3VideoConfig())
    return {k: list(v.shape) for k, v in model.state_dict().items()}


def test_every_meta_key_lands_on_a_transformers_key_with_its_shape(meta_keys, hf_shapes) -> None:  # type: ignore[no-untyped-def]
    state = {k: torch.empty(shape, device="meta") for k, shape in meta_keys.items()}
    out = meta_to_transformers(state)
    assert sorted(out) == sorted(hf_shapes)
    assert {k: list(v.shape) for k, v in out.items()} == hf_shapes
    # the key counts, from the lists themselves
    fused = [k for k in meta_keys if ".attn.qkv." in k or "in_proj_" in k]
    dropped = [k for k in meta_keys if k.endswith("attn.freqs_cis") or ".points_" in k]
    points = [k for k in meta_keys if "point_embeddings." in k]
    assert (len(meta_keys), len(hf_shapes)) == (1465, 1797)
    assert (len(fused), len(dropped), len(points)) == (186, 38, 4)
    # fused q/k/v split in three, four point embeddings joined, the Fourier matrix twice
    assert len(meta_keys) - len(dropped) + 2 * len(fused) - (len(points) - 1) + 1 == len(hf_shapes)


def test_the_inverse_built_from_metas_keys_restores_them(meta_keys, hf_shapes) -> None:  # type: ignore[no-untyped-def]
    from sam3_meta_layout import to_meta

    hf = {k: torch.empty(shape, device="meta") for k, shape in hf_shapes.items()}
    back = to_meta(
        hf, meta_keys, fill={k: torch.empty(s, device="meta") for k, s in meta_keys.items()}
    )
    assert {k: list(v.shape) for k, v in back.items()} == meta_keys


def test_special_tensors_are_reshaped_as_meta_stores_them() -> None:
    """Values, not only names: q/k/v order, the class-token row, the transposed projection,
    the point-embedding rows, the shared Fourier matrix."""
    qkv = torch.arange(3 * 4 * 2, dtype=torch.float32).reshape(12, 2)
    pos = torch.arange(1 + 4, dtype=torch.float32).reshape(1, 5, 1)
    proj = torch.arange(6, dtype=torch.float32).reshape(2, 3)
    gauss = torch.randn(2, 8)
    pts = [torch.full((1, 3), float(i)) for i in range(4)]
    state = {
        "detector.backbone.vision_backbone.trunk.blocks.3.attn.qkv.weight": qkv,
        "detector.backbone.vision_backbone.trunk.pos_embed": pos,
        "detector.backbone.language_backbone.encoder.text_projection": proj,
        "tracker.sam_prompt_encoder.pe_layer.positional_encoding_gaussian_matrix": gauss,
        **{f"tracker.sam_prompt_encoder.point_embeddings.{i}.weight": p for i, p in enumerate(pts)},
        "detector.backbone.vision_backbone.trunk.blocks.3.attn.freqs_cis": torch.zeros(4, 2),
    }
    out = meta_to_transformers(state)
    layer = "detector_model.vision_encoder.backbone.layers.3.attention"
    assert torch.equal(out[f"{layer}.q_proj.weight"], qkv[:4])
    assert torch.equal(out[f"{layer}.k_proj.weight"], qkv[4:8])
    assert torch.equal(out[f"{layer}.v_proj.weight"], qkv[8:])
    pe = out["detector_model.vision_encoder.backbone.embeddings.position_embeddings"]
    assert pe.shape == (1, 4, 1) and torch.equal(pe, pos[:, 1:])
    assert torch.equal(out["detector_model.text_encoder.text_projection.weight"], proj.t())
    assert torch.equal(
        out["tracker_model.prompt_encoder.point_embed.weight"][:, 0], torch.arange(4.0)
    )
    assert out["tracker_model.shared_image_embedding.positional_embedding"] is gauss
    assert out["tracker_model.prompt_encoder.shared_embedding.positional_embedding"] is gauss
    assert not any("freqs" in k or "rotary" in k for k in out)


def test_layouts_are_told_apart_by_their_keys() -> None:
    assert layout_of(["detector_model.x", "tracker_neck.y"]) == TRANSFORMERS
    assert layout_of(["detector.x", "tracker.y"]) == META
    assert layout_of(["image_encoder.x"]) is None
    same = {"detector_model.a": torch.zeros(1)}
    assert to_transformers(same, "f") == same
    with pytest.raises(WeightsError, match=re.escape("not a SAM 3 checkpoint")):
        to_transformers({"image_encoder.x": torch.zeros(1)}, "f.pt")
    with pytest.raises(WeightsError, match="1 keys of this Meta-layout checkpoint are not SAM 3's"):
        meta_to_transformers({"detector.mystery.weight": torch.zeros(1)})
