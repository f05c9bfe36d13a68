"""Registration of the ``sam3`` family. Imports nothing heavy: only specs and strings.

One variant, ``sam3:base``: Meta's SAM 3 as published on the Hugging Face Hub in
transformers' layout (``facebook/sam3``: ``model.safetensors`` holds the detector, the
tracker and the tracker's neck). The repository is **gated**: the licence (the SAM
License, not Apache-2.0) must be accepted on huggingface.co and a token given (``HF_TOKEN``
or ``hf auth login``); ``--checkpoint PATH`` takes a copy instead, in transformers' layout
or in Meta's own (``sam3.pt``; detected by its keys and converted, :mod:`zoo_sam3.convert`).

The config and tokenizer files are named checkpoints too (``zoo pull`` fetches them, ``zoo
list`` counts them); they are optional because a local ``--checkpoint`` or random weights
need neither: the architecture is transformers' default SAM 3 config and the tokenizer is
built from the CLIP BPE vocabulary open_clip ships (the same vocabulary).

``sha256``/``size`` are ``None``: the LFS pointers of this gated repository could not be
read from here, and the revision is ``main`` for the same reason; the resolver logs the
hash of the first download so it can be recorded and pinned.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from zoo.hookspecs import RegisterFamily, hookimpl
from zoo.options import Options, image_size_option, max_batch_option, option
from zoo.specs import FamilySpec, Task, VariantSpec, WeightsSpec

#: The plugin API this module is written for (:mod:`zoo.registry.api`).
ZOO_PLUGIN_API = 3

#: The model card ships inside this distribution (uninstalling it removes the card).
CARD = Path(__file__).with_name("card.md")

FAMILY = "sam3"
HF_REPO = "facebook/sam3"
#: Not pinned: the repository is gated and its commits could not be read from here.
HF_REVISION = "main"
LICENSE = "SAM License"
LICENSE_PAGE = f"https://huggingface.co/{HF_REPO}"
#: Parameters of the whole published network (detector 840 M + tracker + tracker neck), as
#: transformers builds it from the default ``Sam3VideoConfig``.
PARAMS = 859_921_848
#: Architectures the loader builds: the published one, and a small one of the same layout
#: that runs in seconds on a CPU (tests, the conformance kit, examples with random weights).
ARCHS = ("base", "tiny")


def _file(name: str, *, optional: bool = False, what: str) -> WeightsSpec:
    return WeightsSpec(
        uri=f"hf://{HF_REPO}/{name}@{HF_REVISION}",
        sha256=None,
        size=None,
        license=LICENSE,
        optional=optional,
        note=f"{what}; gated: accept the licence at {LICENSE_PAGE}, then set HF_TOKEN",
    )


VARIANTS = [
    VariantSpec(
        family=FAMILY,
        tag="base",
        params=PARAMS,
        description="SAM 3: ViT-L/14 image encoder (1008 px), CLIP-style text encoder, DETR-style "
        "concept detector with a presence head, SAM-style tracker",
        checkpoints={
            "model": _file("model.safetensors", what="detector + tracker, transformers layout"),
            "config": _file("config.json", optional=True, what="transformers config"),
            "vocab": _file("vocab.json", optional=True, what="CLIP BPE tokenizer vocabulary"),
            "merges": _file("merges.txt", optional=True, what="CLIP BPE tokenizer merges"),
        },
    )
]


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
        commands=("run", "eval", "batch", "serve"),
    )
    #: ViT patches are 14 px: the input side must be a multiple of 14
    image_size: int | None = image_size_option(
        14,
        commands=("run", "eval", "batch", "serve"),
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
            card=str(CARD),
            default_tag="base",
            description=(
                "SAM 3 (Meta, 2025): every instance of a concept given as text and/or exemplar "
                "boxes, in images and videos; SAM-style clicks and boxes"
            ),
            variants=VARIANTS,
            options=Sam3Options,
            dtypes=["float32"],
            license=LICENSE,
            # the kit's CPU run: the test-size architecture (same layout, 112 px)
            conformance={"arch": "tiny"},
        )
    )
