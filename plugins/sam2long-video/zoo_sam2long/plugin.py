"""Registration of the ``sam2long-video`` family. Imports nothing heavy: only specs and strings.

SAM2Long has no weights of its own: each variant runs on one SAM 2.1 size and borrows that
checkpoint from the ``sam2`` family (``weights_from="sam2:<size>"``, i.e. ``same_as``), so
``zoo pull``, the cache and ``--checkpoint`` treat it exactly like the ``sam2`` file. The
model class lives in :mod:`zoo_sam2long.model` and is imported only when a model is loaded.
"""

from __future__ import annotations

from pathlib import Path

from zoo.hookspecs import RegisterFamily, hookimpl
from zoo.options import Options, image_size_option, option
from zoo.specs import PRIMARY, FamilySpec, VariantSpec, WeightsSpec

#: The plugin API this module is written to (``zoo plugins`` shows it).
ZOO_PLUGIN_API = 3

FAMILY = "sam2long-video"
SIZES = ("tiny", "small", "base-plus", "large")
#: The model card ships inside this distribution (uninstalling it removes the card).
CARD = Path(__file__).with_name("card.md")

#: Loader options reach ``zoo.load`` from every command that builds the model (no
#: ``export``: SAM2Long has no graphs of its own).
_LOADER = ("run", "eval", "batch", "serve")


class Sam2LongOptions(Options):
    """The memory tree's options (loader keywords of ``create``; defaults are the
    tracker's own, :class:`zoo_sam2long.tracker.SAM2LongConfig`). The prompt frame
    (``--frame``) and mask prompt (``--mask``) are the video task's options."""

    pathways: int = option(
        3,
        help="memory pathways per object (1 = no tree; time grows with it)",
        loader=True,
        commands=_LOADER,
        ge=1,
        le=16,
    )
    iou_threshold: float = option(
        0.1,
        help="predicted IoU a frame needs to serve as memory",
        loader=True,
        commands=_LOADER,
        aliases=("iou_thre",),
        ge=0.0,
        le=1.0,
    )
    uncertainty: float = option(
        2.0,
        help="up to this max |object score|, near-duplicate masks are dropped",
        loader=True,
        commands=_LOADER,
        ge=0.0,
        le=100.0,
    )
    image_size: int | None = image_size_option(64, commands=_LOADER, note="default 1024")
    no_baseline: bool = option(False, help="skip the plain SAM 2 column", commands=("eval",))
    exclude_void: bool = option(
        False,
        help="leave void pixels (255) out of J and F; DAVIS 2017 semi-supervised counts "
        "them as background (the protocol name says which)",
        commands=("eval",),
    )


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
            tasks=["video"],
            loader="zoo_sam2long.model:SAM2LongVideoModel",
            card=str(CARD),
            default_tag="tiny",
            description="SAM2Long: training-free memory tree over SAM 2.1, streaming video",
            variants=_variants(),
            options=Sam2LongOptions,
            evaluator="zoo_sam2long.runners:evaluate",
            conformance={"image_size": 256, "pathways": 2},
            license="Apache-2.0",
        )
    )
