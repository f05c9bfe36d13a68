"""Evaluating SAMEO: COCO mask AP of amodal masks, overall and on (un)occluded instances.

Two settings, as in the paper:

* ``detections``: boxes (and classes, scores) from any front-end detector, a COCO results
  JSON; SAMEO turns each box into an amodal mask scored detector score x predicted IoU;
* ``gt_boxes``: the ground-truth boxes (amodal or modal) as prompts, isolating the mask
  decoder from the detector; here the mean amodal IoU per instance is reported as well.

AP, AP50 and AP75 come from pycocotools (:func:`zoo.metrics.coco_segm_ap`; protocol
``coco-segm``, the annotations' crowd regions kept as its ignore regions), class-aware and,
under their own names, class-agnostic. For the occluded / unoccluded split, instances of
the other subset are marked ``iscrowd`` so that detections of them are ignored rather than
counted as false positives (pycocotools overwrites an ``ignore`` flag with ``iscrowd``, so
that is the one switch it honours); instances whose visible part is not annotated belong to
neither subset.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from zoo.detections import Detection
from zoo.errors import InputError

from .data import AmodalDataset, occlusion_rate

SUBSETS = ("all", "occluded", "unoccluded")


@dataclass
class EvalResult:
    metrics: dict[str, dict[str, float]]
    counts: dict[str, int]
    predictions: list[dict[str, Any]]
    miou: dict[str, float] | None = None
    notes: list[str] = field(default_factory=list)

    def table(self, title: str) -> dict[str, Any]:
        cols = ["subset", "n", "AP", "AP50", "AP75", "AP agn", "AP50 agn", "AP75 agn"]
        if self.miou is not None:
            cols.append("mIoU")
        rows = []
        for s in SUBSETS:
            m = self.metrics[s]
            row: list[Any] = [s, self.counts[s]]
            row += [
                _pct(m[k])
                for k in ("AP", "AP50", "AP75", "AP_agnostic", "AP50_agnostic", "AP75_agnostic")
            ]
            if self.miou is not None:
                row.append(_pct(self.miou[s]))
            rows.append(row)
        return {"title": title, "columns": cols, "rows": rows}


def _pct(v: float) -> float | str:
    return "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else round(100 * v, 2)


def check_detection_images(ds: AmodalDataset, detections: Mapping[Any, list[Detection]]) -> None:
    """Every detection must point at a ground-truth image whose file is in the folder."""
    known = ds.by_id()
    unknown = [i for i in detections if i not in known]
    if unknown:
        # COCO ids are ints; a detector that wrote "12" for 12 is a common slip
        hint = ""
        if any(isinstance(i, str) and i.isdigit() and int(i) in known for i in unknown):
            hint = " (they are strings; write image_id as numbers)"
        raise InputError(
            f"{len(unknown)} detection image id(s) are not in the annotations, e.g. "
            f"{unknown[0]!r}{hint}; use the ground truth's image ids"
        )
    missing = [known[i] for i in detections if not known[i].path.is_file()]
    if missing:
        raise InputError(
            f"image {missing[0].file_name} (image_id {missing[0].id!r}) has detections but is "
            f"not in the image folder {missing[0].path.parent}; check --images"
        )


def fit_boxes(boxes: list[Any], h: int, w: int) -> tuple[list[int], np.ndarray]:
    """Ground-truth boxes as prompts, by the rule of every surface (:meth:`Prompts.fit
    <zoo.prompts.Prompts.fit>`): a box crossing the image edge is clipped to it, a box
    entirely outside it has nothing to prompt and is left out. Returns the indices kept and
    their boxes (N x 4 float32)."""
    from zoo.prompts import Prompts

    keep, fitted = [], []
    for i, b in enumerate(boxes):
        try:
            prompts, _ = Prompts.build(boxes=[b]).fit(h, w)
        except InputError:
            continue
        keep.append(i)
        fitted.append(prompts.objects[0].box)
    return keep, np.array(fitted, dtype=np.float32).reshape(-1, 4)


def evaluate_sameo(
    model: Any,
    ds: AmodalDataset,
    *,
    detections: Mapping[Any, list[Detection]] | None = None,
    gt_boxes: bool = False,
    box_kind: str = "amodal",
    occluded_thr: float = 0.01,
    max_dets: int = 100,
    progress: bool = False,
    console: Any = None,
    compute_ap: bool = True,
) -> EvalResult:
    """Predict amodal masks for the whole dataset and score them (see module docstring)."""
    from zoo.io.images import load_image
    from zoo.metrics import coco_segm_ap, iou
    from zoo.tasks.amodal import AmodalTask
    from zoo.tasks.common import image_inputs

    if (detections is None) == (not gt_boxes):
        raise InputError("evaluate with either --detections FILE or --gt-boxes (one of them)")
    if box_kind not in ("amodal", "modal"):
        raise InputError(f"--box-kind {box_kind!r}: use amodal or modal")
    if detections is not None:
        check_detection_images(ds, detections)
    else:
        missing = [im for im in ds.images if im.annotations and not im.path.is_file()]
        if missing:
            raise InputError(
                f"image {missing[0].file_name} is missing from {missing[0].path.parent}"
            )

    subset_of: dict[int, str | None] = {}
    predictions: list[dict[str, Any]] = []
    ious: dict[str, list[float]] = {s: [] for s in SUBSETS}
    todo = {
        im.id for im in ds.images if (im.annotations if gt_boxes else (detections or {}).get(im.id))
    }
    from zoo.progress import progress_bar

    with progress_bar(unit="image", console=console, enabled=progress, info=False) as prog:
        task = prog.add_task(f"evaluating {getattr(model, 'name', 'model')}", total=len(ds.images))
        for im in ds.images:
            h, w = im.height, im.width
            gts = {}
            for a in im.annotations:
                amodal = a.amodal_mask(h, w)
                rate = occlusion_rate(amodal, a.visible_mask(h, w))
                subset_of[a.id] = (
                    None if rate is None else ("occluded" if rate > occluded_thr else "unoccluded")
                )
                gts[a.id] = amodal
            if im.id not in todo:
                prog.advance(task)
                continue
            image = load_image(im.path)
            if image.shape[:2] != (h, w):
                raise InputError(
                    f"image {im.file_name} is {image.shape[1]}x{image.shape[0]} but the "
                    f"annotations say {w}x{h}; fix the annotation file or the image"
                )
            if gt_boxes:
                anns = im.annotations
                boxes = [a.amodal_box if box_kind == "amodal" else a.modal_box for a in anns]
                keep, fitted = fit_boxes(boxes, h, w)
                result = model.segment_amodal(
                    image,
                    fitted,
                    category_ids=[anns[i].category_id for i in keep],
                    visible_masks=[anns[i].visible_mask(h, w) for i in keep],
                )
                for inst, i in zip(result.instances, keep, strict=True):
                    a = anns[i]
                    v = iou(inst.amodal_mask, gts[a.id])
                    ious["all"].append(v)
                    sub = subset_of[a.id]
                    if sub:
                        ious[sub].append(v)
                entries = result.to_coco(image_id=im.id)
                for e, i in zip(entries, keep, strict=True):
                    e["gt_id"] = anns[i].id
            else:
                # the detections as `zoo run --detections` prompts them (clipped to the
                # image, those outside it left out; scores, classes, modal masks carried)
                inputs = AmodalTask().from_detections(
                    image_inputs(image), (detections or {}).get(im.id, [])
                )
                if inputs.empty:
                    prog.advance(task)
                    continue
                result = model.segment_amodal(image, *inputs.args, **inputs.kwargs)
                entries = result.to_coco(image_id=im.id)
            for e in entries:  # keep the results file small: the overlay-only extras go
                e.pop("visible_segmentation", None)
            predictions.extend(entries)
            prog.advance(task)

    gt = ds.coco_gt()
    counts = {
        "all": len(subset_of),
        "occluded": sum(1 for s in subset_of.values() if s == "occluded"),
        "unoccluded": sum(1 for s in subset_of.values() if s == "unoccluded"),
    }
    metrics: dict[str, dict[str, float]] = {}
    for sub in SUBSETS:
        if counts[sub] == 0 or not compute_ap:
            nan = float("nan")
            metrics[sub] = {
                k: nan
                for k in ("AP", "AP50", "AP75", "AP_agnostic", "AP50_agnostic", "AP75_agnostic")
            }
            continue
        g = gt if sub == "all" else _mark_others_crowd(gt, subset_of, sub)
        preds = predictions
        if gt_boxes and sub != "all":
            preds = [p for p in predictions if subset_of.get(p["gt_id"]) == sub]
        clean = [{k: v for k, v in p.items() if k != "gt_id"} for p in preds]
        aware = coco_segm_ap(g, clean, class_agnostic=False, max_dets=max_dets)
        agn = coco_segm_ap(g, clean, class_agnostic=True, max_dets=max_dets)
        metrics[sub] = {**aware, **{f"{k}_agnostic": v for k, v in agn.items()}}
    miou = None
    if gt_boxes:
        miou = {s: (float(np.mean(v)) if v else float("nan")) for s, v in ious.items()}
    notes = list(ds.warnings)
    if any(s is None for s in subset_of.values()):
        notes.append("instances without a visible mask are in 'all' only")
    return EvalResult(
        metrics=metrics, counts=counts, predictions=predictions, miou=miou, notes=notes
    )


def _mark_others_crowd(
    gt: Mapping[str, Any], subset_of: Mapping[int, str | None], keep: str
) -> dict[str, Any]:
    out = copy.deepcopy(dict(gt))
    for a in out["annotations"]:
        if subset_of.get(a["id"]) != keep:
            a["iscrowd"] = 1
    return out


def amodal_miou(model: Any, ds: AmodalDataset, box_kind: str = "amodal") -> float:
    """Mean IoU of predicted vs ground-truth amodal masks, prompting with GT boxes."""
    r = evaluate_sameo(model, ds, gt_boxes=True, box_kind=box_kind, compute_ap=False)
    assert r.miou is not None
    return r.miou["all"]
