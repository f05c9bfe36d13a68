"""Fine-tuning SAM 2.1 into OpSeg: ``zoo train opseg-shadow``.

The paper compares two recipes starting from SAM 2.1 base-plus, both trained with box
prompts on SOBA objects *and* shadows:

* ``--freeze image-encoder`` ("Fz."): the Hiera encoder and its FPN neck stay fixed; the
  prompt encoder and the mask decoder (including its high-resolution feature convolutions
  and SAM 2's ``no_mem_embed``) learn. Cheap: the encoder runs without gradients, and with
  ``--cache-embeddings`` only once per image.
* ``--freeze none`` ("Ft."): everything used for single images learns (the video memory
  modules are never used for images, so they get no gradient and are left as they are).

Loss per prompt, as in SAM: ``20 * focal + dice + MSE(predicted IoU, actual IoU)``, on
logits upsampled to the input resolution. AdamW, linear warm-up then cosine decay to 10 %,
gradient-norm clipping at 1.0, gradient accumulation (``--accum``), bf16 autocast on CUDA.
Boxes are jittered by ``--box-noise`` of their side (SAM's recipe) so that the model does
not depend on pixel-perfect boxes. The upstream training code and hyper-parameters are not
published; these defaults are ours.

Outputs, in ``$ZOO_HOME/local/opseg-shadow/<name>/`` (or ``--out DIR``): ``model.safetensors``
(the full SAM 2.1 state dict, loadable strictly), ``card.md`` (generated), ``train_log.json``,
``train_state.pt`` (learning parameters + optimizer + step; ``--resume`` rebuilds the same
start and continues), and last
``variant.json``, which registers ``opseg-shadow:<name>`` (so an unfinished run is never
registered). Nothing is created before every input has been validated.
"""

from __future__ import annotations

import json
import math
import os
import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from zoo.errors import InputError
from zoo.runners import RunContext

FREEZE_CHOICES = ("image-encoder", "none")
BASE_CHOICES = ("tiny", "small", "base-plus", "large")
RESERVED_NAMES = ("base-plus", "base-plus-gdrive")
FOCAL_WEIGHT, DICE_WEIGHT, IOU_WEIGHT = 20.0, 1.0, 1.0


