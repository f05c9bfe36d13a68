"""What a family declares to be exportable: its compute *stages* as plain modules.

A family exposes its encoder and decoder as :class:`Graph` objects (``model.graphs()``):
a ``torch.nn.Module`` with a fixed, tensor-only signature plus the names, shapes and dtypes
of its inputs and outputs. The same module serves three purposes, which is what keeps them
from drifting apart:

* the torch backend calls it (``model.run_graph("decoder", ...)``) on every ``segment``;
* :mod:`zoo.export.onnx` exports it (names and dynamic axes come from the declaration);
* the ONNX Runtime backend feeds the exported graph the very tensors the torch module
  would have received, so pre- and post-processing stay in one place (the model class).

Shapes use ints for fixed sizes and strings for dynamic axes (``"num_prompts"``); axes
with the same name are the same size.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

#: Size given to a dynamic axis in the example inputs used for tracing. Distinct from every
#: fixed size in the graphs (and not 0 or 1, which the tracer specialises).
_EXAMPLE_SIZES = {"num_prompts": 3, "num_points": 5}


@dataclass(frozen=True)
class TensorSpec:
    """One input or output of a graph: name, shape (int or axis name), dtype name."""

    name: str
    shape: tuple[int | str, ...]
    dtype: str = "float32"
    #: example values are drawn from ``[low, high)`` (ints) or ``low + U(0,1)*(high-low)``
    low: float = 0.0
    high: float = 1.0

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "shape": list(self.shape), "dtype": self.dtype}

    @property
    def dynamic_axes(self) -> dict[int, str]:
        return {i: d for i, d in enumerate(self.shape) if isinstance(d, str)}

    def example(self, generator: torch.Generator) -> torch.Tensor:
        """A tensor of this spec for tracing (dynamic axes get :data:`_EXAMPLE_SIZES`)."""
        import torch

        shape = [d if isinstance(d, int) else _EXAMPLE_SIZES.get(d, 2) for d in self.shape]
        if self.dtype.startswith("int"):
            return torch.randint(
                int(self.low), int(self.high), shape, generator=generator, dtype=torch.int64
            ).to(getattr(torch, self.dtype))
        t = torch.rand(shape, generator=generator)
        return (self.low + t * (self.high - self.low)).to(getattr(torch, self.dtype))


@dataclass
class Graph:
    """One exportable stage of a model (``encoder``, ``decoder``)."""

    name: str
    module: torch.nn.Module
    inputs: Sequence[TensorSpec]
    outputs: Sequence[TensorSpec]
    doc: str = ""
    #: sizes worth recording in the graph's metadata (``image_size``, ``embed_size``...)
    sizes: dict[str, int] = field(default_factory=dict)

    def examples(self, seed: int = 0) -> tuple[torch.Tensor, ...]:
        import torch

        g = torch.Generator().manual_seed(seed)
        return tuple(t.example(g) for t in self.inputs)

    def describe(self) -> dict[str, Any]:
        """The JSON-able part of the declaration (the export descriptor's graph entry)."""
        return {
            "inputs": [t.to_dict() for t in self.inputs],
            "outputs": [t.to_dict() for t in self.outputs],
            "doc": self.doc,
            "sizes": dict(self.sizes),
        }


def sam_prompt_io(image_size: int, embed_size: int) -> tuple[list[TensorSpec], list[TensorSpec]]:
    """The prompts a SAM-style prompt decoder takes after its image features, and what it
    gives: the one contract SAM 2 and SAM 3's tracker (and their ONNX Runtime backends)
    share. Points are in input pixels; label -1 pads, 2/3 are box corners; ``mask_input``
    is a low-res logit mask used where ``has_mask_input`` is 1; ``masks[:, 0]`` is the
    single-mask output, ``masks[:, 1:]`` the three multimask candidates."""
    n, p, low = "num_prompts", "num_points", 4 * embed_size
    inputs = [
        TensorSpec("point_coords", (n, p, 2), high=float(image_size)),
        TensorSpec("point_labels", (n, p), dtype="int64", low=-1, high=4),
        TensorSpec("mask_input", (n, 1, low, low), low=-20.0, high=20.0),
        TensorSpec("has_mask_input", (n,), high=1.0),
    ]
    outputs = [TensorSpec("masks", (n, 4, low, low)), TensorSpec("iou_predictions", (n, 4))]
    return inputs, outputs
