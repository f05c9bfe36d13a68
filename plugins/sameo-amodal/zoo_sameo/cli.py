"""``zoo run | eval | train sameo-amodal``: the CLI handlers (``fn(ctx) -> report``).

Each handler reads its options, calls ``ctx.done()`` (unknown options fail before any
work), and only then loads models or touches the output folder, so a bad command line
leaves nothing behind.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from zoo.errors import InputError, WeightsError
from zoo.runners import RunContext

from .build import NO_WEIGHTS_HELP


def _require_weights(ctx: RunContext) -> None:
    """SAMEO has no published weights: say so plainly instead of a generic failure, and
    never fall back to EfficientSAM's modal decoder."""
    if ctx.get("weights") == "random" or ctx.get("checkpoint") is not None:
        return
    if ctx.variant is None or ctx.variant.weights is None:
        raise WeightsError(NO_WEIGHTS_HELP)


def _formats(ctx: RunContext) -> list[str]:
    fmt = ctx.get("format", "png,coco")
    formats = {f.strip() for f in str(fmt).split(",") if f.strip()}
    bad = formats - {"png", "coco", "json"}
    if bad:
        raise InputError(f"unknown --format {sorted(bad)[0]!r}; use png, coco or json")
    return sorted(formats)


def _positive_int(v: Any) -> int:
    n = int(v)
    if n < 1:
        raise ValueError(v)
    return n


def _fraction(v: Any) -> float:
    f = float(v)
    if not 0.0 <= f <= 1.0:
        raise ValueError(v)
    return f


def _select_detections(dets: dict[Any, list[Any]], image: Path, image_id: str | None,
                       path: Path) -> list[Any]:
    """The detections of ``--image`` in a (possibly multi-image) detections file."""
    if image_id is not None:
        for key, items in dets.items():
            if str(key) == image_id:
                return items
        raise InputError(
            f"--image-id {image_id} has no detections in {path} (above --score-thr); its ids "
            f"include {', '.join(str(k) for k in list(dets)[:5]) or 'none'}"
        )
    if not dets:
        return []
    if len(dets) == 1:
        return next(iter(dets.values()))
    for key, items in dets.items():  # ids written as the file name or its stem
        if str(key) in (image.name, image.stem):
            return items
    raise InputError(
        f"{path} holds detections for {len(dets)} images; say which one --image is with "
        "--image-id ID"
    )


def _load_kwargs(max_batch: int | None, image_size: int | None) -> dict[str, Any]:
    """Loader options, only those asked for: a trained checkpoint's own image size (stored
    in the file) and the device's best decoder batch apply by default."""
    kw: dict[str, Any] = {}
    if max_batch is not None:
        kw["max_batch"] = max_batch
    if image_size is not None:
        kw["image_size"] = image_size
    return kw


# --------------------------------------------------------------------------- run


