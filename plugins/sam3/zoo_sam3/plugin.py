"""Registration of the ``sam3`` family. Imports nothing heavy: only specs and strings.

Which weights exist (``sam3:base``: Meta's SAM 3 in transformers' layout on the gated Hub
repository ``facebook/sam3``) is data, in the core's ``registry.yaml``; its card is
``cards/sam3.md``. The licence is the SAM License, not Apache-2.0: it must be accepted on
huggingface.co and a token given (``HF_TOKEN`` or ``hf auth login``); ``--checkpoint PATH``
takes a copy instead, in transformers' layout or Meta's own (``sam3.pt``; detected by its
keys and converted, :mod:`zoo_sam3.convert`).
"""

from __future__ import annotations

from typing import Literal

from zoo.hookspecs import RegisterFamily, hookimpl
from zoo.options import Options, image_size_option, max_batch_option, option
from zoo.specs import FamilySpec, Task

#: The plugin API this module is written for (:mod:`zoo.registry.api`).
ZOO_PLUGIN_API = 3

FAMILY = "sam3"
LICENSE = "SAM License"


class Sam3Options(Options):
    """Loader keywords of ``sam3`` (``zoo info sam3`` lists them).

    The tasks' own options (``--text``, ``--exemplar-boxes``, ``--threshold`` of the concept
    tasks, ``--multimask`` of the promptable one) are the core tasks' (:mod:`zoo.tasks`).
    """

    arch: Literal["base", "tiny"] = option(
        "base",
        help="base: the published architecture; tiny: the same layout at test size (random "
        "weights only, seconds on a CPU)",
        loader=True,
        architecture=True,
        commands=("run", "eval", "batch", "serve", "export"),
    )
    #: ViT patches are 14 px: the input side must be a multiple of 14
    image_size: int | None = image_size_option(
        14,
        commands=("run", "eval", "batch", "serve", "export"),
        note="default 1008, 112 with --arch tiny; smaller is faster and coarser, the "
        "published weights still load",
    )
    #: the core's --max-batch (:mod:`zoo.decoder_chunks`): clicks/boxes per decoder call
    max_batch: int | None = max_batch_option()


@hookimpl
def zoo_register_families(register: RegisterFamily) -> None:
    register(
        FamilySpec(
            name=FAMILY,
            tasks=[Task.CONCEPT, Task.PROMPTABLE, Task.CONCEPT_VIDEO],
            loader="zoo_sam3.model:Sam3ZooModel",
            description=(
                "SAM 3 (Meta, 2025): every instance of a concept given as text and/or exemplar "
                "boxes, in images and videos; SAM-style clicks and boxes"
            ),
            options=Sam3Options,
            dtypes=["float32"],
            license=LICENSE,
            # the kit's CPU run: the test-size architecture (same layout, 112 px)
            conformance={"arch": "tiny"},
        )
    )
