"""Fine-tuning SAM 2.1 into OpSeg: ``zoo train opseg-shadow``.

The paper compares two recipes starting from SAM 2.1 base-plus, both trained with box
prompts on SOBA objects *and* shadows:

* ``--freeze image-encoder`` ("Fz."): the Hiera encoder and its FPN neck stay fixed; the
  prompt encoder and the mask decoder (including its high-resolution feature convolutions
  and SAM 2's ``no_mem_embed``) learn. Cheap: the encoder runs without gradients, and with
  ``--cache-embeddings`` only once per image.
* ``--freeze none`` ("Ft."): everything used for single images learns (the video memory
  modules are never used for images, so they get no gradient and are left as they are).

OpSeg's loss *formula* lives here (:func:`opseg_loss`), built from the shared terms of
:mod:`zoo.training.losses`: per prompt, as in SAM, ``20 * focal + dice + MSE(predicted IoU,
actual IoU)`` on logits upsampled to the input resolution (focal: alpha 0.25 class-balanced,
gamma 2; dice smoothed by 1; an empty prediction of an empty target has IoU 1). AdamW,
linear warm-up then cosine decay to 10 % (:func:`zoo.training.schedules.warmup_cosine`),
gradient-norm clipping at 1.0, gradient accumulation (``--accum``), bf16 autocast on CUDA.
Boxes are jittered by ``--box-noise`` of their side (SAM's recipe) so that the model does
not depend on pixel-perfect boxes. The upstream training code and hyper-parameters are not
published; these defaults are ours.

The base a run starts from comes through :func:`zoo.load` like any model (``sam2:<base>``
with its registered, verified file; ``--weights random`` for a test run; ``--checkpoint
PATH`` for another SAM 2.1 file): the trainer never resolves weights itself.

Resuming is bit-exact (:mod:`zoo.training.checkpoint`): the state holds the learning
parameters, the optimizer, the step, the log and the torch RNG; batches and box jitter are
pure functions of ``(seed, step)`` (:func:`index_stream`, ``default_rng([seed, step,
micro, 7])``) and the schedule a pure function of the step, so they need nothing saved.
Ctrl-C saves the state and says how to continue.

Outputs: the run folder (``$ZOO_HOME/local/opseg-shadow/<name>/``, or ``--out DIR``) holds
``model.safetensors`` (the full SAM 2.1 state dict, loadable strictly) and ``train/``
(``state.pt`` and ``log.json``; kept after the run so that ``--resume --steps N`` can
extend it). The variant is published last with :func:`zoo.registry.local.write_variant`
(``card.md``, then ``variant.json``), so an unfinished run is never registered; the core's
scanner registers it. Nothing is created before every input has been validated.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from zoo.errors import InputError, hint

from .config import PRETRAINED_INIT, OpSegTrainConfig
from .plugin import FAMILY, RESERVED_TAGS

if TYPE_CHECKING:
    from zoo.specs import VariantSpec

STATE_FILE = "state.pt"
LOG_FILE = "log.json"
WEIGHTS_FILE = "model.safetensors"


# --------------------------------------------------------------------------- data


class SobaTrainSet:
    """Images resized to ``S x S`` (SAM's square input) with every object/shadow target.

    Masks are resized with nearest neighbour; boxes come from the full-resolution masks and
    are scaled the same way the model's prompt transform scales boxes at inference.
    """

    def __init__(self, data: Any, image_size: int):
        import warnings

        from sam2.utils.transforms import SAM2Transforms

        self.data = data
        self.size = image_size
        with warnings.catch_warnings():  # sam2 scripts its transforms; torch deprecates that
            warnings.filterwarnings("ignore", ".*torch.jit.script.*", FutureWarning)
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


def opseg_loss(
    logits: Any,
    target: Any,
    iou_pred: Any,
    weights: Sequence[float] = (20.0, 1.0, 1.0),
) -> tuple[Any, dict[str, float]]:
    """OpSeg's (SAM's) loss for N prompts: ``wf * focal + wd * dice + wi * IoU-head MSE``,
    each term per prompt then averaged; ``weights`` = (wf, wd, wi), SAM's 20:1:1 by default.

    The terms and their conventions come from :mod:`zoo.training.losses`: focal with alpha
    0.25 *class-balanced* (``alpha_t = 0.25 t + 0.75 (1 - t)``) and gamma 2, mean over
    pixels; soft Dice per mask, smoothing 1; the IoU head regressed (MSE) onto the hard IoU
    of ``logits > 0``, where an empty prediction of an empty target counts as IoU 1.
    """
    from zoo.training.losses import dice_loss, iou_head_loss, mask_iou, sigmoid_focal_loss

    logits = logits.float()
    target = target.float()
    focal = sigmoid_focal_loss(
        logits, target, alpha=0.25, gamma=2.0, alpha_mode="balanced", reduction="mask"
    )
    dice = dice_loss(logits, target, smoothing=1.0)
    actual_iou = mask_iou(logits, target, empty=1.0)
    iou = iou_head_loss(iou_pred.float().reshape(-1), actual_iou, kind="mse", reduction="none")
    wf, wd, wi = weights
    total = (wf * focal + wd * dice + wi * iou).mean()
    return total, {
        "focal": float(focal.detach().mean()),
        "dice": float(dice.detach().mean()),
        "iou": float(iou.detach().mean()),
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


# --------------------------------------------------------------------------- files


def run_paths(cfg: OpSegTrainConfig) -> tuple[Path, Path]:
    """``(run folder, variant folder)``. Weights and ``train/`` go in the run folder (``--out``
    or the variant folder); ``card.md`` and ``variant.json`` go in the variant folder, where
    the core's scanner finds them (a weights file outside it is referenced by absolute path).
    """
    from zoo.registry.local import variant_dir

    assert cfg.name is not None  # OpSegTrainConfig.check() names the run
    reg_dir = variant_dir(FAMILY, cfg.name)
    return (Path(cfg.out).expanduser().resolve() if cfg.out else reg_dir), reg_dir


def save_weights(model: Any, path: Path, *, test_mode: bool) -> tuple[str, int]:
    """The full state dict as safetensors, atomically (tensors cloned: safetensors refuses
    shared storage). A model trained from a random init says so in the file's metadata."""
    from safetensors.torch import save_file

    from zoo.io.atomic import atomic_write
    from zoo.results import TEST_MODE_NOTE
    from zoo.weights import sha256_file

    sd = {k: v.detach().to("cpu").contiguous().clone() for k, v in model.state_dict().items()}
    meta = {"format": "pt", "zoo_family": FAMILY}
    if test_mode:
        meta["zoo:note"] = TEST_MODE_NOTE
    with atomic_write(path) as tmp:
        save_file(sd, str(tmp), metadata=meta)
    return sha256_file(path), path.stat().st_size


