"""Registration of the ``efficientsam`` family. Imports nothing heavy: only specs and strings.

The variants (the authors' uploads on ``yunyangx/EfficientSAM``, pinned to a commit) are
data in the core's catalogue, ``registry.yaml``, and the card is ``cards/efficientsam.md``.
"""

from __future__ import annotations

from zoo.hookspecs import RegisterFamily, hookimpl
from zoo.options import Options, image_size_option, max_batch_option
from zoo.specs import FamilySpec, Task

#: The plugin API this module is written for (:mod:`zoo.registry.api`).
ZOO_PLUGIN_API = 3


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
            options=EfficientSamOptions,
            dtypes=["float32", "bfloat16", "float16"],
            # the kit's CPU run (and the serve tests that load like it): a 256-px input
            conformance={"image_size": 256},
        )
    )
