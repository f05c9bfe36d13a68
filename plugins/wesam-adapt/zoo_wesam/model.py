"""``wesam-adapt`` models: SAM 2.1 plus (optionally) a merged WeSAM adapter.

An adapted variant is *a SAM 2.1 model whose image-encoder qkv weights include the LoRA
update*: the adapter is merged at load time, so segmentation runs through
:class:`zoo_sam2.model.Sam2Model` unchanged and costs exactly what the base costs.
Loading checks that the adapter belongs to this base (size, then a fingerprint of the
base image encoder) because an adapter on the wrong weights gives confident nonsense.

Files come from the load context only: ``ctx.path("sam2")`` is the base checkpoint,
``ctx.path("adapter")`` an adapted variant's adapter. A base with no file (test mode, or a
variant trained on a random base) is SAM 2.1 at random init under a recorded seed, so the
exact base an adapter was trained on can always be rebuilt.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from zoo_sam2.build import build_sam2_model
from zoo_sam2.model import Sam2Model

from zoo.errors import InputError, WeightsError
from zoo.results import Provenance
from zoo.specs import Task

from .adapter import describe_base, read_adapter
from .lora import base_fingerprint, merge_adapter
from .store import ADAPTER_FILE_KEY, BASE_FILE, FAMILY, SIZES

if TYPE_CHECKING:
    from zoo.loading import LoadContext


def build_base(
    size: str,
    checkpoint: Path | None,
    *,
    image_size: int | None,
    base_seed: int | None,
    model_name: str,
) -> torch.nn.Module:
    """SAM 2.1 on CPU; a random base is built under ``base_seed`` so it can be rebuilt."""
    if checkpoint is None:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(base_seed or 0))
            return build_sam2_model(
                size, None, device="cpu", image_size=image_size, model_name=model_name
            )
    return build_sam2_model(
        size, checkpoint, device="cpu", image_size=image_size, model_name=model_name
    )


def _local_file(uri: str | None) -> Path | None:
    """The path of a ``file://`` or plain-path URI (``None`` for anything remote)."""
    if not uri:
        return None
    if uri.startswith("file://"):
        uri = uri[len("file://") :]
    return Path(uri) if "://" not in uri else None


def _adapter_file(ctx: LoadContext, adapter: str | Path | None) -> Path | None:
    """The adapter to merge: ``adapter=`` (``--adapter``) or the variant's ``adapter`` file.

    In test mode the core hands out no files; an adapted variant's adapter is a local file
    of its own folder (never a download), so it is still merged: ``--weights random``
    replaces the *base* weights, and the run keeps exercising the adapted model.
    """
    if adapter is not None:
        if ctx.has(ADAPTER_FILE_KEY):
            raise InputError(
                f"{ctx.name} already carries an adapter; give --adapter to a source model "
                f"such as {FAMILY}:tiny (adapters do not stack)"
            )
        return Path(adapter).expanduser()
    if not ctx.has(ADAPTER_FILE_KEY):
        return None
    if not ctx.random:
        return ctx.path(ADAPTER_FILE_KEY)
    spec = ctx.checkpoints.get(ADAPTER_FILE_KEY)
    return _local_file(spec.uri if spec is not None else None)


def _base_record(ctx: LoadContext, size: str, seed: int | None) -> dict[str, Any]:
    """Where this model's SAM 2.1 weights came from (what an adapter trained on it records)."""
    if seed is not None:
        return {"kind": "random", "seed": int(seed)}
    if BASE_FILE in ctx.overrides:
        return {"kind": "checkpoint", "path": str(ctx.overrides[BASE_FILE].resolve())}
    spec = ctx.checkpoints.get(BASE_FILE)
    if spec is not None and spec.same_as is None:
        path = _local_file(spec.uri)
        return {"kind": "checkpoint", "path": str(path.resolve() if path else spec.uri)}
    return {
        "kind": "registered",
        "uri": spec.uri if spec is not None else None,
        "variant": (spec.same_as if spec is not None else None) or f"sam2:{size}",
    }


