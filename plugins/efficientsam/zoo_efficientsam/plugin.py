"""Registration of the ``efficientsam`` family. Imports nothing heavy: only specs and strings.

The variants live here rather than in a core catalogue: the family and its weights come
from this package, and ``pip uninstall zoo-efficientsam`` removes both.

Weights are the authors' own uploads on the Hugging Face model repo ``yunyangx/EfficientSAM``,
pinned to a commit. ``sha256``/``size`` are the published LFS values where we could read
them; where we could not, they are ``None`` and the resolver prints the hash of the first
download so it can be recorded.
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

#: ``main`` of huggingface.co/yunyangx/EfficientSAM; the checkpoints were added in d53228e
#: and not changed since (later commits only edit README.md).
HF_REVISION = "1cf49585c39567bfc49e991ab8eb31f491ad4877"
HF_REPO = "hf://yunyangx/EfficientSAM"

VARIANTS = [
    VariantSpec(
        family="efficientsam",
        tag="vitt",
        params=10_223_204,
        aliases=["efficientsam-ti", "efficient_sam_vitt"],
        config={"size": "vitt"},
        description="EfficientSAM-Ti: ViT-Tiny encoder (192-d, 3 heads), 10.2 M parameters",
        checkpoints={
            "model": WeightsSpec(
                uri=f"{HF_REPO}/efficient_sam_vitt.pt@{HF_REVISION}",
                sha256=None,
                size=None,
                license="Apache-2.0",
                note=(
                    "LFS pointer of this copy not seen; upstream GitHub "
                    "weights/efficient_sam_vitt.pt (d525f62) and merve/EfficientSAM publish "
                    "sha256 dff858b1...e4e6a, 40,982,470 bytes, most likely the same file"
                ),
            )
        },
    ),
    VariantSpec(
        family="efficientsam",
        tag="vits",
        params=26_413_028,
        aliases=["efficientsam-s", "efficient_sam_vits"],
        config={"size": "vits"},
        description="EfficientSAM-S: ViT-Small encoder (384-d, 6 heads), 26.4 M parameters",
        checkpoints={
            "model": WeightsSpec(
                uri=f"{HF_REPO}/efficient_sam_vits.pt@{HF_REVISION}",
                sha256="339376940b92351ae26dd1162e2305a1cc6f5cde735105e91286251abd9a6b65",
                size=105_742_022,
                license="Apache-2.0",
            )
        },
    ),
]


class EfficientSamOptions(Options):
    """Loader keywords of both variants (``zoo info efficientsam`` lists them).

    The promptable task's own options (``--multimask``, ``--everything`` and its grid) are
    the core's (:mod:`zoo.tasks.promptable`, :mod:`zoo.tasks.everything`).
    """

    #: ViT patches are 16 px: the input side must be a multiple of 16
    image_size: int | None = image_size_option(
        16,
        note="default 1024, EfficientSAM's own; smaller is faster and coarser, the "
        "published weights still load",
    )
    #: the core's --max-batch (:mod:`zoo.decoder_chunks`): per-device default
    max_batch: int | None = max_batch_option()


@hookimpl
def zoo_register_families(register: RegisterFamily) -> None:
    register(
        FamilySpec(
            name="efficientsam",
            tasks=[Task.PROMPTABLE],
            loader="zoo_efficientsam.loader:EfficientSamModel",
            card=str(CARD),
            default_tag="vitt",
            description=(
                "EfficientSAM (Xiong et al., CVPR 2024): SAMI-pretrained ViT-T/S encoders with "
                "SAM's prompt encoder and decoder; boxes and clicks"
            ),
            variants=VARIANTS,
            options=EfficientSamOptions,
            dtypes=["float32", "bfloat16", "float16"],
            # the kit's CPU run (and the serve tests that load like it): a 256-px input
            conformance={"image_size": 256},
            license="Apache-2.0",
        )
    )
