"""Where and in what precision a model runs: devices, dtypes and backends.

Names are checked without torch (``dtype_name``, ``normalize_backend``), so options can be
validated before anything heavy loads; :func:`resolve_device` and :func:`resolve_dtype`
import torch when a model is actually built.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from zoo.errors import InputError, hint

if TYPE_CHECKING:
    import torch

__all__ = [
    "BACKENDS",
    "DTYPE_NAMES",
    "ONNXRUNTIME",
    "TORCH",
    "dtype_name",
    "normalize_backend",
    "resolve_device",
    "resolve_dtype",
]

TORCH = "torch"
ONNXRUNTIME = "onnxruntime"
BACKENDS = (TORCH, ONNXRUNTIME)

DTYPE_NAMES = {
    "float32": "float32",
    "fp32": "float32",
    "bfloat16": "bfloat16",
    "bf16": "bfloat16",
    "float16": "float16",
    "fp16": "float16",
    "half": "float16",
}


def resolve_device(device: str | None = "auto") -> str:
    """``auto`` -> cuda when present; asking for CUDA without it is a user error, not a crash."""
    import torch

    device = (device or "auto").lower()
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise InputError(
                f"--device {device} was requested but CUDA is not available "
                "(torch.cuda.is_available() is False); use --device cpu or auto"
            )
        return device
    if device == "mps":
        if not torch.backends.mps.is_available():
            raise InputError("--device mps was requested but MPS is not available; use cpu")
        return device
    if device != "cpu":
        raise InputError(f"unknown device {device!r}; use auto, cpu, cuda or cuda:N")
    return device


def dtype_name(dtype: str | None) -> str | None:
    """``"bf16"`` -> ``"bfloat16"``; ``None``/``auto`` -> ``None``; unknown: one-line error."""
    if dtype in (None, "", "auto"):
        return None
    name = DTYPE_NAMES.get(str(dtype).lower())
    if name is None:
        raise InputError(f"unknown --dtype {dtype!r}; use float32, bfloat16 or float16")
    return name


def resolve_dtype(dtype: str | None) -> torch.dtype | None:
    import torch

    name = dtype_name(dtype)
    return None if name is None else getattr(torch, name)


def normalize_backend(backend: str | None) -> str:
    """``None`` -> torch, ``ort`` -> onnxruntime; an unknown backend is a one-line error
    listing the known ones."""
    b = (backend or TORCH).lower().replace("_", "")
    if b == "ort":
        b = ONNXRUNTIME
    if b not in BACKENDS:
        raise InputError(
            f"unknown backend {backend!r}; use {' or '.join(BACKENDS)} "
            f"({hint('--backend', 'backend=')})"
        )
    return b
