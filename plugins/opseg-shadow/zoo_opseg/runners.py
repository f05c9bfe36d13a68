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

from pathlib import Path
from typing import TYPE_CHECKING, Any

from zoo.errors import InputError
from zoo.runners import RunContext, parse_boxes

if TYPE_CHECKING:
    from zoo.results import ShadowResult


def _boxes_opt(ctx: RunContext, key: str) -> list[list[float]] | None:
    """``--objects``/``--shadows`` as box lists (``None`` when not given)."""
    raw = ctx.opt(key)
    if raw is None:
        return None
    if not str(raw).strip():
        raise InputError(f'--{key} needs boxes: --{key} "x1,y1,x2,y2;x1,y1,x2,y2"')
    try:
        return parse_boxes(str(raw))
    except InputError as exc:
        raise InputError(f"--{key}: {exc}") from None


def instances_from_options(
    objects: list[list[float]] | None, shadows: list[list[float]] | None, prompts_file: Any
) -> list[dict[str, Any]]:
    """Build shadow instances from ``--objects``/``--shadows`` or a ``--prompts`` JSON."""
    if prompts_file is not None:
        if objects or shadows:
            raise InputError("use either --prompts FILE or --objects/--shadows, not both")
        from zoo.io.jsonfiles import read_json

        data = read_json(prompts_file, "prompts file", "--prompts")
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


def pairs_table(result: ShadowResult) -> dict[str, Any]:
    """The scores of each object/shadow pair as a table the CLI prints (not a Python dict)."""
    rows = [
        [
            inst.association_id,
            "-" if inst.object_score is None else float(inst.object_score),
            "-" if inst.shadow_score is None else float(inst.shadow_score),
        ]
        for inst in result.instances
    ]
    return {
        "title": "predicted IoU per pair",
        "columns": ["pair", "object", "shadow"],
        "rows": rows,
    }


def run_shadows(ctx: RunContext) -> dict[str, Any]:
    """``zoo run opseg-shadow --image X --objects ... --shadows ... --out DIR``.

    Everything the user typed is checked (options, prompts against the image, ``--out``)
    before the model loads; the outputs are written atomically by
    :meth:`zoo.results.TaskResult.save`, so a failure leaves no ``--out`` folder.
    """
    from zoo.io.images import load_image
    from zoo.results import check_formats
    from zoo.tasks import as_shadow_prompts

    from .model import flatten_instances

    image_path = ctx.get("image")
    if image_path is None:
        raise InputError(f"`zoo run {ctx.name}` needs --image PATH")
    for key in ("boxes", "points", "labels"):
        if ctx.get(key):
            raise InputError(
                f"--{key} is ambiguous for a shadow model; use --objects/--shadows boxes (paired "
                "by order) or --prompts FILE with object/shadow entries"
            )
    objects = _boxes_opt(ctx, "objects")
    shadows = _boxes_opt(ctx, "shadows")
    formats = check_formats(ctx.get("format", "png,coco,overlay"))
    out = ctx.out_dir()
    instances = as_shadow_prompts(instances_from_options(objects, shadows, ctx.get("prompts")))
    image = load_image(image_path)
    flatten_instances(instances, image.shape[0], image.shape[1])  # bounds checks, before loading
    model = ctx.load_model()
    result = model.segment_shadows(image, instances, multimask=ctx.opt("multimask"))
    files = result.save(out, image=image, formats=formats, file_name=Path(str(image_path)).name)
    report: dict[str, Any] = {
        "model": model.name,
        "weights": model.weights,
        "instances": len(result.instances),
    }
    if ctx.as_json:
        report["scores"] = [
            {
                "association": i.association_id,
                "object": None if i.object_score is None else round(i.object_score, 4),
                "shadow": None if i.shadow_score is None else round(i.shadow_score, 4),
            }
            for i in result.instances
        ]
    else:
        report["table"] = pairs_table(result)
    report["files"] = [str(f) for f in files]
    return report


def eval_shadows(ctx: RunContext) -> dict[str, Any]:
    """``zoo eval opseg-shadow --annotations SOBA.json --images DIR [--split test|challenge]
    [--compare sam2:base-plus] [--out DIR]``: the paper's table, plus SOAP.

    Inputs (options, the SOBA file and its images, ``--out``) are validated before any model
    is built; the models (the evaluated one and ``--compare``) load before the first image
    is scored, so an unknown ``--compare`` name fails in a second. ``--out`` receives
    ``metrics.json`` and one SOBA-format predictions file per model, atomically at the end.
    """
    from zoo.io.atomic import atomic_output_dir
    from zoo.io.masks import write_json
    from zoo.progress import progress_bar

    from .evaluate import evaluate, metric_table
    from .metrics import SOBA_SOAP, parse_thresholds
    from .soba import find_split, load_soba

    split = ctx.opt("split")
    max_images = ctx.opt("max_images")
    thresholds = parse_thresholds(ctx.opt("iou_thresholds"))
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
    out = ctx.out_dir() if ctx.get("out") is not None else None
    data = load_soba(annotations, images, max_images=max_images)

    main = ctx.load_model()
    models: dict[str, Any] = {}
    compare = ctx.get("compare")
    if compare:
        # only the input size carries over: --size is this family's, not the baseline's
        size = ctx.opt("image_size")
        models[compare] = ctx.load_model(compare, **({"image_size": size} if size else {}))
    main_name = main.name if main.name not in models else f"{main.name} (evaluated)"
    models[main_name] = main

    with progress_bar(
        unit="image", console=ctx.console, enabled=not ctx.as_json, info=False
    ) as bar:
        task = bar.add_task(f"eval {Path(annotations).name}", total=len(data.images))
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
        "protocol": SOBA_SOAP,
        "annotations": str(annotations),
        **data.count(),
        "metrics": summaries,
        "weighted": "W.IoU = Σ|P∩G|/Σ|P∪G|, W.Dice = 2Σ|P∩G|/Σ(|P|+|G|) (all instances)",
        "warnings": data.warnings,
        "table": table,
    }
    if out is not None:
        files = []
        with atomic_output_dir(out) as tmp:
            write_json(
                Path(tmp) / "metrics.json", {k: v for k, v in report.items() if k != "table"}
            )
            files.append(out / "metrics.json")
            for i, (name, ev) in enumerate(evals.items()):
                fname = f"predictions_{i}_{name.replace(':', '_').replace(' ', '_')}.json"
                write_json(Path(tmp) / fname, ev.predictions(name))
                files.append(out / fname)
        report["files"] = [str(f) for f in files]
    if not ctx.as_json:
        # the table shows the metrics and the warnings go to stderr; --json keeps both
        report.pop("metrics")
        for w in report.pop("warnings"):
            if ctx.console is not None:
                ctx.console.print(f"[yellow]warning:[/] {w}", highlight=False)
    return report
