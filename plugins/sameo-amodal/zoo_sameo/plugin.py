"""Registration of the ``sameo-amodal`` family and of locally trained SAMEO variants.

Imports nothing heavy: specs, strings and a glob over small JSON files.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from zoo.hookspecs import hookimpl
from zoo.specs import FamilySpec, Task, VariantSpec, WeightsSpec

from .local import FAMILY, read_variant_files

#: The model card ships inside this distribution (uninstalling it removes the card).
CARD = Path(__file__).with_name("card.md")

_NO_WEIGHTS = (
    "The SAMEO authors published no weights: train a decoder with `zoo train sameo-amodal` "
    "or pass --checkpoint PATH."
)

OPTIONS: dict[str, str] = {
    # run
    "detections": "run/eval: COCO-format detections JSON (image_id, bbox as x,y,w,h, score, "
                  "category_id; an optional modal 'segmentation' becomes the visible mask)",
    "score_thr": "run/eval: keep detections scoring at least this (run 0.3, eval 0.05)",
    "image_id": "run: which image of a multi-image --detections file --image is",
    "max_batch": "run/eval: boxes per decoder call (default 128 on GPU, 1 on CPU, where one "
                 "big call is slower); the image is embedded once either way",
    # eval
    "gt_boxes": "eval: prompt with the ground-truth boxes instead of --detections",
    "box_kind": "eval --gt-boxes: 'amodal' (default) or 'modal' (visible) ground-truth boxes",
    "occluded_thr": "eval: an instance counts as occluded above this hidden fraction (0.01)",
    # train
    "base": "train: EfficientSAM base, vitt (default) or vits",
    "name": "train: name of the local variant (then `zoo run sameo-amodal:NAME`)",
    "epochs": "train: passes over all instances (default 10)",
    "batch_size": "train: instances per step (default 8)",
    "lr": "train: AdamW learning rate (default 1e-4; cosine schedule, 5% warm-up)",
    "weight_decay": "train: AdamW weight decay (default 0.01)",
    "max_steps": "train: stop after this many steps (default: epochs x instances / batch)",
    "embed_cache": "train: auto (memory up to 4 GB, else disk), memory, disk or off - reuse "
                   "each image's frozen-encoder embedding",
    "image_size": "encoder input side (train default 1024, EfficientSAM's; run/eval default: "
                  "the checkpoint's); smaller is faster and coarser",
    "box_jitter": "train: random box noise as a fraction of box size (default 0)",
    "seed": "train: random seed (default 0)",
    "save_every": "train: write a resumable state every N steps (default 200)",
    "resume": "train: continue the unfinished run of --name",
}


def _variant(tag: str, params: int, description: str) -> VariantSpec:
    return VariantSpec(
        family=FAMILY, tag=tag, weights=None, params=params, config={"base": tag},
        description=f"{description}. {_NO_WEIGHTS}",
    )


@hookimpl
def zoo_register_families(register: Callable[[Any], None]) -> None:
    register(
        FamilySpec(
            name=FAMILY,
            tasks=[Task.AMODAL],
            loader="zoo_sameo.model:SameoModel",
            card=str(CARD),
            default_tag="vitt",
            description="SAMEO: EfficientSAM as a plug-in amodal mask decoder for any "
                        "detector's boxes",
            variants=[
                _variant("vitt", 10_223_204, "SAMEO on EfficientSAM ViT-T"),
                _variant("vits", 26_413_028, "SAMEO on EfficientSAM ViT-S"),
            ],
            runner="zoo_sameo.cli:run",
            evaluator="zoo_sameo.cli:evaluate",
            trainer="zoo_sameo.cli:train",
            options=OPTIONS,
            conformance={"image_size": 256},
            weights_note=(
                "the SAMEO authors published no weights; train one with "
                "`zoo train sameo-amodal` or pass a SAMEO checkpoint"
            ),
            license="Apache-2.0",
        )
    )


@hookimpl
def zoo_register_variants(register: Callable[[Any], None]) -> None:
    """Variants trained with ``zoo train sameo-amodal`` (``$ZOO_HOME/local/sameo-amodal``)."""
    for data in read_variant_files():
        try:
            w = data.get("weights")
            register(VariantSpec(
                family=FAMILY,
                tag=str(data["tag"]),
                weights=WeightsSpec(**w) if w else None,
                params=data.get("params"),
                config=dict(data.get("config") or {}),
                description=str(data.get("description", "")),
                card=data.get("card"),
            ))
        except Exception as exc:  # one broken file must not hide the other variants
            warnings.warn(f"skipping local SAMEO variant {data.get('tag')!r}: {exc}",
                          stacklevel=2)
