"""Registration of the ``wesam-adapt`` family. Imports nothing heavy: specs and strings only.

Variants:

* ``wesam-adapt:tiny|small|base-plus|large``: the *un-adapted* source models. Their one
  file, ``sam2``, is borrowed from ``sam2:<size>``; they segment exactly like ``sam2:<size>``
  and are the starting points of ``zoo train wesam-adapt ...``.
* ``wesam-adapt:<name>``: every finished adaptation. It is a local variant
  (``$ZOO_HOME/local/wesam-adapt/<name>/variant.json``, written by
  :func:`zoo_wesam.train.adapt`) that the core's scanner registers like any other
  family's; this plugin registers nothing for it.

Also adds ``zoo corrupt`` (COCO-C style corrupted copies of an image folder).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from zoo.hookspecs import RegisterFamily, hookimpl
from zoo.options import Options, image_size_option, max_batch_option, option
from zoo.specs import FamilySpec, Task, VariantSpec, WeightsSpec

from .config import PromptKind, prompt_option
from .store import BASE_FILE, FAMILY, SIZES

#: The plugin API this module is written for (:mod:`zoo.registry.api`).
ZOO_PLUGIN_API = 3

#: The model card ships inside this distribution (uninstalling it removes the card).
CARD = Path(__file__).with_name("card.md")

#: Parameter counts of the SAM 2.1 architectures (as registered for sam2). An adapted
#: variant has the same count: its LoRA update is merged into the base weights.
PARAMS = {"tiny": 38962498, "small": 46060354, "base-plus": 80850178, "large": 224446642}


class WesamOptions(Options):
    """Loader keywords (run, eval, batch, serve, export) and the options of WeSAM's
    evaluator. ``zoo train``'s options are its typed config,
    :class:`zoo_wesam.config.WesamTrainConfig`."""

    image_size: int | None = image_size_option(
        64, note="default 1024; an adaptation remembers the size it was trained at"
    )
    adapter: Path | None = option(
        None,
        help="an adapter.safetensors to merge into a source model "
        "(e.g. a copied `zoo train --out` folder's)",
        loader=True,
    )
    #: the core's --max-batch (:mod:`zoo.decoder_chunks`): an adapted model is a SAM 2.1 one
    max_batch: int | None = max_batch_option()
    prompt: PromptKind = prompt_option("eval")
    max_images: int | None = option(
        None, help="evaluate on at most this many images", ge=1, le=1_000_000, commands=("eval",)
    )
    per_instance: bool = option(
        False,
        help="also report mIoU/F1 pooled over instances (mIoU/inst; WeSAM's own numbers "
        "average per image)",
        commands=("eval",),
    )


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
            trainer="zoo_wesam.train:train",
            train_config="zoo_wesam.config:WesamTrainConfig",
            evaluator="zoo_wesam.runners:evaluate",
            options=WesamOptions,
            # segmentation is SAM 2.1's own path (autocast); training stays float32
            dtypes=["float32", "bfloat16", "float16"],
            conformance={"image_size": 256},
            license="Apache-2.0",
        )
    )


@hookimpl
def zoo_register_commands(app: Any) -> None:
    """``zoo corrupt SRC DST --corruption NAME|all --severity 1-5`` (on each fresh app)."""
    from .cli import corrupt_cmd

    app.command("corrupt")(corrupt_cmd)