@dataclass
class TrainConfig:
    """Everything that defines a run; stored with it so ``--resume`` can refuse a mismatch."""

    annotations: str
    images: str
    name: str
    base: str = "base-plus"
    freeze: str = "image-encoder"
    image_size: int = 1024
    steps: int = 2000
    batch_size: int = 4
    accum: int = 1
    lr: float | None = None
    weight_decay: float = 0.01
    warmup: int | None = None
    max_prompts: int = 16
    box_noise: float = 0.1
    loss_weights: tuple[float, float, float] = (20.0, 1.0, 1.0)  # focal, dice, IoU prediction
    save_every: int = 100
    seed: int = 0
    amp: bool | None = None
    cache_embeddings: bool = False
    workers: int = 0
    init: str = "pretrained"  # "random", "pretrained" (sam2:<base>) or a checkpoint path
    device: str = "auto"
    out: str | None = None
    val_annotations: str | None = None
    val_images: str | None = None

    @property
    def frozen(self) -> bool:
        return self.freeze == "image-encoder"

    @property
    def learning_rate(self) -> float:
        return self.lr if self.lr is not None else (1e-4 if self.frozen else 1e-5)

    @property
    def warmup_steps(self) -> int:
        return self.warmup if self.warmup is not None else min(100, self.steps // 10)

    # what must agree for --resume to continue a run
    RESUME_KEYS = (
        "annotations",
        "base",
        "freeze",
        "image_size",
        "batch_size",
        "accum",
        "seed",
        "max_prompts",
        "init",
    )

    def validate(self) -> None:
        if self.freeze not in FREEZE_CHOICES:
            raise InputError(f"--freeze must be image-encoder or none, got {self.freeze!r}")
        if self.base not in BASE_CHOICES:
            raise InputError(f"--base must be one of {', '.join(BASE_CHOICES)}, got {self.base!r}")
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", self.name):
            raise InputError(
                f"--name {self.name!r} must be 1-64 letters, digits, '.', '_' or '-' (it becomes "
                "opseg-shadow:<name>)"
            )
        if self.name in RESERVED_NAMES:
            raise InputError(f"--name {self.name} is a published variant; choose another name")
        if self.image_size < 64 or self.image_size % 64:
            raise InputError(
                f"--image-size must be a positive multiple of 64, got {self.image_size}"
            )
        for key in ("steps", "batch_size", "accum", "max_prompts", "save_every"):
            if getattr(self, key) < 1:
                raise InputError(
                    f"--{key.replace('_', '-')} must be >= 1, got {getattr(self, key)}"
                )
        if self.lr is not None and not (0 < self.lr < 1):
            raise InputError(f"--lr must be in (0, 1), got {self.lr}")
        if not 0 <= self.box_noise < 1:
            raise InputError(f"--box-noise must be in [0, 1), got {self.box_noise}")
        if self.cache_embeddings and not self.frozen:
            raise InputError(
                "--cache-embeddings needs --freeze image-encoder (a trained encoder "
                "changes its embeddings)"
            )
        if (
            len(self.loss_weights) != 3
            or any(w < 0 for w in self.loss_weights)
            or not any(self.loss_weights)
        ):
            raise InputError(
                f"--loss-weights must be three non-negative numbers focal,dice,iou "
                f"(not all 0), got {self.loss_weights}"
            )
        if self.workers < 0:
            raise InputError(f"--workers must be >= 0, got {self.workers}")


# --------------------------------------------------------------------------- data


class SobaTrainSet:
    """Images resized to ``S x S`` (SAM's square input) with every object/shadow target.

    Masks are resized with nearest neighbour; boxes come from the full-resolution masks and
    are scaled the same way the model's prompt transform scales boxes at inference.
    """

    def __init__(self, data: Any, image_size: int):
        from sam2.utils.transforms import SAM2Transforms

        self.data = data
        self.size = image_size
        self.transforms = SAM2Transforms(resolution=image_size, mask_threshold=0.0)

    def __len__(self) -> int:
        return len(self.data.images)

    def __getitem__(self, idx: int) -> dict[str, Any]:
        import cv2
        import torch

        from zoo.io.images import load_image

        from .soba import mask_box

        im = self.data.images[idx]
        img = load_image(im.path)
        h, w = img.shape[:2]
        if (h, w) != (im.height, im.width):
            raise InputError(
                f"image {im.file_name} is {w}x{h} but the annotations say {im.width}x{im.height}"
            )
        s = self.size
        masks, boxes, roles = [], [], []
        for pair in im.pairs:
            for role, ann in ((1, pair.object), (2, pair.shadow)):
                m = im.decode(ann)
                if m is None:
                    continue
                box = mask_box(m)
                if box is None:
                    continue
                masks.append(
                    cv2.resize(m.astype(np.uint8), (s, s), interpolation=cv2.INTER_NEAREST)
                )
                boxes.append([box[0] * s / w, box[1] * s / h, box[2] * s / w, box[3] * s / h])
                roles.append(role)
        return {
            "index": idx,
            "image": self.transforms(img),
            "masks": torch.from_numpy(np.stack(masks) if masks else np.zeros((0, s, s), np.uint8)),
            "boxes": torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
            "roles": torch.tensor(roles, dtype=torch.int64),
        }


def index_stream(n: int, batch: int, seed: int, start: int, total: int) -> list[list[int]]:
    """Image indices of micro-batches ``start..total-1``: epoch ``e`` is the seeded permutation
    ``default_rng([seed, e])``, so a resumed run sees exactly the batches the uninterrupted
    run would have seen."""
    perms: dict[int, np.ndarray] = {}

    def at(pos: int) -> int:
        epoch, off = divmod(pos, n)
        if epoch not in perms:
            perms[epoch] = np.random.default_rng([seed, epoch]).permutation(n)
        return int(perms[epoch][off])

    return [[at(m * batch + j) for j in range(batch)] for m in range(start, total)]


def _collate(batch: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return batch


# --------------------------------------------------------------------------- model pieces


def image_features(model: Any, fpn: list[Any]) -> tuple[Any, list[Any]]:
    """Backbone FPN levels -> (image embedding, [high-res s0, s1]) as SAM 2's image path
    builds them: the decoder's 1x1 convs on the two fine levels, ``no_mem_embed`` added to
    the coarse one (what a frame without memory gets)."""
    fpn = list(fpn[-model.num_feature_levels :])
    if model.use_high_res_features_in_sam:
        fpn[0] = model.sam_mask_decoder.conv_s0(fpn[0])
        fpn[1] = model.sam_mask_decoder.conv_s1(fpn[1])
    embed = fpn[-1]
    if model.directly_add_no_mem_embed:
        embed = embed + model.no_mem_embed.reshape(1, -1, 1, 1)
    return embed, fpn[:-1]


def trainable_parameters(model: Any, frozen: bool) -> list[tuple[str, Any]]:
    """Names and tensors that learn under a recipe (see the module docstring)."""
    prefixes = ["sam_prompt_encoder.", "sam_mask_decoder.", "no_mem_embed"]
    if not frozen:
        prefixes.append("image_encoder.")
    return [(n, p) for n, p in model.named_parameters() if any(n.startswith(x) for x in prefixes)]


def mask_losses(
    logits: Any,
    target: Any,
    iou_pred: Any,
    weights: tuple[float, float, float] = (FOCAL_WEIGHT, DICE_WEIGHT, IOU_WEIGHT),
) -> tuple[Any, dict[str, float]]:
    """SAM's loss for N prompts: focal (alpha .25, gamma 2) x20 + dice + IoU-prediction MSE
    (``weights`` = the three factors)."""
    import torch
    import torch.nn.functional as F

    logits = logits.float()
    target = target.float()
    prob = torch.sigmoid(logits)
    ce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    p_t = prob * target + (1 - prob) * (1 - target)
    alpha_t = 0.25 * target + 0.75 * (1 - target)
    focal = (alpha_t * ce * (1 - p_t) ** 2).flatten(1).mean(1)
    inter = (prob * target).flatten(1).sum(1)
    dice = 1 - (2 * inter + 1) / (prob.flatten(1).sum(1) + target.flatten(1).sum(1) + 1)
    with torch.no_grad():
        hard = logits > 0
        i = (hard & (target > 0.5)).flatten(1).sum(1).float()
        u = (hard | (target > 0.5)).flatten(1).sum(1).float()
        actual_iou = torch.where(u > 0, i / u.clamp(min=1), torch.ones_like(u))
    iou_loss = (iou_pred.float().reshape(-1) - actual_iou) ** 2
    wf, wd, wi = weights
    total = (wf * focal + wd * dice + wi * iou_loss).mean()
    return total, {
        "focal": float(focal.detach().mean()),
        "dice": float(dice.detach().mean()),
        "iou": float(iou_loss.detach().mean()),
        "miou": float(actual_iou.mean()),
    }


def jitter_boxes(
    boxes: np.ndarray, noise: float, size: int, rng: np.random.Generator
) -> np.ndarray:
    """SAM-style box noise: each coordinate moves by N(0, noise * side), at most 20 px
    (scaled to this input size), clipped to the image."""
    if noise <= 0 or len(boxes) == 0:
        return boxes
    side = np.stack([boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]] * 2, axis=1)
    cap = 20.0 * size / 1024
    delta = np.clip(rng.normal(0.0, 1.0, boxes.shape) * noise * side, -cap, cap)
    out = np.clip(boxes + delta, 0, size)
    out[:, 2] = np.maximum(out[:, 2], out[:, 0] + 1)
    out[:, 3] = np.maximum(out[:, 3], out[:, 1] + 1)
    return np.clip(out, 0, size)


def lr_at(step: int, cfg: TrainConfig) -> float:
    """Linear warm-up to ``lr``, then cosine decay to 10 % of it at the last step."""
    base = cfg.learning_rate
    warm = cfg.warmup_steps
    if warm and step < warm:
        return base * (step + 1) / warm
    span = max(cfg.steps - warm, 1)
    t = min(max(step - warm, 0) / span, 1.0)
    return base * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * t)))


