"""WeSAM self-training: anchor, teacher and student views of one LoRA-adapted SAM 2.1.

One step, for a batch of target-domain images with weak labels:

1. each image gets a *weak* view (random flips; its prompts are flipped with it) and a
   *strong* view of that weak view (photometric augmentation, same geometry);
2. **anchor** = the frozen source model on the weak view: the same network with the
   adapters switched off (LoRA's B starts at zero and only adapters train, so this *is*
   the source model; no second copy is kept in memory), no gradient;
3. **teacher** = the adapted model on the weak view; its ``logits > 0`` are the pseudo
   labels. Optionally (``ema_teacher``) an exponential moving average of the adapters
   instead, run without gradient;
4. **student** = the adapted model on the strong view;
5. loss (:mod:`zoo_wesam.losses`): student vs pseudo labels (20 focal + dice + IoU-head
   MSE), both views vs the anchor mask (0.5 + 0.5 dice), and an instance-level InfoNCE
   between teacher and anchor image embeddings; Adam on the adapters only.

:func:`adapt` wraps this into the user-facing run: data checks, a held-out split,
before/after mIoU (WeSAM's validation protocol, :mod:`zoo_wesam.validate`), a progress bar,
resumable checkpoints, and at the end a merged adapter published as the local variant
``wesam-adapt:<name>`` with a generated card. :func:`train` is ``zoo train wesam-adapt``: it
checks the command's data, name and ``--out``, loads the source model and calls
:func:`adapt`. Both read one typed config, :class:`~zoo_wesam.config.WesamTrainConfig`.

The generic parts come from :mod:`zoo.training` (loss terms, the warm-up + step-decay
schedule as a pure function of the step, resumable state with RNG capture, Ctrl-C
checkpoints), the local-variant store (:mod:`zoo.registry.local`) and :mod:`zoo.progress`;
what is WeSAM's own - the three views, the loss formula, the LoRA bookkeeping - stays here.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict

from zoo.data.coco import CocoDataset, CocoImage
from zoo.errors import InputError, hint
from zoo.registry.local import TRAIN_DIR, VARIANT_FILE, write_variant
from zoo.specs import VariantSpec
from zoo.training.checkpoint import (
    capture_rng,
    checkpoint_on_interrupt,
    load_state,
    restore_rng,
    save_state,
)

from .augment import strong_augment, weak_augment
from .config import LOADING_FIELDS, WesamTrainConfig
from .lora import (
    base_fingerprint,
    inject_lora,
    load_lora_state_dict,
    lora_disabled,
    lora_modules,
    lora_parameters,
    lora_state_dict,
    merge_adapter,
    swapped_lora,
)
from .losses import wesam_losses
from .prompts import check_kind, make_prompts, needs_masks
from .store import ADAPTER_FILE, FAMILY, SIZES, adapter_dir, check_name, parse_base, variant_spec

CHECKPOINT_FILE = "checkpoint.pt"
#: Layout of the resumable state (a run saved by another layout is not resumed).
STATE_FORMAT = "zoo-wesam-train/2"
#: The loss terms the progress bar shows, in this order, under short labels (80 columns).
BAR_TERMS = {
    "loss": "total",
    "focal": "focal",
    "dice": "dice",
    "iou": "iou",
    "anchor": "anchor",
    "nce": "contrastive",
}


# --------------------------------------------------------------------------- result


class AdaptResult(BaseModel):
    """What a run produced (also the JSON report of ``zoo train wesam-adapt``)."""

    model_config = ConfigDict(protected_namespaces=())

    variant: str | None
    path: str | None
    base: str
    prompt: str
    steps: int
    resumed_from: int = 0
    seconds: float
    steps_per_second: float
    adapter_bytes: int | None = None
    adapter_parameters: int
    final_losses: dict[str, float]
    miou_before: float | None = None
    miou_after: float | None = None
    f1_before: float | None = None
    f1_after: float | None = None
    eval_on: str | None = None
    eval_images: int = 0
    eval_instances: int = 0
    #: how mIoU/F1 were measured (:mod:`zoo_wesam.validate`)
    eval_protocol: str | None = None


# --------------------------------------------------------------------------- data


@dataclass
class Sample:
    """One image ready for a step: two views and SAM prompts in input-image pixels."""

    weak: np.ndarray
    strong: np.ndarray
    coords: np.ndarray  # N x K x 2
    labels: np.ndarray  # N x K
    hw: tuple[int, int]
    image_id: int


def as_dataset(dataset: Any, kind: str) -> CocoDataset:
    """Accept a CocoDataset, ``(annotations, images)`` or a dict; check masks for the kind."""
    reason = (
        f"--prompt {kind} samples its prompts from instance masks; the annotations "
        "must have polygons or RLE (boxes-only annotations work with --prompt box)"
    )
    need = needs_masks(kind)
    if isinstance(dataset, CocoDataset):
        ds = dataset
        if need and not ds.has_masks:
            bad = next(i for im in ds for i in im.instances if not i.has_mask)
            raise InputError(
                f"annotation {bad.id} (image {bad.image_id}) has no segmentation mask; {reason}"
            )
    elif isinstance(dataset, dict):
        ds = CocoDataset(
            dataset["annotations"],
            dataset["images"],
            require_masks=reason if need else False,
            drop_empty=True,
        )
    elif isinstance(dataset, (tuple, list)) and len(dataset) == 2:
        ds = CocoDataset(
            dataset[0], dataset[1], require_masks=reason if need else False, drop_empty=True
        )
    else:
        raise InputError(
            "dataset must be a CocoDataset, (annotations, images) or "
            "{'annotations': ..., 'images': ...}"
        )
    ds = ds.subset([im.id for im in ds if im.instances])
    if len(ds) == 0:
        raise InputError(
            f"{ds.annotations_path} has no image with an annotated instance; nothing to adapt on"
        )
    return ds


def split(ds: CocoDataset, holdout: int) -> tuple[CocoDataset, CocoDataset, str]:
    """Upstream's 6:1 split (every ``holdout``-th image held out); tiny sets use all images."""
    if holdout < 2 or len(ds) < holdout:
        return ds, ds, "training images"
    ids = [im.id for im in ds]
    val = [i for k, i in enumerate(ids) if k % holdout == holdout - 1]
    train = [i for k, i in enumerate(ids) if k % holdout != holdout - 1]
    return ds.subset(train), ds.subset(val), "held-out images"


