"""Registration of the ``sam2long-video`` family. Imports nothing heavy: only specs and strings.

SAM2Long has no weights of its own: each variant runs on one SAM 2.1 size and borrows that
checkpoint from the ``sam2`` family (``weights_from``).  The model class lives in
:mod:`zoo_sam2long.model` and is imported only when a model is loaded.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from zoo.hookspecs import hookimpl
from zoo.specs import FamilySpec, Task, VariantSpec

FAMILY = "sam2long-video"
SIZES = ("tiny", "small", "base-plus", "large")
#: The card lives with the other built-in cards (packaged into the wheel under zoo/_data).
CARD = Path(__file__).with_name("card.md")

OPTIONS = {
    "pathways": "memory pathways kept per object (default 3; 1 = no tree)",
    "iou_threshold": "predicted IoU a frame needs to be used as memory (default 0.1)",
    "uncertainty": "keep the top pathways outright when max |object score| exceeds this, "
    "else de-duplicate near-identical masks (default 2)",
    "iou_thre": "alias of --iou-threshold (the upstream tool's name)",
    "frame": "run: index of the frame the prompts refer to (default 0; alias --prompt-frame)",
    "prompt_frame": "index of the frame the prompts refer to (default 0)",
    "mask": "run: first-frame DAVIS palette PNG with object ids, instead of --boxes",
    "overlay": "run: also write overlay/<frame>.png with the masks drawn",
    "no_baseline": "eval: skip the plain SAM 2 column",
    "image_size": "SAM input side (multiple of 64; default 1024)",
}


def _variants() -> list[VariantSpec]:
    return [
        VariantSpec(
            family=FAMILY,
            tag=size,
            weights_from=f"sam2:{size}",
            config={"size": size},
            description=f"SAM2Long memory tree on SAM 2.1 {size} (its weights, no extra params)",
        )
        for size in SIZES
    ]


@hookimpl
def zoo_register_families(register: Callable[[Any], None]) -> None:
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
