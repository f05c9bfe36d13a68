"""Low-rank adapters on the fused ``qkv`` projection of SAM 2's Hiera blocks.

WeSAM trains rank-4 LoRA on the *query* and *value* projections of every image-encoder
attention block and freezes everything else. SAM 1's ViT and SAM 2's Hiera both compute
q, k and v with one fused ``Linear(dim, 3 * dim_out)``, so the adapter adds
``B_q A_q x`` to the first third of that output and ``B_v A_v x`` to the last third; the
key slice is untouched.

Design choices (the *why*):

* :class:`LoRAQKV` *is* an ``nn.Linear`` that keeps the original ``weight``/``bias``
  parameters under their original names, so a SAM 2 checkpoint still loads strictly into
  a model that carries adapters, and the adapter keys are simply ``<qkv path>.lora_*``.
* ``B`` starts at zero (``A`` Kaiming-uniform), so an injected model is *exactly* the
  source model until the first update, and "adapters disabled" is the frozen source model:
  the anchor of WeSAM needs no second copy of the network.
* For inference the update is merged into ``weight`` (:func:`merge_adapter`), which gives
  back a plain SAM 2 model: no extra matmuls, no overhead.
* ``scale = alpha / rank``; upstream WeSAM uses no scaling (``alpha = rank``), our default.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from zoo.errors import WeightsError

LORA_KEYS = ("lora_a_q", "lora_b_q", "lora_a_v", "lora_b_v")


class LoRAQKV(nn.Linear):
    """A fused qkv ``Linear`` plus rank-r updates of its q and v output slices."""

    def __init__(self, base: nn.Linear, rank: int = 4, alpha: float | None = None) -> None:
        nn.Module.__init__(self)
        if base.out_features % 3:
            raise ValueError(f"{base} is not a fused qkv projection (out_features % 3 != 0)")
        self.in_features = base.in_features
        self.out_features = base.out_features
        self.weight = base.weight
        self.bias = base.bias
        self.rank = int(rank)
        self.scale = float(alpha if alpha is not None else rank) / self.rank
        self.enabled = True
        d = self.out_features // 3
        dev, dt = base.weight.device, base.weight.dtype
        self.lora_a_q = nn.Parameter(torch.empty(self.rank, self.in_features, device=dev, dtype=dt))
        self.lora_b_q = nn.Parameter(torch.zeros(d, self.rank, device=dev, dtype=dt))
        self.lora_a_v = nn.Parameter(torch.empty(self.rank, self.in_features, device=dev, dtype=dt))
        self.lora_b_v = nn.Parameter(torch.zeros(d, self.rank, device=dev, dtype=dt))
        nn.init.kaiming_uniform_(self.lora_a_q, a=math.sqrt(5))
        nn.init.kaiming_uniform_(self.lora_a_v, a=math.sqrt(5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.linear(x, self.weight, self.bias)
        if not self.enabled:
            return out
        d = self.out_features // 3
        xa = x.to(self.lora_a_q.dtype)  # adapters stay fp32 under a bf16/fp16 base
        dq = (F.linear(F.linear(xa, self.lora_a_q), self.lora_b_q) * self.scale).to(out.dtype)
        dv = (F.linear(F.linear(xa, self.lora_a_v), self.lora_b_v) * self.scale).to(out.dtype)
        return torch.cat([out[..., :d] + dq, out[..., d : 2 * d], out[..., 2 * d :] + dv], dim=-1)

    def delta_weight(self) -> torch.Tensor:
        """The ``(3 d, in)`` update this adapter adds to ``weight`` (zero rows for k)."""
        return qkv_delta(self.lora_a_q, self.lora_b_q, self.lora_a_v, self.lora_b_v, self.scale)

    def extra_repr(self) -> str:
        base = super().extra_repr()
        return f"{base}, rank={self.rank}, scale={self.scale:g}, enabled={self.enabled}"


def qkv_delta(
    a_q: torch.Tensor, b_q: torch.Tensor, a_v: torch.Tensor, b_v: torch.Tensor, scale: float
) -> torch.Tensor:
    d = b_q.shape[0]
    zeros = torch.zeros(d, a_q.shape[1], dtype=a_q.dtype, device=a_q.device)
    return torch.cat([b_q @ a_q, zeros, b_v @ a_v], dim=0) * scale


def qkv_modules(sam: nn.Module) -> Iterator[tuple[str, nn.Linear]]:
    """``(name, Linear)`` of every image-encoder attention ``qkv`` projection, in order."""
    for name, mod in sam.named_modules():
        if (
            name.startswith("image_encoder.")
            and name.endswith(".attn.qkv")
            and isinstance(mod, nn.Linear)
        ):
            yield name, mod


def _set_child(root: nn.Module, dotted: str, child: nn.Module) -> None:
    parent_name, _, attr = dotted.rpartition(".")
    setattr(root.get_submodule(parent_name), attr, child)


def inject_lora(sam: nn.Module, rank: int = 4, alpha: float | None = None) -> list[str]:
    """Wrap every image-encoder qkv with :class:`LoRAQKV`; freeze all non-LoRA parameters.

    Returns the wrapped module names. Idempotent: already wrapped modules are kept.
    """
    names = []
    for name, mod in list(qkv_modules(sam)):
        if not isinstance(mod, LoRAQKV):
            _set_child(sam, name, LoRAQKV(mod, rank=rank, alpha=alpha))
        names.append(name)
    if not names:
        raise ValueError("no image-encoder attention qkv projection found; is this a SAM 2 model?")
    for pname, p in sam.named_parameters():
        p.requires_grad_(any(pname.endswith("." + k) for k in LORA_KEYS))
    return names


def lora_modules(sam: nn.Module) -> list[tuple[str, LoRAQKV]]:
    return [(n, m) for n, m in sam.named_modules() if isinstance(m, LoRAQKV)]


def lora_parameters(sam: nn.Module) -> list[nn.Parameter]:
    return [p for _, m in lora_modules(sam) for p in (getattr(m, k) for k in LORA_KEYS)]


def lora_state_dict(sam: nn.Module) -> dict[str, torch.Tensor]:
    """Only the adapter tensors, keyed ``<qkv module path>.lora_{a,b}_{q,v}`` (CPU, fp32)."""
    out = {}
    for name, mod in lora_modules(sam):
        for k in LORA_KEYS:
            out[f"{name}.{k}"] = getattr(mod, k).detach().to("cpu", torch.float32).contiguous()
    return out


def load_lora_state_dict(sam: nn.Module, state: Mapping[str, torch.Tensor], *, source: str) -> None:
    """Copy adapter tensors into injected modules; any mismatch is a :class:`WeightsError`."""
    mods = dict(lora_modules(sam))
    expected = {f"{n}.{k}" for n in mods for k in LORA_KEYS}
    _check_keys(expected, state, source)
    with torch.no_grad():
        for key, value in state.items():
            name, _, k = key.rpartition(".")
            target = getattr(mods[name], k)
            target.copy_(value.to(target.device, target.dtype))


def _check_keys(
    expected: set[str],
    state: Mapping[str, torch.Tensor],
    source: str,
    shapes: Mapping[str, tuple[int, ...]] | None = None,
) -> None:
    missing = sorted(expected - set(state))
    extra = sorted(set(state) - expected)
    bad_shape = [
        k
        for k in sorted(expected & set(state))
        if shapes is not None and tuple(state[k].shape) != shapes[k]
    ]
    if missing or extra or bad_shape:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing (e.g. {missing[0]})")
        if extra:
            parts.append(f"{len(extra)} unexpected (e.g. {extra[0]})")
        if bad_shape:
            k = bad_shape[0]
            assert shapes is not None
            parts.append(
                f"{len(bad_shape)} of the wrong shape (e.g. {k}: adapter "
                f"{tuple(state[k].shape)} vs model {shapes[k]})"
            )
        raise WeightsError(
            f"adapter {source} does not fit this SAM 2.1 model: {'; '.join(parts)}; it was "
            "trained for another base size - load it with the base it was made for"
        )


@torch.no_grad()
def merge_adapter(
    sam: nn.Module, state: Mapping[str, torch.Tensor], *, scale: float, source: str
) -> int:
    """Add an adapter's update into the plain qkv weights of ``sam`` (no modules injected).

    The result is an ordinary SAM 2 model: inference costs exactly what the base costs.
    Returns the number of merged projections. Raises :class:`WeightsError` when the
    adapter's keys or shapes do not fit this model (a different base size).
    """
    mods = dict(qkv_modules(sam))
    expected = {f"{n}.{k}" for n in mods for k in LORA_KEYS}
    _check_keys(expected, state, source)
    for name, mod in mods.items():
        a_q, b_q = state[f"{name}.lora_a_q"], state[f"{name}.lora_b_q"]
        a_v, b_v = state[f"{name}.lora_a_v"], state[f"{name}.lora_b_v"]
        d = mod.out_features // 3
        if (
            a_q.shape[1] != mod.in_features
            or a_v.shape[1] != mod.in_features
            or b_q.shape[0] != d
            or b_v.shape[0] != d
            or a_q.shape[0] != b_q.shape[1]
        ):
            raise WeightsError(
                f"adapter {source} does not fit this SAM 2.1 model: {name} is "
                f"{mod.in_features}->{mod.out_features} but the adapter has A {tuple(a_q.shape)}, "
                f"B {tuple(b_q.shape)}; it was trained for another base size"
            )
        delta = qkv_delta(a_q.float(), b_q.float(), a_v.float(), b_v.float(), scale)
        mod.weight.add_(delta.to(mod.weight.device, mod.weight.dtype))
    return len(mods)


@torch.no_grad()
def merge_injected(sam: nn.Module) -> int:
    """Fold every :class:`LoRAQKV` into a plain ``nn.Linear`` (in place); returns the count."""
    n = 0
    for name, mod in lora_modules(sam):
        lin = nn.Linear(
            mod.in_features,
            mod.out_features,
            bias=mod.bias is not None,
            device=mod.weight.device,
            dtype=mod.weight.dtype,
        )
        lin.weight.copy_(mod.weight + mod.delta_weight().to(mod.weight.dtype))
        if mod.bias is not None:
            lin.bias.copy_(mod.bias)
        lin.weight.requires_grad_(False)
        if lin.bias is not None:
            lin.bias.requires_grad_(False)
        _set_child(sam, name, lin)
        n += 1
    return n


@contextmanager
def lora_disabled(sam: nn.Module) -> Iterator[None]:
    """Run the frozen source model (WeSAM's anchor) through the same modules."""
    mods = [m for _, m in lora_modules(sam)]
    states = [m.enabled for m in mods]
    for m in mods:
        m.enabled = False
    try:
        yield
    finally:
        for m, s in zip(mods, states, strict=True):
            m.enabled = s


@contextmanager
def swapped_lora(sam: nn.Module, state: Mapping[str, torch.Tensor]) -> Iterator[None]:
    """Temporarily run with other adapter values (the EMA teacher), restoring them after."""
    mods = dict(lora_modules(sam))
    saved = {}
    with torch.no_grad():
        for key, value in state.items():
            name, _, k = key.rpartition(".")
            p = getattr(mods[name], k)
            saved[key] = p.detach().clone()
            p.copy_(value)
    try:
        yield
    finally:
        with torch.no_grad():
            for key, value in saved.items():
                name, _, k = key.rpartition(".")
                getattr(mods[name], k).copy_(value)


def base_fingerprint(sam: nn.Module) -> str:
    """A hash of the image encoder's own weights (adapters excluded, fp32 bytes).

    Stored with every adapter and checked on load: an adapter only means something on the
    exact weights it was trained on, and a silent mismatch would give plausible-looking
    but wrong masks. LoRA never changes these weights, so the hash taken before training
    still holds after it.
    """
    h = hashlib.blake2b(digest_size=16)
    encoder: Any = sam.image_encoder
    sd = encoder.state_dict()
    for key in sorted(sd):
        if any(key.endswith("." + k) for k in LORA_KEYS):
            continue
        t = sd[key].detach().to("cpu", torch.float32).contiguous()
        h.update(key.encode())
        h.update(str(tuple(t.shape)).encode())
        h.update(t.numpy().tobytes())
    return h.hexdigest()


def count_parameters(state: Mapping[str, Any]) -> int:
    return int(sum(int(v.numel()) for v in state.values()))
