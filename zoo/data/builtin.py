"""The core's synthetic dataset (``zoo data make coco``), registered through the same
``zoo_register_datasets`` hook a plugin uses for its own (soba, amodal, davis, rgbd...)."""

from __future__ import annotations

from zoo.hookspecs import RegisterDataset, hookimpl

#: The name ``zoo plugins`` shows for the core's datasets.
BUILTIN_PLUGIN = "zoo-builtin-datasets"


@hookimpl
def zoo_register_datasets(register: RegisterDataset) -> None:
    register(
        "coco",
        "zoo.data.synthetic:make_coco",
        "COCO instances with masks (annotations.json + images/): zoo eval of any promptable family",
    )
