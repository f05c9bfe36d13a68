"""``zoo run | eval | train sameo-amodal``: the CLI handlers (``fn(ctx) -> report``).

The core has already cast and checked every declared option (``ctx.opt``) before a handler
runs. Each handler then checks what only it can (prompts, files, ranges), loads the model
and only then writes: outputs appear atomically at the end, so a command that fails leaves
no ``--out`` behind.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from zoo.errors import InputError
from zoo.runners import RunContext

from .plugin import RESERVED_TAGS, SCORE_THR_DEFAULT


def _fraction(ctx: RunContext, key: str, value: float) -> float:
    if not 0.0 <= value <= 1.0:
        flag = "--" + key.replace("_", "-")
        raise InputError(f"bad value for {flag}: {value:g} must lie between 0 and 1")
    return value


def _score_thr(ctx: RunContext) -> float:
    """``--score-thr`` or this command's default (declared beside the option)."""
    value = ctx.opt("score_thr")
    return _fraction(ctx, "score_thr", SCORE_THR_DEFAULT[ctx.command] if value is None else value)


def _existing(path: Any, flag: str, *, folder: bool = False) -> Path:
    p = Path(path).expanduser()
    ok = p.is_dir() if folder else p.is_file()
    if not ok:
        kind = "folder" if folder else "file"
        raise InputError(f"{flag} {p} is not an existing {kind}; check the path")
    return p


def _select_detections(
    dets: dict[Any, list[Any]], image: Path, image_id: str | None, path: Path
) -> tuple[Any, list[Any]]:
    """The image id and detections of ``--image`` in a (possibly multi-image) file."""
    if image_id is not None:
        for key, items in dets.items():
            if str(key) == image_id:
                return key, items
        raise InputError(
            f"--image-id {image_id} has no detections in {path} (above --score-thr); its ids "
            f"include {', '.join(str(k) for k in list(dets)[:5]) or 'none'}"
        )
    if not dets:
        return None, []
    if len(dets) == 1:
        return next(iter(dets.items()))
    for key, items in dets.items():  # ids written as the file name or its stem
        if str(key) in (image.name, image.stem):
            return key, items
    raise InputError(
        f"{path} holds detections for {len(dets)} images; say which one --image is with "
        "--image-id ID"
    )


# --------------------------------------------------------------------------- run


def run(ctx: RunContext) -> dict[str, Any]:
    """``zoo run sameo-amodal --image X (--boxes ... | --detections FILE) --out DIR``."""
    from zoo.io.images import load_image
    from zoo.results import DEFAULT_FORMATS, AmodalResult, check_formats
    from zoo.runners import parse_boxes
    from zoo.tasks import Prompts, Task

    from .data import clip_box, load_detections
    from .evaluate import visible_from_detection

    image_path = ctx.get("image")
    if image_path is None:
        raise InputError(f"`zoo run {ctx.name}` needs --image PATH")
    if ctx.get("points") or ctx.get("labels") or ctx.get("prompts"):
        raise InputError("SAMEO takes boxes only: use --boxes or --detections FILE")
    det_file = ctx.opt("detections")
    image_id = ctx.opt("image_id")
    if det_file is not None and ctx.get("boxes"):
        raise InputError("use either --boxes or --detections FILE, not both")
    if det_file is None and not ctx.get("boxes"):
        raise InputError(
            'no boxes given; add --boxes "x1,y1,x2,y2;..." or --detections DETS.json (COCO '
            "results from any detector)"
        )
    if image_id is not None and det_file is None:
        raise InputError("--image-id only applies to --detections")
    score_thr = _score_thr(ctx)
    formats = check_formats(ctx.get("format") or DEFAULT_FORMATS)
    out = ctx.out_dir()
    image = load_image(image_path)
    h, w = image.shape[:2]
    scores = cats = visible = None
    coco_id: Any = None
    if det_file is not None:
        dets, _ = load_detections(det_file, score_thr=score_thr)
        coco_id, chosen = _select_detections(dets, Path(image_path), image_id, det_file)
        boxes = [clip_box(d.box, h, w) for d in chosen]
        keep = [i for i, b in enumerate(boxes) if b[2] > b[0] and b[3] > b[1]]
        chosen = [chosen[i] for i in keep]
        boxes = [boxes[i] for i in keep]
        scores = [d.score for d in chosen]
        cats = [d.category_id for d in chosen]
        visible = [visible_from_detection(d, h, w) for d in chosen]
    else:
        boxes = [(b[0], b[1], b[2], b[3]) for b in parse_boxes(ctx.get("boxes"))]
        Prompts.build(boxes=boxes).check_inside(h, w)  # before the (slow) model load
    model = ctx.load_model()
    if boxes:
        result = model.segment_amodal(
            image, boxes, scores=scores, category_ids=cats, visible_masks=visible
        )
    else:  # every detection was below the threshold: an empty but valid result
        result = AmodalResult(
            instances=[], image_size=(h, w), provenance=model.provenance(Task.AMODAL)
        )
    files = result.save(
        out,
        image=image,
        formats=formats,
        image_id=coco_id if isinstance(coco_id, int) and not isinstance(coco_id, bool) else 1,
        file_name=Path(str(image_path)).name,
    )
    report: dict[str, Any] = {
        "model": model.name,
        "weights": model.weights,
        "instances": len(result.instances),
        "scores": [round(i.score, 4) for i in result.instances],
        "pred_iou": [round(i.pred_iou, 4) for i in result.instances if i.pred_iou is not None],
        "files": [str(f) for f in files],
    }
    if det_file is not None:
        report["detections_kept"] = len(boxes)
    return report


