"""Registration of the ``sam2`` family and its four SAM 2.1 checkpoints.

Imports nothing heavy: only specs and strings. The variant list lives here (not in a core
catalogue) so that the family, its weights and its card come and go with this distribution.

``sha256`` / ``size`` are the Hugging Face LFS values of each file at the pinned revision.
"""

from __future__ import annotations

from pathlib import Path

from zoo.hookspecs import RegisterFamily, hookimpl
from zoo.options import Options, image_size_option, max_batch_option
from zoo.specs import FamilySpec, Task, VariantSpec, WeightsSpec

#: The plugin API this module is written for (:mod:`zoo.registry.api`).
ZOO_PLUGIN_API = 3

#: The model card ships inside this distribution (uninstalling it removes the card).
CARD = Path(__file__).with_name("card.md")


def _variant(
    tag: str, params: int, aliases: list[str], file: str, rev: str, sha: str, size: int
) -> VariantSpec:
    return VariantSpec(
        family="sam2",
        tag=tag,
        params=params,
        aliases=aliases,
        config={"size": tag},
        checkpoints={
            "model": WeightsSpec(
                uri=f"hf://facebook/sam2.1-hiera-{tag}/{file}@{rev}",
                sha256=sha,
                size=size,
                license="Apache-2.0",
            )
        },
    )


VARIANTS = [
    _variant(
        "tiny",
        38962498,
        ["sam2.1-hiera-tiny", "sam2.1_hiera_tiny"],
        "sam2.1_hiera_tiny.pt",
        "de431c4043854a71d8101e17995dfe596bf101a5",
        "7402e0d864fa82708a20fbd15bc84245c2f26dff0eb43a4b5b93452deb34be69",
        156008466,
    ),
    _variant(
        "small",
        46060354,
        ["sam2.1-hiera-small", "sam2.1_hiera_small"],
        "sam2.1_hiera_small.pt",
        "ee5bba1d82bb8749febdf90f45e84b687142ba03",
        "6d1aa6f30de5c92224f8172114de081d104bbd23dd9dc5c58996f0cad5dc4d38",
        184416285,
    ),
    _variant(
        "base-plus",
        80850178,
        ["sam2.1-hiera-base-plus", "sam2.1_hiera_base_plus", "b+"],
        "sam2.1_hiera_base_plus.pt",
        "b7320756a13354e7530a63935656d35b2f91a290",
        "a2345aede8715ab1d5d31b4a509fb160c5a4af1970f199d9054ccfb746c004c5",
        323606802,
    ),
    _variant(
        "large",
        224446642,
        ["sam2.1-hiera-large", "sam2.1_hiera_large"],
        "sam2.1_hiera_large.pt",
        "665f8e2ad61cf5f53d65644ff27c8ee525124610",
        "2647878d5dfa5098f2f8649825738a9345572bae2d4350a2468587ece47dd318",
        898083611,
    ),
]


class Sam2Options(Options):
    """Loader keywords of every ``sam2`` variant (``zoo info sam2`` lists them).

    The task options (``--multimask``, ``--everything`` and its grid settings) are the core
    tasks' own (:mod:`zoo.tasks.promptable`, :mod:`zoo.tasks.everything`).
    """

    #: Hiera's stride is 64; the input side must be a multiple of it
    image_size: int | None = image_size_option(64)
    #: the core's --max-batch (:mod:`zoo.decoder_chunks`): per-device default
    max_batch: int | None = max_batch_option()


@hookimpl
def zoo_register_families(register: RegisterFamily) -> None:
    register(
        FamilySpec(
            name="sam2",
            tasks=[Task.PROMPTABLE],
            loader="zoo_sam2.model:Sam2Model",
            card=str(CARD),
            default_tag="tiny",
            description="SAM 2.1 (Meta): promptable segmentation with boxes, points and masks",
            variants=VARIANTS,
            options=Sam2Options,
            dtypes=["float32", "bfloat16", "float16"],
            # the kit's CPU run (and the serve tests that load like it): a 256-px input
            conformance={"image_size": 256},
            license="Apache-2.0",
        )
    )
