"""Registration of the ``sam2`` family: its code (loader, options). Imports nothing heavy.

Its four SAM 2.1 checkpoints (tags, aliases, files with the Hugging Face LFS ``sha256`` /
``size`` at the pinned revision, reported results) are data in the core's catalogue,
``registry.yaml`` at the top of the repository, and its card is ``cards/sam2.md``.
"""

from __future__ import annotations

from zoo.hookspecs import RegisterFamily, hookimpl
from zoo.options import Options, image_size_option, max_batch_option
from zoo.specs import FamilySpec, Task

#: The plugin API this module is written for (:mod:`zoo.registry.api`).
ZOO_PLUGIN_API = 3


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
            options=Sam2Options,
            dtypes=["float32", "bfloat16", "float16"],
            # the kit's CPU run (and the serve tests that load like it): a 256-px input
            conformance={"image_size": 256},
        )
    )
