"""Recognising SAM 2.1 checkpoints, so a wrong file fails with a sentence, not a key dump.

OpSeg's published checkpoint is a plain SAM 2.1 base-plus state dict (``{"model": sd}``
with SAM 2's own key names: ISAT loads it simply by renaming it to
``sam2.1_hiera_base_plus.pt``). The usual ways to get it wrong are a checkpoint of another
size (tiny/small/large), a SAM 2.0 checkpoint (without 2.1's extra keys), or a file of
another model entirely (SAM 1, a detector). :func:`describe_state_dict` recognises these
from a handful of keys so the error can say which one it is.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from zoo.errors import WeightsError

#: (Hiera embed dim, number of blocks) -> SAM 2.1 size
HIERA_SIZES: dict[tuple[int, int], str] = {
    (96, 12): "tiny",
    (96, 16): "small",
    (112, 24): "base-plus",
    (144, 48): "large",
}
#: keys that SAM 2.1 has and SAM 2.0 does not
SAM21_ONLY_KEYS = ("no_obj_embed_spatial", "obj_ptr_tpos_proj.weight")


def describe_state_dict(sd: Mapping[str, Any]) -> tuple[str, str | None]:
    """``(kind, size)``: kind is ``"sam2.1"``, ``"sam2.0"``, ``"sam1"`` or ``"unknown"``."""
    patch = sd.get("image_encoder.trunk.patch_embed.proj.weight")
    if patch is None:
        if (
            any(k.startswith("image_encoder.blocks.") for k in sd)
            or "mask_decoder.iou_token.weight" in sd
        ):
            return "sam1", None
        return "unknown", None
    dim = int(patch.shape[0])
    blocks = {k.split(".")[3] for k in sd if k.startswith("image_encoder.trunk.blocks.")}
    size = HIERA_SIZES.get((dim, len(blocks)))
    kind = "sam2.1" if all(k in sd for k in SAM21_ONLY_KEYS) else "sam2.0"
    return kind, size


def check_sam21(
    sd: Mapping[str, Any], size: str, *, path: str | Path | None, model_name: str
) -> None:
    """Raise a one-line :class:`WeightsError` unless ``sd`` looks like SAM 2.1 ``size``.

    The strict key-by-key load that follows catches anything subtler; this check exists to
    name the common mistakes.
    """
    kind, found = describe_state_dict(sd)
    src = f"checkpoint {path}" if path else "checkpoint"
    if kind == "sam1":
        raise WeightsError(
            f"{src} is a SAM (v1) checkpoint, not SAM 2.1; {model_name} needs a SAM 2.1 "
            f"{size} state dict"
        )
    if kind == "unknown":
        raise WeightsError(
            f"{src} is not a SAM 2 checkpoint (no image_encoder.trunk keys); {model_name} needs "
            f"a SAM 2.1 {size} state dict"
        )
    label = "SAM 2.1" if kind == "sam2.1" else "SAM 2.0"
    if found is not None and found != size:
        raise WeightsError(
            f"{src} is a {label} {found} checkpoint but {model_name} is SAM 2.1 {size}; use a "
            f"variant of that size (zoo train --base {found} makes one) or the matching file"
        )
    if kind == "sam2.0":
        raise WeightsError(
            f"{src} is a SAM 2.0 checkpoint (it lacks {SAM21_ONLY_KEYS[0]}); {model_name} needs "
            "SAM 2.1 weights (sam2.1_hiera_*.pt)"
        )


def read_sam21_checkpoint(path: str | Path, size: str, *, model_name: str) -> dict[str, Any]:
    """Read (pickle-free) and check a SAM 2.1 checkpoint before any model is built.

    Accepts ``{"model": sd}`` ``.pt`` files (the published layout), bare state dicts and
    safetensors (what ``zoo train`` writes). Checking first means a wrong file fails in
    the time it takes to read it, not after building an 80M-parameter model.
    """
    from zoo.weights import load_state_dict

    sd = load_state_dict(Path(path), key="model")
    check_sam21(sd, size, path=path, model_name=model_name)
    return sd
