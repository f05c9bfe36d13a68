"""Test-only: transformers' SAM 3 weights written in Meta's ``sam3.pt`` layout.

The inverse of :func:`zoo_sam3.convert.meta_to_transformers`, built from Meta's own key
list (recorded from its model at random init, ``data/meta_sam3_keys.json``): each Meta key
is renamed forward, and the tensor(s) it names are put back together (q/k/v fused, the
class-token row restored, CLIP's projection transposed, the point embeddings split). Used
to make Meta-layout checkpoints of random weights, which Meta's model must load strictly
and ``zoo.load(checkpoint=...)`` must read back exactly.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from zoo_sam3.convert import rename_meta_key

KEYS_FILE = Path(__file__).with_name("data") / "meta_sam3_keys.json"


def meta_keys() -> dict[str, list[int]]:
    """Meta's keys and shapes, as recorded by ``meta_ref/record_keys.py``."""
    return json.loads(KEYS_FILE.read_text())["keys"]


def sources(meta_key: str) -> tuple[str, list[str]]:
    """How one Meta tensor is made from transformers' tensors: (kind, their names)."""
    name = rename_meta_key(meta_key)
    if name is None:
        return "dropped", []
    if name == "{gaussian}":
        return "copy", ["tracker_model.prompt_encoder.shared_embedding.positional_embedding"]
    if name.startswith("{point:"):
        return "row" + name[len("{point:") : -1], [
            "tracker_model.prompt_encoder.point_embed.weight"
        ]
    if "{qkv}" in name:
        return "fuse", [name.replace("{qkv}", p) for p in "qkv"]
    if name.endswith("embeddings.position_embeddings"):
        return "class_row", [name]
    if name.endswith("text_encoder.text_projection.weight"):
        return "transpose", [name]
    return "copy", [name]


def to_meta(
    hf: dict[str, torch.Tensor],
    keys: dict[str, Any] | None = None,
    fill: dict[str, torch.Tensor] | None = None,
) -> dict[str, torch.Tensor]:
    """``hf`` (a ``Sam3VideoModel`` state dict) in Meta's layout.

    ``keys``: the Meta keys to produce (default: all recorded ones); keys whose sources
    ``hf`` lacks are left out (a smaller architecture has fewer layers). Meta-only tensors
    (rotary tables, point-prompt projections) come from ``fill`` when given, else zeros of
    the recorded shape.
    """
    keys = meta_keys() if keys is None else keys
    out: dict[str, torch.Tensor] = {}
    for key, shape in keys.items():
        kind, names = sources(key)
        if kind == "dropped":
            out[key] = fill[key] if fill is not None else torch.zeros(shape)
            continue
        if not all(n in hf for n in names):
            continue
        ts = [hf[n] for n in names]
        if kind == "fuse":
            out[key] = torch.cat(ts, dim=0)
        elif kind.startswith("row"):
            i = int(kind[3:])
            out[key] = ts[0][i : i + 1].clone()
        elif kind == "class_row":
            pos = ts[0]
            out[key] = torch.cat([torch.zeros_like(pos[:, :1]), pos], dim=1)
        elif kind == "transpose":
            out[key] = ts[0].t().contiguous()
        else:
            out[key] = ts[0]
    return out


def restrict(keys: dict[str, Any], hf: dict[str, torch.Tensor]) -> dict[str, Any]:
    """The Meta keys an architecture with ``hf``'s tensors has: those whose sources exist,
    and Meta-only tensors of layers that exist (a rotary table per ViT block kept)."""
    out = {}
    for key, shape in keys.items():
        kind, names = sources(key)
        if kind != "dropped":
            if all(n in hf for n in names):
                out[key] = shape
            continue
        if ".blocks." in key:  # freqs_cis of a block the architecture has
            block = key.split(".blocks.")[1].split(".")[0]
            if f"detector_model.vision_encoder.backbone.layers.{block}.layer_norm1.weight" in hf:
                out[key] = shape
        else:
            out[key] = shape
    return out
