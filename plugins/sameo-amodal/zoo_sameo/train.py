"""Training SAMEO's amodal mask decoder (the encoder side stays frozen).

Recipe (Tai et al., CVPR 2025, as described in the paper; the authors' code is not
public): EfficientSAM's image encoder and prompt encoder are frozen, only the mask
decoder learns; each instance is prompted with its modal (visible) box or its amodal box
with probability 0.5 each, so the decoder works behind detectors of either kind; the loss
is Dice + Focal + 0.05 x L1 on the predicted IoU (:mod:`zoo_sameo.losses`); AdamW with
linear warm-up and cosine decay (:func:`zoo.training.schedules.warmup_cosine`), mixed
precision on GPU.

Because the encoder is frozen, each image's embedding is computed once and reused every
epoch (in memory or on disk): at 1024 px the encoder costs far more than a decoder step,
so this is what makes decoder training cheap. A step is ``batch_size`` instances, each
decoded against its own image's embedding; losses are computed at the decoder's native
low resolution (a quarter of the encoder input) against the amodal mask resized to it.

Runs are resumable bit for bit (:mod:`zoo.training.checkpoint`): ``train/state.pt``
(decoder, optimiser, step, RNG state, config, history) is written every ``save_every``
steps and on Ctrl-C; the data order and prompt choices are functions of (seed, epoch,
step) and the learning rate a function of the step, so a resumed run continues exactly
where it stopped. The result is published with :func:`zoo.training.store.write_variant`
as ``sameo-amodal:NAME``: a SAMEO checkpoint, a generated card and ``variant.json``.
Trained from the registered EfficientSAM base, the checkpoint holds only the decoder and
the variant declares the base as its optional ``base`` file; trained from a random base
(test mode) or a user's file, it holds the encoder side too.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import re
import shutil
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from zoo.errors import InputError
from zoo.registry.local import TRAIN_DIR, VARIANT_FILE, check_name, variant_dir, write_variant
from zoo.training.checkpoint import (
    capture_rng,
    checkpoint_on_interrupt,
    load_state,
    restore_rng,
    save_state,
)
from zoo.training.schedules import warmup_cosine, warmup_steps

from . import FAMILY
from .build import (
    build_network,
    load_efficientsam_into,
    load_into,
    read_checkpoint,
    save_checkpoint,
)
from .config import SameoTrainConfig
from .data import AmodalDataset, load_amodal_coco
from .losses import sameo_loss

if TYPE_CHECKING:
    from zoo_efficientsam.model import EfficientSam

    from zoo.specs import VariantSpec

STATE_FILE = "state.pt"
CKPT_FILE = "decoder.safetensors"
LOG_FILE = "train_log.jsonl"
EMBED_MODES = ("memory", "disk", "off")
#: ``embed_cache="auto"`` keeps embeddings in memory up to this many bytes, else on disk.
AUTO_MEMORY_BYTES = 4 * 1024**3

__all__ = ["SameoTrainConfig", "TrainResult", "train_sameo"]


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
    test_mode: bool
    embed_cache: str
    embeddings_computed: int
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
            "test_mode": self.test_mode,
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


def _default_name(cfg: SameoTrainConfig) -> str:
    """``<base>-<annotation file stem>``, lower case: a valid local-variant name."""
    stem = Path(str(cfg.annotations)).stem.lower()
    stem = re.sub(r"[^a-z0-9._-]+", "-", stem).strip("-._") or "data"
    return f"{cfg.base}-{stem}"[:64]


def _record(cfg: SameoTrainConfig) -> dict[str, Any]:
    """The config as plain JSON values (paths as text): what the run stores and compares."""
    return cfg.model_dump(mode="json")


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


@dataclass(frozen=True)
class RunPaths:
    """Where a run writes: the variant folder the registry scans, and the run folder
    (``--out``, default the variant folder) with the checkpoint, the log and ``train/``."""

    variant: Path
    out: Path

    @property
    def train(self) -> Path:
        return self.out / TRAIN_DIR

    @property
    def state(self) -> Path:
        return self.train / STATE_FILE


def run_paths(cfg: SameoTrainConfig, name: str) -> RunPaths:
    folder = variant_dir(FAMILY, name)
    out = Path(cfg.out).expanduser().resolve() if cfg.out else folder
    return RunPaths(variant=folder, out=out)


def check_start(cfg: SameoTrainConfig, paths: RunPaths, name: str) -> None:
    """A new run must not overwrite a model or an unfinished run; ``--resume`` needs one."""
    if not cfg.resume:
        if (paths.variant / VARIANT_FILE).exists():
            raise InputError(
                f"a trained variant {FAMILY}:{name} already exists ({paths.variant}); pick "
                "another --name, or delete that folder to train it again"
            )
        if paths.state.exists():
            raise InputError(
                f"{paths.out} holds an unfinished run; add --resume to continue it or pick "
                "another --name/--out"
            )
    elif not paths.state.exists():
        raise InputError(f"nothing to resume: {paths.state} does not exist; drop --resume")
    if cfg.out:
        from zoo.context import check_out_dir

        check_out_dir(paths.out)


def load_start(cfg: SameoTrainConfig, *, progress: bool = True) -> tuple[EfficientSam, str, bool]:
    """The network to train, where its weights came from, and whether its encoder is the
    registered EfficientSAM file (then the checkpoint is saved without it).

    The registered base (and the random one of test mode) is loaded through
    ``zoo.load("efficientsam:<base>")``, so the core resolves the file (cache, sha256,
    offline rules) and its error says how to get it; ``--checkpoint`` is the user's own
    EfficientSAM or SAMEO file.
    """
    if cfg.checkpoint:
        path = Path(cfg.checkpoint).expanduser()
        if not path.is_file():
            raise InputError(f"checkpoint {path} does not exist; check --checkpoint")
        from zoo.weights import load_state_dict, safe_torch_load

        torch.manual_seed(cfg.seed)
        net = build_network(cfg.base, cfg.image_size)
        obj = safe_torch_load(path)
        is_sameo = isinstance(obj, dict) and (
            isinstance(obj.get("decoder"), dict) or any(str(k).startswith("decoder.") for k in obj)
        )
        if is_sameo:
            ck = read_checkpoint(path)

            def no_base() -> None:
                return None

            load_into(
                net, ck, base=cfg.base, model_name=f"{FAMILY}:{cfg.base}", path=path,
                base_file=no_base,
            )  # fmt: skip
            return net, f"SAMEO checkpoint {path}", False
        state = load_state_dict(path, key="model")
        load_efficientsam_into(net, state, base=cfg.base, path=path)
        return net, f"EfficientSAM checkpoint {path}", False
    from zoo.loading import load

    esam = load(
        f"efficientsam:{cfg.base}",
        weights="random" if cfg.test_mode else None,
        seed=cfg.seed if cfg.test_mode else None,
        device="cpu",
        progress=progress,
        image_size=cfg.image_size,
    )
    if cfg.test_mode:
        return esam.model, "random (TEST MODE: no pretrained EfficientSAM)", False
    return esam.model, f"efficientsam:{cfg.base} ({esam.weights})", True


@contextlib.contextmanager
def _hold_interrupt() -> Iterator[None]:
    """Hold Ctrl-C until the block ends, then raise it.

    The parameter update, the optimiser state and the step counter must change together:
    a ``KeyboardInterrupt`` half-way through ``opt.step()`` would save a state that no
    uninterrupted run ever had, and the resumed run would not be bit-exact.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, _frame: pending.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if pending:
        raise KeyboardInterrupt


