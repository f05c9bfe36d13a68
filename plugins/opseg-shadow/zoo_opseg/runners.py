"""``zoo eval opseg-shadow``: the SOBA protocol of OpSeg (``fn(ctx) -> report``).

``zoo run``, ``zoo batch`` and ``zoo serve`` are the core's ``shadow`` task
(:mod:`zoo.tasks.shadow`: ``--objects``/``--shadows`` paired by order or a ``--prompts``
JSON of object/shadow entries, the pairs table in the report) and ``promptable`` task; ``zoo
train`` hands a typed :class:`~zoo_opseg.config.OpSegTrainConfig` to
:func:`zoo_opseg.train.train`. Only the evaluation is the family's own.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from zoo.context import RunContext
from zoo.errors import InputError
from zoo.reports import EvalReport, Table


def eval_shadows(ctx: RunContext) -> EvalReport:
    """``zoo eval opseg-shadow --annotations SOBA.json --images DIR [--split test|challenge]
    [--compare sam2:base-plus] [--out DIR]``: the paper's table, plus SOAP.

    Inputs (options, the SOBA file and its images, ``--out``) are validated before any model
    is built; the models (the evaluated one and ``--compare``) load before the first image
    is scored, so an unknown ``--compare`` name fails in a second. ``--out`` receives
    ``metrics.json`` and one SOBA-format predictions file per model (written by the core).
    The evaluated model's column says the size it ran when ``--size`` chose one.
    """
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
    keep = ctx.get("out") is not None
    data = load_soba(annotations, images, max_images=max_images)

    main = ctx.load_model()
    models: dict[str, Any] = {}
    compare = ctx.get("compare")
    if compare:
        # only the input size carries over: --size is this family's, not the baseline's
        size = ctx.opt("image_size")
        models[compare] = ctx.load_model(compare, **({"image_size": size} if size else {}))
    main_name = main.label  # "opseg-shadow:base-plus (size tiny)" when --size built another
    if main_name in models:
        main_name = f"{main_name} (evaluated)"
    models[main_name] = main

    with progress_bar(
        unit="image", console=ctx.console, enabled=not ctx.as_json, info=False
    ) as bar:
        task = bar.add_task(f"eval {Path(annotations).name}", total=len(data.images))
        evals = evaluate(
            models,
            data,
            thresholds=thresholds,
            keep_predictions=keep,
            progress=lambda done, total: bar.update(task, completed=done),
        )
    summaries = {name: ev.summary() for name, ev in evals.items()}
    table = metric_table(summaries, split, baseline=compare or None)
    files = {}
    if keep:
        for i, (name, ev) in enumerate(evals.items()):
            slug = re.sub(r"[^\w.-]+", "_", name).strip("_")
            files[f"predictions_{i}_{slug}.json"] = ev.predictions(name)
    return EvalReport(
        protocol=SOBA_SOAP,
        metrics=summaries,
        models={name: str(m.weights) for name, m in models.items()},
        table=Table(**table),
        summary={"split": split, "annotations": str(annotations), **data.count()},
        files=files,
        notes=list(data.warnings),
        record={
            "weighted": "W.IoU = Σ|P∩G|/Σ|P∪G|, W.Dice = 2Σ|P∩G|/Σ(|P|+|G|) (all instances)",
        },
    )
