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

from zoo.hookspecs import RegisterFamily, hookimpl
from zoo.specs import (
    Command,
    FamilySpec,
    OptionSpec,
    Task,
    VariantSpec,
    WeightsSpec,
    image_size_option,
)

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

_RUN_EVAL_BATCH: tuple[Command, ...] = ("run", "eval", "batch")

OPTIONS = [
    # ---------------------------------------------------------------- pipeline (model)
    OptionSpec(
        name="mode",
        type="choice",
        choices=("depth", "rgb", "both"),
        default="depth",
        model=True,
        commands=("run", "batch"),
        help="SAM on the rendered depth, on RGB, or both merged by mask NMS "
        "(zoo eval compares them with --modes)",
    ),
    OptionSpec(
        name="semantics",
        type="choice",
        choices=("mask", "pixel"),
        default="mask",
        model=True,
        commands=_RUN_EVAL_BATCH,
        help="mask: CLIP on each mask crop; pixel: dense CLIP map + majority vote (SAD's rule)",
    ),
    OptionSpec(
        name="colormap",
        default="inferno",
        model=True,
        commands=_RUN_EVAL_BATCH,
        help="matplotlib colormap for the depth rendering",
    ),
    OptionSpec(
        name="linear_depth",
        type="bool",
        default=False,
        model=True,
        commands=_RUN_EVAL_BATCH,
        help="colour depth linearly instead of inverse depth",
    ),
    image_size_option(
        64, commands=_RUN_EVAL_BATCH, default=1024, note="smaller is much faster on CPU"
    ),
    OptionSpec(
        name="points_per_side",
        type="int",
        default=64,
        minimum=1,
        model=True,
        commands=_RUN_EVAL_BATCH,
        help="mask generator grid: points per side (SAD: 64; cost grows with its square)",
    ),
    OptionSpec(
        name="points_per_batch",
        type="int",
        default=64,
        minimum=1,
        model=True,
        commands=_RUN_EVAL_BATCH,
        help="prompt points per decoder batch (memory vs. speed)",
    ),
    OptionSpec(
        name="pred_iou_thresh",
        type="float",
        default=DEFAULT_PRED_IOU_THRESH,
        minimum=0.0,
        model=True,
        commands=_RUN_EVAL_BATCH,
        help="mask generator predicted-IoU threshold (relaxed to 0 in test mode unless given)",
    ),
    OptionSpec(
        name="stability_score_thresh",
        type="float",
        default=DEFAULT_STABILITY_THRESH,
        minimum=0.0,
        aliases=("stability_thresh",),
        model=True,
        commands=_RUN_EVAL_BATCH,
        help="mask generator stability-score threshold (relaxed to 0 in test mode unless given)",
    ),
    OptionSpec(
        name="box_nms_thresh",
        type="float",
        default=0.7,
        minimum=0.0,
        model=True,
        commands=_RUN_EVAL_BATCH,
        help="mask generator box NMS IoU threshold",
    ),
    OptionSpec(
        name="min_region_area",
        type="int",
        default=100,
        minimum=0,
        aliases=("min_region",),
        model=True,
        commands=_RUN_EVAL_BATCH,
        help="fill holes and drop islands and masks below this many pixels (SAD: 100)",
    ),
    OptionSpec(
        name="merge_iou",
        type="float",
        default=0.7,
        minimum=0.0,
        model=True,
        commands=_RUN_EVAL_BATCH,
        help="mask IoU above which --mode both drops the lower-scored mask",
    ),
    OptionSpec(
        name="max_masks",
        type="int",
        default=None,
        minimum=0,
        model=True,
        commands=_RUN_EVAL_BATCH,
        help="keep at most this many masks, best predicted IoU first (default: all)",
    ),
    OptionSpec(
        name="voxel_size",
        type="float",
        default=0.0,
        minimum=0.0,
        model=True,
        commands=("run", "batch"),
        help="point-cloud voxel down-sampling in metres (0: a point per valid depth pixel)",
    ),
    # ---------------------------------------------------------------- inputs
    OptionSpec(
        name="depth_scale",
        type="float",
        default=None,
        commands=("run", "eval"),
        help="metres per stored depth unit (default 0.001 for integer PNG/npy, 1 for float)",
    ),
    OptionSpec(
        name="intrinsics",
        default=None,
        commands=("run",),
        help="fx,fy,cx,cy of the depth camera or an intrinsics file "
        "(default: intrinsic_depth.txt next to --depth)",
    ),
    OptionSpec(
        name="pose",
        type="path",
        default=None,
        commands=("run",),
        help="4x4 camera-to-world pose file (default: pose.txt next to --depth)",
    ),
    OptionSpec(
        name="no_pose",
        type="bool",
        default=False,
        commands=("run",),
        help="ignore a pose.txt found next to --depth (camera-frame points)",
    ),
    OptionSpec(
        name="vocabulary",
        default="scannet20",
        commands=("run", "eval"),
        help="class set: scannet20, scannet200 or nyu40",
    ),
    OptionSpec(
        name="classes",
        default=None,
        commands=("run", "eval"),
        help='your own classes: "chair,table,floor" or a text file (one per line)',
    ),
    OptionSpec(
        name="render_only",
        type="bool",
        default=False,
        commands=("run",),
        help="only render the depth through the colormap into depth_render.png (no model)",
    ),
    # ---------------------------------------------------------------- eval
    OptionSpec(
        name="label_format",
        type="choice",
        choices=("nyu40", "scannet200", "index"),
        default="nyu40",
        commands=("eval",),
        help="label PNG values: NYU40 ids, raw ScanNet ids, or index (k = class k-1)",
    ),
    OptionSpec(
        name="modes",
        default=None,
        commands=("eval",),
        help="comma list of modes to compare side by side (default depth,rgb,both)",
    ),
    OptionSpec(
        name="max_frames",
        type="int",
        default=0,
        minimum=0,
        commands=("eval",),
        help="evaluate at most this many frames (0: all)",
    ),
]


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
            tasks=[Task.RGBD],
            loader="zoo_depthsam.model:DepthSamModel",
            card=str(CARD),
            default_tag="tiny",
            description="Segment Any RGBD: SAM 2.1 on colour-mapped depth, CLIP classes, 3D points",
            variants=_variants(),
            runner="zoo_depthsam.cli:run",
            evaluator="zoo_depthsam.cli:evaluate",
            options=OPTIONS,
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