# --------------------------------------------------------------------------- files


def _atomic_save(path: Path, writer: Callable[[Path], Any]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        writer(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def save_weights(model: Any, path: Path) -> tuple[str, int]:
    """The full state dict as safetensors (cloned: safetensors refuses shared storage)."""
    from safetensors.torch import save_file

    from zoo.weights import sha256_file

    sd = {k: v.detach().to("cpu").contiguous().clone() for k, v in model.state_dict().items()}
    _atomic_save(
        path,
        lambda p: save_file(sd, str(p), metadata={"format": "pt", "zoo_family": "opseg-shadow"}),
    )
    return sha256_file(path), path.stat().st_size


def run_paths(cfg: TrainConfig) -> tuple[Path, Path]:
    """(run folder for weights/state, registration folder holding variant.json)."""
    from .plugin import local_root

    reg_dir = local_root() / cfg.name
    return (Path(cfg.out).expanduser().resolve() if cfg.out else reg_dir), reg_dir


def write_card(path: Path, cfg: TrainConfig, report: dict[str, Any]) -> None:
    """A card for the new variant: the family card's paper/upstream, none of the paper's
    numbers (they are not this model's), and what we measured."""
    from zoo.cards import load_card, render_card
    from zoo.registry import get_registry

    fam = get_registry().families["opseg-shadow"]
    card = load_card(fam.card)  # type: ignore[arg-type]
    zoo_block = card.zoo.model_copy(
        update={
            "reported_metrics": [],
            "notes": [
                f"Trained locally by `zoo train opseg-shadow` ({time.strftime('%Y-%m-%d %H:%M')}); "
                "the paper's numbers do not apply to this checkpoint.",
                f"Start: {cfg.init if cfg.init != 'pretrained' else 'sam2:' + cfg.base} "
                f"(SAM 2.1 {cfg.base}); recipe: freeze={cfg.freeze}.",
            ],
        }
    )
    body = (
        f"Fine-tuned SAM 2.1 {cfg.base} for instance shadow segmentation (OpSeg recipe, "
        f"{'frozen image encoder' if cfg.frozen else 'full fine-tune'}).\n\n"
        f"- data: `{cfg.annotations}` ({report['train_images']} images)\n"
        f"- steps: {report['steps']} x batch {cfg.batch_size} (accum {cfg.accum}), lr "
        f"{cfg.learning_rate:g}, image size {cfg.image_size}, box noise {cfg.box_noise}\n"
        f"- final loss: {report.get('final_loss', float('nan')):.4f}\n"
    )
    if report.get("val"):
        v = report["val"]
        body += (
            f"- validation (`{cfg.val_annotations}`), mIoU objects/shadows: before "
            f"{v['before']['objects']['mIoU']:.4f}/{v['before']['shadows']['mIoU']:.4f}, after "
            f"{v['after']['objects']['mIoU']:.4f}/{v['after']['shadows']['mIoU']:.4f}\n"
        )
    body += (
        f"\n```bash\nzoo run opseg-shadow:{cfg.name} --image X --objects ... --shadows ...\n```\n"
    )
    new = card.model_copy(update={"zoo": zoo_block, "body": body})
    extra = {"training": {k: v for k, v in asdict(cfg).items() if k not in ("device", "out")}}
    text = render_card(
        new,
        name=f"opseg-shadow:{cfg.name}",
        tags=["fine-tuned", "local"],
        base_model=f"sam2:{cfg.base}",
        extra=extra,
    )
    _atomic_save(path, lambda p: p.write_text(text, encoding="utf-8"))


# --------------------------------------------------------------------------- training


def _wrap(model: Any, name: str, device: str) -> Any:
    """An in-memory SAM2Base as an OpSegModel (for validation during training)."""
    from zoo.registry import get_registry

    from .model import OpSegModel

    m = OpSegModel(model)
    m._bind(get_registry().families["opseg-shadow"], None, name, device)
    return m


def _validate_model(model: Any, data: Any, device: str, label: str) -> dict[str, Any]:
    import torch

    from .evaluate import evaluate

    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            ev = evaluate({"m": _wrap(model, label, device)}, data)["m"]
        return ev.summary()
    finally:
        model.train(was_training)


def train(
    cfg: TrainConfig, *, resume: bool = False, console: Any = None, show_progress: bool = True
) -> dict[str, Any]:
    """Run (or resume) a fine-tuning run; returns a report (see the module docstring)."""
    import torch

    from zoo.model import resolve_device
    from zoo.weights import safe_torch_load

    from .soba import load_soba

    cfg.validate()
    device = resolve_device(cfg.device)
    data = load_soba(cfg.annotations, cfg.images)
    val = (
        load_soba(cfg.val_annotations, cfg.val_images or cfg.images)
        if cfg.val_annotations
        else None
    )
    run_dir, reg_dir = run_paths(cfg)
    state_path = run_dir / "train_state.pt"
    if resume:
        if not state_path.is_file():
            raise InputError(
                f"--resume: no saved state for run {cfg.name} ({state_path}); start it "
                "without --resume"
            )
    elif state_path.exists() or (reg_dir / "variant.json").exists():
        raise InputError(
            f"run {cfg.name} already exists in {run_dir}; pass --resume to continue it "
            "or choose another --name"
        )
    init_path: Path | None = None
    if cfg.init == "pretrained":
        from zoo.model import resolve_weights
        from zoo.registry import get_registry

        base_name = f"sam2:{cfg.base}"
        init_path = resolve_weights(get_registry().variants.get(base_name), name=base_name)
    elif cfg.init != "random":
        init_path = Path(cfg.init)
        if not init_path.is_file():
            raise InputError(f"--checkpoint {init_path} does not exist")
    state: dict[str, Any] | None = None
    if resume:
        state = safe_torch_load(state_path)
        saved = state.get("config", {})
        diff = [k for k in TrainConfig.RESUME_KEYS if saved.get(k) != getattr(cfg, k)]
        if diff:
            k = diff[0]
            raise InputError(
                f"--resume: run {cfg.name} was started with {k}={saved.get(k)!r}, now "
                f"{getattr(cfg, k)!r}; use the same options (or a new --name)"
            )

    from zoo_sam2.build import build_sam2_model

    from .checkpoint import load_sam21_checkpoint

    torch.manual_seed(cfg.seed)
    model = build_sam2_model(cfg.base, None, device="cpu", image_size=cfg.image_size)
    if init_path is not None:
        load_sam21_checkpoint(model, init_path, cfg.base, model_name=f"sam2:{cfg.base}")
    model.to(device)
    for p in model.parameters():
        p.requires_grad_(False)
    params = trainable_parameters(model, cfg.frozen)
    for _, p in params:
        p.requires_grad_(True)
    opt = torch.optim.AdamW(
        [p for _, p in params], lr=cfg.learning_rate, weight_decay=cfg.weight_decay
    )
    start = 0
    log: list[dict[str, float]] = []
    names = {n for n, _ in params}
    if state is not None:
        saved_sd = state["model"]
        if set(saved_sd) != names:
            raise InputError(
                f"--resume: the saved state of run {cfg.name} does not match its "
                "recipe (different parameters); start a new --name"
            )
        model.load_state_dict(saved_sd, strict=False)
        opt.load_state_dict(state["optimizer"])
        start = int(state["step"])
        log = list(state.get("log", []))

    run_dir.mkdir(parents=True, exist_ok=True)
    reg_dir.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {
        "name": cfg.name,
        "variant": f"opseg-shadow:{cfg.name}",
        "train_images": len(data),
        "run_dir": str(run_dir),
    }
    if val is not None and state is None:
        report["val_before"] = _validate_model(model, val, device, "init")
    elif state is not None and state.get("val_before"):
        report["val_before"] = state["val_before"]

    def save_state(step: int) -> None:
        blob = {
            "step": step,
            "config": asdict(cfg),
            "log": log,
            # only what learns: the rest is rebuilt from the same start on --resume
            "model": {n: p.detach().cpu() for n, p in model.named_parameters() if n in names},
            "optimizer": opt.state_dict(),
            "val_before": report.get("val_before"),
        }
        _atomic_save(state_path, lambda p: torch.save(blob, str(p)))

    dataset = SobaTrainSet(data, cfg.image_size)
    loader: Any = torch.utils.data.DataLoader(
        dataset,  # type: ignore[arg-type]
        batch_sampler=index_stream(
            len(dataset), cfg.batch_size, cfg.seed, start * cfg.accum, cfg.steps * cfg.accum
        ),
        collate_fn=_collate,
        num_workers=cfg.workers,
    )
    use_amp = (cfg.amp if cfg.amp is not None else True) and device.startswith("cuda")
    cache: dict[int, list[Any]] = {}
    model.train()
    model.image_encoder.train(not cfg.frozen)
    t0 = time.perf_counter()
    step = start
    micro = 0
    losses: list[float] = []

    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    bar = Progress(
        TextColumn("[bold]train[/] opseg-shadow:" + cfg.name),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]}"),
        TimeRemainingColumn(),
        console=console,
        transient=False,
        disable=not show_progress,
    )
    try:
        with bar:
            task = bar.add_task("train", total=cfg.steps, completed=start, loss="-")
            for batch in loader:
                rng = np.random.default_rng([cfg.seed, step, micro, 7])
                loss, parts = _micro_step(model, batch, cfg, rng, device, use_amp, cache)
                (loss / cfg.accum).backward()
                losses.append(float(loss.detach()))
                micro += 1
                if micro < cfg.accum:
                    continue
                for group in opt.param_groups:
                    group["lr"] = lr_at(step, cfg)
                torch.nn.utils.clip_grad_norm_([p for _, p in params], 1.0)
                opt.step()
                opt.zero_grad(set_to_none=True)
                step += 1
                micro = 0
                mean_loss = float(np.mean(losses))
                losses = []
                log.append({"step": step, "loss": mean_loss, "lr": lr_at(step - 1, cfg), **parts})
                bar.update(task, completed=step, loss=f"{mean_loss:.4f}")
                if step % cfg.save_every == 0 and step < cfg.steps:
                    save_state(step)
    except KeyboardInterrupt:
        save_state(step)
        raise
    elapsed = time.perf_counter() - t0
    save_state(step)
    model.eval()
    weights = run_dir / "model.safetensors"
    sha, size = save_weights(model, weights)
    report.update(
        {
            "steps": step,
            "final_loss": log[-1]["loss"] if log else float("nan"),
            "steps_per_s": (step - start) / elapsed if elapsed > 0 else float("nan"),
        }
    )
    if val is not None:
        report["val"] = {
            "before": report.pop("val_before"),
            "after": _validate_model(model, val, device, "trained"),
        }
    card = run_dir / "card.md"
    write_card(card, cfg, report)
    _atomic_save(
        run_dir / "train_log.json",
        lambda p: p.write_text(
            json.dumps({"config": asdict(cfg), "log": log, "report": report}, indent=1, default=str)
        ),
    )
    variant = {
        "family": "opseg-shadow",
        "tag": cfg.name,
        "weights": {"uri": str(weights), "sha256": sha, "size": size},
        "params": int(sum(p.numel() for p in model.parameters())),
        "config": {"size": cfg.base, "image_size": cfg.image_size},
        "description": (
            f"local: SAM 2.1 {cfg.base} fine-tuned on {Path(cfg.annotations).name}, "
            f"freeze={cfg.freeze}, {step} steps"
        ),
        "card": str(card),
    }
    _atomic_save(
        reg_dir / "variant.json",
        lambda p: p.write_text(json.dumps(variant, indent=1), encoding="utf-8"),
    )
    from zoo.registry import reset_registry

    reset_registry()  # so zoo.load("opseg-shadow:<name>") in this process sees the variant
    report["files"] = [str(weights), str(card), str(reg_dir / "variant.json"), str(state_path)]
    return report


