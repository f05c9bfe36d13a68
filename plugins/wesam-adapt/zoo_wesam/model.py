"""``wesam-adapt`` models: SAM 2.1 plus (optionally) a merged WeSAM adapter.

An adapted variant is *a SAM 2.1 model whose image-encoder qkv weights include the LoRA
update*: the adapter is merged at load time, so segmentation runs through
:class:`zoo_sam2.model.Sam2Model` unchanged and costs exactly what the base costs.
Loading checks that the adapter belongs to this base (size, then a fingerprint of the
base image encoder) because an adapter on the wrong weights gives confident nonsense.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from zoo_sam2.build import build_sam2_model
from zoo_sam2.model import Sam2Model

from zoo.errors import InputError, WeightsError
from zoo.specs import FamilySpec, VariantSpec
from zoo.tasks import Task

from .adapter import describe_base, read_adapter
from .lora import base_fingerprint, merge_adapter
from .store import SIZES


def build_base(
    size: str,
    checkpoint: Path | None,
    *,
    image_size: int | None,
    base_seed: int | None,
    model_name: str,
) -> torch.nn.Module:
    """SAM 2.1 on CPU; a random base is built under ``base_seed`` so it can be rebuilt."""
    if checkpoint is None and base_seed is not None:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(base_seed))
            return build_sam2_model(
                size, None, device="cpu", image_size=image_size, model_name=model_name
            )
    return build_sam2_model(
        size, checkpoint, device="cpu", image_size=image_size, model_name=model_name
    )


class WesamModel(Sam2Model):
    """A promptable SAM 2.1 that can :meth:`adapt` itself to a new domain (WeSAM)."""

    tasks = (Task.ADAPT, Task.PROMPTABLE)

    def __init__(
        self,
        model: Any,
        *,
        size: str = "tiny",
        base_seed: int | None = None,
        adapter_path: Path | None = None,
        adapter_meta: dict[str, Any] | None = None,
        fingerprint: str | None = None,
    ) -> None:
        super().__init__(model)
        self.size = size
        self.base_seed = base_seed
        self.adapter_path = adapter_path
        self.adapter_meta = adapter_meta
        self._fingerprint_cache = fingerprint

    @classmethod
    def create(
        cls,
        *,
        family: FamilySpec,
        variant: VariantSpec | None,
        checkpoint: Path | None,
        device: str,
        dtype: Any = None,
        size: str | None = None,
        image_size: int | None = None,
        adapter: str | Path | None = None,
        base_seed: int | None = None,
        **_: Any,
    ) -> WesamModel:
        """Build SAM 2.1 ``size`` and merge ``adapter`` (a wesam ``adapter.safetensors``) into it.

        ``base_seed``: with ``weights="random"``, build the random base under this seed (a
        random-base adapter records its seed, so it is found automatically).
        """
        size = size or (variant.config.get("size") if variant else None) or "tiny"
        if size not in SIZES:
            raise InputError(f"unknown SAM 2.1 size {size!r}; choose one of {', '.join(SIZES)}")
        state = meta = None
        if adapter is not None:
            state, meta = read_adapter(adapter)
            if meta["size"] != size:
                raise WeightsError(
                    f"adapter {adapter} was trained on sam2:{meta['size']} but this base is "
                    f"sam2:{size}; load it with base size {meta['size']} "
                    f"(e.g. zoo.load('wesam-adapt:{meta['size']}', adapter=...))"
                )
            if image_size is None and meta.get("image_size"):
                image_size = int(meta["image_size"])
            base = meta.get("base_weights") or {}
            if checkpoint is None and base_seed is None and base.get("kind") == "random":
                base_seed = int(base.get("seed", 0))
        sam = build_base(
            size,
            checkpoint,
            image_size=image_size,
            base_seed=base_seed if checkpoint is None else None,
            model_name=variant.name if variant else f"sam2:{size}",
        )
        fp = None
        if state is not None and meta is not None:
            fp = base_fingerprint(sam)
            if fp != meta["base_fingerprint"]:
                given = (
                    "a random-weight base" if checkpoint is None else f"the checkpoint {checkpoint}"
                )
                raise WeightsError(
                    f"adapter {adapter} was trained on {describe_base(meta)}, but it is being "
                    f"loaded onto {given} with other weights (base fingerprint "
                    f"{fp[:12]} != {str(meta['base_fingerprint'])[:12]}); "
                    "use the base it was made for"
                )
            merge_adapter(sam, state, scale=float(meta["scale"]), source=str(adapter))
        sam = sam.to(device)
        if dtype is not None:
            sam = sam.to(dtype)
        return cls(
            sam,
            size=size,
            base_seed=base_seed if checkpoint is None else None,
            adapter_path=Path(adapter) if adapter is not None else None,
            adapter_meta=meta,
            fingerprint=fp,
        )

    # ------------------------------------------------------------------ helpers
    def reset_cache(self) -> None:
        """Forget the cached image embedding (after the weights changed)."""
        self._features = None
        self._fingerprint = None
        self._orig_hw = None

    @property
    def is_adapted(self) -> bool:
        return self.adapter_meta is not None

    # ------------------------------------------------------------------ adapt task
    def adapt(self, dataset: Any, prompt_kind: str = "box", config: Any = None) -> Any:
        """Self-train LoRA adapters on ``dataset`` with weak ``prompt_kind`` labels (WeSAM).

        ``dataset``: a :class:`zoo.data.coco.CocoDataset`, or ``(annotations, images_dir)``,
        or ``{"annotations": ..., "images": ...}``. ``config``: an :class:`AdaptConfig`
        or a dict of its fields (``name=`` saves and registers ``wesam-adapt:<name>``).
        Afterwards this model *is* the adapted model (adapter merged). Returns an
        :class:`~zoo_wesam.train.AdaptResult`.
        """
        from .train import adapt

        return adapt(self, dataset, prompt_kind, config)
