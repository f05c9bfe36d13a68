"""Registration of the ``depth-sam`` family. Imports nothing heavy: only specs and strings.

Each variant runs on one SAM 2.1 size, whose checkpoint it borrows from the ``sam2``
family (``weights_from``), plus one CLIP checkpoint for the open-vocabulary classes, given
in the variant's config and resolved through :func:`zoo.weights.resolve` when the model is
built (``weights="random"`` builds both at random initialisation).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from zoo.hookspecs import hookimpl
from zoo.specs import FamilySpec, Task, VariantSpec

#: The model card ships inside this distribution (uninstalling it removes the card).
CARD = Path(__file__).with_name("card.md")

FAMILY = "depth-sam"

#: OpenAI CLIP ViT-B/16 in open_clip's layout, as published in timm's hub repository.
CLIP_VIT_B_16 = {
    "uri": "hf://timm/vit_base_patch16_clip_224.openai/open_clip_model.safetensors",
    "sha256": "4b8699299b1e8997753c64b052ba32031449d5d853f55a039148560ee02b820f",
    "size": 598516980,
    "license": "MIT",
}
CLIP_VIT_B_16_PARAMS = 149620737

#: SAM 2.1 image-model parameters per size (the sam2 family's registered counts).
_SAM2_PARAMS = {"tiny": 38962498, "small": 46060354, "base-plus": 80850178, "large": 224446642}

OPTIONS = {
    "mode": "depth | rgb | both: SAM on the rendered depth, on RGB, or both merged by mask NMS "
    "(default depth)",
    "render_only": "only render the depth through the colormap into depth_render.png (no model)",
    "depth_scale": "metres per stored depth unit (default 0.001 for 16-bit PNG, 1 for float .npy)",
    "colormap": "matplotlib colormap for the depth rendering (default inferno)",
    "linear_depth": "colour depth linearly instead of inverse depth",
    "intrinsics": "fx,fy,cx,cy of the depth image or an intrinsics file "
    "(default: intrinsic_depth.txt next to --depth)",
    "pose": "4x4 camera-to-world pose file (default: pose.txt next to --depth)",
    "no_pose": "ignore a pose.txt found next to --depth (camera-frame points)",
    "vocabulary": "scannet20 (default), scannet200 or nyu40",
    "classes": "comma-separated class names or a text file (one per line)",
    "semantics": "mask (CLIP on each mask crop, default) or pixel (dense CLIP map + majority vote)",
    "points_per_side": "mask generator grid (default 64, SAD's setting)",
    "pred_iou_thresh": "mask generator predicted-IoU threshold (default 0.7)",
    "stability_thresh": "mask generator stability-score threshold (default 0.8)",
    "min_region": "minimum mask region in pixels (default 100)",
    "merge_iou": "mask IoU above which --mode both drops the lower-scored mask (default 0.7)",
    "max_masks": "keep at most this many masks, best predicted IoU first (default: all)",
    "voxel_size": "point-cloud voxel down-sampling in metres (default 0: a point per valid pixel)",
    "image_size": "SAM input side (multiple of 64; default 1024)",
    "label_format": "(eval) nyu40 (default), scannet200 (raw ScanNet ids) or index (k = class k-1)",
    "modes": "(eval) comma list of modes to compare side by side (default depth,rgb,both)",
    "max_frames": "(eval) evaluate at most this many frames",
}


def _variants() -> list[VariantSpec]:
    out = []
    for size, params in _SAM2_PARAMS.items():
        out.append(
            VariantSpec(
                family=FAMILY,
                tag=size,
                weights_from=f"sam2:{size}",
                params=params + CLIP_VIT_B_16_PARAMS,
                config={
                    "size": size,
                    "clip_model": "ViT-B-16",
                    "clip_weights": dict(CLIP_VIT_B_16),
                },
                description=f"SAM 2.1 {size} on rendered depth + CLIP ViT-B/16 (OpenAI) classes",
            )
        )
    return out


@hookimpl
def zoo_register_families(register: Callable[[Any], None]) -> None:
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
