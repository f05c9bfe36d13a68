"""Registration of the ``sam2long-video`` family. Imports nothing heavy: only specs and strings.

SAM2Long has no weights of its own: each variant runs on one SAM 2.1 size and borrows that
checkpoint from the ``sam2`` family (``weights_from="sam2:<size>"``, i.e. ``same_as``), so
``zoo pull``, the cache and ``--checkpoint`` treat it exactly like the ``sam2`` file. The
model class lives in :mod:`zoo_sam2long.model` and is imported only when a model is loaded.
"""

from __future__ import annotations

from pathlib import Path

from zoo.hookspecs import RegisterFamily, hookimpl
from zoo.specs import (
    PRIMARY,
    Command,
    FamilySpec,
    OptionSpec,
    Task,
    VariantSpec,
    WeightsSpec,
    image_size_option,
)

FAMILY = "sam2long-video"
SIZES = ("tiny", "small", "base-plus", "large")
#: The model card ships inside this distribution (uninstalling it removes the card).
CARD = Path(__file__).with_name("card.md")

#: Loader kwargs (``model=True``): the core passes them to ``zoo.load`` for every command,
#: so ``zoo batch``/``zoo serve`` honour them without this family's runner.
_MODEL_COMMANDS: tuple[Command, ...] = ("run", "eval", "batch")

OPTIONS = [
    OptionSpec(
        name="pathways",
        type="int",
        default=3,
        minimum=1,
        model=True,
        commands=_MODEL_COMMANDS,
        help="memory pathways per object (1 = no tree)",
    ),
    OptionSpec(
        name="iou_threshold",
        type="float",
        default=0.1,
        minimum=0.0,
        model=True,
        aliases=("iou_thre",),
        commands=_MODEL_COMMANDS,
        help="predicted IoU a frame needs to serve as memory",
    ),
    OptionSpec(
        name="uncertainty",
        type="float",
        default=2.0,
        minimum=0.0,
        model=True,
        commands=_MODEL_COMMANDS,
        help="up to this max |object score|, near-duplicate masks are dropped",
    ),
    image_size_option(64, commands=_MODEL_COMMANDS, note="default 1024"),
    OptionSpec(
        name="frame",
        type="int",
        default=0,
        minimum=0,
        aliases=("prompt_frame",),
        commands=("run",),
        help="index of the frame the prompts were drawn on",
    ),
    OptionSpec(
        name="mask",
        type="path",
        default=None,
        commands=("run",),
        help="palette PNG of the prompt frame, pixel = object id",
    ),
    OptionSpec(
        name="no_baseline",
        type="bool",
        default=False,
        commands=("eval",),
        help="skip the plain SAM 2 column",
    ),
    OptionSpec(
        name="exclude_void",
        type="bool",
        default=False,
        commands=("eval",),
        help="leave void pixels (255) out of J and F; DAVIS 2017 semi-supervised counts "
        "them as background (the protocol name says which)",
    ),
]


def _variants() -> list[VariantSpec]:
    return [
        VariantSpec(
            family=FAMILY,
            tag=size,
            # = weights_from="sam2:<size>", spelt out so type checkers see the field
            checkpoints={PRIMARY: WeightsSpec(same_as=f"sam2:{size}")},
            config={"size": size},
            description=f"SAM2Long memory tree on SAM 2.1 {size} (its weights, no extra params)",
        )
        for size in SIZES
    ]


@hookimpl
def zoo_register_families(register: RegisterFamily) -> None:
    register(
        FamilySpec(
            name=FAMILY,
            tasks=[Task.VIDEO],
            loader="zoo_sam2long.model:SAM2LongVideoModel",
            card=str(CARD),
            default_tag="tiny",
            description="SAM2Long: training-free memory tree over SAM 2.1, streaming video",
            variants=_variants(),
            options=OPTIONS,
            runner="zoo_sam2long.runners:run",
            evaluator="zoo_sam2long.runners:evaluate",
            conformance={"image_size": 256, "pathways": 2},
            license="Apache-2.0",
        )
    )