def _micro_step(
    model: Any,
    batch: list[dict[str, Any]],
    cfg: TrainConfig,
    rng: np.random.Generator,
    device: str,
    use_amp: bool,
    cache: dict[int, list[Any]],
) -> tuple[Any, dict[str, float]]:
    """Forward one micro-batch; returns (loss, parts) with the graph for backward."""
    import contextlib

    import torch
    import torch.nn.functional as F

    amp = (
        torch.autocast(device_type="cuda", dtype=torch.bfloat16)
        if use_amp
        else contextlib.nullcontext()
    )
    s = cfg.image_size
    with amp:
        need = [b for b in batch if b["index"] not in cache]
        fpn_new: list[list[Any]] = []
        if need:
            x = torch.stack([b["image"] for b in need]).to(device)
            if cfg.frozen:
                with torch.no_grad():
                    fpn = model.image_encoder(x)["backbone_fpn"]
            else:
                fpn = model.image_encoder(x)["backbone_fpn"]
            fpn_new = [[lvl[i : i + 1] for lvl in fpn] for i in range(len(need))]
            if cfg.cache_embeddings:
                for b, f in zip(need, fpn_new, strict=True):
                    cache[b["index"]] = [t.detach() for t in f]
        it = iter(fpn_new)
        per_image = [
            cache[b["index"]] if b["index"] in cache and cfg.cache_embeddings else next(it)
            for b in batch
        ]
        fpn_b = [torch.cat([f[lvl] for f in per_image]) for lvl in range(len(per_image[0]))]
        embed, high = image_features(model, fpn_b)

        counts, boxes, targets = [], [], []
        for b in batch:
            k = len(b["boxes"])
            pick = np.sort(rng.choice(k, size=min(k, cfg.max_prompts), replace=False))
            counts.append(len(pick))
            if len(pick):
                bx = jitter_boxes(b["boxes"][pick].numpy(), cfg.box_noise, s, rng)
                boxes.append(torch.from_numpy(bx.astype(np.float32)))
                targets.append(b["masks"][pick])
        if not boxes:
            zero = sum(p.sum() * 0.0 for p in model.sam_mask_decoder.parameters())
            return zero, {}
        rep = torch.tensor(counts, device=device)
        coords = torch.cat(boxes).to(device).reshape(-1, 2, 2)
        labels = torch.tensor([[2, 3]], dtype=torch.int, device=device).repeat(len(coords), 1)
        sparse, dense = model.sam_prompt_encoder(points=(coords, labels), boxes=None, masks=None)
        low, iou_pred, _, _ = model.sam_mask_decoder(
            image_embeddings=embed.repeat_interleave(rep, dim=0),
            image_pe=model.sam_prompt_encoder.get_dense_pe(),
            sparse_prompt_embeddings=sparse,
            dense_prompt_embeddings=dense,
            multimask_output=False,
            repeat_image=False,
            high_res_features=[h.repeat_interleave(rep, dim=0) for h in high],
        )
        logits = F.interpolate(low.float(), size=(s, s), mode="bilinear", align_corners=False)[:, 0]
    target = torch.cat(targets).to(device).float()
    return mask_losses(logits, target, iou_pred, tuple(cfg.loss_weights))  # type: ignore[arg-type]


