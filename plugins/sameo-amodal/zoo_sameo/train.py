"""Training SAMEO's amodal mask decoder (the encoder side stays frozen).

Recipe (Tai et al., CVPR 2025, as described in the paper; the authors' code is not
public): EfficientSAM's image encoder and prompt encoder are frozen, only the mask
decoder learns; each instance is prompted with its modal (visible) box or its amodal box
with probability 0.5 each, so the decoder works behind detectors of either kind; the loss
is Dice + Focal + 0.05 x L1 on the predicted IoU (:mod:`zoo_sameo.losses`); AdamW with a
cosine schedule, mixed precision on GPU.

Because the encoder is frozen, each image's embedding is computed once and reused every
epoch (in memory or on disk): at 1024 px the encoder costs far more than a decoder step,
so this is what makes decoder training cheap. A step is ``batch_size`` instances, each
decoded against its own image's embedding; losses are computed at the decoder's native
low resolution (a quarter of the encoder input) against the amodal mask resized to it.

Runs are resumable: ``train_state.pt`` (decoder, optimiser, step, config) is written every
``save_every`` steps; the data order and prompt choices are functions of (seed, epoch,
step), so a resumed run continues exactly where it stopped. The result is a SAMEO
checkpoint, a generated model card and a ``variant.json`` that registers it as
``sameo-amodal:NAME``.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch

from zoo.errors import InputError, WeightsError

from .build import (
    base_of_encoder,
    build_network,
    check_base,
    check_image_size,
    load_base_weights,
    load_efficientsam_into,
    load_into,
    read_checkpoint,
    save_checkpoint,
)
from .data import AmodalDataset, load_amodal_coco
from .local import FAMILY, VARIANT_FILE, check_name, local_root
from .losses import sameo_loss

STATE_FILE = "train_state.pt"
CKPT_FILE = "sameo.safetensors"
CARD_FILE = "card.md"
LOG_FILE = "train_log.jsonl"
EMBED_MODES = ("memory", "disk", "off")
#: ``embed_cache="auto"`` keeps embeddings in memory up to this many bytes, else on disk.
AUTO_MEMORY_BYTES = 4 * 1024**3


@dataclass
class TrainConfig:
    """Everything that defines a training run (stored with the run, checked on resume)."""

    annotations: str
    images: str
    base: str = "vitt"
    name: str | None = None
    out: str | None = None
    epochs: int = 10
    batch_size: int = 8
    lr: float = 1e-4
    weight_decay: float = 0.01
    max_steps: int | None = None
    image_size: int = 1024
    embed_cache: str = "auto"
    box_jitter: float = 0.0
    seed: int = 0
    save_every: int = 200
    modal_prob: float = 0.5
    warmup_frac: float = 0.05
    iou_weight: float = 0.05
    focal_gamma: float = 2.0
    focal_alpha: float = 0.25
    resume: bool = False
    device: str = "auto"
    weights: str | None = None  # "random": random base (test mode)
    checkpoint: str | None = None  # EfficientSAM base or SAMEO checkpoint to start from

    def validate(self) -> TrainConfig:
        check_base(self.base)
        check_image_size(self.image_size)
        if self.epochs < 1:
            raise InputError(f"--epochs must be at least 1, got {self.epochs}")
        if self.batch_size < 1:
            raise InputError(f"--batch-size must be at least 1, got {self.batch_size}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise InputError(f"--lr must be a positive number, got {self.lr}")
        if self.weight_decay < 0:
            raise InputError(f"--weight-decay must be >= 0, got {self.weight_decay}")
        if self.max_steps is not None and self.max_steps < 1:
            raise InputError(f"--max-steps must be at least 1, got {self.max_steps}")
        if self.embed_cache not in (*EMBED_MODES, "auto"):
            raise InputError(
                f"--embed-cache {self.embed_cache!r}: use auto, memory, disk or off")
        if not 0 <= self.box_jitter < 1:
            raise InputError(f"--box-jitter must lie in [0, 1), got {self.box_jitter}")
        if self.save_every < 1:
            raise InputError(f"--save-every must be at least 1, got {self.save_every}")
        if self.weights == "random" and self.checkpoint:
            raise InputError("choose either --weights random or --checkpoint, not both")
        return self

    # fields that must not change when a run is resumed
    FIXED = ("annotations", "base", "image_size", "batch_size", "seed", "modal_prob",
             "box_jitter", "weights", "checkpoint")


@dataclass
class TrainResult:
    name: str
    variant: str
    out_dir: Path
    checkpoint: Path
    card: Path
    steps: int
    epochs: int
    instances: int
    images: int
    final_loss: float
    seconds: float
    embed_seconds: float
    base_weights: str
    history: list[dict[str, float]] = field(default_factory=list)

    def report(self) -> dict[str, Any]:
        return {
            "variant": self.variant,
            "checkpoint": str(self.checkpoint),
            "card": str(self.card),
            "images": self.images,
            "instances": self.instances,
            "steps": self.steps,
            "final_loss": round(self.final_loss, 4),
            "train_seconds": round(self.seconds, 1),
            "embed_seconds": round(self.embed_seconds, 1),
            "base_weights": self.base_weights,
            "next": f"zoo run {self.variant} --image IMG --boxes x1,y1,x2,y2 --out DIR",
        }


# --------------------------------------------------------------------------- embeddings


def encoder_fingerprint(model: torch.nn.Module) -> str:
    """Hash of the frozen encoder side: a disk cache made with other weights is not reused."""
    h = hashlib.blake2b(digest_size=8)
    for k, v in sorted(model.state_dict().items()):
        if k.startswith("mask_decoder."):
            continue
        h.update(k.encode())
        h.update(v.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


class EmbeddingCache:
    """Frozen-encoder embeddings per image: in memory, on disk (float16 ``.npy``), or none.

    Stored in float16: half the memory (2 MB per image at 1024 px) at a precision far
    finer than the decoder can use.
    """

    def __init__(self, mode: str, directory: Path | None = None) -> None:
        if mode not in EMBED_MODES:
            raise InputError(f"embedding cache mode {mode!r}: use memory, disk or off")
        self.mode = mode
        self.directory = directory
        self._mem: dict[str, np.ndarray] = {}
        if mode == "disk":
            if directory is None:
                raise InputError("the disk embedding cache needs a directory")
            directory.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        assert self.directory is not None
        return self.directory / f"{key}.npy"

    def get(self, key: str) -> np.ndarray | None:
        if self.mode == "memory":
            return self._mem.get(key)
        if self.mode == "disk":
            p = self._path(key)
            if p.is_file():
                try:
                    return np.load(p)
                except (OSError, ValueError):
                    p.unlink(missing_ok=True)  # a torn write: recompute
        return None

    def put(self, key: str, emb: torch.Tensor) -> None:
        arr = emb.detach().to("cpu", torch.float16).numpy()
        if self.mode == "memory":
            self._mem[key] = arr
        elif self.mode == "disk":
            from zoo.io.atomic import atomic_write

            with atomic_write(self._path(key)) as tmp, open(tmp, "wb") as fh:
                np.save(fh, arr)

    def __len__(self) -> int:
        if self.mode == "disk" and self.directory is not None:
            return len(list(self.directory.glob("*.npy")))
        return len(self._mem)


# --------------------------------------------------------------------------- helpers


def _default_name(cfg: TrainConfig) -> str:
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", Path(cfg.annotations).stem).strip("-._") or "data"
    return f"{cfg.base}-{stem}"[:64]


def _lr_at(step: int, total: int, cfg: TrainConfig) -> float:
    """Linear warm-up, then cosine decay to zero."""
    warm = max(1, round(cfg.warmup_frac * total))
    if step < warm:
        return cfg.lr * (step + 1) / warm
    t = (step - warm) / max(1, total - warm)
    return cfg.lr * 0.5 * (1.0 + math.cos(math.pi * min(1.0, t)))


def _image_rgb(path: Path) -> np.ndarray:
    from zoo.io.images import load_image

    return load_image(path)  # converts grayscale / palette / RGBA / 16-bit to RGB


def _low_res_target(ann: Any, im: Any, side: int) -> np.ndarray:
    """The amodal mask resized to the decoder's low-res square (area-averaged, > 0.5).

    EfficientSAM squashes the image to a square without keeping the aspect ratio, so the
    target is squashed the same way.
    """
    import cv2

    m = ann.amodal_mask(im.height, im.width).astype(np.float32)
    small = cv2.resize(m, (side, side), interpolation=cv2.INTER_AREA)
    return small > 0.5


def _initialise(net: torch.nn.Module, cfg: TrainConfig) -> str:
    """Load the starting weights; returns a description of where they came from."""
    if cfg.weights == "random":
        return "random (TEST MODE: no pretrained EfficientSAM)"
    if cfg.checkpoint:
        path = Path(cfg.checkpoint).expanduser()
        if not path.is_file():
            raise InputError(f"checkpoint {path} does not exist; check --checkpoint")
        from zoo.weights import load_state_dict, safe_torch_load

        obj = safe_torch_load(path)
        is_sameo = isinstance(obj, dict) and (
            isinstance(obj.get("decoder"), dict) or any(str(k).startswith("decoder.")
                                                        for k in obj))
        if is_sameo:
            ck = read_checkpoint(path)
            load_into(net, ck, base=cfg.base, model_name=f"{FAMILY}:{cfg.base}", path=path)
            return f"SAMEO checkpoint {path}"
        state = load_state_dict(path, key="model")
        load_efficientsam_into(net, state, base=cfg.base, path=path)
        return f"EfficientSAM checkpoint {path}"
    state, where = load_base_weights(cfg.base)
    found = base_of_encoder(state)
    if found is not None and found != cfg.base:
        raise WeightsError(f"registered efficientsam:{cfg.base} weights are {found}")
    load_efficientsam_into(net, state, base=cfg.base, path=where)
    return f"efficientsam:{cfg.base} ({where})"


def _save_state(path: Path, decoder: torch.nn.Module, opt: torch.optim.Optimizer, step: int,
                cfg: TrainConfig, history: list[dict[str, float]]) -> None:
    from zoo.io.atomic import atomic_write

    state = {
        "decoder": {k: v.detach().cpu() for k, v in decoder.state_dict().items()},
        "optimizer": opt.state_dict(),
        "step": step,
        "config": json.dumps(asdict(cfg)),
        "history": json.dumps(history[-2000:]),
    }
    with atomic_write(path) as tmp:
        torch.save(state, tmp)


# --------------------------------------------------------------------------- main loop


def train_sameo(cfg: TrainConfig, *, progress: bool = True, console: Any = None) -> TrainResult:
    """Train SAMEO's decoder on a COCO-amodal dataset and register the result."""
    from zoo.model import resolve_device

    cfg.validate()
    name = check_name(cfg.name or _default_name(cfg))
    cfg.name = name
    variant_dir = local_root() / name
    out_dir = Path(cfg.out).expanduser().resolve() if cfg.out else variant_dir
    state_path = out_dir / STATE_FILE
    if not cfg.resume:
        if (variant_dir / VARIANT_FILE).exists():
            raise InputError(
                f"a trained variant {FAMILY}:{name} already exists ({variant_dir}); pick another "
                "--name, or add --resume to continue training it"
            )
        if state_path.exists():
            raise InputError(
                f"{out_dir} holds an unfinished run; add --resume to continue it or pick "
                "another --name/--out"
            )
    elif not state_path.exists():
        raise InputError(f"nothing to resume: {state_path} does not exist; drop --resume")

    device = resolve_device(cfg.device)
    ds = load_amodal_coco(cfg.annotations, cfg.images)
    ds = AmodalDataset(images=[im for im in ds.images if im.annotations],
                       categories=ds.categories, source=ds.source, warnings=ds.warnings)
    torch.manual_seed(cfg.seed)
    net = build_network(cfg.base, cfg.image_size)
    base_weights = _initialise(net, cfg)
    net = net.to(device).eval()
    for p in net.parameters():
        p.requires_grad_(False)
    decoder = net.mask_decoder
    for p in decoder.parameters():
        p.requires_grad_(True)
    decoder.train()

    start_step = 0
    history: list[dict[str, float]] = []
    # foreach: one fused update per step instead of one per tensor (3x faster on CPU)
    opt = torch.optim.AdamW(decoder.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay,
                            foreach=True)
    if cfg.resume:
        saved = torch.load(state_path, map_location="cpu", weights_only=True)
        old = json.loads(saved["config"])
        for k in TrainConfig.FIXED:
            if str(old.get(k)) != str(getattr(cfg, k)):
                raise InputError(
                    f"--resume with a different {k} ({getattr(cfg, k)!r}, the run used "
                    f"{old.get(k)!r}); resume with the same settings or start a new --name"
                )
        decoder.load_state_dict(saved["decoder"])
        opt.load_state_dict(saved["optimizer"])
        start_step = int(saved["step"])
        history = json.loads(saved.get("history", "[]"))

    from .model import SameoModel

    runner = SameoModel(net, base=cfg.base, image_size=cfg.image_size)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "config.json").write_text(json.dumps(asdict(cfg), indent=2))

    # ---- embeddings: once per image (the encoder is frozen)
    fp = encoder_fingerprint(net)
    mode = cfg.embed_cache
    if mode == "auto":  # float16, 256 channels on a (size/16)^2 grid per image
        need = len(ds.images) * 256 * (cfg.image_size // 16) ** 2 * 2
        mode = "memory" if need <= AUTO_MEMORY_BYTES else "disk"
    cache = EmbeddingCache(
        mode,
        (out_dir / "embeddings" / f"{cfg.base}-{cfg.image_size}-{fp}") if mode == "disk"
        else None,
    )
    side = cfg.image_size // 4
    items = [(ii, ai) for ii, im in enumerate(ds.images) for ai in range(len(im.annotations))]
    n_items = len(items)
    steps_per_epoch = max(1, math.ceil(n_items / cfg.batch_size))
    total = cfg.max_steps or cfg.epochs * steps_per_epoch
    embed_seconds = 0.0

    def embedding(ii: int) -> torch.Tensor:
        nonlocal embed_seconds
        key = f"{ii:07d}"
        arr = cache.get(key)
        if arr is None:
            t0 = time.perf_counter()
            with torch.no_grad():  # not inference_mode: "off" mode feeds autograd directly
                emb = net.get_image_embeddings(runner.image_tensor(_image_rgb(ds.images[ii].path)))
            embed_seconds += time.perf_counter() - t0
            if cache.mode == "off":
                return emb.float().clone()
            cache.put(key, emb[0])
            arr = cache.get(key)
            assert arr is not None
        return torch.from_numpy(arr.astype(np.float32))[None].to(device)

    targets: dict[tuple[int, int], np.ndarray] = {}  # packed bits of the low-res targets

    def target(ii: int, ai: int) -> np.ndarray:
        key = (ii, ai)
        if key not in targets:
            im = ds.images[ii]
            targets[key] = np.packbits(_low_res_target(im.annotations[ai], im, side))
        return np.unpackbits(targets[key], count=side * side).reshape(side, side)

    prog = _progress(progress, console)
    use_amp = device.startswith("cuda")
    amp_dtype = torch.bfloat16 if use_amp and torch.cuda.is_bf16_supported() else torch.float16
    scaler = (torch.amp.GradScaler("cuda", enabled=amp_dtype == torch.float16) if use_amp
              else None)
    t_start = time.perf_counter()
    last: dict[str, float] = history[-1] if history else {"loss": float("nan")}
    with prog:
        if cache.mode != "off":
            task = prog.add_task("embedding images", total=len(ds.images), loss="")
            for ii in range(len(ds.images)):
                embedding(ii)
                prog.advance(task)
            prog.remove_task(task)
        task = prog.add_task(f"training {FAMILY}:{name}", total=total, completed=start_step,
                             loss="")
        ema: float | None = None
        for step in range(start_step, total):
            epoch, pos = divmod(step, steps_per_epoch)
            order = np.random.default_rng([cfg.seed, epoch]).permutation(n_items)
            batch = [items[j] for j in order[pos * cfg.batch_size:(pos + 1) * cfg.batch_size]]
            if not batch:  # last partial epoch when max_steps is not a multiple
                batch = [items[j] for j in order[:cfg.batch_size]]
            rng = np.random.default_rng([cfg.seed, epoch, step, 1])
            embs, boxes, hws, tgts = [], [], [], []
            for ii, ai in batch:
                im = ds.images[ii]
                ann = im.annotations[ai]
                box = np.array(ann.modal_box if rng.random() < cfg.modal_prob else ann.amodal_box,
                               dtype=np.float64)
                if cfg.box_jitter > 0:
                    wh = np.array([box[2] - box[0], box[3] - box[1]] * 2)
                    box = box + rng.normal(0.0, cfg.box_jitter, size=4) * wh
                box = np.clip(box, 0, [im.width, im.height, im.width, im.height])
                box[2:] = np.maximum(box[2:], box[:2] + 1.0)
                embs.append(embedding(ii))
                boxes.append(box)
                hws.append((im.height, im.width))
                tgts.append(target(ii, ai))
            emb = torch.cat(embs).to(device)
            box_t = torch.tensor(np.stack(boxes), dtype=torch.float32, device=device)
            hw_t = torch.tensor(hws, dtype=torch.float32, device=device)
            tgt_t = torch.from_numpy(np.stack(tgts).astype(np.float32)).to(device)
            lr = _lr_at(step, total, cfg)
            for g in opt.param_groups:
                g["lr"] = lr
            with torch.autocast(device_type="cuda", dtype=amp_dtype, enabled=use_amp):
                logits, iou = runner.decode(emb, box_t, hw_t)
            loss, parts = sameo_loss(logits.float(), iou.float(), tgt_t,
                                     iou_weight=cfg.iou_weight, focal_alpha=cfg.focal_alpha,
                                     focal_gamma=cfg.focal_gamma)
            if not math.isfinite(parts["loss"]):
                raise RuntimeError(f"loss became {parts['loss']} at step {step}; lower --lr")
            opt.zero_grad(set_to_none=True)
            if scaler is not None:
                scaler.scale(loss).backward()
                scaler.step(opt)
                scaler.update()
            else:
                loss.backward()
                opt.step()
            ema = parts["loss"] if ema is None else 0.9 * ema + 0.1 * parts["loss"]
            last = {"step": step + 1, "epoch": epoch, "lr": lr, **parts}
            history.append(last)
            prog.update(task, advance=1, loss=f"loss {ema:.4f}")
            if (step + 1) % cfg.save_every == 0 and step + 1 < total:
                _save_state(state_path, decoder, opt, step + 1, cfg, history)
    seconds = time.perf_counter() - t_start

    decoder.eval()
    _save_state(state_path, decoder, opt, total, cfg, history)
    with open(out_dir / LOG_FILE, "w") as fh:
        for h in history:
            fh.write(json.dumps(h) + "\n")
    ckpt = save_checkpoint(out_dir / CKPT_FILE, net, base=cfg.base, image_size=cfg.image_size,
                           extra={"trained_on": str(cfg.annotations), "steps": str(total),
                                  "base_weights": base_weights})
    card = _write_card(out_dir / CARD_FILE, cfg, ds, total, last, base_weights)
    _register(variant_dir, name, ckpt, card, cfg, base_weights, net)
    return TrainResult(
        name=name, variant=f"{FAMILY}:{name}", out_dir=out_dir, checkpoint=ckpt, card=card,
        steps=total, epochs=math.ceil(total / steps_per_epoch), instances=n_items,
        images=len(ds.images), final_loss=float(last.get("loss", float("nan"))),
        seconds=seconds, embed_seconds=embed_seconds, base_weights=base_weights,
        history=history,
    )


def _progress(enabled: bool, console: Any) -> Any:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
        TextColumn("{task.fields[loss]}"), TimeElapsedColumn(), TimeRemainingColumn(),
        console=console, disable=not enabled, transient=False,
    )


