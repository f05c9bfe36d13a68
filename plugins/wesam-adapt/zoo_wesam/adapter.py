"""The adapter file: LoRA tensors in safetensors, their provenance in its header.

``adapter.safetensors`` holds only the ``lora_{a,b}_{q,v}`` matrices (fp32, a few MB) and a
string metadata block: format version, base size, rank and scale, the input size it was
trained at, and the fingerprint of the base image encoder it belongs to. Keeping the
metadata *inside* the tensor file means an adapter copied on its own (without
``variant.json``) still refuses the wrong base with a clear message.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from zoo.errors import WeightsError

FORMAT = "zoo-wesam-adapter/1"


def save_adapter(path: str | Path, state: dict[str, torch.Tensor], meta: dict[str, Any]) -> int:
    """Write ``state`` + ``meta`` atomically; returns the file size in bytes."""
    from safetensors.torch import save_file

    from zoo.io.atomic import atomic_write

    header = {"format": FORMAT}
    for k, v in meta.items():
        header[k] = json.dumps(v)
    with atomic_write(path) as tmp:
        save_file({k: v.contiguous() for k, v in state.items()}, str(tmp), metadata=header)
    return Path(path).stat().st_size


def read_adapter(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """``(tensors, metadata)``; a missing, foreign or damaged file is a :class:`WeightsError`."""
    from safetensors import safe_open

    p = Path(path)
    if not p.is_file():
        raise WeightsError(
            f"adapter {p} does not exist; re-run `zoo train wesam-adapt` or fix the path"
        )
    try:
        with safe_open(str(p), framework="pt") as f:
            raw = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (safe_open has no __iter__)
    except Exception as exc:
        raise WeightsError(
            f"adapter {p} is not a readable safetensors file ({exc}); re-run the adaptation"
        ) from exc
    if raw.get("format") != FORMAT:
        raise WeightsError(
            f"{p} is not a wesam-adapt adapter (format {raw.get('format')!r}); "
            "pass the adapter.safetensors written by `zoo train wesam-adapt`"
        )
    meta: dict[str, Any] = {}
    for k, v in raw.items():
        try:
            meta[k] = json.loads(v) if k != "format" else v
        except json.JSONDecodeError:
            meta[k] = v
    for key in ("size", "scale", "base_fingerprint"):
        if key not in meta:
            raise WeightsError(f"adapter {p} lacks '{key}' in its header; re-run the adaptation")
    return tensors, meta


def describe_base(meta: dict[str, Any]) -> str:
    """Human words for the base an adapter was trained on (for error messages and cards)."""
    base = meta.get("base_weights") or {}
    size = meta.get("size", "?")
    kind = base.get("kind")
    if kind == "random":
        return f"a random-weight sam2:{size} (test mode, seed {base.get('seed')})"
    if kind == "checkpoint":
        return f"sam2:{size} from the checkpoint {base.get('path')}"
    return f"sam2:{size} ({base.get('uri') or 'registered weights'})"
