"""EfficientSAM for sam-zoo: a clean-room PyTorch re-implementation.

Nothing heavy is imported here: the ``zoo.plugins`` entry point imports
``zoo_efficientsam.plugin``, which first imports this package, and registration must
stay cheap (``zoo list`` should not pay for ``import torch``). The public names below are
resolved lazily on first access.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.2.0"

__all__ = ["EfficientSam", "build_efficientsam"]

if TYPE_CHECKING:
    from .build import build_efficientsam
    from .model import EfficientSam

_LAZY = {
    "EfficientSam": "model",
    "build_efficientsam": "build",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module = importlib.import_module(f".{_LAZY[name]}", __name__)
        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