# --------------------------------------------------------------------------- main loop


def train_sameo(
    cfg: SameoTrainConfig,
    *,
    variant: VariantSpec | None = None,
    progress: bool = True,
    console: Any = None,
) -> TrainResult:
    """Train SAMEO's decoder on a COCO-amodal dataset and publish it as a local variant.

    ``zoo train sameo-amodal[:vitt|:vits]`` calls it with the command line validated into
    ``cfg`` and the variant named (``variant``: its base, unless ``--base`` says otherwise).
    Everything the user gave is checked (options, name, data, base weights, device)
    before any file is written, so a bad command leaves nothing behind.
    """
    from zoo.devices import resolve_device
    from zoo.progress import format_terms, progress_bar

    from .plugin import RESERVED_TAGS

    if variant is not None and variant.tag not in RESERVED_TAGS:
        raise InputError(
            f"train the family (`zoo train {FAMILY} --base ...`), not the trained variant "
            f"{variant.name}; to continue an unfinished run use --name {variant.tag} --resume"
        )
    cfg = cfg.check()
    if variant is not None and "base" not in cfg.model_fields_set:
        # `zoo train sameo-amodal:vits` means --base vits
        cfg = cfg.model_copy(update={"base": variant.config.get("base", cfg.base)})
    name = check_name(FAMILY, cfg.name or _default_name(cfg), RESERVED_TAGS)
    cfg = cfg.model_copy(update={"name": name})
    paths = run_paths(cfg, name)
    check_start(cfg, paths, name)
    device = resolve_device(cfg.device)
    assert cfg.annotations is not None and cfg.images is not None  # cfg.check() says so
    ds = load_amodal_coco(cfg.annotations, cfg.images)
    ds = AmodalDataset(
        images=[im for im in ds.images if im.annotations],
        categories=ds.categories,
        source=ds.source,
        warnings=ds.warnings,
    )
    saved: dict[str, Any] | None = None
    if cfg.resume:
        saved = load_state(paths.state, what="SAMEO training state")
        old = json.loads(saved["config"])
        for k in SameoTrainConfig.FIXED:
            if str(old.get(k)) != str(getattr(cfg, k)):
                raise InputError(
                    f"--resume with a different {k} ({getattr(cfg, k)!r}, the run used "
                    f"{old.get(k)!r}); resume with the same settings or start a new --name"
                )
    net, base_weights, registered_base = load_start(cfg, progress=progress)
    net = net.to(device).eval()
    for p in net.parameters():
        p.requires_grad_(False)
    decoder = net.mask_decoder
    for p in decoder.parameters():
        p.requires_grad_(True)
    decoder.train()

    # foreach: one fused update per step instead of one per tensor (3x faster on CPU)
    opt = torch.optim.AdamW(
        decoder.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay, foreach=True
    )
    start_step = 0
    history: list[dict[str, float]] = []
    if saved is not None:
        decoder.load_state_dict(saved["decoder"])
        opt.load_state_dict(saved["optimizer"])
        restore_rng(saved["rng"])
        start_step = int(saved["step"])
        history = json.loads(saved.get("history", "[]"))

    from .model import SameoModel

    runner = SameoModel(net, base=cfg.base, image_size=cfg.image_size)
    # ---- from here on files are written: every input has been checked
    paths.train.mkdir(parents=True, exist_ok=True)
    (paths.train / "config.json").write_text(json.dumps(_record(cfg), indent=2))

    # ---- embeddings: once per image (the encoder is frozen)
    fp = encoder_fingerprint(net)
    mode = cfg.embed_cache
    if mode == "auto":  # float16, 256 channels on a (size/16)^2 grid per image
        need = len(ds.images) * 256 * (cfg.image_size // 16) ** 2 * 2
        mode = "memory" if need <= AUTO_MEMORY_BYTES else "disk"
    cache = EmbeddingCache(
        mode,
        (paths.train / "embeddings" / f"{cfg.base}-{cfg.image_size}-{fp}")
        if mode == "disk"
        else None,
    )
    side = cfg.image_size // 4
    items = [(ii, ai) for ii, im in enumerate(ds.images) for ai in range(len(im.annotations))]
    n_items = len(items)
    steps_per_epoch = max(1, math.ceil(n_items / cfg.batch_size))
    total = cfg.max_steps or cfg.epochs * steps_per_epoch
    warmup = warmup_steps(total, fraction=cfg.warmup_frac)
    embed = {"seconds": 0.0, "computed": 0}

    def embedding(ii: int) -> torch.Tensor:
        key = f"{ii:07d}"
        arr = cache.get(key)
        if arr is None:
            t0 = time.perf_counter()
            with torch.no_grad():  # not inference_mode: "off" mode feeds autograd directly
                emb = net.get_image_embeddings(runner.image_tensor(_image_rgb(ds.images[ii].path)))
            embed["seconds"] += time.perf_counter() - t0
            embed["computed"] += 1
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

    use_amp = device.startswith("cuda")
    amp_dtype = torch.bfloat16 if use_amp and torch.cuda.is_bf16_supported() else torch.float16
    scaler = torch.amp.GradScaler("cuda", enabled=amp_dtype == torch.float16) if use_amp else None
    done = start_step

    def save_now() -> Path | None:
        """The state after the last finished step (``None`` before the first one)."""
        if done == 0:
            return None
        return save_state(
            paths.state,
            {
                "decoder": {k: v.detach().cpu() for k, v in decoder.state_dict().items()},
                "optimizer": opt.state_dict(),
                "step": done,
                "rng": capture_rng(),
                "config": json.dumps(_record(cfg)),
                "history": json.dumps(history[-2000:]),
            },
        )

    hint = f"`zoo train {FAMILY} --name {name} --resume` with the same options"
    prog = progress_bar(unit="step", console=console, enabled=progress)
    t_start = time.perf_counter()
    last: dict[str, float] = history[-1] if history else {"loss": float("nan")}
    with checkpoint_on_interrupt(save_now, resume_hint=hint, console=console), prog:
        if cache.mode != "off":
            task = prog.add_task("embedding images", total=len(ds.images), info="", unit="image")
            for ii in range(len(ds.images)):
                embedding(ii)
                prog.advance(task)
            prog.remove_task(task)
        task = prog.add_task(
            f"training {FAMILY}:{name}", total=total, completed=start_step, info=""
        )
        ema: float | None = None
        for step in range(start_step, total):
            epoch, pos = divmod(step, steps_per_epoch)
            order = np.random.default_rng([cfg.seed, epoch]).permutation(n_items)
            batch = [items[j] for j in order[pos * cfg.batch_size : (pos + 1) * cfg.batch_size]]
            if not batch:  # last partial epoch when max_steps is not a multiple
                batch = [items[j] for j in order[: cfg.batch_size]]
            rng = np.random.default_rng([cfg.seed, epoch, step, 1])
            embs, boxes, hws, tgts = [], [], [], []
            for ii, ai in batch:
                im = ds.images[ii]
                ann = im.annotations[ai]
                box = np.array(
                    ann.modal_box if rng.random() < cfg.modal_prob else ann.amodal_box,
                    dtype=np.float64,
                )
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
            lr = cfg.lr * warmup_cosine(step, total, warmup=warmup)
            with torch.autocast(device_type="cuda", dtype=amp_dtype, enabled=use_amp):
                logits, iou = runner.decode(emb, box_t, hw_t)
            loss, parts = sameo_loss(
                logits.float(),
                iou.float(),
                tgt_t,
                iou_weight=cfg.iou_weight,
                focal_alpha=cfg.focal_alpha,
                focal_gamma=cfg.focal_gamma,
            )
            if not math.isfinite(parts["loss"]):
                raise RuntimeError(f"loss became {parts['loss']} at step {step}; lower --lr")
            with _hold_interrupt():
                for g in opt.param_groups:
                    g["lr"] = lr
                opt.zero_grad(set_to_none=True)
                if scaler is not None:
                    scaler.scale(loss).backward()
                    scaler.step(opt)
                    scaler.update()
                else:
                    loss.backward()
                    opt.step()
                last = {"step": step + 1, "epoch": epoch, "lr": lr, **parts}
                history.append(last)
                done = step + 1
            ema = parts["loss"] if ema is None else 0.9 * ema + 0.1 * parts["loss"]
            info = format_terms({"loss": ema, "dice": parts["dice"], "iou": parts["iou"]})
            prog.update(task, advance=1, info=info)
            if done % cfg.save_every == 0 and done < total:
                save_now()
    seconds = time.perf_counter() - t_start
    decoder.eval()
    embeddings_computed = embed["computed"]
    return _publish(
        cfg, paths, net, ds, history, last,
        base_weights=base_weights, registered_base=registered_base, total=total,
        steps_per_epoch=steps_per_epoch, n_items=n_items, seconds=seconds,
        embed_seconds=float(embed["seconds"]), embed_cache=mode,
        embeddings_computed=int(embeddings_computed),
    )  # fmt: skip


def _publish(
    cfg: SameoTrainConfig,
    paths: RunPaths,
    net: torch.nn.Module,
    ds: AmodalDataset,
    history: list[dict[str, float]],
    last: dict[str, float],
    *,
    base_weights: str,
    registered_base: bool,
    total: int,
    steps_per_epoch: int,
    n_items: int,
    seconds: float,
    embed_seconds: float,
    embed_cache: str,
    embeddings_computed: int,
) -> TrainResult:
    """Checkpoint, log, card and ``variant.json`` (last): the run becomes ``FAMILY:NAME``.

    The resumable state (``train/``) goes once the variant is published.
    """
    from zoo.io.atomic import atomic_write
    from zoo.specs import VariantSpec, WeightsSpec
    from zoo.weights import sha256_file

    assert cfg.name is not None
    name = cfg.name
    ckpt = save_checkpoint(
        paths.out / CKPT_FILE,
        net,
        base=cfg.base,
        image_size=cfg.image_size,
        include_encoder=not registered_base,
        extra={
            "trained_on": str(cfg.annotations),
            "steps": str(total),
            "base_weights": base_weights,
        },
    )
    with atomic_write(paths.out / LOG_FILE) as tmp, open(tmp, "w") as fh:
        for h in history:
            fh.write(json.dumps(h) + "\n")
    checkpoints = {
        "decoder": WeightsSpec(
            uri=str(ckpt.resolve()),
            sha256=sha256_file(ckpt),
            size=ckpt.stat().st_size,
            license="Apache-2.0",
        )
    }
    if registered_base:  # the checkpoint holds only the decoder: name the encoder's file
        checkpoints["base"] = WeightsSpec(same_as=f"efficientsam:{cfg.base}", optional=True)
    config: dict[str, Any] = {"base": cfg.base, "image_size": cfg.image_size}
    if cfg.test_mode:
        config["test_mode"] = True  # outputs stay labelled: the encoder is random
    spec = VariantSpec(
        family=FAMILY,
        tag=name,
        checkpoints=checkpoints,
        params=sum(p.numel() for p in net.parameters()),
        config=config,
        description=f"SAMEO decoder trained locally on {Path(str(cfg.annotations)).name} "
        f"(base {cfg.base}{', TEST MODE: random encoder' if cfg.test_mode else ''})",
    )
    final_loss = float(last.get("loss", float("nan")))
    card = _card(cfg, ds, total, final_loss, base_weights)
    extra = {
        "base": base_weights,
        "data": {
            "annotations": str(cfg.annotations),
            "images": len(ds.images),
            "instances": n_items,
        },
        "steps": total,
        "metrics": {"final_loss": final_loss},
        "test_mode": cfg.test_mode,
        "trained": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    write_variant(paths.variant, spec, card=card, extra=extra)
    shutil.rmtree(paths.train, ignore_errors=True)
    return TrainResult(
        name=name,
        variant=f"{FAMILY}:{name}",
        out_dir=paths.out,
        checkpoint=ckpt,
        card=paths.variant / "card.md",
        steps=total,
        epochs=math.ceil(total / steps_per_epoch),
        instances=n_items,
        images=len(ds.images),
        final_loss=final_loss,
        seconds=seconds,
        embed_seconds=embed_seconds,
        base_weights=base_weights,
        test_mode=cfg.test_mode,
        embed_cache=embed_cache,
        embeddings_computed=embeddings_computed,
        history=history,
    )


def _card(
    cfg: SameoTrainConfig, ds: AmodalDataset, steps: int, final_loss: float, base_weights: str
) -> str:
    """A model card for the trained variant: the family card's facts, this run's recipe,
    and no borrowed numbers (the paper's metrics belong to the authors' weights)."""
    from zoo.cards import load_card, render_card

    from .plugin import CARD

    family_card = load_card(CARD)
    zoo_block = family_card.zoo.model_copy(
        update={
            "reported_metrics": [],
            "notes": [
                f"Trained locally with `zoo train {FAMILY}` on {ds.source} ({len(ds.images)} "
                f"images, {ds.num_instances} instances); the paper's reported metrics do not "
                "apply.",
                f"Base encoder weights: {base_weights}.",
                *(
                    [
                        "TEST MODE: the frozen encoder is randomly initialised, so this decoder "
                        "is only meaningful for plumbing tests, not for real images."
                    ]
                    if cfg.test_mode
                    else []
                ),
            ],
        }
    )
    body = (
        "Decoder fine-tuned for amodal masks (SAMEO recipe): encoder and prompt encoder "
        f"frozen; prompts are the modal or the amodal box (p={cfg.modal_prob:g}); "
        f"loss = Dice + Focal(gamma {cfg.focal_gamma:g}) + {cfg.iou_weight:g} x L1(IoU); "
        "AdamW + warm-up and cosine schedule.\n\n"
        "| setting | value |\n|---|---|\n"
        f"| base | EfficientSAM {cfg.base} |\n| image size | {cfg.image_size} |\n"
        f"| steps | {steps} (batch {cfg.batch_size}) |\n| lr | {cfg.lr:g} "
        f"(weight decay {cfg.weight_decay:g}) |\n"
        f"| final loss | {final_loss:.4f} |\n"
        f"| trained | {datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')} |\n"
    )
    card = family_card.model_copy(update={"zoo": zoo_block, "body": body})
    return render_card(
        card,
        name=f"{FAMILY}:{cfg.name}",
        tags=["trained-locally"],
        extra={"training": {k: v for k, v in _record(cfg).items() if k != "resume"}},
    )
