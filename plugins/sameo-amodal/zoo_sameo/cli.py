"""``zoo eval sameo-amodal``: SAMEO's evaluation protocol (``fn(ctx) -> report``).

``zoo run``, ``zoo batch`` and ``zoo serve`` are the core's amodal task and ``zoo train``
hands a typed :class:`~zoo_sameo.config.SameoTrainConfig` to
:func:`zoo_sameo.train.train_sameo`; only the evaluation is the family's own. The core has
already cast and checked every declared option (``ctx.opt``: types, bounds, choices)
before the handler runs; it checks what only it can (files, which prompts), loads the model
and only then writes: outputs appear atomically at the end, so a command that fails leaves
no ``--out`` behind.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from zoo.context import RunContext
from zoo.errors import InputError


def _existing(path: Any, flag: str, *, folder: bool = False) -> Path:
    p = Path(path).expanduser()
    ok = p.is_dir() if folder else p.is_file()
    if not ok:
        kind = "folder" if folder else "file"
        raise InputError(f"{flag} {p} is not an existing {kind}; check the path")
    return p


def evaluate(ctx: RunContext) -> dict[str, Any]:
    """``zoo eval sameo-amodal --annotations GT --images DIR (--detections F | --gt-boxes)``."""
    from zoo.detections import read_detections
    from zoo.io.atomic import atomic_output_dir
    from zoo.io.masks import write_json
    from zoo.metrics import COCO_SEGM

    from .data import load_amodal_coco
    from .evaluate import evaluate_sameo

    for unused in ("dataset", "compare"):
        if ctx.get(unused) is not None:
            raise InputError(
                f"--{unused} is not used by `zoo eval {ctx.family.name}`; it reads "
                "--annotations GT.json and --images DIR"
            )
    ann, images = ctx.get("annotations"), ctx.get("images")
    if ann is None or images is None:
        raise InputError(f"`zoo eval {ctx.name}` needs --annotations GT.json and --images DIR")
    det_file = ctx.opt("detections")
    gt_boxes = ctx.opt("gt_boxes")
    if (det_file is None) == (not gt_boxes):
        raise InputError("give either --detections DETS.json or --gt-boxes (exactly one)")
    if ctx.given("box_kind") and not gt_boxes:
        raise InputError("--box-kind only applies to --gt-boxes")
    ann = _existing(ann, "--annotations")
    images = _existing(images, "--images", folder=True)
    if det_file is not None:
        _existing(det_file, "--detections")
    out = ctx.out_dir() if ctx.get("out") is not None else None
    model = ctx.load_model()  # no weights: the one-line message, before reading any data
    ds = load_amodal_coco(ann, images, check_images=gt_boxes)
    dets = None
    stats: dict[str, int] = {}
    notes: list[str] = []
    if det_file is not None:  # the core's reader, the rules of `zoo run --detections`
        found = read_detections(det_file, ctx.opt("score_thr"))
        dets, stats, notes = found.by_image, found.stats, found.notes()
    res = evaluate_sameo(
        model,
        ds,
        detections=dets,
        gt_boxes=gt_boxes,
        box_kind=ctx.opt("box_kind"),
        occluded_thr=ctx.opt("occluded_thr"),
        progress=not ctx.as_json,
        console=ctx.console,
    )
    prompt = f"{ctx.opt('box_kind')} GT boxes" if gt_boxes else f"detections {det_file.name}"
    report: dict[str, Any] = {
        "table": res.table(f"{model.name} amodal mask AP (%) on {ann.name}, prompts: {prompt}"),
        "model": model.name,
        "weights": model.weights,
        "protocol": COCO_SEGM,
        "metrics": res.metrics,
        "counts": res.counts,
    }
    if model.weights.startswith("random"):
        report["test_mode"] = True
    if res.miou is not None:
        report["miou"] = res.miou
    if stats:
        report["detections"] = stats
    if notes or res.notes:
        report["notes"] = [*notes, *res.notes]
    if out is not None:
        record = {k: v for k, v in report.items() if k != "table"}
        with atomic_output_dir(out) as tmp:
            write_json(Path(tmp) / "predictions.json", res.predictions)
            write_json(Path(tmp) / "metrics.json", record, indent=2)
        report["files"] = [str(out / "predictions.json"), str(out / "metrics.json")]
    if not ctx.as_json:  # people read the table; the numbers stay in --json and metrics.json
        for k in ("metrics", "counts", "miou"):
            report.pop(k, None)
    return report
