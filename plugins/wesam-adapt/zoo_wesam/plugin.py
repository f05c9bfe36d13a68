"""Registration of the ``wesam-adapt`` family. Imports nothing heavy: specs and strings only.

Variants:

* ``wesam-adapt:tiny|small|base-plus|large``: the *un-adapted* source models (SAM 2.1
  weights, borrowed from ``sam2:<size>``). They segment exactly like ``sam2:<size>`` and
  are the starting points of ``zoo train wesam-adapt:<size> ...``.
* ``wesam-adapt:<name>``: every finished local adaptation found under
  ``$ZOO_HOME/local/wesam-adapt/*/variant.json`` (see :mod:`zoo_wesam.store`), registered
  by :func:`zoo_register_variants` so ``zoo list``, ``zoo run``, ``zoo eval`` and
  ``zoo.load`` treat it like any published model.

Also adds ``zoo corrupt`` (COCO-C style corrupted copies of an image folder).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from zoo.hookspecs import hookimpl
from zoo.specs import FamilySpec, Task, VariantSpec

from .store import FAMILY, SIZES

#: The model card ships inside this distribution (uninstalling it removes the card).
CARD = Path(__file__).with_name("card.md")

#: Parameter counts of the SAM 2.1 architectures (as registered for sam2).
_PARAMS = {"tiny": 38962498, "small": 46060354, "base-plus": 80850178, "large": 224446642}

OPTIONS = {
    "base": "train: SAM 2.1 model to adapt, sam2:tiny|small|base-plus|large "
    "(default: the variant's size)",
    "prompt": "train/eval: weak label used as prompt: box, point (5 positive + 5 negative "
    "clicks from the mask) or coarse (box of a simplified polygon)",
    "name": "train: name of the adapted model, registered as wesam-adapt:<name>",
    "steps": "train: optimisation steps (default 2000)",
    "batch": "train: images per step (default 1)",
    "lr": "train: Adam learning rate (default 1e-4)",
    "warmup": "train: linear warm-up steps (default 250, at most a quarter of --steps)",
    "image_size": "train/eval: model input side, a multiple of 64 "
    "(default 1024; the adapter remembers it)",
    "max_instances": "train: instances sampled per image and step (default 40)",
    "rank": "train: LoRA rank (default 4)",
    "ema": "train: flag; an EMA teacher instead of the shared-weights one (off, as upstream)",
    "seed": "train/eval: random seed (augmentations, point prompts, random base in test mode)",
    "save_every": "train: steps between resumable checkpoints (default 100)",
    "holdout": "train: every k-th image is held out to measure before/after mIoU (default 7, "
    "upstream's 6:1 split; 0: measure on the training images)",
    "eval_images": "train: at most this many held-out images for before/after mIoU (default 200)",
    "overwrite": "train: flag; replace an existing adaptation (or unfinished run) of that name",
    "max_images": "eval: evaluate on at most this many images",
}


@hookimpl
def zoo_register_families(register: Callable[[Any], None]) -> None:
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
            variants=[
                VariantSpec(
                    family=FAMILY,
                    tag=size,
                    weights_from=f"sam2:{size}",
                    params=_PARAMS[size],
                    config={"size": size},
                    description=f"un-adapted SAM 2.1 {size}: the source model to adapt",
                )
                for size in SIZES
            ],
            trainer="zoo_wesam.runners:train",
            evaluator="zoo_wesam.runners:evaluate",
            options=OPTIONS,
            conformance={"image_size": 256},
            license="Apache-2.0",
        )
    )


@hookimpl
def zoo_register_variants(register: Callable[[Any], None]) -> None:
    """Every finished local adaptation becomes ``wesam-adapt:<name>`` (JSON scan, no torch)."""
    from .store import scan_variants

    for spec in scan_variants():
        register(spec)


@hookimpl
def zoo_register_commands(app: Any) -> None:
    """``zoo corrupt SRC DST --corruption NAME|all --severity 1-5``."""
    if any(getattr(c, "name", None) == "corrupt" for c in app.registered_commands):
        return  # main() may run more than once in one process (tests)
    from .cli import corrupt_cmd

    app.command("corrupt")(corrupt_cmd)
