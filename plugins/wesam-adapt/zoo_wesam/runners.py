"""``zoo eval wesam-adapt:...``: WeSAM's evaluator (its protocol: mean per-instance IoU/F1).

Everything a user can get wrong (options, the images folder, the annotation file, masks
missing, ``--out``) is checked *before* the model is built and before anything is written.
Option types and defaults come from the declarations in :mod:`zoo_wesam.plugin`
(``ctx.opt``). ``zoo train`` is :func:`zoo_wesam.train.train` (typed config); ``zoo run`` is
the core's promptable task: an adapted variant is a SAM 2.1 model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from zoo.context import RunContext, check_out_dir
from zoo.errors import InputError

from .prompts import needs_masks
from .store import FAMILY


def _dataset(ctx: RunContext, kind: str, *, purpose: str) -> Any:
    """The COCO dataset of ``--images``/``--annotations`` (every image checked now)."""
    from zoo.data.coco import CocoDataset

    images, annotations = ctx.get("images"), ctx.get("annotations")
    if images is None or annotations is None:
        raise InputError(
            f"`zoo {ctx.command} {ctx.name}` needs --images DIR and --annotations COCO.json"
        )
    if purpose == "eval":
        reason: str | bool = (
            "`zoo eval` measures IoU against ground-truth masks; "
            "give annotations with segmentations"
        )
    elif needs_masks(kind):
        reason = (
            f"--prompt {kind} samples its prompts from instance masks; the annotations must "
            "have polygons or RLE (boxes-only annotations work with --prompt box)"
        )
    else:
        reason = False
    ds = CocoDataset(annotations, images, require_masks=reason, drop_empty=True)
    if len(ds) == 0:
        raise InputError(f"{annotations} has no image with an annotated instance")
    return ds


def _check_image_size(image_size: int | None) -> None:
    if image_size is not None and image_size % 64:
        raise InputError(
            f"--image-size must be a positive multiple of 64, got {image_size} "
            "(e.g. 256, 512 or 1024)"
        )


def _check_out(ctx: RunContext) -> Path | None:
    """``--out`` checked (creating nothing): outputs appear atomically at the very end."""
    out = ctx.get("out")
    if out is None:
        return None
    path = Path(out)
    check_out_dir(path)
    return path


def _source_of(ctx: RunContext, model: Any) -> Any:
    """The un-adapted model on exactly the base weights ``model`` runs on (same input size)."""
    from zoo.loading import load

    base = getattr(model, "base", None) or {}
    kwargs: dict[str, Any] = {
        "device": ctx.get("device", "auto"),
        "progress": not ctx.as_json,
        "image_size": int(model.model.image_size),
    }
    if base.get("kind") == "random":
        kwargs.update(weights="random", base_seed=int(base["seed"]))
    elif base.get("kind") == "checkpoint":
        kwargs["checkpoint"] = base["path"]
    return load(f"{FAMILY}:{model.size}", **kwargs)


def evaluate(ctx: RunContext) -> dict[str, Any]:
    """``zoo eval wesam-adapt:NAME --images DIR --annotations J --prompt box [--compare source]``.

    ``--compare source`` (or ``base``) adds the un-adapted source model of the adapter
    (same base weights, same input size); any other model name adds that model.
    """
    from zoo.loading import load
    from zoo.progress import progress_bar

    from .train import evaluate_model
    from .validate import WESAM_VALIDATE

    kind = ctx.opt("prompt")
    _check_image_size(ctx.opt("image_size"))
    max_images = ctx.opt("max_images")
    seed = ctx.get("seed", 0)
    out = _check_out(ctx)
    dataset = _dataset(ctx, kind, purpose="eval")
    model = ctx.load_model()
    models: list[tuple[str, Any]] = []
    compare = ctx.get("compare")
    if compare:
        if str(compare).lower() in ("source", "base"):
            models.append((f"source sam2:{model.size}", _source_of(ctx, model)))
        else:
            other = load(str(compare), device=ctx.get("device", "auto"), weights=ctx.get("weights"))
            if not hasattr(other, "segment"):
                raise InputError(f"--compare {compare} is not a promptable model")
            models.append((str(compare), other))
    models.append((model.name, model))
    with progress_bar(unit="image", console=ctx.console, enabled=not ctx.as_json) as bar:
        results = [
            (
                label,
                evaluate_model(m, dataset, kind, seed=seed, max_images=max_images, progress=bar),
            )
            for label, m in models
        ]
    per_instance = bool(ctx.opt("per_instance"))
    columns = ["model", "prompt", "images", "instances", "mIoU", "F1"]
    if per_instance:
        columns += ["mIoU/inst", "F1/inst"]
    rows = []
    for label, r in results:
        row = [label, kind, r["images"], r["instances"], r["miou"], r["f1"]]
        rows.append(row + ([r["miou_per_instance"], r["f1_per_instance"]] if per_instance else []))
    masks = sorted({r["masks"] for _, r in results})
    report: dict[str, Any] = {
        "model": model.name,
        "weights": model.weights,
        "prompt": kind,
        "protocol": WESAM_VALIDATE,
        "annotations": str(ctx.get("annotations")),
        "results": [
            {
                "model": label,
                **{
                    k: v
                    for k, v in r.items()
                    if per_instance or k not in ("miou_per_instance", "f1_per_instance")
                },
            }
            for label, r in results
        ],
        "table": {
            "title": f"{WESAM_VALIDATE}: IoU / F1 averaged per image ({'; '.join(masks)}), "
            f"{kind} prompts ({Path(str(ctx.get('annotations'))).name})",
            "columns": columns,
            "rows": rows,
        },
    }
    if len(results) == 2:
        report["delta_miou"] = round(results[1][1]["miou"] - results[0][1]["miou"], 6)
    if out is not None:
        from zoo.io.atomic import atomic_output_dir
        from zoo.io.masks import write_json

        with atomic_output_dir(out) as tmp:
            write_json(
                tmp / "metrics.json", {k: v for k, v in report.items() if k != "table"}, indent=2
            )
        report["files"] = [str(out / "metrics.json")]
    return report