def _write_card(path: Path, cfg: TrainConfig, ds: AmodalDataset, steps: int,
                last: dict[str, float], base_weights: str) -> Path:
    """A model card for the trained variant: the family card's facts, this run's recipe,
    and no borrowed numbers (the paper's metrics belong to the authors' weights)."""
    from zoo.cards import load_card, render_card
    from zoo.registry import data_dir

    family_card = load_card(Path(data_dir()) / "cards" / f"{FAMILY}.md")
    test_mode = cfg.weights == "random"
    zoo_block = family_card.zoo.model_copy(update={
        "reported_metrics": [],
        "notes": [
            f"Trained locally with `zoo train {FAMILY}` on {ds.source} ({len(ds.images)} images, "
            f"{ds.num_instances} instances); the paper's reported metrics do not apply.",
            f"Base encoder weights: {base_weights}.",
            *(["TEST MODE: the frozen encoder is randomly initialised, so this decoder is only "
               "meaningful for plumbing tests, not for real images."] if test_mode else []),
        ],
    })
    card = family_card.model_copy(update={"zoo": zoo_block, "body": (
        "Decoder fine-tuned for amodal masks (SAMEO recipe): encoder and prompt encoder "
        "frozen; prompts are the modal or the amodal box (p=0.5); "
        "loss = Dice + Focal(gamma 2) + 0.05 x L1(IoU); AdamW + cosine schedule.\n\n"
        "| setting | value |\n|---|---|\n"
        f"| base | EfficientSAM {cfg.base} |\n| image size | {cfg.image_size} |\n"
        f"| steps | {steps} (batch {cfg.batch_size}) |\n| lr | {cfg.lr:g} "
        f"(weight decay {cfg.weight_decay:g}) |\n"
        f"| final loss | {last.get('loss', float('nan')):.4f} |\n"
        f"| trained | {datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')} |\n"
    )})
    text = render_card(card, name=f"{FAMILY}:{cfg.name}", tags=["trained-locally"],
                       extra={"training": {k: v for k, v in asdict(cfg).items()
                                           if k not in ("resume",)}})
    from zoo.io.atomic import atomic_write

    with atomic_write(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path


def _register(variant_dir: Path, name: str, ckpt: Path, card: Path, cfg: TrainConfig,
              base_weights: str, net: torch.nn.Module) -> Path:
    from zoo.io.masks import write_json
    from zoo.weights import sha256_file

    variant_dir.mkdir(parents=True, exist_ok=True)
    data = {
        "family": FAMILY,
        "tag": name,
        "weights": {"uri": ckpt.resolve().as_uri(), "sha256": sha256_file(ckpt),
                    "size": ckpt.stat().st_size},
        "config": {"base": cfg.base, "image_size": cfg.image_size},
        "params": sum(p.numel() for p in net.parameters()),
        "card": str(card.resolve()),
        "description": f"SAMEO decoder trained locally on {Path(cfg.annotations).name} "
                       f"(base {cfg.base}, weights: {base_weights})",
    }
    path = variant_dir / VARIANT_FILE
    write_json(path, data, indent=2)
    return path
