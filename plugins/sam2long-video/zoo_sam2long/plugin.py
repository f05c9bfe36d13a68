"""Registration of the ``sam2long-video`` family. Imports nothing heavy: only specs and strings.

SAM2Long has no weights of its own: each variant (in the core's catalogue, ``registry.yaml``)
runs on one SAM 2.1 size and borrows that checkpoint from the ``sam2`` family
(``same_as: sam2:<size>``), so ``zoo pull``, the cache and ``--checkpoint`` treat it exactly
like the ``sam2`` file. The model class lives in :mod:`zoo_sam2long.model` and is imported
only when a model is loaded; the card is ``cards/sam2long-video.md``.
"""

from __future__ import annotations

from zoo.hookspecs import RegisterDataset, RegisterFamily, hookimpl
from zoo.options import Options, image_size_option, option
from zoo.specs import FamilySpec

#: The plugin API this module is written to (``zoo plugins`` shows it).
ZOO_PLUGIN_API = 3

FAMILY = "sam2long-video"
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


@hookimpl
def zoo_register_families(register: RegisterFamily) -> None:
    register(
        FamilySpec(
            name=FAMILY,
            tasks=["video"],
            loader="zoo_sam2long.model:SAM2LongVideoModel",
            options=Sam2LongOptions,
            evaluator="zoo_sam2long.runners:evaluate",
            conformance={"image_size": 256, "pathways": 2},
        )
    )


@hookimpl
def zoo_register_datasets(register: RegisterDataset) -> None:
    register(
        "davis",
        "zoo_sam2long.synthetic:write_davis",
        "synthetic DAVIS layout (JPEGImages/, Annotations/; --images videos of 8 frames, two "
        "moving shapes): zoo eval sam2long-video",
    )