def _jsonable(obj: Any) -> Any:
    """Plain JSON types only: what ``torch.load(weights_only=True)`` and ``json`` accept."""
    return json.loads(json.dumps(obj, default=float))


def _start_label(cfg: OpSegTrainConfig) -> str:
    if cfg.random_init:
        return f"random init of SAM 2.1 {cfg.base} (test mode)"
    if cfg.init == PRETRAINED_INIT:
        return f"sam2:{cfg.base}"
    return f"{cfg.init} (SAM 2.1 {cfg.base})"


def card_text(cfg: OpSegTrainConfig, report: dict[str, Any]) -> str:
    """A card for the new variant: the family card's paper/upstream, none of the paper's
    numbers (they are not this model's), and what we measured (validation before -> after)."""
    from zoo.cards import load_card, render_card

    from .plugin import CARD

    card = load_card(CARD)
    notes = [
        f"Trained locally by `zoo train {FAMILY}` ({time.strftime('%Y-%m-%d %H:%M')}); "
        "the paper's numbers do not apply to this checkpoint.",
        f"Start: {_start_label(cfg)}; recipe: freeze={cfg.freeze}; seed {cfg.seed}.",
    ]
    if cfg.random_init:
        notes.append(
            "Test mode: trained from a random init, so its outputs are labelled test mode "
            "and are not real predictions."
        )
    val = report.get("val")
    if val:
        b, a = val["before"], val["after"]

        def change(target: str) -> str:
            after = f"{a[target]['mIoU']:.3f}"
            return f"{b[target]['mIoU']:.3f} -> {after}" if b else after

        notes.append(
            f"Validation on {Path(str(cfg.val_annotations)).name}: shadow mIoU "
            f"{change('shadows')}, object mIoU {change('objects')}"
            + (
                " (before -> after)."
                if b
                else " (after; the run was resumed without a score from before training)."
            )
        )
    zoo_block = card.zoo.model_copy(update={"reported_metrics": [], "notes": notes})
    body = (
        f"Fine-tuned SAM 2.1 {cfg.base} for instance shadow segmentation (OpSeg recipe, "
        f"{'frozen image encoder' if cfg.frozen else 'full fine-tune'}).\n\n"
        f"- data: `{cfg.annotations}` ({report['train_images']} images)\n"
        f"- steps: {report['steps']} x batch {cfg.batch_size} (accum {cfg.accum}), lr "
        f"{cfg.learning_rate:g}, image size {cfg.image_size}, box noise {cfg.box_noise}\n"
        f"- final loss: {report.get('final_loss', float('nan')):.4f}\n"
    )
    if val:
        b, a = val["before"], val["after"]
        before = f"before {b['objects']['mIoU']:.4f}/{b['shadows']['mIoU']:.4f}, " if b else ""
        body += (
            f"- validation (`{cfg.val_annotations}`), mIoU objects/shadows: {before}after "
            f"{a['objects']['mIoU']:.4f}/{a['shadows']['mIoU']:.4f}\n"
        )
    body += f"\n```bash\nzoo run {FAMILY}:{cfg.name} --image X --objects ... --shadows ...\n```\n"
    new = card.model_copy(update={"zoo": zoo_block, "body": body})
    extra = {"training": {k: v for k, v in cfg.record().items() if k not in ("device", "out")}}
    return render_card(
        new,
        name=f"{FAMILY}:{cfg.name}",
        tags=["fine-tuned", "local"],
        base_model=f"sam2:{cfg.base}",
        extra=_jsonable(extra),
    )


