"""The model base class, devices and dtypes, and strict state-dict loading.

Plugins subclass :class:`ZooModel` and implement ``create(ctx, **config)``; turning a name
into files and an object is :mod:`zoo.loading`'s job (``zoo.load``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from zoo.devices import DTYPE_NAMES, dtype_name, resolve_device, resolve_dtype
from zoo.errors import InputError, PluginError, WeightsError
from zoo.results import Provenance
from zoo.specs import FamilySpec, Task, VariantSpec

__all__ = [
    "DTYPE_NAMES",
    "ZooModel",
    "dtype_name",
    "load_state_dict_strict",
    "resolve_device",
    "resolve_dtype",
]

if TYPE_CHECKING:
    import torch

    from zoo.export.graph import Graph
    from zoo.loading import LoadContext


class ZooModel:
    """Base class of every model a plugin exposes.

    Subclasses implement :meth:`create` and the methods of their task interfaces
    (:mod:`zoo.tasks`). ``name``, ``weights`` and ``device`` are set by :func:`zoo.load`
    from the :class:`~zoo.loading.LoadContext`, so every result can say where it came from.
    """

    tasks: ClassVar[tuple[str, ...]] = ()
    #: The attributes ``set_image`` fills with the current image's embedding. Declaring them
    #: lets a caller that interleaves images (``zoo serve``, batch engines) keep several
    #: embeddings and switch between them without re-running the encoder, through
    #: :meth:`image_state` / :meth:`restore_image_state`; the plugin code stays unaware.
    image_state_attrs: ClassVar[tuple[str, ...]] = ()
    #: Formats ``zoo export`` writes for this family: ``("onnx",)`` once :meth:`graphs` is
    #: implemented. Read from the class, so an unsupported family is refused before loading.
    export_formats: ClassVar[tuple[str, ...]] = ()

    family: FamilySpec
    variant: VariantSpec | None
    weights: str
    device: str
    context: LoadContext | None = None
    #: ``--max-batch`` (``None``: the device's default, :mod:`zoo.decoder_chunks`); set by the
    #: loader
    max_batch: int | None = None
    #: what runs :meth:`run_graph`: ``None`` for torch eager, else an exported-graph runtime
    runtime: Any = None
    _graph_cache: dict[str, Graph] | None = None

    @classmethod
    def create(cls, ctx: LoadContext, **config: Any) -> ZooModel:
        """Build the architecture and load ``ctx.path()`` (``None``: keep the random init).

        ``config`` holds the variant's loader kwargs merged with the caller's.
        """
        raise NotImplementedError(f"{cls.__name__} must implement create(ctx, **config)")

    def _bind(self, ctx: LoadContext) -> None:
        self.context = ctx
        self.family = ctx.family
        self.variant = ctx.variant
        self.weights = ctx.weights_label
        self.device = ctx.device

    @property
    def name(self) -> str:
        return self.variant.name if self.variant else self.family.name

    @property
    def label(self) -> str:
        """What outputs credit: :attr:`name`, plus any architecture option that built another
        network than the variant's (``sam3:base (arch tiny)``)."""
        ctx = self.context
        return (ctx.label if ctx is not None and ctx.label else None) or self.name

    def provenance(self, task: str) -> Provenance:
        from zoo import __version__

        files = self.context.files() if self.context is not None else {}
        return Provenance(
            model=self.label,
            weights=self.weights,
            task=str(task),
            zoo_version=__version__,
            files=files,
            backend=self.backend,
        )

    def image_state(self) -> dict[str, Any] | None:
        """A snapshot of the current image's embedding (``None``: not declared, or no image).

        The snapshot holds references, not copies: ``set_image`` must *replace* these
        attributes for a new image (as every zoo model does), never write into them. It
        belongs to the device the model was on when it was taken.
        """
        if not self.image_state_attrs:
            return None
        state = {a: getattr(self, a, None) for a in self.image_state_attrs}
        return None if all(v is None for v in state.values()) else state

    def restore_image_state(self, state: dict[str, Any]) -> None:
        """Make a snapshot from :meth:`image_state` current again: no encoder pass."""
        unknown = set(state) - set(self.image_state_attrs)
        if unknown:
            raise InputError(
                f"image state of another model (unknown fields {sorted(unknown)}); restore "
                "only what this model's image_state() returned"
            )
        for attr, value in state.items():
            setattr(self, attr, value)

    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        """Run the model's forward passes in the ``--dtype`` it was loaded with.

        Weights stay float32; matrix work runs in bfloat16/float16 through
        ``torch.autocast`` on CPU and GPU alike, so prompts, features and outputs never
        disagree about their dtype. A no-op for float32 (the default).
        """
        import torch

        dt = self.context.dtype if self.context is not None else None
        if dt is None or dt == torch.float32:
            return contextlib.nullcontext()
        device_type = "cuda" if str(self.device).startswith("cuda") else "cpu"
        return torch.autocast(device_type=device_type, dtype=dt)

    def segment_everything(self, image: Any, **settings: Any) -> Any:
        """Masks for everything in ``image``, no prompt needed (promptable families).

        The default is the core grid procedure over :meth:`segment` (:mod:`zoo.everything`:
        point grid, batched prompts, predicted-IoU and stability filtering, NMS, minimum
        area); a family with its own generator overrides this. ``settings`` are the
        :class:`~zoo.everything.EverythingSettings` fields (``points_per_side=16``, ...).
        """
        from zoo.everything import grid_everything, resolve_settings

        if Task.PROMPTABLE not in self.tasks and not callable(getattr(self, "segment", None)):
            raise InputError(
                f"{self.name} is not promptable, so it cannot segment everything; pick a "
                "promptable model (zoo list --task promptable)"
            )
        return grid_everything(self, image, resolve_settings(self, **settings))

    # ------------------------------------------------------------------ batching
    @property
    def decoder_prompt_bytes(self) -> int | None:
        """The decoder's largest activation for one prompt (bytes), ``None`` if unknown.

        On CPU, chunks are sized from it (:mod:`zoo.decoder_chunks`); families with a SAM-style
        decoder return :func:`zoo.decoder_chunks.sam_decoder_prompt_bytes` of their embedding.
        """
        return None

    @property
    def decoder_batch(self) -> int:
        """Prompts per decoder call: ``max_batch`` if given, else the device's default."""
        from zoo.decoder_chunks import default_max_batch

        if self.max_batch is not None:
            return self.max_batch
        return default_max_batch(self.device, self.decoder_prompt_bytes)

    def decoder_chunks(self, n: int) -> Iterator[slice]:
        """Split ``n`` prompts into decoder calls of :attr:`decoder_batch`."""
        from zoo.decoder_chunks import chunks

        return chunks(n, self.decoder_batch)

    # ------------------------------------------------------------------ stages / export
    def graphs(self) -> list[Graph]:
        """The model's exportable stages (encoder, decoder) as tensor-only modules.

        Families that support ``zoo export`` / ``backend="onnxruntime"`` implement this and
        list ``"onnx"`` in :attr:`export_formats`; their own inference code calls the same
        modules through :meth:`run_graph`, so the torch and exported paths cannot drift.
        """
        raise PluginError(f"{self.name} declares no exportable graphs (ZooModel.graphs)")

    def export_info(self) -> dict[str, Any]:
        """What a deployer needs besides the graphs (pre-/post-processing), for the descriptor."""
        return {}

    def graph(self, name: str) -> Graph:
        """The stage ``name`` of :meth:`graphs` (built once per model)."""
        if self._graph_cache is None:
            self._graph_cache = {g.name: g for g in self.graphs()}
        try:
            return self._graph_cache[name]
        except KeyError:
            raise PluginError(
                f"{self.name} has no graph {name!r}; it has {', '.join(self._graph_cache)}"
            ) from None

    def run_graph(self, name: str, *inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Run stage ``name`` on ``inputs`` with this model's backend; outputs on its device.

        Torch eager runs the module under ``inference_mode`` and :meth:`autocast`; an
        exported runtime (``zoo.load(..., backend="onnxruntime")``) runs its graph instead.
        """
        if self.runtime is not None:
            return tuple(self.runtime.run(name, inputs, device=self.device))
        import torch

        with torch.inference_mode(), self.autocast():
            out = self.graph(name).module(*inputs)
        return tuple(out) if isinstance(out, (tuple, list)) else (out,)

    @property
    def backend(self) -> str:
        """``torch`` or the runtime running the exported graphs (``onnxruntime``)."""
        return "torch" if self.runtime is None else str(self.runtime.name)

    def to(self, device: str) -> ZooModel:
        """Move to another device; subclasses with several modules override ``modules()``."""
        device = resolve_device(device)
        for m in self.modules():
            m.to(device)
        self.device = device
        self._graph_cache = None  # stage modules may hold buffers of the old device
        return self

    def modules(self) -> list[torch.nn.Module]:
        """The torch modules that make up this model (for ``to`` and parameter counts)."""
        mod = getattr(self, "model", None)
        return [mod] if mod is not None else []

    def num_parameters(self) -> int:
        return sum(p.numel() for m in self.modules() for p in m.parameters())

    def __repr__(self) -> str:
        name = getattr(self, "variant", None) and self.name
        if not name:
            return f"<{type(self).__name__} (not loaded through zoo.load)>"
        params = self.num_parameters()
        return (
            f"<{type(self).__name__} {name} weights={self.weights} device={self.device} "
            f"params={params / 1e6:.1f}M>"
        )


def load_state_dict_strict(
    module: torch.nn.Module, state_dict: dict[str, Any], *, model_name: str, path: str | Path | None
) -> None:
    """Strict load with a message a user can act on when the checkpoint belongs elsewhere."""
    own = module.state_dict()
    missing = [k for k in own if k not in state_dict]
    unexpected = [k for k in state_dict if k not in own]
    shape = [
        k
        for k in own
        if k in state_dict and tuple(own[k].shape) != tuple(getattr(state_dict[k], "shape", ()))
    ]
    if missing or unexpected or shape:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing keys (e.g. {missing[0]})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected keys (e.g. {unexpected[0]})")
        if shape:
            k = shape[0]
            parts.append(
                f"{len(shape)} shape mismatches (e.g. {k}: checkpoint "
                f"{tuple(state_dict[k].shape)} vs model {tuple(own[k].shape)})"
            )
        src = f"checkpoint {path}" if path else "checkpoint"
        raise WeightsError(
            f"{src} does not fit {model_name}: {'; '.join(parts)}; it is probably from another "
            "family or size - pick the matching model name"
        )
    module.load_state_dict(state_dict, strict=True)
