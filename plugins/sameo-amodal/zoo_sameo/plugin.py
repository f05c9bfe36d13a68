"""Registration of the ``sameo-amodal`` family: its architectures and its options.

Imports nothing heavy (specs, strings and the torch-free :mod:`zoo_sameo.config`). Models
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

from zoo.batching import MAX_BATCH
from zoo.hookspecs import RegisterFamily, hookimpl
from zoo.specs import FamilySpec, OptionSpec, Task, VariantSpec, WeightsSpec, image_size_option

from . import FAMILY
from .config import BASES, EMBED_CACHE_MODES, TrainConfig

#: The model card ships inside this distribution (uninstalling it removes the card).
CARD = Path(__file__).with_name("card.md")

#: Tags of the registered architectures; a trained variant may not take these names.
RESERVED_TAGS = ("vitt", "vits")

#: ``--score-thr`` when not given, per command: a picture wants confident detections, AP
#: wants the low-scoring ones too (they only add recall at the tail of the curve).
SCORE_THR_DEFAULT = {"run": 0.3, "eval": 0.05}

_D = TrainConfig  # the training defaults, declared once in zoo_sameo.config

OPTIONS = [
    # ------------------------------------------------------------------ run / eval
    OptionSpec(
        name="detections",
        type="path",
        commands=("run", "eval"),
        help="COCO results JSON from any detector (image_id, bbox as x,y,w,h, score, "
        "category_id; an optional modal 'segmentation' becomes the visible mask)",
    ),
    OptionSpec(
        name="score_thr",
        type="float",
        minimum=0.0,
        commands=("run", "eval"),
        help=f"keep detections scoring at least this, 0..1 (default {SCORE_THR_DEFAULT['run']} "
        f"for run, {SCORE_THR_DEFAULT['eval']} for eval)",
    ),
    OptionSpec(
        name="image_id",
        type="str",
        commands=("run",),
        help="which image of a multi-image --detections file --image is",
    ),
    MAX_BATCH,  # the core's --max-batch (zoo.batching): per-device default
    image_size_option(
        16,
        commands=("run", "eval", "train", "batch"),
        note=f"run/eval: the checkpoint's own; train: {_D.image_size}, EfficientSAM's; "
        "smaller is faster and coarser",
    ),
    # ------------------------------------------------------------------ eval
    OptionSpec(
        name="gt_boxes",
        type="bool",
        default=False,
        commands=("eval",),
        help="prompt with the ground-truth boxes instead of --detections (reports mIoU too)",
    ),
    OptionSpec(
        name="box_kind",
        type="choice",
        choices=("amodal", "modal"),
        default="amodal",
        commands=("eval",),
        help="with --gt-boxes: the amodal (whole) or modal (visible) ground-truth boxes",
    ),
    OptionSpec(
        name="occluded_thr",
        type="float",
        default=0.01,
        minimum=0.0,
        commands=("eval",),
        help="an instance counts as occluded above this hidden fraction (0..1)",
    ),
    # ------------------------------------------------------------------ train
    OptionSpec(
        name="base",
        type="choice",
        choices=BASES,
        model=True,
        commands=("train",),
        help="EfficientSAM base, vitt or vits (default: the variant's, vitt for sameo-amodal)",
    ),
    OptionSpec(
        name="name",
        type="str",
        commands=("train",),
        help="name of the trained variant, then `zoo run sameo-amodal:NAME` "
        "(default: base and annotation file name)",
    ),
    OptionSpec(
        name="epochs",
        type="int",
        default=_D.epochs,
        minimum=1,
        commands=("train",),
        help="passes over all instances",
    ),
    OptionSpec(
        name="batch_size",
        type="int",
        default=_D.batch_size,
        minimum=1,
        commands=("train",),
        help="instances per step",
    ),
    OptionSpec(
        name="lr",
        type="float",
        default=_D.lr,
        minimum=0.0,
        commands=("train",),
        help=f"AdamW learning rate (cosine schedule, {_D.warmup_frac:.0%} warm-up)",
    ),
    OptionSpec(
        name="weight_decay",
        type="float",
        default=_D.weight_decay,
        minimum=0.0,
        commands=("train",),
        help="AdamW weight decay",
    ),
    OptionSpec(
        name="max_steps",
        type="int",
        default=_D.max_steps,
        minimum=1,
        commands=("train",),
        help="stop after this many steps (default: epochs x instances / batch size)",
    ),
    OptionSpec(
        name="embed_cache",
        type="choice",
        choices=EMBED_CACHE_MODES,
        default=_D.embed_cache,
        commands=("train",),
        help="reuse each image's frozen-encoder embedding: auto (memory up to 4 GB, else "
        "disk), memory, disk or off",
    ),
    OptionSpec(
        name="box_jitter",
        type="float",
        default=_D.box_jitter,
        minimum=0.0,
        commands=("train",),
        help="random box noise as a fraction of the box size, below 1",
    ),
    OptionSpec(
        name="save_every",
        type="int",
        default=_D.save_every,
        minimum=1,
        commands=("train",),
        help="write a resumable state every N steps (Ctrl-C also writes one)",
    ),
    OptionSpec(
        name="resume",
        type="bool",
        default=_D.resume,
        commands=("train",),
        help="continue the unfinished run of --name where it stopped",
    ),
]


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
            runner="zoo_sameo.cli:run",
            evaluator="zoo_sameo.cli:evaluate",
            trainer="zoo_sameo.cli:train",
            options=OPTIONS,
            dtypes=["float32", "bfloat16", "float16"],
            conformance={"image_size": 256},
            weights_note=(
                "the SAMEO authors published none; train a decoder with "
                "`zoo train sameo-amodal --name NAME`"
            ),
            license="Apache-2.0",
        )
    )