# --------------------------------------------------------------------------- training


def load_base(cfg: OpSegTrainConfig, *, progress: bool = True) -> Any:
    """The zoo model a run starts from, loaded by :func:`zoo.load` (files resolved and
    verified by the core, the random init seeded with ``cfg.seed``).

    ``sam2:<base>`` for the pretrained start or a random one; a ``--checkpoint`` file goes
    through this family's loader, which recognises SAM 2.1 files of the wrong size or
    version and says so. ``.model`` is the ``SAM2Base`` that trains.
    """
    from zoo.loading import RANDOM, load

    kwargs: dict[str, Any] = {"device": cfg.device, "seed": cfg.seed, "progress": progress}
    if cfg.image_size is not None:
        kwargs["image_size"] = cfg.image_size
    if cfg.random_init:
        return load(f"sam2:{cfg.base}", weights=RANDOM, **kwargs)
    if cfg.init == PRETRAINED_INIT:
        return load(f"sam2:{cfg.base}", **kwargs)
    return load(FAMILY, checkpoint=cfg.init, size=cfg.base, **kwargs)


def _validate_model(zoo_model: Any, data: Any) -> dict[str, Any]:
    """Score the current weights on ``data`` (eval mode, no gradients, mode restored).

    A fresh :class:`~zoo_opseg.model.OpSegModel` wraps the training module each time, so no
    image embedding cached from before the weights changed is reused.
    """
    import torch

    from .evaluate import evaluate
    from .model import OpSegModel

    sam = zoo_model.model
    view = OpSegModel(sam)
    if zoo_model.context is not None:
        view._bind(zoo_model.context)  # provenance of the base's load; used only in memory
    was_training = sam.training
    sam.eval()
    try:
        with torch.no_grad():
            ev = evaluate({"m": view}, data)["m"]
        return _jsonable(ev.summary())
    finally:
        sam.train(was_training)


def _check_resume(cfg: OpSegTrainConfig, saved: dict[str, Any], keys: tuple[str, ...]) -> None:
    now = cfg.record()
    diff = [k for k in keys if saved.get(k) != now.get(k)]
    if diff:
        k = diff[0]
        raise InputError(
            f"--resume: run {cfg.name} was started with {k}={saved.get(k)!r}, now "
            f"{now.get(k)!r}; use the same options (or a new --name)"
        )


