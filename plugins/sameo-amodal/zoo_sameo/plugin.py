"""Registration of the ``sameo-amodal`` family: its architectures and its options.

Imports nothing heavy (specs, typed options and strings; the trainer's config is
:mod:`zoo_sameo.config`, named by reference). ``zoo run``, ``zoo batch`` and ``zoo serve``
are the core's amodal task (:mod:`zoo.tasks.amodal`); the family adds its evaluation
protocol (:func:`zoo_sameo.cli.evaluate`) and its trainer. Models
trained with ``zoo train sameo-amodal`` are found by the core's local-variant scanner
(``$ZOO_HOME/local/sameo-amodal/<name>/variant.json``), not here.

Every SAMEO variant declares two files: ``decoder`` (its primary file, the one
``--checkpoint PATH`` replaces) and ``base``, the EfficientSAM checkpoint its encoder comes
from (``same_as="efficientsam:<base>"``, optional: only resolved when a decoder checkpoint
lacks the encoder). SAMEO's authors published no decoder, so the registered variants mark it
``published=False``: `zoo list` says so, and loading them asks for a checkpoint in one line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from zoo.hookspecs import RegisterFamily, hookimpl
from zoo.options import Options, image_size_option, max_batch_option, option
from zoo.specs import FamilySpec, Task, VariantSpec, WeightsSpec

from . import FAMILY

#: This module follows plugin API 3 (typed options, the core amodal task, a typed trainer).
ZOO_PLUGIN_API = 3

#: The model card ships inside this distribution (uninstalling it removes the card).
CARD = Path(__file__).with_name("card.md")

#: Tags of the registered architectures; a trained variant may not take these names.
RESERVED_TAGS = ("vitt", "vits")

#: ``zoo eval``'s ``--score-thr`` default: AP wants the low-scoring detections too (they only
#: add recall at the tail of the curve). ``zoo run``'s (0.3) is the amodal task's.
EVAL_SCORE_THR = 0.05

_EVAL = ("eval",)


class SameoOptions(Options):
    """``zoo run/batch/serve`` take the amodal task's options (``--detections``,
    ``--score-thr``, ``--image-id``: :mod:`zoo.tasks.amodal`); these are the family's own:
    two loader options and the options of its evaluation protocol."""

    image_size: int | None = image_size_option(
        16, note="default: the checkpoint's own, else EfficientSAM's 1024; smaller is faster "
        "and coarser",
    )  # fmt: skip
    max_batch: int | None = max_batch_option()
    # ------------------------------------------------------------------ eval
    detections: Path | None = option(
        None,
        help="COCO results JSON from any detector (image_id, bbox as x,y,w,h, score, "
        "category_id), read like `zoo run --detections`",
        commands=_EVAL,
    )
    score_thr: float = option(
        EVAL_SCORE_THR,
        help="keep detections scoring at least this, 0..1 (AP wants the low-scoring ones too)",
        ge=0.0,
        le=1.0,
        commands=_EVAL,
    )
    gt_boxes: bool = option(
        False,
        help="prompt with the ground-truth boxes instead of --detections (reports mIoU too)",
        commands=_EVAL,
    )
    box_kind: Literal["amodal", "modal"] = option(
        "amodal",
        help="with --gt-boxes: the amodal (whole) or modal (visible) ground-truth boxes",
        commands=_EVAL,
    )
    occluded_thr: float = option(
        0.01,
        help="an instance counts as occluded above this hidden fraction (0..1)",
        ge=0.0,
        le=1.0,
        commands=_EVAL,
    )


def _variant(tag: str, params: int, description: str) -> VariantSpec:
    return VariantSpec(
        family=FAMILY,
        tag=tag,
        params=params,
        config={"base": tag},
        description=description,
        checkpoints={
            "decoder": WeightsSpec(published=False),  # why: the family's weights_note
            "base": WeightsSpec(same_as=f"efficientsam:{tag}", optional=True),
        },
    )


@hookimpl
def zoo_register_families(register: RegisterFamily) -> None:
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
            evaluator="zoo_sameo.cli:evaluate",
            trainer="zoo_sameo.train:train_sameo",
            train_config="zoo_sameo.config:SameoTrainConfig",
            options=SameoOptions,
            dtypes=["float32", "bfloat16", "float16"],
            conformance={"image_size": 256},
            weights_note=(
                "the SAMEO authors published none; train a decoder with "
                "`zoo train sameo-amodal --name NAME`"
            ),
            license="Apache-2.0",
        )
    )