# --------------------------------------------------------------------------- CLI


def _bool(v: Any) -> bool:
    if v is True or v is False:
        return v
    s = str(v).strip().lower()
    if s in ("1", "true", "yes", "on"):
        return True
    if s in ("0", "false", "no", "off"):
        return False
    raise ValueError(v)


def _weights(v: Any) -> tuple[float, float, float]:
    vals = tuple(float(x) for x in str(v).split(","))
    if len(vals) != 3:
        raise ValueError(v)
    return vals  # type: ignore[return-value]


def train_command(ctx: RunContext) -> dict[str, Any]:
    """``zoo train opseg-shadow --annotations F --images DIR --freeze image-encoder|none``."""
    from zoo.model import RANDOM

    o = ctx.opt
    cfg_kwargs: dict[str, Any] = {
        "freeze": o("freeze", str, "image-encoder"),
        "base": o("base", str, "base-plus"),
        "image_size": o("image_size", int, 1024),
        "steps": o("steps", int, 2000),
        "batch_size": o("batch_size", int, 4),
        "accum": o("accum", int, 1),
        "lr": o("lr", float, None),  # type: ignore[arg-type]
        "weight_decay": o("weight_decay", float, 0.01),
        "warmup": o("warmup", int, None),  # type: ignore[arg-type]
        "max_prompts": o("max_prompts", int, 16),
        "box_noise": o("box_noise", float, 0.1),
        "loss_weights": o("loss_weights", _weights, (FOCAL_WEIGHT, DICE_WEIGHT, IOU_WEIGHT)),
        "save_every": o("save_every", int, 100),
        "seed": o("seed", int, 0),
        "amp": o("amp", _bool, None),  # type: ignore[arg-type]
        "cache_embeddings": o("cache_embeddings", _bool, False),
        "workers": o("workers", int, 0),
        "val_annotations": o("val_annotations", str, None),  # type: ignore[arg-type]
        "val_images": o("val_images", str, None),  # type: ignore[arg-type]
    }
    name = o("name", str, None)  # type: ignore[arg-type]
    resume = ctx.flag("resume")
    ctx.done()
    annotations, images = ctx.get("annotations"), ctx.get("images")
    if annotations is None or images is None:
        raise InputError("`zoo train opseg-shadow` needs --annotations SOBA.json and --images DIR")
    if ctx.variant is not None and ctx.name not in ("opseg-shadow", "opseg-shadow:base-plus"):
        raise InputError(
            "train the family (`zoo train opseg-shadow`); --base picks the SAM 2.1 size"
        )
    weights, checkpoint = ctx.get("weights"), ctx.get("checkpoint")
    init = RANDOM if weights == RANDOM else (str(checkpoint) if checkpoint else "pretrained")
    name = (
        name
        or f"{cfg_kwargs['base']}-{'frozen' if cfg_kwargs['freeze'] == 'image-encoder' else 'full'}"
    )
    cfg = TrainConfig(
        annotations=str(Path(annotations).resolve()),
        images=str(Path(images).resolve()),
        name=name,
        init=init,
        device=ctx.get("device", "auto"),
        out=str(ctx.get("out")) if ctx.get("out") else None,
        **cfg_kwargs,
    )
    report = train(cfg, resume=resume, console=ctx.console, show_progress=not ctx.as_json)
    report["run"] = f"zoo run opseg-shadow:{cfg.name} --image X --objects ... --shadows ..."
    return report
