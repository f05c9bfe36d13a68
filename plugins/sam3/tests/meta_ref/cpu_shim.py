"""Test-only: lets Meta's ``sam3`` package (0.1.4) build and run on a CPU. Never shipped.

The package asks for CUDA in a few fixed places (``device="cuda"`` in tensor factories,
``.cuda()``, ``pin_memory()``); here every such request is answered with the CPU. Nothing
else changes: its modules and numerics run as released. Import and call :func:`install`
before importing ``sam3``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch.overrides import TorchFunctionMode


def _cpu(device: Any) -> Any:
    if isinstance(device, str) and device.startswith("cuda"):
        return "cpu"
    if isinstance(device, torch.device) and device.type == "cuda":
        return torch.device("cpu")
    return device


class CudaToCpu(TorchFunctionMode):
    """Rewrites ``device=cuda`` keyword arguments and ``Tensor.to("cuda")`` to the CPU."""

    def __torch_function__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        kwargs = dict(kwargs or {})
        if "device" in kwargs:
            kwargs["device"] = _cpu(kwargs["device"])
        if func is torch.Tensor.to:
            args = tuple(_cpu(a) for a in args)
        return func(*args, **kwargs)


def install() -> CudaToCpu:
    torch.Tensor.cuda = lambda self, *a, **k: self  # type: ignore[method-assign]
    torch.Tensor.pin_memory = lambda self, *a, **k: self  # type: ignore[method-assign]
    torch.nn.Module.cuda = lambda self, *a, **k: self  # type: ignore[method-assign]
    mode = CudaToCpu()
    mode.__enter__()
    return mode
