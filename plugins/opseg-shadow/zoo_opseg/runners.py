"""``zoo eval opseg-shadow``: the SOBA protocol of OpSeg (``fn(ctx) -> report``).

``zoo run``, ``zoo batch`` and ``zoo serve`` are the core's ``shadow`` task
(:mod:`zoo.tasks.shadow`: ``--objects``/``--shadows`` paired by order or a ``--prompts``
JSON of object/shadow entries, the pairs table in the report) and ``promptable`` task; ``zoo
train`` hands a typed :class:`~zoo_opseg.config.OpSegTrainConfig` to
:func:`zoo_opseg.train.train`. Only the evaluation is the family's own.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from zoo.context import RunContext
from zoo.errors import InputError


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
