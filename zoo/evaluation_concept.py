"""``zoo eval`` for concept families: each category *name* is the text prompt.

The protocol SAM 3's paper uses on LVIS/COCO-style sets: no box, no click; for every image
the model is asked for every category by its name (``find(image, [name])``, the text encoded
once per name for the whole run), each instance's concept is its category, and the results
(at most ``--max-dets`` per image, highest scores first, COCO's 100 by default) are scored by
pycocotools' class-aware segm AP (:func:`zoo.metrics.coco_segm_ap`, ``coco-segm``: crowd
regions ignored). ``--compare OTHER`` scores a second concept model on the same images;
``--max-images N`` the first N. The ground truth is read as for the promptable evaluator
(:func:`zoo.evaluation.coco_ground_truth`).
"""

from __future__ import annotations

from typing import Any

from zoo.errors import InputError
from zoo.options import Options, option

__all__ = ["ConceptEvalOptions", "evaluate_concept"]


class ConceptEvalOptions(Options):
    max_images: int | None = option(
        None, help="evaluate only the first N annotated images", ge=1, commands=("eval",)
    )
    threshold: float = option(
        0.05,
        help="keep instances scoring above this before the per-image cap (0..1)",
        ge=0.0,
        le=1.0,
        commands=("eval",),
    )
    max_dets: int = option(
        100,
        help="detections kept per image, highest scores first (COCO: 100)",
        ge=1,
        le=1000,
        commands=("eval",),
    )


def find_categories(
    model: Any, image: Any, names: list[str], cat_ids: list[int], threshold: float, cap: int
) -> list[dict[str, Any]]:
    """COCO results of one image: every category asked by name, the best ``cap`` kept."""
    found: list[dict[str, Any]] = []
    model.set_image(image)
    for name, cat in zip(names, cat_ids, strict=True):
        r = model.find(None, [name], threshold=threshold)
        for c in r.to_coco(image_id=1):
            found.append({**c, "category_id": cat})
    found.sort(key=lambda c: -float(c["score"]))
    return found[:cap]


def evaluate_concept(ctx: Any) -> Any:
    """The core ``zoo eval`` for concept families (see the module docstring)."""
    from zoo.evaluation import coco_ground_truth, eval_images
    from zoo.metrics import COCO_SEGM, coco_segm_ap
    from zoo.progress import progress_bar
    from zoo.reports import EvalReport, Table

    ds, images = eval_images(ctx)
    if not ds.categories:
        raise InputError("the annotations name no categories; concept prompts need their names")
    cat_ids = sorted(ds.categories)
    names = [" ".join(str(ds.categories[c]).replace("_", " ").split()) for c in cat_ids]
    gt = coco_ground_truth(images, ds.categories)
    threshold, cap = float(ctx.opt("threshold")), int(ctx.opt("max_dets"))
    models = [ctx.name] + ([ctx.get("compare")] if ctx.get("compare") else [])
    rows: dict[str, dict[str, Any]] = {}
    with progress_bar(unit="img", enabled=not ctx.as_json, console=ctx.console) as bar:
        for name in models:
            model = ctx.load_model(name if name != ctx.name else None)
            if not callable(getattr(model, "find", None)):
                raise InputError(f"--compare {name} does not find concepts (no concept task)")
            task = bar.add_task(f"eval {model.name}", total=len(images), info="")
            results: list[dict[str, Any]] = []
            for item in images:
                found = find_categories(model, item.load(), names, cat_ids, threshold, cap)
                results += [{**c, "image_id": item.id} for c in found]
                bar.update(task, advance=1)
            rows[model.name] = {
                **coco_segm_ap(gt, results, max_dets=cap),
                "detections": len(results),
                "weights": model.weights,
                "results": results,
            }
    metrics = ["AP", "AP50", "AP75", "detections"]
    return EvalReport(
        protocol=COCO_SEGM,
        metrics={n: {k: r[k] for k in metrics} for n, r in rows.items()},
        models={n: str(r["weights"]) for n, r in rows.items()},
        table=Table(
            f"concept prompts (each category name) on {len(images)} images (COCO masks; AP: "
            f"{COCO_SEGM}, class-aware)",
            ["model", "AP", "AP50", "AP75", "detections"],
            [[n, *(r[k] for k in metrics)] for n, r in rows.items()],
        ),
        summary={
            "images": len(images),
            "instances": sum(len(im.instances) for im in images),
            "categories": names,
            "crowd_regions": sum(len(im.crowd) for im in images),
        },
        files={f"{n.replace(':', '_')}.results.json": r["results"] for n, r in rows.items()},
    )
