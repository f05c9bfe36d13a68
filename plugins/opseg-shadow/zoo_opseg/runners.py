"""``zoo run opseg-shadow`` and ``zoo eval opseg-shadow``.

Every input is parsed and checked before a model is built or a file is written, so a bad
option costs a second and leaves ``--out`` untouched.

CLI pairing rules for ``zoo run``: ``--objects`` and ``--shadows`` are box lists paired by
order (object ``i`` with shadow ``i``), so their counts must match. ``--objects`` alone
segments objects only; ``--shadows`` alone is allowed and gives shadow-only instances (a
shadow whose caster is out of frame, or shadow removal work) - the Python API allows the
same. Mixed instances (some with only one side) or click prompts go in a ``--prompts``
JSON: ``[{"object": {"box": [..]}, "shadow": {"points": [[x, y]], "labels": [1]}}, ...]``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from zoo.errors import InputError
from zoo.runners import RunContext, parse_boxes


def _boxes_opt(ctx: RunContext, key: str) -> list[list[float]] | None:
    raw = ctx.opt(key, lambda v: v, None)
    if raw is None:
        return None
    if raw is True or not str(raw).strip():
        raise InputError(f'--{key} needs boxes: --{key} "x1,y1,x2,y2;x1,y1,x2,y2"')
    try:
        return parse_boxes(str(raw))
    except InputError as exc:
        raise InputError(f"--{key}: {exc}") from None


def _image_size(ctx: RunContext) -> dict[str, Any]:
    size = ctx.opt("image_size", int, 0)
    if size and (size < 64 or size % 64):
        raise InputError(f"--image-size must be a positive multiple of 64, got {size}")
    return {"image_size": size} if size else {}


def instances_from_options(
    objects: list[list[float]] | None, shadows: list[list[float]] | None, prompts_file: Any
) -> list[dict[str, Any]]:
    """Build shadow instances from ``--objects``/``--shadows`` or a ``--prompts`` JSON."""
    if prompts_file is not None:
        if objects or shadows:
            raise InputError("use either --prompts FILE or --objects/--shadows, not both")
        path = Path(prompts_file)
        if not path.is_file():
            raise InputError(f"prompts file {path} does not exist")
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise InputError(
                f"prompts file {path} is not valid JSON: {exc.msg} (line {exc.lineno})"
            ) from None
        if isinstance(data, dict) and "instances" in data:
            data = data["instances"]
        if not isinstance(data, list):
            raise InputError(
                'shadow prompts JSON must be a list like [{"object": {"box": [x1,y1,x2,y2]}, '
                '"shadow": {"box": [...]}}]'
            )
        return data
    if objects is None and shadows is None:
        raise InputError(
            'no prompt given; add --objects "x1,y1,x2,y2;..." and/or --shadows "x1,y1,x2,y2;..." '
            "(paired by order) or --prompts FILE"
        )
    if objects is not None and shadows is not None and len(objects) != len(shadows):
        raise InputError(
            f"got {len(objects)} --objects boxes but {len(shadows)} --shadows boxes; they pair by "
            "order, so give one shadow per object (or use --prompts FILE for one-sided instances)"
        )
    n = len(objects if objects is not None else shadows)  # type: ignore[arg-type]
    out: list[dict[str, Any]] = []
    for i in range(n):
        inst: dict[str, Any] = {}
        if objects is not None:
            inst["object"] = {"box": objects[i]}
        if shadows is not None:
            inst["shadow"] = {"box": shadows[i]}
        out.append(inst)
    return out


def run_shadows(ctx: RunContext) -> dict[str, Any]:
    """``zoo run opseg-shadow --image X --objects ... --shadows ... --out DIR``."""
    from zoo.io.images import load_image
    from zoo.tasks import as_shadow_prompts

    from .model import flatten_instances
    from .results import save_shadow_result

    image_path = ctx.get("image")
    objects = _boxes_opt(ctx, "objects")
    shadows = _boxes_opt(ctx, "shadows")
    multimask = ctx.flag("multimask")
    config = _image_size(ctx)
    fmt = ctx.get("format", "png,coco")
    formats = {f.strip() for f in str(fmt).split(",") if f.strip()}
    ctx.done()
    bad = formats - {"png", "coco", "json"}
    if bad:
        raise InputError(f"unknown --format {sorted(bad)[0]!r}; use png, coco or json")
    if image_path is None:
        raise InputError(f"`zoo run {ctx.name}` needs --image PATH")
    for key in ("boxes", "points", "labels"):
        if ctx.get(key):
            raise InputError(
                f"--{key} is ambiguous for a shadow model; use --objects/--shadows boxes (paired "
                "by order) or --prompts FILE with object/shadow entries"
            )
    if ctx.get("out") is None:
        raise InputError(f"`zoo run {ctx.name}` needs --out DIR for its outputs")
    instances = as_shadow_prompts(instances_from_options(objects, shadows, ctx.get("prompts")))
    image = load_image(image_path)
    flatten_instances(instances, image.shape[0], image.shape[1])  # bounds checks, before loading
    out = ctx.out_dir()
    model = ctx.load_model(**config)
    result = model.segment_shadows(image, instances, multimask=multimask)
    files = save_shadow_result(
        result, out, image=image, formats=sorted(formats), image_id=Path(image_path).stem
    )
    return {
        "model": model.name,
        "weights": model.weights,
        "instances": len(result.instances),
        "scores": [
            {
                "association": i.association_id,
                "object": None if i.object_score is None else round(i.object_score, 4),
                "shadow": None if i.shadow_score is None else round(i.shadow_score, 4),
            }
            for i in result.instances
        ],
        "files": [str(f) for f in files],
    }


def eval_shadows(ctx: RunContext) -> dict[str, Any]:
    """``zoo eval opseg-shadow --annotations SOBA.json --images DIR [--split test|challenge]
    [--compare sam2:base-plus] [--out DIR]``: the paper's table, plus SOAP."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    from zoo.io.atomic import atomic_output_dir
    from zoo.io.masks import write_json
    from zoo.model import RANDOM, load
    from zoo.registry import get_registry

    from .evaluate import evaluate, metric_table
    from .metrics import DEFAULT_THRESHOLDS, parse_thresholds
    from .soba import find_split, load_soba

    split = str(ctx.opt("split", str, "test")).lower()
    max_images = ctx.opt("max_images", int, 0)
    thr_text = ctx.opt("iou_thresholds", str, "")
    config = _image_size(ctx)
    ctx.done()
    if split not in ("test", "challenge"):
        raise InputError(f"--split must be test or challenge, got {split!r}")
    if max_images < 0:
        raise InputError(f"--max-images must be >= 0, got {max_images}")
    thresholds = parse_thresholds(thr_text) if thr_text else DEFAULT_THRESHOLDS
    annotations, images = ctx.get("annotations"), ctx.get("images")
    if annotations is None and ctx.get("dataset") is not None:
        annotations, found_images = find_split(Path(ctx.get("dataset")), split)
        images = images or found_images
    if annotations is None:
        raise InputError(
            f"`zoo eval {ctx.name}` needs --annotations SOBA.json and --images DIR (or --dataset "
            "SOBA_ROOT)"
        )
    if images is None:
        raise InputError("--images DIR is needed: the folder the SOBA file_name entries are in")
    data = load_soba(annotations, images, max_images=max_images or None)
    compare = ctx.get("compare")
    if compare:
        get_registry().resolve_name(compare)  # an unknown name fails now, not after the run
    out = ctx.get("out")
    if out is not None:
        from zoo.io.atomic import ensure_writable_dir

        ensure_writable_dir(Path(out).parent if not Path(out).exists() else Path(out))

    main = ctx.load_model(**config)
    models: dict[str, Any] = {}
    if compare:
        models[compare] = load(
            compare,
            device=ctx.get("device", "auto"),
            weights=RANDOM if ctx.get("weights") == RANDOM else None,
            **config,
        )
    main_name = main.name if main.name not in models else f"{main.name} (evaluated)"
    models[main_name] = main

    with Progress(
        TextColumn("[bold]eval[/] {task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=ctx.console,
        transient=True,
        disable=bool(ctx.as_json),
    ) as bar:
        task = bar.add_task(Path(annotations).name, total=len(data.images))
        evals = evaluate(
            models,
            data,
            thresholds=thresholds,
            keep_predictions=out is not None,
            progress=lambda done, total: bar.update(task, completed=done),
        )
    summaries = {name: ev.summary() for name, ev in evals.items()}
    table = metric_table(summaries, split, baseline=compare or None)
    report: dict[str, Any] = {
        "model": main.name,
        "weights": main.weights,
        "split": split,
        "annotations": str(annotations),
        **data.count(),
        "metrics": summaries,
        "weighted": (
            "W.IoU = sum|P∩G| / sum|P∪G|, W.Dice = 2 sum|P∩G| / sum(|P|+|G|) over all instances"
        ),
        "warnings": data.warnings,
        "table": table,
    }
    if out is not None:
        files = []
        with atomic_output_dir(out) as tmp:
            write_json(
                Path(tmp) / "metrics.json", {k: v for k, v in report.items() if k != "table"}
            )
            files.append(Path(out) / "metrics.json")
            for i, (name, ev) in enumerate(evals.items()):
                fname = f"predictions_{i}_{name.replace(':', '_').replace(' ', '_')}.json"
                write_json(
                    Path(tmp) / fname,
                    {
                        "model": name,
                        "categories": [{"id": 1, "name": "Object"}, {"id": 2, "name": "Shadow"}],
                        "annotations": ev.annotations,
                        "association_anno": ev.association_anno,
                    },
                )
                files.append(Path(out) / fname)
        report["files"] = [str(f) for f in files]
    if not ctx.as_json:
        report.pop("metrics")  # the table shows them; --json keeps the full numbers
    if data.warnings and ctx.console is not None and not ctx.as_json:
        for w in data.warnings:
            ctx.console.print(f"[yellow]warning:[/] {w}", highlight=False)
    return report