def prepare_sample(
    item: CocoImage, kind: str, cfg: WesamTrainConfig, rng: np.random.Generator
) -> Sample | None:
    """Weak labels -> prompts -> weak and strong views (``None`` if nothing is promptable)."""
    img = item.load()
    h, w = img.shape[:2]
    order = rng.permutation(len(item.instances))[: cfg.max_instances]
    order.sort()
    boxes = item.boxes()[order]
    masks = np.stack([item.instances[i].mask(h, w) for i in order]) if needs_masks(kind) else None
    prompts, _ = make_prompts(
        kind,
        h,
        w,
        rng,
        boxes=boxes,
        masks=masks,
        num_points=cfg.num_points,
        tolerance=cfg.coarse_tolerance,
    )
    if len(prompts) == 0:
        return None
    weak, h_flip, v_flip = weak_augment(img, rng)
    coords, labels = prompts.flipped(h_flip, v_flip).sam_inputs()
    return Sample(
        weak=weak,
        strong=strong_augment(weak, rng),
        coords=coords,
        labels=labels,
        hw=(h, w),
        image_id=item.id,
    )


# --------------------------------------------------------------------------- forward


class SamForward:
    """The differentiable image -> embedding -> masks path of a SAM 2 model (batched images)."""

    def __init__(self, sam: torch.nn.Module) -> None:
        from sam2.utils.transforms import SAM2Transforms

        self.sam: Any = sam
        self.size: int = getattr(sam, "image_size")  # noqa: B009 (an int attribute of SAM2Base)
        with warnings.catch_warnings():  # sam2 scripts its transforms; torch deprecates that
            warnings.filterwarnings("ignore", ".*torch.jit.script.*", FutureWarning)
            self.tf = SAM2Transforms(resolution=self.size, mask_threshold=0.0)

    @property
    def device(self) -> torch.device:
        return next(self.sam.parameters()).device

    def images(self, arrays: Sequence[np.ndarray]) -> torch.Tensor:
        dtype = self.sam.sam_mask_decoder.iou_token.weight.dtype  # the base's, not LoRA's
        return torch.stack([self.tf(a) for a in arrays]).to(self.device, dtype=dtype)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """``B x 3 x S x S`` -> (image embedding ``B x C x S/16 x S/16``, high-res features)."""
        sam = self.sam
        out = sam.forward_image(x)
        _, feats, _, _ = sam._prepare_backbone_features(out)
        if sam.directly_add_no_mem_embed:
            feats[-1] = feats[-1] + sam.no_mem_embed
        s, b = self.size, x.shape[0]
        sizes = [(s // 4, s // 4), (s // 8, s // 8), (s // 16, s // 16)]
        maps = [f.permute(1, 2, 0).reshape(b, -1, *hw) for f, hw in zip(feats, sizes, strict=True)]
        return maps[-1], maps[:-1]

    def decode(
        self, embed: torch.Tensor, high: list[torch.Tensor], i: int, sample: Sample
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Single-mask logits (``N x S/4 x S/4``) and predicted IoU (``N``) for image ``i``."""
        sam = self.sam
        h, w = sample.hw
        scale = torch.tensor(
            [self.size / w, self.size / h], dtype=torch.float32, device=self.device
        )
        coords = torch.as_tensor(sample.coords, dtype=torch.float32, device=self.device) * scale
        labels = torch.as_tensor(sample.labels, dtype=torch.int32, device=self.device)
        sparse, dense = sam.sam_prompt_encoder(points=(coords, labels), boxes=None, masks=None)
        low, iou, _, _ = sam.sam_mask_decoder(
            image_embeddings=embed[i : i + 1],
            image_pe=sam.sam_prompt_encoder.get_dense_pe(),
            sparse_prompt_embeddings=sparse.to(embed.dtype),
            dense_prompt_embeddings=dense.to(embed.dtype),
            multimask_output=False,
            repeat_image=True,
            high_res_features=[f[i : i + 1] for f in high],
        )
        return low[:, 0].float(), iou[:, 0].float()

    def upsample(self, low: torch.Tensor) -> torch.Tensor:
        """Low-res logits -> input resolution (where upstream computes its mask losses)."""
        return F.interpolate(
            low[:, None], size=(self.size, self.size), mode="bilinear", align_corners=False
        )[:, 0]


# --------------------------------------------------------------------------- trainer


class WesamTrainer:
    """Owns the adapters, optimiser and schedule of one run; one :meth:`step` per batch."""

    def __init__(
        self, model: Any, kind: str, cfg: WesamTrainConfig, train_set: CocoDataset | None = None
    ) -> None:
        self.model = model
        self.sam = model.model
        self.kind = check_kind(kind)
        self.cfg = cfg
        self.train_set = train_set
        self.sam.eval()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg.seed)
            inject_lora(self.sam, rank=cfg.rank, alpha=cfg.alpha)
        dev = next(self.sam.parameters()).device
        for _, m in lora_modules(self.sam):
            for p in (m.lora_a_q, m.lora_b_q, m.lora_a_v, m.lora_b_v):
                p.data = p.data.to(dev, torch.float32)
        self.scale = next(m for _, m in lora_modules(self.sam)).scale
        self.params = lora_parameters(self.sam)
        self.optimizer = torch.optim.Adam(self.params, lr=cfg.lr, weight_decay=cfg.weight_decay)
        self.ema = (
            {k: v.to(dev).clone() for k, v in lora_state_dict(self.sam).items()}
            if cfg.ema_teacher
            else None
        )
        self.fwd = SamForward(self.sam)
        self.weights = cfg.loss_weights()
        self.rng = np.random.default_rng(cfg.seed)
        self.step_count = 0
        self.history: list[dict[str, float]] = []

    # ------------------------------------------------------------------ data
    def sample_batch(self) -> list[Sample]:
        """``batch_size`` prepared images drawn at random from the training set."""
        assert self.train_set is not None
        out: list[Sample] = []
        tries = 0
        while len(out) < self.cfg.batch_size:
            item = self.train_set[int(self.rng.integers(len(self.train_set)))]
            s = prepare_sample(item, self.kind, self.cfg, self.rng)
            tries += 1
            if s is not None:
                out.append(s)
            elif tries > 50 * self.cfg.batch_size:
                raise InputError(
                    f"no promptable instance found for --prompt {self.kind} "
                    "(empty masks or zero-area boxes?)"
                )
        return out

    # ------------------------------------------------------------------ losses
    def losses(self, batch: Sequence[Sample]) -> dict[str, torch.Tensor]:
        """Mean of :func:`wesam_losses` over the batch (with autograd on the adapters)."""
        fwd = self.fwd
        weak = fwd.images([s.weak for s in batch])
        strong = fwd.images([s.strong for s in batch])
        with torch.no_grad(), lora_disabled(self.sam):
            a_emb, a_high = fwd.encode(weak)
            anchor = [fwd.decode(a_emb, a_high, i, s) for i, s in enumerate(batch)]
        if self.ema is not None:
            with torch.no_grad(), swapped_lora(self.sam, self.ema):
                t_emb, t_high = fwd.encode(weak)
                teacher = [fwd.decode(t_emb, t_high, i, s) for i, s in enumerate(batch)]
        else:
            t_emb, t_high = fwd.encode(weak)
            teacher = [fwd.decode(t_emb, t_high, i, s) for i, s in enumerate(batch)]
        s_emb, s_high = fwd.encode(strong)
        student = [fwd.decode(s_emb, s_high, i, s) for i, s in enumerate(batch)]
        totals: dict[str, torch.Tensor] = {}
        for i in range(len(batch)):
            (s_low, s_iou), (t_low, _), (a_low, _) = student[i], teacher[i], anchor[i]
            # With an EMA teacher (no gradient), the embedding term pulls the student instead.
            c_emb, c_low = (s_emb[i], s_low) if self.ema is not None else (t_emb[i], t_low)
            terms = wesam_losses(
                student_logits=fwd.upsample(s_low),
                student_iou=s_iou,
                teacher_logits=fwd.upsample(t_low),
                anchor_logits=fwd.upsample(a_low),
                teacher_embed=c_emb.float(),
                anchor_embed=a_emb[i].float(),
                teacher_lowres=c_low,
                anchor_lowres=a_low,
                weights=self.weights,
            )
            for k, v in terms.items():
                totals[k] = totals.get(k, 0.0) + v / len(batch)  # type: ignore[operator]
        return totals

    def step(self, batch: Sequence[Sample] | None = None) -> dict[str, float]:
        """One optimisation step; returns the loss terms and the step's learning rate."""
        batch = batch if batch is not None else self.sample_batch()
        lr = self.cfg.lr * self.cfg.lr_factor(self.step_count)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        terms = self.losses(batch)
        self.optimizer.zero_grad(set_to_none=True)
        terms["total"].backward()
        self.optimizer.step()
        if self.ema is not None:
            r = self.cfg.ema_rate
            with torch.no_grad():
                for k, v in lora_state_dict(self.sam).items():
                    self.ema[k].mul_(r).add_(v.to(self.ema[k].device), alpha=1 - r)
        self.step_count += 1
        out = {k: float(v.detach()) for k, v in terms.items()}
        out["lr"] = float(lr)
        self.history.append(out)
        return out

    # ------------------------------------------------------------------ checkpoints
    def checkpoint(self, signature: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
        """The resumable state: adapters, EMA, optimizer, every RNG, step and history.

        The learning rate is a function of the step, so no scheduler state is kept.
        Strings (JSON) and tensors only: :func:`zoo.training.checkpoint.load_state` reads it
        back without unpickling code.
        """
        return {
            "format": STATE_FORMAT,
            "lora": lora_state_dict(self.sam),
            "ema": {k: v.cpu() for k, v in (self.ema or {}).items()},
            "optimizer": self.optimizer.state_dict(),
            "rng": capture_rng(self.rng),
            "step": self.step_count,
            "signature": json.dumps(signature, sort_keys=True),
            "history": json.dumps(self.history[-1000:]),
            "extra": json.dumps(extra),
        }

    def restore(self, ckpt: dict[str, Any]) -> None:
        """Continue bit-exactly from a :meth:`checkpoint` state."""
        load_lora_state_dict(self.sam, ckpt["lora"], source="the run's checkpoint")
        if self.ema is not None and ckpt.get("ema"):
            for k, v in ckpt["ema"].items():
                self.ema[k].copy_(v)
        self.optimizer.load_state_dict(ckpt["optimizer"])
        restore_rng(ckpt["rng"], self.rng)
        self.step_count = int(ckpt["step"])
        self.history = json.loads(ckpt["history"])

    # ------------------------------------------------------------------ finish
    def finish(self) -> dict[str, torch.Tensor]:
        """Remove the adapter modules and merge their update into plain qkv weights.

        Uses exactly the code path of loading a saved adapter (:func:`merge_adapter` on the
        CPU fp32 tensors that get saved), so the in-memory adapted model and a reloaded one
        are bit-for-bit identical. Returns the adapter tensors.
        """
        state = lora_state_dict(self.sam)
        for name, mod in lora_modules(self.sam):
            lin = torch.nn.Linear(
                mod.in_features, mod.out_features, bias=mod.bias is not None, device="meta"
            )
            lin.weight, lin.bias = mod.weight, mod.bias
            parent, _, attr = name.rpartition(".")
            setattr(self.sam.get_submodule(parent), attr, lin)
        merge_adapter(self.sam, state, scale=self.scale, source="the trained adapter")
        for p in self.sam.parameters():
            p.requires_grad_(False)
        # the model is now adapted (adapt() replaces this with the full header)
        self.model.adapter_meta = {
            "size": self.model.size,
            "rank": self.cfg.rank,
            "scale": self.scale,
            "in_memory": True,
        }
        self.model.reset_cache()
        return state


# --------------------------------------------------------------------------- evaluation


def evaluate_model(
    model: Any,
    dataset: CocoDataset,
    kind: str,
    *,
    seed: int = 0,
    max_images: int | None = None,
    num_points: int = 5,
    tolerance: float = 0.05,
    progress: Any = None,
) -> dict[str, Any]:
    """WeSAM's validation numbers (:mod:`zoo_wesam.validate`) of ``model.segment`` with
    weak-label prompts: mIoU and F1 averaged per image, masks = decoder logits >= 0.5
    (``protocol`` ``wesam-validate``), plus the per-instance means under their own names.

    Prompts are drawn with a per-image seed, so two models compared on the same data see
    exactly the same clicks.
    """
    from .validate import WESAM_VALIDATE, image_scores, logit_threshold, summarize

    kind = check_kind(kind)
    if not dataset.has_masks:
        raise InputError(
            "evaluation measures IoU against ground-truth masks, but the "
            "annotations have boxes only; give annotations with segmentations"
        )
    per_image: list[tuple[list[float], list[float]]] = []
    images = [im for im in dataset if im.instances][: max_images or None]
    task = (
        progress.add_task(f"evaluating ({kind})", total=len(images), info="", unit="image")
        if progress is not None
        else None
    )
    if hasattr(model, "reset_cache"):
        model.reset_cache()
    with logit_threshold(model) as masks_are:
        for item in images:
            img = item.load()
            h, w = img.shape[:2]
            gt = item.masks()
            rng = np.random.default_rng([int(seed), int(item.id)])
            prompts, keep = make_prompts(
                kind,
                h,
                w,
                rng,
                boxes=item.boxes(),
                masks=gt,
                num_points=num_points,
                tolerance=tolerance,
            )
            if len(prompts):
                res = model.segment(img, prompts.to_prompts())
                per_image.append(image_scores(res.masks, gt[list(keep)]))
            if task is not None:
                progress.update(task, advance=1)
    if hasattr(model, "reset_cache"):
        model.reset_cache()
    return {
        **summarize(per_image),
        "images": len(images),
        "protocol": WESAM_VALIDATE,
        "masks": masks_are,
    }


# --------------------------------------------------------------------------- the run


def base_record(model: Any) -> dict[str, Any]:
    """Where the model's SAM 2.1 weights came from, as an adapter trained on it records it.

    Set by :meth:`zoo_wesam.model.WesamModel.create` from the load context: a random base
    with its seed, the registered ``sam2:<size>`` file, or a custom checkpoint's path.
    """
    base = getattr(model, "base", None)
    if not base:
        raise InputError(
            "load the source model with zoo.load('wesam-adapt:<size>') before adapting it "
            "(a random-weight base needs the base_seed it was built under to be rebuilt)"
        )
    if base.get("kind") == "random" and base.get("seed") is None:
        raise InputError(
            "adapting a random-weight base needs a seed to rebuild it when the adapter is "
            "loaded: zoo.load('wesam-adapt:tiny', weights='random', base_seed=0)"
        )
    return dict(base)


#: Config fields a resumed run may change: what to call and where to put the result, how
#: much to measure, how often to save; and what the signature records on its own (the data,
#: the base, the prompt) or checks when the model loads (the weights).
_NOT_IN_SIGNATURE = {
    *LOADING_FIELDS,
    *("name", "prompt", "overwrite", "evaluate", "eval_images", "save_every"),
}


def _signature(
    model: Any, kind: str, cfg: WesamTrainConfig, ds: CocoDataset, fingerprint: str
) -> dict[str, Any]:
    """What must not change for a checkpoint to be resumed (JSON-normalised: tuples -> lists)."""
    keep = cfg.model_dump(mode="json", exclude=_NOT_IN_SIGNATURE)
    sig = {
        "size": model.size,
        "fingerprint": fingerprint,
        "prompt": kind,
        "image_size": int(model.model.image_size),
        "annotations": str(Path(ds.annotations_path).resolve()),
        "images": str(Path(ds.images_dir).resolve()),
        "config": keep,
    }
    result: dict[str, Any] = json.loads(json.dumps(sig, sort_keys=True))
    return result


def _resume_state(
    ckpt_path: Path | None, cfg: WesamTrainConfig, signature: dict[str, Any]
) -> dict[str, Any] | None:
    """The saved state of an unfinished run of this name with these settings (or ``None``).

    ``--overwrite`` discards it; a state of other settings (or another layout) is refused,
    since resuming it would silently train something else than what was asked.
    """
    if ckpt_path is None or not ckpt_path.exists():
        return None
    if cfg.overwrite:
        shutil.rmtree(ckpt_path.parent, ignore_errors=True)
        return None
    state = load_state(ckpt_path, what="unfinished WeSAM run")
    same = state.get("format") == STATE_FORMAT and json.loads(state["signature"]) == signature
    if not same:
        flag = hint("--overwrite", "overwrite=True")
        raise InputError(
            f"an unfinished run named {cfg.name!r} with other settings exists "
            f"({ckpt_path.parent}); repeat its exact options to resume, or pass {flag} to "
            "start over"
        )
    return state


def adapt(
    model: Any,
    dataset: Any,
    prompt_kind: str | None = None,
    config: Any = None,
    console: Any = None,
    *,
    progress: bool = True,
) -> AdaptResult:
    """Run WeSAM on ``model`` (a :class:`~zoo_wesam.model.WesamModel`) and return the result.

    ``config``: a :class:`WesamTrainConfig` or a dict of its fields (its loading fields,
    ``base``, ``image_size``..., are :func:`train`'s; here the model is already loaded).
    ``prompt_kind`` defaults to ``config.prompt`` (box). With ``config.name`` the adapter, a
    card and ``variant.json`` are written to ``$ZOO_HOME/local/wesam-adapt/<name>/`` (the
    core's local-variant store), which makes ``wesam-adapt:<name>`` a model like any other;
    checkpoints every ``save_every`` steps (and on Ctrl-C) let an interrupted run with the
    same settings resume where it stopped, bit for bit. ``progress``: show a progress bar.
    """
    from zoo.progress import format_terms, progress_bar

    cfg = WesamTrainConfig.parse(config)
    kind = check_kind(cfg.prompt if prompt_kind is None else prompt_kind)
    if "prompt" in cfg.model_fields_set and kind != cfg.prompt:
        raise InputError(
            f"prompt kind {kind!r} differs from the config's prompt {cfg.prompt!r}; give one"
        )
    if getattr(model, "adapter_meta", None) is not None:
        raise InputError(
            f"{getattr(model, 'name', 'this model')} is already adapted; adapt the "
            f"source model wesam-adapt:{model.size} (adapters do not stack)"
        )
    base = base_record(model)
    ds = as_dataset(dataset, kind)
    train_set, val_set, eval_on = split(ds, cfg.holdout)
    can_eval = cfg.evaluate and val_set.has_masks
    folder = adapter_dir(cfg.name) if cfg.name else None
    ckpt_path = folder / TRAIN_DIR / CHECKPOINT_FILE if folder else None
    if folder is not None and (folder / VARIANT_FILE).exists() and not cfg.overwrite:
        raise InputError(
            f"{FAMILY}:{cfg.name} already exists ({folder}); choose another "
            + hint("--name or pass --overwrite", "name or pass overwrite=True")
        )
    fingerprint = getattr(model, "_fingerprint_cache", None) or base_fingerprint(model.model)
    signature = _signature(model, kind, cfg, ds, fingerprint)
    resume = _resume_state(ckpt_path, cfg, signature)

    with progress_bar(unit="step", console=console, enabled=progress) as bar:

        def measure() -> dict[str, Any]:
            """mIoU/F1 on the held-out images, the same prompts before and after."""
            return evaluate_model(
                model,
                val_set,
                kind,
                seed=cfg.seed,
                max_images=cfg.eval_images,
                num_points=cfg.num_points,
                tolerance=cfg.coarse_tolerance,
                progress=bar,
            )

        extra: dict[str, Any] = json.loads(resume["extra"]) if resume else {}
        before = extra.get("before")
        if can_eval and before is None:
            before = extra["before"] = measure()
        trainer = WesamTrainer(model, kind, cfg, train_set)
        start = 0
        if resume is not None:
            trainer.restore(resume)
            start = trainer.step_count
        task = bar.add_task(f"WeSAM {kind}", total=cfg.steps, completed=start, info="")

        def save_now() -> Path | None:
            """Ctrl-C: keep the progress (nothing to keep before the first new step)."""
            if ckpt_path is None or trainer.step_count <= start:
                return None
            return save_state(ckpt_path, trainer.checkpoint(signature, extra))

        again = hint("the same `zoo train` command", "the same adapt() call")
        guard = (
            checkpoint_on_interrupt(save_now, resume_hint=again, console=console)
            if ckpt_path is not None
            else contextlib.nullcontext()
        )
        t0 = time.perf_counter()
        last: dict[str, float] = trainer.history[-1] if trainer.history else {}
        with guard:
            for _ in range(start, cfg.steps):
                last = trainer.step()
                shown = {label: last[key] for label, key in BAR_TERMS.items()}
                bar.update(task, advance=1, info=format_terms(shown))
                due = trainer.step_count % cfg.save_every == 0
                if ckpt_path is not None and due and trainer.step_count < cfg.steps:
                    save_state(ckpt_path, trainer.checkpoint(signature, extra))
        seconds = time.perf_counter() - t0
        done = cfg.steps - start
        state = trainer.finish()
        model.adapter_meta = adapter_metadata(model, kind, cfg, fingerprint, base, ds)
        model.reset_cache()
        after = measure() if can_eval else None

    result = AdaptResult(
        variant=f"{FAMILY}:{cfg.name}" if cfg.name else None,
        path=str(folder) if folder else None,
        base=f"sam2:{model.size}",
        prompt=kind,
        steps=cfg.steps,
        resumed_from=start,
        seconds=round(seconds, 3),
        steps_per_second=round(done / seconds, 4) if seconds > 0 else 0.0,
        adapter_parameters=int(sum(v.numel() for v in state.values())),
        final_losses={k: round(v, 6) for k, v in last.items()},
        miou_before=before["miou"] if before else None,
        miou_after=after["miou"] if after else None,
        f1_before=before["f1"] if before else None,
        f1_after=after["f1"] if after else None,
        eval_on=eval_on if can_eval else None,
        eval_images=after["images"] if after else 0,
        eval_instances=after["instances"] if after else 0,
        eval_protocol=after["protocol"] if after else None,
    )
    if folder is not None:
        _publish(folder, model, state, result, cfg=cfg, ds=ds, val_size=len(val_set))
    return result


def train(
    config: WesamTrainConfig,
    *,
    variant: VariantSpec | None = None,
    progress: bool = True,
    console: Any = None,
) -> dict[str, Any]:
    """``zoo train wesam-adapt --base sam2:tiny --images D --annotations J --name N``.

    Everything a user can get wrong (the variant, ``--base``, the name, ``--out``, the images
    folder, the annotations, masks missing for point/coarse prompts) is checked *before* the
    model is built and before anything is written, so a typo costs a second, not a model
    load, and a failed command leaves no ``--out`` and no adaptation folder behind. Option
    types, bounds and defaults were checked by :class:`WesamTrainConfig`. Returns the report
    ``zoo train`` prints (the :class:`AdaptResult`, where it was copied, a before/after table).
    """
    from zoo.context import check_out_dir
    from zoo.loading import load
    from zoo.options import checkpoint_arg

    default_size = (variant.config.get("size") if variant else None) or "tiny"
    label = variant.name if variant else FAMILY
    if variant is not None and variant.tag not in SIZES:
        raise InputError(
            f"{label} is already adapted; train from the source model, e.g. "
            f"`zoo train {FAMILY} --base sam2:{default_size} ...`"
        )
    size = parse_base(config.base, default_size)
    name = check_name(config.name)
    folder = adapter_dir(name)
    if (folder / VARIANT_FILE).exists() and not config.overwrite:
        raise InputError(
            f"{FAMILY}:{name} already exists ({folder}); choose another --name or pass --overwrite"
        )
    out = config.out
    if out is not None:
        check_out_dir(out)  # creates nothing: outputs appear atomically at the very end
    if config.images is None or config.annotations is None:
        raise InputError(f"`zoo train {label}` needs --images DIR and --annotations COCO.json")
    dataset = as_dataset((config.annotations, config.images), config.prompt)
    sized: dict[str, Any] = {} if config.image_size is None else {"image_size": config.image_size}
    model = load(
        f"{FAMILY}:{size}",
        device=config.device,
        weights=config.weights,
        checkpoint=checkpoint_arg(config.checkpoint),
        seed=config.seed if "seed" in config.model_fields_set else None,
        progress=progress,
        **sized,
    )
    result = adapt(model, dataset, config.prompt, config, console, progress=progress)
    report = result.model_dump(mode="json")
    if out is not None:
        from zoo.io.atomic import atomic_output_dir

        with atomic_output_dir(out) as tmp:
            for f in (ADAPTER_FILE, "card.md", VARIANT_FILE):
                shutil.copy2(folder / f, tmp / f)
        report["exported_to"] = str(out)
    before, after = result.miou_before, result.miou_after
    if before is not None and after is not None:
        report["table"] = {
            "title": f"{result.variant}: before/after on {result.eval_images} {result.eval_on}",
            "columns": ["model", "prompt", "mIoU", "F1"],
            "rows": [
                [f"source sam2:{size}", result.prompt, before, result.f1_before],
                [result.variant, result.prompt, after, result.f1_after],
            ],
        }
    return report


def _publish(
    folder: Path,
    model: Any,
    state: dict[str, torch.Tensor],
    result: AdaptResult,
    *,
    cfg: WesamTrainConfig,
    ds: CocoDataset,
    val_size: int,
) -> None:
    """Write ``wesam-adapt:<name>``: adapter, card, then ``variant.json`` (core store).

    An older variant of the name (``--overwrite``) is unpublished first, so no moment
    exists where its ``variant.json`` names the new adapter with the old hash.
    """

    from .adapter import save_adapter
    from .card import card_text, data_record, metrics_record

    name = cfg.name or ""
    (folder / VARIANT_FILE).unlink(missing_ok=True)
    folder.mkdir(parents=True, exist_ok=True)
    meta = dict(model.adapter_meta)
    adapter = folder / ADAPTER_FILE
    result.adapter_bytes = save_adapter(adapter, state, meta)
    model.adapter_path = adapter
    before, after = result.miou_before, result.miou_after
    desc = f"WeSAM adapter on sam2:{model.size} ({result.prompt} prompts, {result.steps} steps)"
    if before is not None and after is not None:
        desc += f"; mIoU {before:.4f} -> {after:.4f}"
    if meta["base_weights"].get("kind") == "random":
        desc += "; test mode (random-weight base)"
    spec = variant_spec(
        name,
        size=model.size,
        image_size=int(model.model.image_size),
        base=meta["base_weights"],
        adapter=adapter,
        adapter_sha256=_sha256(adapter),
        params=getattr(getattr(model, "variant", None), "params", None),
        description=desc,
    )
    extra = {
        "base": meta["base_weights"],
        "prompt": result.prompt,
        "steps": result.steps,
        "rank": cfg.rank,
        "adapter_bytes": result.adapter_bytes,
        "metrics": metrics_record(result),
        "data": data_record(ds),
    }
    card = card_text(name=name, meta=meta, result=result, cfg=cfg, ds=ds, val_size=val_size)
    write_variant(folder, spec, card=card, extra=extra)
    shutil.rmtree(folder / TRAIN_DIR, ignore_errors=True)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def adapter_metadata(
    model: Any,
    kind: str,
    cfg: WesamTrainConfig,
    fingerprint: str,
    base: dict[str, Any],
    ds: CocoDataset,
) -> dict[str, Any]:
    """The header of ``adapter.safetensors`` (what loading needs to check and rebuild)."""
    return {
        "family": FAMILY,
        "size": model.size,
        "rank": cfg.rank,
        "scale": float((cfg.alpha if cfg.alpha is not None else cfg.rank) / cfg.rank),
        "image_size": int(model.model.image_size),
        "base_fingerprint": fingerprint,
        "base_weights": base,
        "prompt": kind,
        "steps": cfg.steps,
        "name": cfg.name,
        "data": Path(ds.annotations_path).name,
    }


def lr_schedule(cfg: WesamTrainConfig) -> list[float]:
    """The learning rate of every step (for docs and tests)."""
    return [cfg.lr * cfg.lr_factor(s) for s in range(cfg.steps)]
