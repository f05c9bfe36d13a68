"""The generated model card of an adapted variant (``zoo info wesam-adapt:<name>``).

It starts from the family card (paper, upstream code, licence) and replaces the paper's
numbers with what *this* run did: base model, data, prompt kind, steps, and the mIoU/F1
measured before and after adaptation. The paper's reported metrics are left out on
purpose: next to a user's own adapter they would read as if they were its results.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from zoo.cards import load_card, render_card

from .adapter import describe_base
from .plugin import CARD
from .store import FAMILY

NOT_MEASURED = "not measured (no masks to compare against, or evaluation switched off)"


def _fmt(v: Any) -> str:
    return "n/a" if v is None else f"{v:.4f}"


def data_record(ds: Any) -> dict[str, Any]:
    """What an adaptation was trained on (card and ``variant.json``'s ``zoo_train``)."""
    return {
        "annotations": str(Path(ds.annotations_path).resolve()),
        "images": str(Path(ds.images_dir).resolve()),
        "num_images": len(ds),
        "num_instances": ds.num_instances,
    }


def metrics_record(result: Any) -> dict[str, Any]:
    """The before/after numbers ``zoo train`` measured (card and ``variant.json``)."""
    return {
        "miou_before": result.miou_before,
        "miou_after": result.miou_after,
        "f1_before": result.f1_before,
        "f1_after": result.f1_after,
        "eval_on": result.eval_on,
        "eval_images": result.eval_images,
        "eval_protocol": result.eval_protocol,
    }


def card_text(
    *, name: str, meta: dict[str, Any], result: Any, cfg: Any, ds: Any, val_size: int
) -> str:
    """The card of ``wesam-adapt:<name>`` (the core store writes it beside variant.json)."""
    family_card = load_card(CARD)
    size = meta["size"]
    measured = None
    if result.miou_after is not None:
        measured = (
            f"mIoU {_fmt(result.miou_before)} -> {_fmt(result.miou_after)}, "
            f"F1 {_fmt(result.f1_before)} -> {_fmt(result.f1_after)} "
            f"on {result.eval_images} {result.eval_on} ({result.eval_instances} instances, "
            f"{result.prompt} prompts; {result.eval_protocol}: per-image means, "
            "logits >= 0.5)"
        )
    body = "\n".join(
        [
            f"WeSAM adapter trained by `zoo train {FAMILY}`: rank-{cfg.rank} LoRA on the query and "
            f"value projections of every image-encoder attention block of SAM 2.1 {size}, merged "
            "into the weights at load time (inference costs what the base costs).",
            "",
            "| | |",
            "|---|---|",
            f"| base model | {describe_base(meta)} |",
            f"| data | {len(ds)} images, {ds.num_instances} instances: "
            f"`{ds.annotations_path}` + `{ds.images_dir}` |",
            f"| prompt | {result.prompt} |",
            f"| steps | {result.steps} (batch {cfg.batch_size}, lr {cfg.lr:g}, "
            f"input {meta['image_size']}px"
            f"{', EMA teacher' if cfg.ema_teacher else ''}) |",
            f"| adapter | `adapter.safetensors`, {result.adapter_parameters:,} parameters |",
            f"| measured (sam-zoo, this run) | {measured or NOT_MEASURED} |",
            "",
            f"Held-out images: {val_size if result.eval_on == 'held-out images' else 0} "
            "(every 7th image by default; tiny sets are measured on their training images, which "
            "flatters the 'after' number).",
            "",
            "```bash",
            f'zoo run {FAMILY}:{name} --image photo.jpg --boxes "10,20,300,400" --out masks/',
            f"zoo eval {FAMILY}:{name} --images DIR --annotations COCO.json "
            f"--prompt {result.prompt} --compare source",
            "```",
            "",
        ]
    )
    adapted = family_card.model_copy(update={"body": body})
    adapted.zoo.reported_metrics = []
    return render_card(
        adapted,
        name=f"{FAMILY}:{name}",
        tags=["adapted", "lora", "wesam"],
        base_model=f"facebook/sam2.1-hiera-{size}",
        extra={
            "adaptation": {
                "base": f"sam2:{size}",
                "base_weights": meta.get("base_weights"),
                "prompt": result.prompt,
                "steps": result.steps,
                "rank": cfg.rank,
                "image_size": meta["image_size"],
                "data": data_record(ds),
                "measured": {
                    **metrics_record(result),
                    "source": "measured by sam-zoo during zoo train",
                },
            }
        },
    )
