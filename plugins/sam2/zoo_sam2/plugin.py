"""Registration of the ``sam2`` family. Imports nothing heavy: only specs and strings."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from zoo.hookspecs import hookimpl
from zoo.registry import data_dir
from zoo.specs import FamilySpec, Task


@hookimpl
def zoo_register_families(register: Callable[[Any], None]) -> None:
    register(
        FamilySpec(
            name="sam2",
            tasks=[Task.PROMPTABLE],
            loader="zoo_sam2.model:Sam2Model",
            card=str(Path(data_dir()) / "cards" / "sam2.md"),
            default_tag="tiny",
            description="SAM 2.1 (Meta): promptable segmentation with boxes, points and masks",
            license="Apache-2.0",
        )
    )
