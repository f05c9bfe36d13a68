"""The SOBA evaluation protocol of OpSeg: ground-truth box prompts, paired predictions.

For every ground-truth object and shadow the tight box of its mask is the prompt (the
paper evaluates "with prompts"); an object and its shadow go in as one instance, so the
prediction is a pair. Each model in ``models`` sees the same images and prompts, so a
comparison (``--compare sam2:base-plus``) is like for like. Objects and shadows are scored
separately (:class:`zoo_opseg.metrics.MaskScores`); pairs also feed SOAP.

Images are read one at a time and each model embeds an image once for all its prompts.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from zoo.errors import InputError

from .metrics import DEFAULT_THRESHOLDS, METRIC_KEYS, METRIC_LABELS, MaskScores, SoapAccumulator
from .model import predict_pairs
from .soba import SobaDataset, SobaImage, mask_box


@dataclass
class ModelEval:
    objects: MaskScores = field(default_factory=MaskScores)
    shadows: MaskScores = field(default_factory=MaskScores)
    soap: SoapAccumulator = field(default_factory=SoapAccumulator)
    annotations: list[dict[str, Any]] = field(default_factory=list)
    association_anno: list[dict[str, Any]] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {
            "objects": self.objects.summary(),
            "shadows": self.shadows.summary(),
            "pairs": self.soap.result(),
        }

    def predictions(self, model: str) -> dict[str, Any]:
        """The kept predictions as a SOBA-format results file: category 1 object / 2 shadow
        with an ``association`` number, and ``association_anno`` (one union per pair)."""
        from zoo.results.shadow import SOBA_CATEGORIES

        return {
            "model": model,
            "categories": SOBA_CATEGORIES,
            "annotations": self.annotations,
            "association_anno": self.association_anno,
        }


def image_instances(image: SobaImage) -> tuple[list[dict[str, Any]], list[dict[str, Any]], int]:
    """Prompts from ground truth: ``(instances, ground truth per instance, empty count)``.

    A side whose mask is empty has no box, so it gets no prompt and is not scored.
    """
    instances: list[dict[str, Any]] = []
    truths: list[dict[str, Any]] = []
    empty = 0
    for pair in image.pairs:
        inst: dict[str, Any] = {}
        truth: dict[str, Any] = {"pair": pair}
        for role, ann in (("object", pair.object), ("shadow", pair.shadow)):
            m = image.decode(ann)
            if m is None:
                continue
            box = mask_box(m)
            if box is None:
                empty += 1
                continue
            inst[role] = {"box": box}
            truth[role] = m
        if inst:
            instances.append(inst)
            truths.append(truth)
    return instances, truths, empty


def evaluate(
    models: Mapping[str, Any],
    data: SobaDataset,
    *,
    thresholds: Sequence[float] = DEFAULT_THRESHOLDS,
    max_dets: int = 20,
    keep_predictions: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, ModelEval]:
    """Score each model on ``data``; returns per-model accumulators (``.summary()``)."""
    from zoo.io.images import load_image

    evals = {name: ModelEval(soap=SoapAccumulator(thresholds, max_dets)) for name in models}
    empty_total = 0
    for k, image in enumerate(data.images):
        if image.path is None:
            raise InputError("evaluation needs --images: the folder holding the SOBA images")
        img = load_image(image.path)
        if img.shape[:2] != (image.height, image.width):
            raise InputError(
                f"image {image.file_name} is {img.shape[1]}x{img.shape[0]} but the annotations say "
                f"{image.width}x{image.height}; --images and --annotations do not match"
            )
        instances, truths, empty = image_instances(image)
        empty_total += empty
        if not instances:
            continue
        for name, model in models.items():
            ev = evals[name]
            result = predict_pairs(model, img, instances)
            gt_pairs, pred_pairs = [], []
            for inst, truth in zip(result.instances, truths, strict=True):
                # every role with a truth was prompted (image_instances), so it has a mask
                om, sm = inst.object_mask, inst.shadow_mask
                if "object" in truth:
                    assert om is not None
                    ev.objects.add(om, truth["object"])
                if "shadow" in truth:
                    assert sm is not None
                    ev.shadows.add(sm, truth["shadow"])
                if "object" in truth and "shadow" in truth:
                    assert om is not None and sm is not None
                    pair = truth["pair"]
                    assoc = image.decode(pair.association_ann) if pair.association_ann else None
                    gt_pairs.append((truth["object"], truth["shadow"], assoc))
                    pred_pairs.append((om, sm, inst.pair_score))
            ev.soap.add_image(gt_pairs, pred_pairs)
            if keep_predictions:
                ev.annotations.extend(result.to_coco(image.image_id))
                ev.association_anno.extend(result.association_entries(image.image_id))
        if progress is not None:
            progress(k + 1, len(data.images))
    if empty_total:
        data.warnings.append(f"{empty_total} annotations have empty masks; not scored")
    return evals


def metric_table(
    summaries: Mapping[str, Mapping[str, Any]],
    split: str,
    *,
    baseline: str | None = None,
) -> dict[str, Any]:
    """The paper's layout: one block per target (Objects, Shadows, Pairs), models as columns
    (the baseline first, like the paper's "Ori."), and ``%Δ`` of each other model against
    the baseline when one is given."""
    names = list(summaries)
    if baseline is not None and baseline in names:
        names = [baseline] + [n for n in names if n != baseline]
    others = [n for n in names if n != baseline] if baseline else []
    columns = ["metric", *names] + [f"%Δ {n}" if len(others) > 1 else "%Δ" for n in others]
    rows: list[list[Any]] = []
    title = split.capitalize()

    def delta(v: float, b: float) -> str:
        if not (np.isfinite(v) and np.isfinite(b)) or b == 0:
            return "-"
        return f"{(v - b) / abs(b) * 100:+.1f}"

    blocks = [
        ("objects", "Objects", METRIC_KEYS),
        ("shadows", "Shadows", METRIC_KEYS),
        ("pairs", "Pairs", ("SOAP", "SOAP50", "SOAP75")),
    ]
    for key, label, metrics in blocks:
        n = summaries[names[0]][key].get("n")
        head = f"{title} - {label}" + (f" (n={n})" if n is not None else "")
        rows.append([head] + [""] * (len(columns) - 1))
        for m in metrics:
            vals = [float(summaries[nm][key][m]) for nm in names]
            row: list[Any] = [METRIC_LABELS.get(m, m), *vals]
            if baseline:
                b = float(summaries[baseline][key][m])
                row += [delta(float(summaries[o][key][m]), b) for o in others]
            rows.append(row)
    return {
        "title": f"SOBA {split}: box prompts from ground truth",
        "columns": columns,
        "rows": rows,
    }
