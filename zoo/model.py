"""Loading models by name: ``zoo.load("sam2:tiny")``.

``load`` is the one place that turns a name into weights on disk and an object on a device;
plugins only implement :meth:`ZooModel.create`, receiving a local checkpoint path (or
``None`` for the explicit ``weights="random"`` test mode). Keeping weights resolution out of
plugins is what makes offline mode, ``--checkpoint`` and the cache behave the same for
every family.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from zoo.errors import InputError, WeightsError
from zoo.specs import FamilySpec, VariantSpec, import_string
from zoo.tasks import Provenance, Task

if TYPE_CHECKING:
    import torch

RANDOM = "random"
PRETRAINED = "pretrained"


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


def resolve_dtype(dtype: str | None) -> torch.dtype | None:
    import torch

    if dtype in (None, "", "auto"):
        return None
    table = {
        "float32": torch.float32,
        "fp32": torch.float32,
        "bfloat16": torch.bfloat16,
        "bf16": torch.bfloat16,
        "float16": torch.float16,
        "fp16": torch.float16,
    }
    if dtype not in table:
        raise InputError(f"unknown --dtype {dtype!r}; use float32, bfloat16 or float16")
    return table[dtype]


class ZooModel:
    """Base class of every model a plugin exposes.

    Subclasses implement :meth:`create` and the methods of their task interfaces
    (:mod:`zoo.tasks`). ``name``, ``weights`` and ``device`` are set by :func:`load` so
    every result can say where it came from.
    """

    tasks: ClassVar[tuple[Task, ...]] = ()

    family: FamilySpec
    variant: VariantSpec | None
    weights: str
    device: str

    @classmethod
    def create(
        cls,
        *,
        family: FamilySpec,
        variant: VariantSpec | None,
        checkpoint: Path | None,
        device: str,
        dtype: Any = None,
        **config: Any,
    ) -> ZooModel:
        """Build the architecture and load ``checkpoint`` (``None``: random init)."""
        raise NotImplementedError(f"{cls.__name__} must implement create()")

    def _bind(
        self, family: FamilySpec, variant: VariantSpec | None, weights: str, device: str
    ) -> None:
        self.family = family
        self.variant = variant
        self.weights = weights
        self.device = device

    @property
    def name(self) -> str:
        return self.variant.name if self.variant else self.family.name

    def provenance(self, task: Task | str) -> Provenance:
        from zoo import __version__

        return Provenance(
            model=self.name, weights=self.weights, task=Task(task), zoo_version=__version__
        )

    def to(self, device: str) -> ZooModel:
        """Move to another device; subclasses with several modules override ``modules()``."""
        device = resolve_device(device)
        for m in self.modules():
            m.to(device)
        self.device = device
        return self

    def modules(self) -> list[torch.nn.Module]:
        """The torch modules that make up this model (for ``to`` and parameter counts)."""
        mod = getattr(self, "model", None)
        return [mod] if mod is not None else []

    def num_parameters(self) -> int:
        return sum(p.numel() for m in self.modules() for p in m.parameters())


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


def resolve_weights(
    variant: VariantSpec | None, *, name: str, progress: bool = True, note: str | None = None
) -> Path:
    """The local path of a variant's registered checkpoint (downloading it if allowed)."""
    from zoo import weights as w

    if variant is None or variant.weights is None:
        why = f" ({note})" if note else ""
        raise WeightsError(f"{name} has no registered weights{why}; {w.no_weights_fix()}")
    spec = variant.weights
    return w.resolve(
        spec.uri, spec.sha256, spec.size, progress=progress, name=name, pattern=spec.pattern
    )


def load(
    name: str,
    *,
    device: str | None = "auto",
    weights: str | None = None,
    checkpoint: str | Path | None = None,
    dtype: str | None = None,
    progress: bool = True,
    **config: Any,
) -> Any:
    """Load a model by ``family[:tag]``.

    ``weights``: ``None``/``"pretrained"`` resolves the registered checkpoint (downloading
    on first use unless ``ZOO_OFFLINE=1``); ``"random"`` builds the architecture at random
    initialisation - the documented test mode, never the default; a path loads that file.
    ``checkpoint`` loads custom or fine-tuned weights into the family while keeping its card.
    """
    from zoo.registry import get_registry

    reg = get_registry()
    family, variant = reg.resolve_name(name)
    if weights is not None and weights not in (RANDOM, PRETRAINED) and checkpoint is None:
        checkpoint, weights = weights, None
    if weights == RANDOM and checkpoint is not None:
        raise InputError("choose either weights='random' or a checkpoint, not both")
    dev = resolve_device(device)
    label: str
    ckpt: Path | None
    if weights == RANDOM:
        ckpt, label = None, RANDOM
    elif not family.requires_weights and checkpoint is None:
        ckpt, label = None, "none (this family has no learned weights)"
    elif checkpoint is not None:
        ckpt = Path(os.path.expanduser(str(checkpoint)))
        if not ckpt.exists():
            raise InputError(f"checkpoint {ckpt} does not exist; check the --checkpoint path")
        label = str(ckpt)
    else:
        ckpt = resolve_weights(
            variant,
            name=variant.name if variant else family.name,
            progress=progress,
            note=family.weights_note,
        )
        label = variant.weights.uri if variant and variant.weights else str(ckpt)
    cls = import_string(family.loader)
    merged = {**(variant.config if variant else {}), **config}
    model = cls.create(
        family=family,
        variant=variant,
        checkpoint=ckpt,
        device=dev,
        dtype=resolve_dtype(dtype),
        **merged,
    )
    model._bind(family, variant, label, dev)
    return model