# --------------------------------------------------------------------------- eval


def evaluate(ctx: RunContext) -> dict[str, Any]:
    """``zoo eval sameo-amodal --annotations GT --images DIR (--detections F | --gt-boxes)``."""
    from zoo.io.atomic import atomic_output_dir
    from zoo.io.masks import write_json
    from zoo.metrics import COCO_SEGM

    from .data import load_amodal_coco, load_detections
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
    score_thr = _score_thr(ctx)
    occluded_thr = _fraction(ctx, "occluded_thr", ctx.opt("occluded_thr"))
    ann = _existing(ann, "--annotations")
    images = _existing(images, "--images", folder=True)
    if det_file is not None:
        _existing(det_file, "--detections")
    out = ctx.out_dir() if ctx.get("out") is not None else None
    model = ctx.load_model()  # no weights: the one-line message, before reading any data
    ds = load_amodal_coco(ann, images, check_images=gt_boxes)
    dets = None
    stats: dict[str, int] = {}
    if det_file is not None:
        dets, stats = load_detections(det_file, score_thr=score_thr)
    res = evaluate_sameo(
        model,
        ds,
        detections=dets,
        gt_boxes=gt_boxes,
        box_kind=ctx.opt("box_kind"),
        occluded_thr=occluded_thr,
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
    if res.notes:
        report["notes"] = res.notes
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


# --------------------------------------------------------------------------- train


def train(ctx: RunContext) -> dict[str, Any]:
    """``zoo train sameo-amodal --annotations COCO.json --images DIR [--base vitt] ...``."""
    from dataclasses import fields

    from .train import TrainConfig, train_sameo

    ann, images = ctx.get("annotations"), ctx.get("images")
    if ann is None or images is None:
        raise InputError(f"`zoo train {ctx.name}` needs --annotations COCO.json and --images DIR")
    if ctx.variant is not None and ctx.variant.tag not in RESERVED_TAGS:
        raise InputError(
            f"train the family (`zoo train sameo-amodal --base ...`), not the trained variant "
            f"{ctx.name}; to continue an unfinished run use --name {ctx.variant.tag} --resume"
        )
    checkpoint = ctx.get("checkpoint")
    if isinstance(checkpoint, dict):
        raise InputError(
            "--checkpoint NAME=PATH is not used by zoo train; give the EfficientSAM or SAMEO "
            "file to start from as --checkpoint PATH"
        )
    # `zoo train sameo-amodal:vits` means --base vits
    base = ctx.opt("base") or (ctx.variant.config.get("base") if ctx.variant else None)
    known = {f.name for f in fields(TrainConfig)}
    given: dict[str, Any] = {
        o.name: ctx.opt(o.name)
        for o in ctx.family.options_for("train")
        if o.name in known and o.name != "base" and ctx.opt(o.name) is not None
    }
    if base:
        given["base"] = base
    if ctx.get("seed") is not None:  # the shared --seed; TrainConfig's default otherwise
        given["seed"] = int(ctx.get("seed"))
    cfg = TrainConfig(
        annotations=str(Path(ann).expanduser().resolve()),
        images=str(Path(images).expanduser().resolve()),
        **given,
        out=str(ctx.get("out")) if ctx.get("out") is not None else None,
        device=str(ctx.get("device") or "auto"),
        weights=ctx.get("weights"),
        checkpoint=str(checkpoint) if checkpoint is not None else None,
    )
    result = train_sameo(cfg, progress=not ctx.as_json, console=ctx.console)
    return result.report()
