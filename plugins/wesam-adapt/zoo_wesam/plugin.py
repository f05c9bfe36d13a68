"""Registration of the ``wesam-adapt`` family. Imports nothing heavy: specs and strings only.

Variants:

* ``wesam-adapt:tiny|small|base-plus|large``: the *un-adapted* source models. Their one
  file, ``sam2``, is borrowed from ``sam2:<size>``; they segment exactly like ``sam2:<size>``
  and are the starting points of ``zoo train wesam-adapt ...``.
* ``wesam-adapt:<name>``: every finished adaptation. It is a local variant
  (``$ZOO_HOME/local/wesam-adapt/<name>/variant.json``, written by
  :func:`zoo_wesam.store.publish`) that the core's scanner registers like any other
  family's; this plugin registers nothing for it.

Also adds ``zoo corrupt`` (COCO-C style corrupted copies of an image folder).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from zoo.hookspecs import RegisterFamily, hookimpl
from zoo.specs import FamilySpec, OptionSpec, Task, VariantSpec, WeightsSpec, image_size_option

from .config import AdaptConfig
from .store import BASE_FILE, FAMILY, PROMPT_KINDS, SIZES

#: The model card ships inside this distribution (uninstalling it removes the card).
CARD = Path(__file__).with_name("card.md")

#: Parameter counts of the SAM 2.1 architectures (as registered for sam2). An adapted
#: variant has the same count: its LoRA update is merged into the base weights.
PARAMS = {"tiny": 38962498, "small": 46060354, "base-plus": 80850178, "large": 224446642}

#: ``zoo train``'s defaults are the Python API's (one declaration: :class:`AdaptConfig`).
_RUN = AdaptConfig()

OPTIONS = [
    OptionSpec(
        name="base",
        commands=("train",),
        help="SAM 2.1 model to adapt: sam2:tiny|small|base-plus|large "
        "(default: the size of the variant named, tiny for `wesam-adapt`)",
    ),
    OptionSpec(
        name="name",
        commands=("train",),
        help="name of the adapted model, registered as wesam-adapt:<name> (required)",
    ),
    OptionSpec(
        name="prompt",
        type="choice",
        choices=PROMPT_KINDS,
        default="box",
        commands=("train", "eval"),
        help="weak label used as prompt: box, point (5 positive + 5 negative clicks from "
        "the mask) or coarse (box of a simplified polygon)",
    ),
    OptionSpec(
        name="steps",
        type="int",
        default=_RUN.steps,
        minimum=1,
        commands=("train",),
        help="optimisation steps",
    ),
    OptionSpec(
        name="batch",
        type="int",
        default=_RUN.batch_size,
        minimum=1,
        commands=("train",),
        help="images per step",
    ),
    OptionSpec(
        name="lr",
        type="float",
        default=_RUN.lr,
        minimum=0,
        commands=("train",),
        help="Adam learning rate (step decay by 10 at 2/3 and 8/9 of the steps)",
    ),
    OptionSpec(
        name="warmup",
        type="int",
        default=_RUN.warmup_steps,
        minimum=0,
        commands=("train",),
        help="linear warm-up steps (at most a quarter of --steps)",
    ),
    OptionSpec(
        name="max_instances",
        type="int",
        default=_RUN.max_instances,
        minimum=1,
        commands=("train",),
        help="instances sampled per image and step",
    ),
    OptionSpec(
        name="rank", type="int", default=_RUN.rank, minimum=1, commands=("train",), help="LoRA rank"
    ),
    OptionSpec(
        name="ema",
        type="bool",
        default=_RUN.ema_teacher,
        commands=("train",),
        help="an EMA teacher instead of the shared-weights one (off, as upstream)",
    ),
    OptionSpec(
        name="save_every",
        type="int",
        default=_RUN.save_every,
        minimum=1,
        commands=("train",),
        help="steps between resumable checkpoints (rerun the same command to resume)",
    ),
    OptionSpec(
        name="holdout",
        type="int",
        default=_RUN.holdout,
        minimum=0,
        commands=("train",),
        help="every k-th image is held out to measure before/after mIoU (upstream's 6:1 "
        "split; 0: measure on the training images)",
    ),
    OptionSpec(
        name="eval_images",
        type="int",
        default=_RUN.eval_images,
        minimum=1,
        commands=("train",),
        help="at most this many held-out images for the before/after mIoU",
    ),
    OptionSpec(
        name="overwrite",
        type="bool",
        default=_RUN.overwrite,
        commands=("train",),
        help="replace an existing adaptation (or unfinished run) of that name",
    ),
    image_size_option(
        64,
        commands=("run", "eval", "train", "batch"),
        note="default 1024; an adaptation remembers the size it was trained at",
    ),
    OptionSpec(
        name="adapter",
        type="path",
        default=None,
        model=True,
        commands=("run", "eval", "batch"),
        help="an adapter.safetensors to merge into a source model "
        "(e.g. a copied `zoo train --out` folder's)",
    ),
    OptionSpec(
        name="max_images",
        type="int",
        default=None,
        minimum=1,
        commands=("eval",),
        help="evaluate on at most this many images",
    ),
    OptionSpec(
        name="per_instance",
        type="bool",
        default=False,
        commands=("eval",),
        help="also report mIoU/F1 pooled over instances (mIoU/inst; WeSAM's own numbers "
        "average per image)",
    ),
]


def _source_variant(size: str) -> VariantSpec:
    return VariantSpec(
        family=FAMILY,
        tag=size,
        checkpoints={BASE_FILE: WeightsSpec(same_as=f"sam2:{size}")},
        params=PARAMS[size],
        config={"size": size},
        description=f"un-adapted SAM 2.1 {size}: the source model to adapt",
    )


@hookimpl
def zoo_register_families(register: RegisterFamily) -> None:
    register(
        FamilySpec(
            name=FAMILY,
            tasks=[Task.ADAPT, Task.PROMPTABLE],
            loader="zoo_wesam.model:WesamModel",
            card=str(CARD),
            default_tag="tiny",
            description=(
                "WeSAM (CVPR 2024): weakly supervised self-training of SAM 2.1 with LoRA for a "
                "shifted target domain (corruptions, medical, camouflage, robotics)"
            ),
            variants=[_source_variant(size) for size in SIZES],
            trainer="zoo_wesam.runners:train",
            evaluator="zoo_wesam.runners:evaluate",
            options=OPTIONS,
            # segmentation is SAM 2.1's own path (autocast); training stays float32
            dtypes=["float32", "bfloat16", "float16"],
            conformance={"image_size": 256},
            license="Apache-2.0",
        )
    )


@hookimpl
def zoo_register_commands(app: Any) -> None:
    """``zoo corrupt SRC DST --corruption NAME|all --severity 1-5``."""
    if any(getattr(c, "name", None) == "corrupt" for c in app.registered_commands):
        return  # main() may run more than once in one process (tests)
    from .cli import corrupt_cmd

    app.command("corrupt")(corrupt_cmd)
