"""Building SAMEO's network and reading/writing SAMEO checkpoints.

SAMEO *is* EfficientSAM (from ``zoo_efficientsam``, reused, not copied) whose mask
decoder was fine-tuned for amodal masks, so a SAMEO checkpoint is "which base" plus a
decoder state dict, optionally with the (frozen) encoder side when the base is not a
published EfficientSAM checkpoint - e.g. a random base in tests, or a user's own
EfficientSAM fine-tune. A decoder without the encoder side needs its EfficientSAM base
file, which the variant declares as its optional ``base`` checkpoint (``ctx.path("base")``).

File format written here (safetensors, pickle-free): keys ``decoder.<mask_decoder key>``
and ``encoder.<image_encoder/prompt_encoder key>`` plus metadata ``format``, ``base``,
``image_size``. Also read: ``torch.save({"decoder": sd, "encoder": sd, "base": ...})``,
loaded with ``weights_only=True``. Inner key names are EfficientSAM's upstream names, so
a decoder fine-tuned with upstream code loads here too.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from zoo.errors import InputError, WeightsError, hint

from .config import BASES, DEFAULT_IMAGE_SIZE

if TYPE_CHECKING:
    from zoo_efficientsam.model import EfficientSam

FORMAT = "sameo-amodal/1"
#: ViT width of each base; lets us tell a checkpoint's base from its tensor shapes.
_BASE_WIDTH = {"vitt": 192, "vits": 384}
_WIDTH_KEY = "image_encoder.patch_embed.proj.weight"


def check_base(base: str) -> str:
    if base not in BASES:
        raise InputError(f"unknown SAMEO base {base!r}; use vitt (ViT-T) or vits (ViT-S)")
    return base


def check_image_size(image_size: int) -> int:
    size = int(image_size)
    if size < 64 or size % 16:
        raise InputError(
            f"image_size {image_size} must be a multiple of 16 and at least 64 (EfficientSAM "
            "uses 1024)"
        )
    return size


def build_network(base: str = "vitt", image_size: int = DEFAULT_IMAGE_SIZE) -> EfficientSam:
    """EfficientSAM ``base`` at random initialisation, its encoder fed ``image_size``^2.

    At 1024 (the published setting) this is exactly ``build_efficientsam(base)``. Smaller
    sizes assemble the same modules with a smaller input so CPU tests and experiments can
    run in seconds; the position table is resized on the fly by the encoder, so published
    weights still load (with lower quality than at 1024).
    """
    check_base(base)
    size = check_image_size(image_size)
    from zoo_efficientsam import build as esb

    return esb.build_efficientsam(base, image_size=size)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- state dicts


def split_state(model: nn.Module) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """``(encoder side, decoder)``: everything but ``mask_decoder.*``, and ``mask_decoder.*``
    with the prefix dropped (the decoder's own key names)."""
    enc: dict[str, torch.Tensor] = {}
    dec: dict[str, torch.Tensor] = {}
    for k, v in model.state_dict().items():
        if k.startswith("mask_decoder."):
            dec[k[len("mask_decoder.") :]] = v
        else:
            enc[k] = v
    return enc, dec


def base_of_encoder(encoder: Mapping[str, Any]) -> str | None:
    """``vitt``/``vits`` from the encoder's ViT width, ``None`` if it cannot be told."""
    w = encoder.get(_WIDTH_KEY)
    if w is None or not hasattr(w, "shape"):
        return None
    for base, width in _BASE_WIDTH.items():
        if int(w.shape[0]) == width:
            return base
    return None


@dataclass
class SameoCheckpoint:
    """A SAMEO checkpoint in memory: decoder, optional encoder side, metadata."""

    decoder: dict[str, torch.Tensor]
    encoder: dict[str, torch.Tensor] | None = None
    meta: dict[str, str] = field(default_factory=dict)

    @property
    def base(self) -> str | None:
        if self.encoder is not None:
            found = base_of_encoder(self.encoder)
            if found:
                return found
        return self.meta.get("base") or None

    @property
    def image_size(self) -> int | None:
        v = self.meta.get("image_size")
        return int(v) if v not in (None, "") else None


def save_checkpoint(
    path: str | Path,
    model: nn.Module,
    *,
    base: str,
    image_size: int,
    include_encoder: bool = True,
    extra: Mapping[str, Any] | None = None,
) -> Path:
    """Write a SAMEO checkpoint as safetensors (atomically)."""
    from safetensors.torch import save_file

    from zoo.io.atomic import atomic_write

    enc, dec = split_state(model)
    tensors = {f"decoder.{k}": v.detach().cpu().contiguous() for k, v in dec.items()}
    if include_encoder:
        tensors.update({f"encoder.{k}": v.detach().cpu().contiguous() for k, v in enc.items()})
    meta = {"format": FORMAT, "base": base, "image_size": str(int(image_size))}
    for k, v in (extra or {}).items():
        meta[str(k)] = v if isinstance(v, str) else json.dumps(v)
    path = Path(path)
    with atomic_write(path) as tmp:
        save_file(tensors, str(tmp), metadata=meta)
    return path


def read_checkpoint(path: str | Path) -> SameoCheckpoint:
    """Read a SAMEO checkpoint; refuse plain EfficientSAM files with a clear reason.

    A plain EfficientSAM checkpoint has the *modal* decoder: loading it would return
    visible-part masks labelled amodal, which is exactly the silent failure we must not
    allow.
    """
    from zoo.weights import safe_torch_load

    p = Path(path)
    meta: dict[str, str] = {}
    obj = safe_torch_load(p)
    if _is_safetensors(p):
        meta = _safetensors_meta(p)
    if not isinstance(obj, Mapping):
        raise WeightsError(f"{p} holds a {type(obj).__name__}, not a SAMEO checkpoint")
    decoder: dict[str, torch.Tensor] | None = None
    encoder: dict[str, torch.Tensor] | None = None
    if isinstance(obj.get("decoder"), Mapping):  # torch.save({"decoder": ..., ...})
        decoder = dict(obj["decoder"])
        if isinstance(obj.get("encoder"), Mapping):
            encoder = dict(obj["encoder"])
        for k in ("base", "image_size", "format"):
            if isinstance(obj.get(k), (str, int)):
                meta[k] = str(obj[k])
        if isinstance(obj.get("meta"), Mapping):
            meta.update({str(k): str(v) for k, v in obj["meta"].items()})
    elif any(str(k).startswith("decoder.") for k in obj):  # flat (safetensors) layout
        decoder = {k[len("decoder.") :]: v for k, v in obj.items() if k.startswith("decoder.")}
        enc = {k[len("encoder.") :]: v for k, v in obj.items() if k.startswith("encoder.")}
        encoder = enc or None
    else:
        model_entry = obj.get("model")
        inner: Mapping[Any, Any] = model_entry if isinstance(model_entry, Mapping) else obj
        if any(str(k).startswith(("mask_decoder.", "image_encoder.")) for k in inner):
            raise WeightsError(
                f"{p} is a plain EfficientSAM checkpoint (modal masks), not a SAMEO checkpoint; "
                "SAMEO needs a fine-tuned amodal decoder: train one with `zoo train "
                f"sameo-amodal --checkpoint {p.name} ...` or pass a SAMEO checkpoint"
            )
        raise WeightsError(
            f"{p} is not a SAMEO checkpoint (no 'decoder' entry); pass the file written by "
            "`zoo train sameo-amodal` or a {'decoder': state_dict} checkpoint"
        )
    bad = [
        k
        for k, v in [*decoder.items(), *(encoder or {}).items()]
        if not isinstance(v, torch.Tensor)
    ]
    if bad:
        raise WeightsError(f"{p}: entry {bad[0]!r} is not a tensor; save plain state dicts")
    return SameoCheckpoint(decoder=decoder, encoder=encoder, meta=meta)


def _is_safetensors(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            head = fh.read(9)
    except OSError:
        return False
    if path.suffix == ".safetensors":
        return True
    return len(head) >= 9 and head[8:9] == b"{"


def _safetensors_meta(path: Path) -> dict[str, str]:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as fh:
            return dict(fh.metadata() or {})
    except Exception:
        return {}


def load_into(
    model: nn.Module,
    ckpt: SameoCheckpoint,
    *,
    base: str,
    model_name: str,
    path: str | Path | None,
    base_file: Callable[[], Path | None],
) -> str:
    """Load ``ckpt`` strictly into ``model`` (EfficientSAM ``base``); returns the encoder's
    source (``"checkpoint"`` or the base file).

    ``base_file`` is asked only when the checkpoint lacks the encoder side, so a complete
    checkpoint never downloads the base (it is the variant's optional ``base`` file).
    A decoder fine-tuned on another base is refused even though the shapes match (both
    bases have a 256-wide decoder): its features would not fit and the masks would be junk.
    """
    from zoo.model import load_state_dict_strict
    from zoo.weights import load_state_dict

    found = ckpt.base
    if found is not None and found != base:
        raise WeightsError(
            f"checkpoint {path} was trained on the EfficientSAM {found} base but {model_name} "
            f"uses {base}; load it as sameo-amodal:{found}"
        )
    if ckpt.encoder is not None:
        encoder, source = ckpt.encoder, "checkpoint"
    else:
        base_path = base_file()
        if base_path is None:
            fix = hint(
                "run it as the trained variant it came from (`zoo run sameo-amodal:NAME`), "
                "whose base file is declared",
                f"pass checkpoint={{'decoder': {str(path)!r}, 'base': 'efficient_sam_{base}.pt'}}",
            )
            raise WeightsError(
                f"checkpoint {path} holds only SAMEO's decoder and {model_name} declares no "
                f"EfficientSAM {base} base file for the encoder; {fix}"
            )
        full = load_state_dict(base_path, key="model")
        found_base = base_of_encoder(full)
        if found_base is not None and found_base != base:
            raise WeightsError(
                f"base file {base_path} is EfficientSAM {found_base}, but {model_name} uses "
                f"{base}; give the efficient_sam_{base}.pt file"
            )
        encoder = {k: v for k, v in full.items() if not k.startswith("mask_decoder.")}
        source = str(base_path)
    state = {**encoder, **{f"mask_decoder.{k}": v for k, v in ckpt.decoder.items()}}
    load_state_dict_strict(model, state, model_name=model_name, path=path)
    return source


def load_efficientsam_into(
    model: nn.Module, state: Mapping[str, torch.Tensor], *, base: str, path: str | Path | None
) -> None:
    """Load a plain EfficientSAM state dict (the training starting point) strictly."""
    from zoo.model import load_state_dict_strict

    found = base_of_encoder(state)
    if found is not None and found != base:
        raise WeightsError(
            f"{path} is an EfficientSAM {found} checkpoint but training was asked for base "
            f"{base}; pass --base {found}"
        )
    load_state_dict_strict(model, dict(state), model_name=f"efficientsam:{base}", path=path)


def describe_checkpoint(path: str | Path) -> dict[str, Any]:
    """Small summary for reports: base, image size, whether the encoder is included."""
    ck = read_checkpoint(path)
    return {
        "base": ck.base,
        "image_size": ck.image_size,
        "has_encoder": ck.encoder is not None,
        "format": ck.meta.get("format"),
    }