def train(
    cfg: OpSegTrainConfig,
    *,
    variant: VariantSpec | None = None,
    progress: bool = True,
    console: Any = None,
) -> dict[str, Any]:
    """Run (or, with ``resume``, continue) a fine-tuning run; returns a report (see the
    module docstring). ``zoo train opseg-shadow`` calls it with the command line validated
    into ``cfg``; ``variant`` is the one named on it (only the family itself trains).

    Order matters for "a failed command leaves nothing behind": the config, the data files,
    the run folder and any saved state are checked, and the base model loaded, before the
    first file of the run is written.
    """
    import torch

    from zoo.context import check_out_dir
    from zoo.devices import resolve_device
    from zoo.io.masks import write_json
    from zoo.progress import format_terms, progress_bar
    from zoo.registry.local import TRAIN_DIR, VARIANT_FILE, write_variant
    from zoo.specs import PRIMARY, VariantSpec, WeightsSpec
    from zoo.training.checkpoint import (
        capture_rng,
        checkpoint_on_interrupt,
        load_state,
        restore_rng,
        save_state,
    )
    from zoo.training.schedules import warmup_cosine

    from .soba import load_soba

    if variant is not None and variant.tag not in RESERVED_TAGS:
        raise InputError(f"train the family (`zoo train {FAMILY}`); --base picks the SAM 2.1 size")
    cfg = cfg.check()
    resume = cfg.resume
    assert cfg.annotations is not None and cfg.images is not None  # cfg.check() says so
    device = resolve_device(cfg.device)
    run_dir, reg_dir = run_paths(cfg)
    if cfg.out:
        check_out_dir(run_dir)
    data = load_soba(cfg.annotations, cfg.images)
    val = (
        load_soba(cfg.val_annotations, cfg.val_images or cfg.images)
        if cfg.val_annotations
        else None
    )
    state_path = run_dir / TRAIN_DIR / STATE_FILE
    if resume:
        if not state_path.is_file():
            raise InputError(
                f"--resume: no saved state for run {cfg.name} ({state_path}); start it "
                "without --resume"
            )
    elif state_path.exists() or (reg_dir / VARIANT_FILE).exists():
        raise InputError(
            f"run {cfg.name} already exists in {run_dir}; pass --resume to continue it "
            "or choose another --name"
        )
    state: dict[str, Any] | None = None
    if resume:
        state = load_state(state_path)
        keys = tuple(k for k in OpSegTrainConfig.RESUME_KEYS if k != "image_size")
        _check_resume(cfg, state.get("config", {}), keys)

    base = load_base(cfg, progress=progress)
    model = base.model
    size = int(model.image_size)
    cfg = cfg.model_copy(update={"image_size": size})
    if state is not None:
        _check_resume(cfg, state.get("config", {}), ("image_size",))

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

    report: dict[str, Any] = {
        "name": cfg.name,
        "variant": f"{FAMILY}:{cfg.name}",
        "train_images": len(data),
        "run_dir": str(run_dir),
    }
    if state is not None:
        # a resumed run's "before" is the start's, when that run scored one (never the
        # partly trained weights at the resume point)
        report["val_before"] = state.get("val_before")
    elif val is not None:
        report["val_before"] = _validate_model(base, val)

    dataset = SobaTrainSet(data, size)
    loader: Any = torch.utils.data.DataLoader(
        dataset,  # type: ignore[arg-type]
        batch_sampler=index_stream(
            len(dataset), cfg.batch_size, cfg.seed, start * cfg.accum, cfg.steps * cfg.accum
        ),
        collate_fn=_collate,
        num_workers=cfg.workers,
    )
    # The iterator draws a base seed from torch's RNG: take it *before* restoring the saved
    # RNG, so that a resumed run continues from exactly the state the interrupted one had.
    batches = iter(loader)
    if state is not None:
        restore_rng(state["rng"])
    rng_at_step = capture_rng()

    def save(step_now: int) -> Path:
        return save_state(
            state_path,
            {
                "step": step_now,
                "config": _jsonable(cfg.record()),
                "log": log,
                # only what learns: the rest is rebuilt from the same start on --resume
                "model": {n: p.detach().cpu().clone() for n, p in params},
                "optimizer": opt.state_dict(),
                "rng": rng_at_step,
                "val_before": report.get("val_before"),
            },
        )

    use_amp = (cfg.amp if cfg.amp is not None else True) and device.startswith("cuda")
    cache: dict[int, list[Any]] = {}
    model.train()
    model.image_encoder.train(not cfg.frozen)
    t0 = time.perf_counter()
    step = start
    micro = 0
    losses: list[float] = []
    bar = progress_bar(unit="step", console=console, enabled=progress)
    # every loss term where the terminal has room for them, else the total (80 columns)
    shown = ("loss", "focal", "dice", "iou") if bar.console.width >= 120 else ("loss",)
    resume_hint = hint(
        f"zoo train {FAMILY} --name {cfg.name} --resume (and the same options)",
        "train(cfg) with the same cfg and resume=True",
    )
    with (
        checkpoint_on_interrupt(lambda: save(step), resume_hint=resume_hint, console=console),
        bar,
    ):
        task = bar.add_task(f"train {cfg.name}", total=cfg.steps, completed=start, info="")
        for batch in batches:
            rng = np.random.default_rng([cfg.seed, step, micro, 7])
            loss, parts = _micro_step(model, batch, cfg, rng, device, use_amp, cache)
            (loss / cfg.accum).backward()
            losses.append(float(loss.detach()))
            micro += 1
            if micro < cfg.accum:
                continue
            lr = cfg.learning_rate * warmup_cosine(
                step, cfg.steps, warmup=cfg.warmup_steps, floor=0.1
            )
            for group in opt.param_groups:
                group["lr"] = lr
            torch.nn.utils.clip_grad_norm_([p for _, p in params], 1.0)
            opt.step()
            opt.zero_grad(set_to_none=True)
            step += 1
            micro = 0
            mean_loss = float(np.mean(losses))
            losses = []
            log.append({"step": step, "loss": mean_loss, "lr": lr, **parts})
            rng_at_step = capture_rng()
            terms = {"loss": mean_loss, **parts}
            bar.update(task, completed=step, info=format_terms(terms, shown))
            if step % cfg.save_every == 0 and step < cfg.steps:
                save(step)
    elapsed = time.perf_counter() - t0
    save(step)
    model.eval()
    weights = run_dir / WEIGHTS_FILE
    sha, size = save_weights(model, weights, test_mode=cfg.random_init)
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
            "after": _validate_model(base, val),
        }
    else:
        report.pop("val_before", None)
    log_path = run_dir / TRAIN_DIR / LOG_FILE
    write_json(log_path, {"config": cfg.record(), "log": log, "report": report}, indent=1)
    config: dict[str, Any] = {"size": cfg.base, "image_size": cfg.image_size}
    if cfg.random_init:
        config["test_mode"] = True
    assert cfg.name is not None and cfg.annotations is not None  # cfg.check() says so
    spec = VariantSpec(
        family=FAMILY,
        tag=cfg.name,
        checkpoints={PRIMARY: WeightsSpec(uri=str(weights), sha256=sha, size=size)},
        params=int(base.num_parameters()),
        config=config,
        description=(
            f"local: SAM 2.1 {cfg.base} fine-tuned on {Path(cfg.annotations).name}, "
            f"freeze={cfg.freeze}, {step} steps"
        ),
    )
    extra = {
        "base": f"sam2:{cfg.base}" if not cfg.random_init else f"random sam2:{cfg.base}",
        "init": cfg.init,
        "data": str(cfg.annotations),
        "steps": step,
        "final_loss": report["final_loss"],
        **({"val": report["val"]} if "val" in report else {}),
    }
    variant_file = write_variant(reg_dir, spec, card=card_text(cfg, report), extra=_jsonable(extra))
    report["files"] = [str(weights), str(reg_dir / "card.md"), str(variant_file), str(state_path)]
    report["run"] = f"zoo run {FAMILY}:{cfg.name} --image X --objects ... --shadows ..."
    if "val" in report:  # for people: a table (--json keeps the numbers under "val" too)
        report["table"] = validation_table(report["val"], str(cfg.val_annotations))
    return report


def _micro_step(
    model: Any,
    batch: list[dict[str, Any]],
    cfg: OpSegTrainConfig,
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
    assert cfg.image_size is not None, "train() resolves the input size first"
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
    return opseg_loss(logits, target, iou_pred, cfg.loss_weights)


def validation_table(val: dict[str, Any], annotations: str) -> dict[str, Any]:
    """Validation scores before and after training, one row per target and metric."""
    from .metrics import METRIC_KEYS, METRIC_LABELS

    rows: list[list[Any]] = []
    for target, label in (("objects", "object"), ("shadows", "shadow")):
        for m in METRIC_KEYS:
            a = float(val["after"][target][m])
            if val["before"] is None:  # resumed without a score from before training
                rows.append([f"{label} {METRIC_LABELS[m]}", "-", a, "-"])
                continue
            b = float(val["before"][target][m])
            rows.append([f"{label} {METRIC_LABELS[m]}", b, a, f"{a - b:+.4f}"])
    return {
        "title": f"validation on {Path(annotations).name}",
        "columns": ["metric", "before", "after", "change"],
        "rows": rows,
    }
