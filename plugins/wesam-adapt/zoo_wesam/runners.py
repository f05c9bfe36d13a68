"""``zoo train wesam-adapt`` and ``zoo eval wesam-adapt:...`` handlers.

Everything a user can get wrong (options, the images folder, the annotation file, masks
missing for point/coarse prompts, a taken name) is checked *before* the model is built,
so a typo costs a second, not a model load.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from zoo.errors import InputError
from zoo.runners import RunContext

from .prompts import check_kind, needs_masks
from .store import FAMILY, SIZES, check_name, parse_base


def _dataset(ctx: RunContext, kind: str, *, purpose: str) -> Any:
    from zoo.data.coco import CocoDataset

    images, annotations = ctx.get("images"), ctx.get("annotations")
    if images is None or annotations is None:
        raise InputError(
            f"`zoo {ctx.command} {ctx.name}` needs --images DIR and --annotations COCO.json"
        )
    if purpose == "eval":
        reason = (
            "`zoo eval` measures IoU against ground-truth masks; "
            "give annotations with segmentations"
        )
        return CocoDataset(annotations, images, require_masks=reason, drop_empty=True)
    reason = (
        f"--prompt {kind} samples its prompts from instance masks; the annotations must "
        "have polygons or RLE (boxes-only annotations work with --prompt box)"
    )
    return CocoDataset(
        annotations, images, require_masks=reason if needs_masks(kind) else False, drop_empty=True
    )


def train(ctx: RunContext) -> dict[str, Any]:
    """``zoo train wesam-adapt --base sam2:tiny --images D --annotations J --name N``."""
    from .store import adapter_dir
    from .train import AdaptConfig, adapt

    default_size = (ctx.variant.config.get("size") if ctx.variant else None) or "tiny"
    if ctx.variant is not None and ctx.variant.tag not in SIZES:
        raise InputError(
            f"{ctx.name} is already adapted; train from the source model, e.g. "
            f"`zoo train {FAMILY} --base sam2:{default_size} ...`"
        )
    size = parse_base(ctx.opt("base", str, None), default_size)
    kind = check_kind(ctx.opt("prompt", str, "box"))
    name = check_name(ctx.opt("name", str, None))
    image_size = ctx.opt("image_size", int, None)
    seed = ctx.opt("seed", int, 0)
    opts = {
        "steps": ctx.opt("steps", int, 2000),
        "batch_size": ctx.opt("batch", int, 1),
        "lr": ctx.opt("lr", float, 1e-4),
        "warmup_steps": ctx.opt("warmup", int, 250),
        "max_instances": ctx.opt("max_instances", int, 40),
        "rank": ctx.opt("rank", int, 4),
        "ema_teacher": ctx.flag("ema"),
        "save_every": ctx.opt("save_every", int, 100),
        "holdout": ctx.opt("holdout", int, 7),
        "eval_images": ctx.opt("eval_images", int, 200),
        "overwrite": ctx.flag("overwrite"),
        "seed": seed,
        "name": name,
        "progress": not ctx.as_json,
    }
    ctx.done()
    cfg = AdaptConfig.parse(opts)
    if image_size is not None and (image_size <= 0 or image_size % 64):
        raise InputError(f"--image-size must be a positive multiple of 64, got {image_size}")
    folder = adapter_dir(name)
    if (folder / "variant.json").exists() and not cfg.overwrite:
        raise InputError(
            f"{FAMILY}:{name} already exists ({folder}); choose another --name or pass --overwrite"
        )
    dataset = _dataset(ctx, kind, purpose="train")
    if len(dataset) == 0:
        raise InputError(f"{ctx.get('annotations')} has no image with an annotated instance")
    out = ctx.get("out")
    if out is not None:
        from zoo.io.atomic import ensure_writable_dir

        ensure_writable_dir(Path(out).parent)
    config: dict[str, Any] = {}
    if image_size is not None:
        config["image_size"] = image_size
    if ctx.get("weights") == "random":
        config["base_seed"] = seed
    model = ctx.load_model(f"{FAMILY}:{size}", **config)
    result = adapt(model, dataset, kind, cfg, console=ctx.console)
    report = result.model_dump(mode="json")
    if out is not None:
        import shutil

        from zoo.io.atomic import atomic_output_dir

        with atomic_output_dir(out) as tmp:
            for f in ("adapter.safetensors", "card.md", "variant.json"):
                shutil.copy2(folder / f, tmp / f)
        report["exported_to"] = str(out)
    before, after = result.miou_before, result.miou_after
    if before is not None and after is not None:
        report["table"] = {
            "title": f"{result.variant}: before/after on {result.eval_images} {result.eval_on}",
            "columns": ["model", "prompt", "mIoU", "F1"],
            "rows": [
                [f"source sam2:{size}", kind, before, result.f1_before],
                [result.variant, kind, after, result.f1_after],
            ],
        }
    return report


def evaluate(ctx: RunContext) -> dict[str, Any]:
    """``zoo eval wesam-adapt:NAME --images DIR --annotations J --prompt box [--compare source]``.

    ``--compare source`` (or ``base``) adds the un-adapted source model of the adapter
    (same base weights, same input size); any other model name adds that model.
    """
    from zoo.model import load

    from .train import evaluate_model

    kind = check_kind(ctx.opt("prompt", str, "box"))
    image_size = ctx.opt("image_size", int, None)
    max_images = ctx.opt("max_images", int, None)
    seed = ctx.opt("seed", int, 0)
    ctx.done()
    dataset = _dataset(ctx, kind, purpose="eval")
    if len(dataset) == 0:
        raise InputError(f"{ctx.get('annotations')} has no image with an annotated instance")
    config: dict[str, Any] = {"image_size": image_size} if image_size else {}
    model = ctx.load_model(**config)
    models: list[tuple[str, Any]] = []
    compare = ctx.get("compare")
    if compare:
        if str(compare).lower() in ("source", "base"):
            meta = getattr(model, "adapter_meta", None) or {}
            src_cfg: dict[str, Any] = {"image_size": int(model.model.image_size)}
            base_w = meta.get("base_weights") or {}
            if base_w.get("kind") == "random":
                src_cfg["base_seed"] = int(base_w.get("seed", 0))
            elif model.base_seed is not None:
                src_cfg["base_seed"] = model.base_seed
            ckpt = ctx.get("checkpoint")
            if ckpt is None and base_w.get("kind") == "checkpoint":
                ckpt = base_w["path"]
            source = load(
                f"{FAMILY}:{model.size}",
                device=ctx.get("device", "auto"),
                weights=ctx.get("weights"),
                checkpoint=ckpt,
                **src_cfg,
            )
            models.append((f"source sam2:{model.size}", source))
        else:
            other = load(str(compare), device=ctx.get("device", "auto"), weights=ctx.get("weights"))
            if not hasattr(other, "segment"):
                raise InputError(f"--compare {compare} is not a promptable model")
            models.append((str(compare), other))
    models.append((model.name, model))
    bar = None
    if not ctx.as_json:
        from rich.progress import Progress

        bar = Progress(console=ctx.console, transient=True)
        bar.start()
    try:
        results = [
            (
                label,
                evaluate_model(m, dataset, kind, seed=seed, max_images=max_images, progress=bar),
            )
            for label, m in models
        ]
    finally:
        if bar is not None:
            bar.stop()
    rows = [[label, kind, r["images"], r["instances"], r["miou"], r["f1"]] for label, r in results]
    report: dict[str, Any] = {
        "model": model.name,
        "weights": model.weights,
        "prompt": kind,
        "annotations": str(ctx.get("annotations")),
        "results": [{"model": label, **r} for label, r in results],
        "table": {
            "title": f"mean per-instance IoU / F1, {kind} prompts "
            f"({Path(str(ctx.get('annotations'))).name})",
            "columns": ["model", "prompt", "images", "instances", "mIoU", "F1"],
            "rows": rows,
        },
    }
    if len(results) == 2:
        report["delta_miou"] = round(results[1][1]["miou"] - results[0][1]["miou"], 6)
    out = ctx.get("out")
    if out is not None:
        from zoo.io.atomic import atomic_output_dir
        from zoo.io.masks import write_json

        with atomic_output_dir(out) as tmp:
            write_json(
                tmp / "metrics.json", {k: v for k, v in report.items() if k != "table"}, indent=2
            )
        report["files"] = [str(Path(out) / "metrics.json")]
    return report
