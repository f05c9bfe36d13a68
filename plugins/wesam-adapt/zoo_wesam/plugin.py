"""Registration of the ``wesam-adapt`` family. Imports nothing heavy: specs and strings only.

Variants (the built-in ones are data in the core's catalogue, ``registry.yaml``):

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

from zoo.hookspecs import RegisterDataset, RegisterFamily, hookimpl
from zoo.options import Options, image_size_option, max_batch_option, option
from zoo.specs import FamilySpec, Task

from .config import PromptKind, prompt_option
from .store import FAMILY

#: The plugin API this module is written for (:mod:`zoo.registry.api`).
ZOO_PLUGIN_API = 3


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


@hookimpl
def zoo_register_families(register: RegisterFamily) -> None:
    register(
        FamilySpec(
            name=FAMILY,
            tasks=[Task.ADAPT, Task.PROMPTABLE],
            loader="zoo_wesam.model:WesamModel",
            trainer="zoo_wesam.train:train",
            train_config="zoo_wesam.config:WesamTrainConfig",
            evaluator="zoo_wesam.runners:evaluate",
            options=WesamOptions,
            # segmentation is SAM 2.1's own path (autocast); training stays float32
            dtypes=["float32", "bfloat16", "float16"],
            conformance={"image_size": 256},
        )
    )


@hookimpl
def zoo_register_commands(app: Any) -> None:
    """``zoo corrupt SRC DST --corruption NAME|all --severity 1-5`` (on each fresh app)."""
    from .cli import corrupt_cmd

    app.command("corrupt")(corrupt_cmd)


@hookimpl
def zoo_register_datasets(register: RegisterDataset) -> None:
    register(
        "shapes",
        "zoo_wesam.synthetic:make_shapes",
        "synthetic COCO shapes, small and quick (annotations.json + images/, 96x128, one "
        "category): zoo train / zoo eval wesam-adapt",
    )