def run(ctx: RunContext) -> dict[str, Any]:
    """``zoo run sameo-amodal --image X (--boxes ... | --detections FILE) --out DIR``."""
    from zoo.io.atomic import ensure_writable_dir
    from zoo.io.images import load_image
    from zoo.runners import parse_boxes
    from zoo.tasks import Prompts

    from .data import clip_box, load_detections

    image_path = ctx.get("image")
    if image_path is None:
        raise InputError(f"`zoo run {ctx.name}` needs --image PATH")
    det_file = ctx.opt("detections", Path, None)
    score_thr = ctx.opt("score_thr", _fraction, 0.3)
    image_id = ctx.opt("image_id", str, None)
    max_batch = ctx.opt("max_batch", _positive_int, None)
    image_size = ctx.opt("image_size", _positive_int, None)
    formats = _formats(ctx)
    ctx.done()
    if ctx.get("points") or ctx.get("labels") or ctx.get("prompts"):
        raise InputError("SAMEO takes boxes only: use --boxes or --detections FILE")
    if det_file is not None and ctx.get("boxes"):
        raise InputError("use either --boxes or --detections FILE, not both")
    if det_file is None and not ctx.get("boxes"):
        raise InputError(
            'no boxes given; add --boxes "x1,y1,x2,y2;..." or --detections DETS.json (COCO '
            "results from any detector)"
        )
    _require_weights(ctx)
    if ctx.get("out") is None:
        raise InputError(f"`zoo run {ctx.name}` needs --out DIR for its outputs")
    out = Path(ctx.get("out"))
    image = load_image(image_path)
    h, w = image.shape[:2]
    scores = cats = visible = None
    if det_file is not None:
        dets, _ = load_detections(det_file, score_thr=score_thr)
        chosen = _select_detections(dets, Path(image_path), image_id, det_file)
        boxes = [clip_box(d.box, h, w) for d in chosen]
        keep = [i for i, b in enumerate(boxes) if b[2] > b[0] and b[3] > b[1]]
        chosen = [chosen[i] for i in keep]
        boxes = [boxes[i] for i in keep]
        scores = [d.score for d in chosen]
        cats = [d.category_id for d in chosen]
        from .evaluate import _visible_from_detection

        visible = [_visible_from_detection(d, h, w) for d in chosen]
    else:
        if image_id is not None:
            raise InputError("--image-id only applies to --detections")
        boxes = [(b[0], b[1], b[2], b[3]) for b in parse_boxes(ctx.get("boxes"))]
        Prompts.build(boxes=boxes).check_inside(h, w)  # before the (slow) model load
    # the output folder itself appears only with the finished results (atomic), but a
    # typo in --out should fail now, not after the model ran
    ensure_writable_dir(out.parent)
    model = ctx.load_model(**_load_kwargs(max_batch, image_size))
    if boxes:
        result = model.segment_amodal(image, boxes, scores=scores, category_ids=cats,
                                      visible_masks=visible)
    else:  # every detection was below the threshold: an empty but valid result
        from zoo.tasks import Task

        from .model import SameoResult

        result = SameoResult(instances=[], image_size=(h, w),
                             provenance=model.provenance(Task.AMODAL))
    files = result.save(out, image=image, formats=formats,
                        image_id=image_id if image_id is not None else Path(image_path).stem)
    report: dict[str, Any] = {
        "model": model.name,
        "weights": model.weights,
        "instances": len(result.instances),
        "scores": [round(i.score, 4) for i in result.instances],
        "pred_iou": [round(v, 4) for v in result.pred_ious],
        "files": [str(f) for f in files],
    }
    if det_file is not None:
        report["detections_kept"] = len(boxes)
    return report


# --------------------------------------------------------------------------- eval


