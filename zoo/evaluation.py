"""``zoo eval`` for every promptable family: box prompts from COCO annotations, mask metrics.

Why box prompts from the ground truth: it measures the segmenter, not a detector. Each
image is embedded once and all its boxes go through the decoder together; the masks are
scored against the annotated ones (mean IoU, mean Dice) and, as COCO results with the
model's predicted IoU as score, by COCO mask AP. ``--compare OTHER`` runs a second model on
the same prompts and prints both columns. Families with their own evaluator (amodal,
shadow, video...) keep it; this is the default for ``promptable`` ones.

The AP follows pycocotools' segm protocol (``"protocol": "coco-segm"`` in the report):
class-aware (each prompt carries its instance's category), at most 100 detections per
image, and ``iscrowd`` annotations kept as the ignore regions COCO defines them as (they
are never prompted; a mask that falls on one is ignored rather than counted as a false
positive). ``--class-agnostic`` adds class-agnostic AP under its own names
(``AP_agnostic``...). mIoU and mDice are means over the prompted instances.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from zoo.errors import InputError
from zoo.metrics import COCO_SEGM


def _dataset(ctx: Any) -> Any:
    from zoo.data.coco import CocoDataset

    ann, images, dataset = ctx.get("annotations"), ctx.get("images"), ctx.get("dataset")
    if dataset is not None and ann is None:
        root = Path(dataset)
        candidates = [root / "annotations.json", *sorted(root.glob("annotations/*.json"))]
        ann = next((p for p in candidates if p.is_file()), None)
        if ann is None:
            raise InputError(
                f"--dataset {root} has no annotations.json; pass --annotations FILE --images DIR"
            )
        images = images or (root / "images" if (root / "images").is_dir() else root)
    if ann is None or images is None:
        raise InputError(
            f"`zoo eval {ctx.name}` needs --annotations FILE.json (COCO instances with masks) "
            "and --images DIR"
        )
    return CocoDataset(
        ann, images, require_masks="mask metrics need ground-truth masks", drop_empty=True
    )


def eval_images(ctx: Any) -> tuple[Any, list[Any]]:
    """The COCO set ``zoo eval`` was given and its first ``--max-images`` images with
    instances (every core evaluator: promptable, concept)."""
    ds = _dataset(ctx)
    limit = ctx.opt("max_images")
    images = list(ds)[:limit] if limit else list(ds)
    if not images:
        raise InputError("the annotations hold no image with instances; nothing to evaluate")
    return ds, images


def score_model(
    model: Any, images: list[Any], *, progress: Any = None, label: str = ""
) -> dict[str, Any]:
    """Run ``model`` with every annotated box of ``images``; IoU, Dice and COCO results."""
    from zoo.metrics import dice, iou

    ious: list[float] = []
    dices: list[float] = []
    results: list[dict[str, Any]] = []
    task = progress.add_task(f"eval {label}", total=len(images), info="") if progress else None
    for item in images:
        img = item.load()
        gt = item.masks()
        res = model.segment(img, {"boxes": item.boxes()})
        res = res.model_copy(update={"category_ids": item.category_ids})
        for pm, gm in zip(res.masks, gt, strict=True):
            ious.append(iou(pm, gm))
            dices.append(dice(pm, gm))
        results += res.to_coco(image_id=item.id)
        if task is not None:
            progress.update(task, advance=1, info=f"mIoU {np.mean(ious):.4f}" if ious else "")
    return {
        "miou": float(np.mean(ious)) if ious else float("nan"),
        "mdice": float(np.mean(dices)) if dices else float("nan"),
        "instances": len(ious),
        "results": results,
    }


def coco_ground_truth(images: Sequence[Any], categories: Mapping[int, str]) -> dict[str, Any]:
    """A COCO ground-truth dict of ``images`` (:class:`zoo.data.coco.CocoImage`) for
    :func:`zoo.metrics.coco_segm_ap`: every instance with ``iscrowd`` 0 and every crowd
    region with ``iscrowd`` 1 (segmentation as annotated, so an uncompressed crowd RLE
    reaches pycocotools as it would from the file). Crowd regions without a mask cannot
    be segm ignore regions and are left out."""
    from zoo.io.masks import segmentation_rle

    gt: dict[str, Any] = {
        "images": [
            {"id": im.id, "file_name": im.file_name, "height": im.height, "width": im.width}
            for im in images
        ],
        "annotations": [],
        "categories": [{"id": c, "name": n} for c, n in sorted(categories.items())]
        or [{"id": 1, "name": "object"}],
    }
    for im in images:
        regions = [(inst, 0) for inst in im.instances]
        regions += [(inst, 1) for inst in im.crowd if inst.has_mask]
        for inst, crowd in regions:
            x1, y1, x2, y2 = inst.box
            gt["annotations"].append(
                {
                    "id": inst.id,
                    "image_id": im.id,
                    "category_id": inst.category_id,
                    "segmentation": segmentation_rle(inst.segmentation, im.height, im.width),
                    "area": float(inst.mask(im.height, im.width).sum()),
                    "iscrowd": crowd,
                    "bbox": [x1, y1, x2 - x1, y2 - y1],
                }
            )
    return gt


def evaluate_promptable(ctx: Any) -> Any:
    """The core ``zoo eval`` for promptable families (see the module docstring)."""
    from zoo.metrics import coco_segm_ap
    from zoo.progress import progress_bar

    ds, images = eval_images(ctx)
    gt = coco_ground_truth(images, ds.categories)
    agnostic = bool(ctx.opt("class_agnostic"))
    names = [ctx.name] + ([ctx.get("compare")] if ctx.get("compare") else [])
    rows: dict[str, dict[str, Any]] = {}
    with progress_bar(unit="img", enabled=not ctx.as_json, console=ctx.console) as bar:
        for name in names:
            model = ctx.load_model(name if name != ctx.name else None)
            scored = score_model(model, images, progress=bar, label=model.name)
            ap = coco_segm_ap(gt, scored["results"])
            if agnostic:
                agn = coco_segm_ap(gt, scored["results"], class_agnostic=True)
                ap.update({f"{k}_agnostic": v for k, v in agn.items()})
            rows[model.name] = {
                **{k: v for k, v in scored.items() if k != "results"},
                **ap,
                "weights": model.weights,
                "results": scored["results"],
            }
    metrics = ["miou", "mdice", "AP", "AP50", "AP75"]
    columns = ["model", "mIoU", "mDice", "AP", "AP50", "AP75"]
    if agnostic:
        metrics += ["AP_agnostic", "AP50_agnostic", "AP75_agnostic"]
        columns += ["AP agn", "AP50 agn", "AP75 agn"]
    from zoo.reports import EvalReport, Table

    return EvalReport(
        protocol=COCO_SEGM,
        metrics={n: {k: r[k] for k in metrics} for n, r in rows.items()},
        models={n: str(r["weights"]) for n, r in rows.items()},
        table=Table(
            f"box-prompted segmentation on {len(images)} images (COCO masks; AP: "
            f"{COCO_SEGM}, class-aware)",
            columns,
            [[n, *(r[k] for k in metrics)] for n, r in rows.items()],
        ),
        summary={
            "images": len(images),
            "instances": next(iter(rows.values()))["instances"],
            "crowd_regions": sum(len(im.crowd) for im in images),
        },
        files={f"{n.replace(':', '_')}.results.json": r["results"] for n, r in rows.items()},
    )
