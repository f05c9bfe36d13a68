"""Registration of the ``depth-sam`` family. Imports nothing heavy: only specs and strings.

Each variant has two named checkpoints, both resolved by the core (``zoo.load``, ``zoo
pull``, ``zoo list``'s size and ``cached`` columns see both):

* ``sam2``: the SAM 2.1 file of the same size, borrowed from the ``sam2`` family
  (``same_as``), so the bytes are shared with ``sam2:<size>`` in the cache;
* ``clip``: OpenAI CLIP ViT-B/16 in open_clip's layout, for the open-vocabulary classes.

``--checkpoint PATH`` replaces the SAM 2.1 file, ``--checkpoint clip=PATH`` the CLIP one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import field_validator

from zoo.hookspecs import RegisterFamily, hookimpl
from zoo.options import Options, image_size_option, option
from zoo.specs import FamilySpec, VariantSpec, WeightsSpec

#: The plugin API this module is written to (``zoo plugins`` shows it).
ZOO_PLUGIN_API = 3

#: The model card ships inside this distribution (uninstalling it removes the card).
CARD = Path(__file__).with_name("card.md")

FAMILY = "depth-sam"

#: OpenAI CLIP ViT-B/16 in open_clip's layout, as published in timm's hub repository.
CLIP_WEIGHTS = WeightsSpec(
    uri="hf://timm/vit_base_patch16_clip_224.openai/open_clip_model.safetensors",
    sha256="4b8699299b1e8997753c64b052ba32031449d5d853f55a039148560ee02b820f",
    size=598516980,
    license="MIT",
)
CLIP_VIT_B_16_PARAMS = 149620737

#: SAM 2.1 image-model parameters per size (the sam2 family's registered counts).
_SAM2_PARAMS = {"tiny": 38962498, "small": 46060354, "base-plus": 80850178, "large": 224446642}

#: SAD's generator settings (the documented defaults). With random weights SAM scores its
#: masks so low that none passes them; test mode relaxes the two thresholds to these values
#: unless the user sets them (see ``zoo_depthsam.model.TEST_MODE_THRESHOLDS``).
DEFAULT_PRED_IOU_THRESH = 0.7
DEFAULT_STABILITY_THRESH = 0.8

#: Loader options reach ``zoo.load`` from every command that builds the model.
_LOADER = ("run", "eval", "batch", "serve")


class DepthSamOptions(Options):
    """depth-sam's options. The frame's inputs (``--depth``, ``--intrinsics``, ``--pose``,
    ``--no-pose``, ``--depth-scale``, ``--vocabulary``) are the rgbd task's; ``zoo eval``
    declares its own ``--vocabulary`` and ``--depth-scale`` here (eval only)."""

    # ------------------------------------------------------------ pipeline (loader)
    mode: Literal["depth", "rgb", "both"] = option(
        "depth",
        help="SAM on the rendered depth, on RGB, or both merged by mask NMS "
        "(zoo eval compares them with --modes)",
        loader=True,
        commands=("run", "batch", "serve"),
    )
    semantics: Literal["mask", "pixel"] = option(
        "mask",
        help="mask: CLIP on each mask crop; pixel: dense CLIP map + majority vote (SAD's rule)",
        loader=True,
        commands=_LOADER,
    )
    colormap: str = option(
        "inferno", help="matplotlib colormap for the depth rendering", loader=True, commands=_LOADER
    )
    linear_depth: bool = option(
        False, help="colour depth linearly instead of inverse depth", loader=True, commands=_LOADER
    )
    image_size: int | None = image_size_option(
        64, commands=_LOADER, default=1024, note="smaller is much faster on CPU"
    )
    points_per_side: int = option(
        64,
        help="mask generator grid: points per side (SAD: 64; cost grows with its square)",
        loader=True,
        commands=_LOADER,
        ge=1,
        le=128,
    )
    points_per_batch: int = option(
        64,
        help="prompt points per decoder batch (memory vs. speed)",
        loader=True,
        commands=_LOADER,
        ge=1,
        le=1024,
    )
    pred_iou_thresh: float | None = option(
        None,
        help=f"mask generator predicted-IoU threshold (default: SAD's "
        f"{DEFAULT_PRED_IOU_THRESH:g}; 0 in test mode)",
        loader=True,
        commands=_LOADER,
        ge=0.0,
        le=1.0,
    )
    stability_score_thresh: float | None = option(
        None,
        help=f"mask generator stability-score threshold (default: SAD's "
        f"{DEFAULT_STABILITY_THRESH:g}; 0 in test mode)",
        loader=True,
        commands=_LOADER,
        aliases=("stability_thresh",),
        ge=0.0,
        le=1.0,
    )
    box_nms_thresh: float = option(
        0.7,
        help="mask generator box NMS IoU threshold",
        loader=True,
        commands=_LOADER,
        ge=0.0,
        le=1.0,
    )
    min_region_area: int = option(
        100,
        help="fill holes and drop islands and masks below this many pixels (SAD: 100)",
        loader=True,
        commands=_LOADER,
        aliases=("min_region",),
        ge=0,
        le=1_000_000,
    )
    merge_iou: float = option(
        0.7,
        help="mask IoU above which --mode both drops the lower-scored mask",
        loader=True,
        commands=_LOADER,
        gt=0.0,
        le=1.0,
    )
    max_masks: int | None = option(
        None,
        help="keep at most this many masks, best predicted IoU first (default: all)",
        loader=True,
        commands=_LOADER,
        ge=0,
        le=10_000,
    )
    voxel_size: float = option(
        0.0,
        help="point-cloud voxel down-sampling in metres (0: a point per valid depth pixel)",
        loader=True,
        commands=("run", "batch", "serve"),
        ge=0.0,
        le=10.0,
    )
    # ------------------------------------------------------------ call options
    classes: str | None = option(
        None,
        help='your own classes: "chair,table,floor" or a text file (one per line)',
        commands=("run", "eval"),
    )
    render_only: bool = option(
        False,
        help="only render the depth through the colormap into depth_render.png (no model)",
        commands=("run",),
    )
    # ------------------------------------------------------------ eval
    vocabulary: str = option(
        "scannet20", help="class set: scannet20, scannet200 or nyu40", commands=("eval",)
    )
    depth_scale: float | None = option(
        None,
        help="metres per stored depth unit (default 0.001 for integer PNG/npy, 1 for float)",
        commands=("eval",),
        gt=0.0,
        le=10.0,
    )
    label_format: Literal["nyu40", "scannet200", "index"] = option(
        "nyu40",
        help="label PNG values: NYU40 ids, raw ScanNet ids, or index (k = class k-1)",
        commands=("eval",),
    )
    modes: str | None = option(
        None,
        help="comma list of modes to compare side by side (default depth,rgb,both)",
        commands=("eval",),
    )
    max_frames: int = option(
        0,
        help="evaluate at most this many frames (0: all)",
        commands=("eval",),
        ge=0,
        le=1_000_000,
    )

    @field_validator("colormap")
    @classmethod
    def _known_colormap(cls, v: str) -> str:
        from .render import get_colormap

        get_colormap(v)  # one line naming close matches (matplotlib imported only here)
        return v

    @field_validator("classes")
    @classmethod
    def _some_classes(cls, v: str | None) -> str | None:
        if v is not None and not [c for c in v.replace("\n", ",").split(",") if c.strip()]:
            raise ValueError('is empty; give names like --classes "chair,table,floor"')
        return v


def _variants() -> list[VariantSpec]:
    return [
        VariantSpec(
            family=FAMILY,
            tag=size,
            checkpoints={"sam2": WeightsSpec(same_as=f"sam2:{size}"), "clip": CLIP_WEIGHTS},
            params=params + CLIP_VIT_B_16_PARAMS,
            config={"size": size, "clip_model": "ViT-B-16"},
            description=f"SAM 2.1 {size} on rendered depth + CLIP ViT-B/16 (OpenAI) classes",
        )
        for size, params in _SAM2_PARAMS.items()
    ]


@hookimpl
def zoo_register_families(register: RegisterFamily) -> None:
    register(
        FamilySpec(
            name=FAMILY,
            tasks=["rgbd"],
            loader="zoo_depthsam.model:DepthSamModel",
            card=str(CARD),
            default_tag="tiny",
            description="Segment Any RGBD: SAM 2.1 on colour-mapped depth, CLIP classes, 3D points",
            variants=_variants(),
            # only for --render-only (no model); every other run is the rgbd task's
            runner="zoo_depthsam.cli:run",
            evaluator="zoo_depthsam.cli:evaluate",
            options=DepthSamOptions,
            conformance={
                "image_size": 256,
                "points_per_side": 2,
                "pred_iou_thresh": 0.0,
                "stability_score_thresh": 0.0,
                "box_nms_thresh": 1.0,
                "min_region_area": 0,
                "max_masks": 3,
                "templates": ["a photo of a {}."],
            },
            license="CC-BY-NC-4.0",
        )
    )