def evaluate(ctx: RunContext) -> dict[str, Any]:
    """``zoo eval sameo-amodal --annotations GT --images DIR (--detections F | --gt-boxes)``."""
    from zoo.io.masks import write_json

    from .data import load_amodal_coco, load_detections
    from .evaluate import evaluate_sameo

    det_file = ctx.opt("detections", Path, None)
    gt_boxes = ctx.flag("gt_boxes")
    box_kind = ctx.opt("box_kind", str, "amodal")
    score_thr = ctx.opt("score_thr", _fraction, 0.05)
    occluded_thr = ctx.opt("occluded_thr", _fraction, 0.01)
    max_batch = ctx.opt("max_batch", _positive_int, None)
    image_size = ctx.opt("image_size", _positive_int, None)
    ctx.done()
    ann, images = ctx.get("annotations"), ctx.get("images")
    if ann is None or images is None:
        raise InputError(f"`zoo eval {ctx.name}` needs --annotations GT.json and --images DIR")
    if (det_file is None) == (not gt_boxes):
        raise InputError("give either --detections DETS.json or --gt-boxes (exactly one)")
    if box_kind not in ("amodal", "modal"):
        raise InputError(f"--box-kind {box_kind!r}: use amodal or modal")
    _require_weights(ctx)
    out = ctx.get("out")
    if out is not None:
        from zoo.io.atomic import ensure_writable_dir

        ensure_writable_dir(Path(out).parent)
    ds = load_amodal_coco(ann, images, check_images=gt_boxes)
    dets = None
    stats: dict[str, int] = {}
    if det_file is not None:
        dets, stats = load_detections(det_file, score_thr=score_thr)
    model = ctx.load_model(**_load_kwargs(max_batch, image_size))
    res = evaluate_sameo(model, ds, detections=dets, gt_boxes=gt_boxes, box_kind=box_kind,
                         occluded_thr=occluded_thr, progress=not ctx.as_json,
                         console=ctx.console)
    prompt = f"{box_kind} GT boxes" if gt_boxes else f"detections {Path(det_file).name}"  # type: ignore[arg-type]
    report: dict[str, Any] = {
        "table": res.table(
            f"{model.name} amodal mask AP (%) on {Path(ann).name}, prompts: {prompt}"),
        "model": model.name,
        "weights": model.weights,
        "metrics": res.metrics,
        "counts": res.counts,
    }
    if res.miou is not None:
        report["miou"] = res.miou
    if stats:
        report["detections"] = stats
    if res.notes:
        report["notes"] = res.notes
    if out is not None:
        from zoo.io.atomic import atomic_output_dir

        with atomic_output_dir(out) as tmp:
            write_json(Path(tmp) / "predictions.json", res.predictions)
            write_json(Path(tmp) / "metrics.json", {k: v for k, v in report.items()
                                                     if k != "table"}, indent=2)
        report["files"] = [str(Path(out) / "predictions.json"), str(Path(out) / "metrics.json")]
    if not ctx.as_json:  # people read the table; the numbers stay in --json and metrics.json
        for k in ("metrics", "counts", "miou"):
            report.pop(k, None)
    return report


# --------------------------------------------------------------------------- train


def train(ctx: RunContext) -> dict[str, Any]:
    """``zoo train sameo-amodal --annotations COCO.json --images DIR [--base vitt] ...``."""
    from .train import TrainConfig, train_sameo

    def _opt_int(v: Any) -> int:
        return int(v)

    cfg = TrainConfig(
        annotations="",
        images="",
        base=ctx.opt("base", str, "vitt"),
        name=ctx.opt("name", str, None),
        epochs=ctx.opt("epochs", _opt_int, 10),
        batch_size=ctx.opt("batch_size", _opt_int, 8),
        lr=ctx.opt("lr", float, 1e-4),
        weight_decay=ctx.opt("weight_decay", float, 0.01),
        max_steps=ctx.opt("max_steps", _opt_int, None),
        image_size=ctx.opt("image_size", _opt_int, 1024),
        embed_cache=ctx.opt("embed_cache", str, "auto"),
        box_jitter=ctx.opt("box_jitter", float, 0.0),
        seed=ctx.opt("seed", _opt_int, 0),
        save_every=ctx.opt("save_every", _opt_int, 200),
        resume=ctx.flag("resume"),
    )
    ctx.done()
    ann, images = ctx.get("annotations"), ctx.get("images")
    if ann is None or images is None:
        raise InputError(f"`zoo train {ctx.name}` needs --annotations COCO.json and --images DIR")
    if ctx.variant is not None and ctx.variant.tag not in ("vitt", "vits"):
        raise InputError(
            f"train the family (`zoo train sameo-amodal --base ...`), not the trained variant "
            f"{ctx.name}; to continue it use --name {ctx.variant.tag} --resume"
        )
    if ctx.variant is not None and "base" not in ctx.extras and ctx.variant.tag in ("vitt", "vits"):
        cfg.base = ctx.variant.tag  # `zoo train sameo-amodal:vits` means --base vits
    cfg.annotations = str(Path(ann).expanduser().resolve())
    cfg.images = str(Path(images).expanduser().resolve())
    cfg.out = str(ctx.get("out")) if ctx.get("out") is not None else None
    cfg.device = str(ctx.get("device") or "auto")
    cfg.weights = ctx.get("weights") if ctx.get("weights") == "random" else None
    cfg.checkpoint = str(ctx.get("checkpoint")) if ctx.get("checkpoint") is not None else None
    result = train_sameo(cfg, progress=not ctx.as_json, console=ctx.console)
    return result.report()