class WesamModel(Sam2Model):
    """A promptable SAM 2.1 that can :meth:`adapt` itself to a new domain (WeSAM)."""

    tasks = (Task.ADAPT, Task.PROMPTABLE)

    def __init__(
        self,
        model: Any,
        *,
        size: str = "tiny",
        base_seed: int | None = None,
        base: dict[str, Any] | None = None,
        adapter_path: Path | None = None,
        adapter_meta: dict[str, Any] | None = None,
        fingerprint: str | None = None,
    ) -> None:
        super().__init__(model)
        self.size = size
        #: The seed of a random base (``None`` when the base weights came from a file).
        self.base_seed = base_seed
        #: The base record an adapter trained on this model stores (see ``_base_record``).
        self.base = base or (
            {"kind": "random", "seed": base_seed} if base_seed is not None else None
        )
        self.adapter_path = adapter_path
        self.adapter_meta = adapter_meta
        self._fingerprint_cache = fingerprint

    @classmethod
    def create(
        cls,
        ctx: LoadContext,
        *,
        size: str | None = None,
        image_size: int | None = None,
        adapter: str | Path | None = None,
        base_seed: int | None = None,
        **_: Any,
    ) -> WesamModel:
        """Build SAM 2.1 ``size`` from ``ctx.path("sam2")`` and merge the adapter, if any.

        ``base_seed``: the seed a random base is built under (a test-mode variant records
        it; ``zoo.load(..., weights="random", seed=N)`` uses ``N``; a random-base
        ``adapter=`` file supplies its own).
        """
        size = size or "tiny"
        if size not in SIZES:
            raise InputError(f"unknown SAM 2.1 size {size!r}; choose one of {', '.join(SIZES)}")
        if image_size is not None and (int(image_size) <= 0 or int(image_size) % 64):
            raise InputError(
                f"image_size must be a positive multiple of 64, got {image_size} "
                "(e.g. --image-size 256, 512 or 1024)"
            )
        adapter_file = _adapter_file(ctx, adapter)
        state = meta = None
        if adapter_file is not None:
            state, meta = read_adapter(adapter_file)
            if meta["size"] != size:
                raise WeightsError(
                    f"adapter {adapter_file} was trained on sam2:{meta['size']} but this base "
                    f"is sam2:{size}; load it onto {FAMILY}:{meta['size']}"
                )
            if image_size is None and meta.get("image_size"):
                image_size = int(meta["image_size"])
        trained_on = (meta or {}).get("base_weights") or {}
        base_path = ctx.path(BASE_FILE) if ctx.has(BASE_FILE) else None  # None: test mode
        seed: int | None = None
        if base_path is None:
            if base_seed is not None:
                seed = int(base_seed)
            elif trained_on.get("kind") == "random":
                seed = int(trained_on.get("seed", 0))
            else:
                seed = int(ctx.seed or 0)
        sam = build_base(
            size, base_path, image_size=image_size, base_seed=seed, model_name=ctx.name
        )
        fp = None
        if state is not None and meta is not None:
            fp = base_fingerprint(sam)
            # A random base can only match an adapter trained on a random base; an adapter
            # of real weights on a random base is test mode (labelled so), merged unchecked.
            checked = not ctx.random or trained_on.get("kind") == "random"
            if checked and fp != meta["base_fingerprint"]:
                given = (
                    f"a random-weight base (seed {seed})"
                    if base_path is None
                    else f"the checkpoint {base_path}"
                )
                raise WeightsError(
                    f"adapter {adapter_file} was trained on {describe_base(meta)}, but it is "
                    f"being loaded onto {given} with other weights (base fingerprint "
                    f"{fp[:12]} != {str(meta['base_fingerprint'])[:12]}); "
                    "use the base it was made for"
                )
            merge_adapter(sam, state, scale=float(meta["scale"]), source=str(adapter_file))
        return cls(
            sam.to(ctx.device),
            size=size,
            base_seed=seed,
            base=_base_record(ctx, size, seed),
            adapter_path=adapter_file,
            adapter_meta=meta,
            fingerprint=fp,
        )

    # ------------------------------------------------------------------ helpers
    def provenance(self, task: Task | str) -> Provenance:
        """The core's record plus the merged adapter when the context did not resolve it
        (``--adapter PATH`` on a source model, or an adapted variant in test mode)."""
        prov = super().provenance(task)
        if self.adapter_path is not None and ADAPTER_FILE_KEY not in prov.files:
            prov.files[ADAPTER_FILE_KEY] = str(self.adapter_path)
        return prov

    def reset_cache(self) -> None:
        """Forget the cached image embedding (after the weights changed)."""
        self._features = None
        self._fingerprint = None
        self._orig_hw = None

    @property
    def is_adapted(self) -> bool:
        return self.adapter_meta is not None

    # ------------------------------------------------------------------ adapt task
    def adapt(
        self,
        dataset: Any,
        prompt_kind: str | None = None,
        config: Any = None,
        *,
        progress: bool = True,
    ) -> Any:
        """Self-train LoRA adapters on ``dataset`` with weak ``prompt_kind`` labels (WeSAM).

        ``dataset``: a :class:`zoo.data.coco.CocoDataset`, or ``(annotations, images_dir)``,
        or ``{"annotations": ..., "images": ...}``. ``prompt_kind``: box (default), point or
        coarse. ``config``: a :class:`~zoo_wesam.config.WesamTrainConfig` or a dict of its
        fields, the ones ``zoo train`` takes (``name=`` saves the local variant
        ``wesam-adapt:<name>``); the fields that choose the model and the data (``base``,
        ``image_size``, ``images``...) belong to ``zoo train``: this model is already
        loaded. Afterwards this model *is* the adapted model (adapter merged). Returns an
        :class:`~zoo_wesam.train.AdaptResult`.
        """
        from .config import LOADING_FIELDS, WesamTrainConfig
        from .train import adapt

        cfg = WesamTrainConfig.parse(config)
        loading = [f for f in LOADING_FIELDS if f in cfg.model_fields_set]
        if loading:
            raise InputError(
                f"adapt() got config {loading[0]!r}, which chooses what `zoo train` loads; "
                "this model is already loaded (load it with the size and weights you want)"
            )
        return adapt(self, dataset, prompt_kind, cfg, progress=progress)
