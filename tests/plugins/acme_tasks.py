"""A third-party plugin adding a *new task* and a family for it, with no edit to ``zoo/``.

The task ``acme-bright-area``: "which pixels are brighter than a level?", one mask per
image and the count of bright pixels. Registered through ``zoo_register_tasks``, it gets
``zoo run``, ``zoo batch``, ``POST /v1/acme-bright-area`` and the conformance kit from the
core. Written as the README's "Writing a plugin" shows (plugin API 3).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from zoo.hookspecs import RegisterFamily, RegisterTask, hookimpl
from zoo.model import ZooModel
from zoo.options import Options, option
from zoo.results import CocoInstance, TaskResult
from zoo.specs import FamilySpec, VariantSpec
from zoo.tasks import ImageRequest, RunInputs, TaskInputs, TaskSpec

ZOO_PLUGIN_API = 3


class BrightAreaResult(TaskResult):
    task: ClassVar[str] = "acme-bright-area"

    mask: np.ndarray
    count: int

    def coco_instances(self) -> list[CocoInstance]:
        return [CocoInstance(mask=self.mask, score=1.0)]

    def draw(self, image: np.ndarray) -> np.ndarray:
        out = image.copy()
        out[self.mask] = (255, 0, 255)
        return out

    def run_record(self) -> dict[str, Any]:
        return {"bright_pixels": self.count}


class BrightAreaOptions(Options):
    level: int = option(128, help="brightness level (0-255)", ge=0, le=255)


class BrightAreaRequest(ImageRequest):
    pass


class BrightAreaTask(TaskSpec):
    name = "acme-bright-area"
    method = "bright_area"
    summary = "the pixels brighter than a level"
    result = "acme_tasks:BrightAreaResult"
    options = BrightAreaOptions
    route = "acme-bright-area"
    request = BrightAreaRequest
    signals = ("level",)

    def _image(self, image: np.ndarray) -> TaskInputs:
        h, w = image.shape[:2]
        return TaskInputs(image=image, size=(h, w))

    def from_cli(self, run: RunInputs, options: Options) -> TaskInputs:
        from zoo.errors import InputError
        from zoo.io.images import load_image

        if run.image is None:
            raise InputError("acme-bright-area needs --image PATH")
        return self._image(load_image(run.image))

    def from_row(
        self, row: Mapping[str, Any], image: Any, location: str, options: Options
    ) -> TaskInputs:
        return self._image(image)

    def from_request(self, request: Any, store: Any) -> TaskInputs:
        return self._image(store.image(request.image_id).pixels)

    def call_options(self, options: Options) -> dict[str, Any]:
        return {"level": options.level}  # type: ignore[attr-defined]

    def report(self, results: list[Any], inputs: TaskInputs) -> dict[str, Any]:
        return {"bright_pixels": results[0].count}

    def response(self, results: list[Any], inputs: TaskInputs) -> dict[str, Any]:
        return {"bright_pixels": results[0].count}

    def samples(self, height: int, width: int) -> list[TaskInputs]:
        from zoo.testing import synthetic_image

        return [self._image(synthetic_image(height, width))]

    def check(self, results: list[Any], inputs: TaskInputs) -> None:
        super().check(results, inputs)
        r = results[0]
        assert r.mask.dtype == np.bool_ and r.count == int(r.mask.sum())

    def bad_calls(self, model: Any, height: int, width: int) -> list[tuple[str, Callable[[], Any]]]:
        return [("missing image", lambda: model.bright_area("/nonexistent.png"))]


class BrightAreaModel(ZooModel):
    tasks = ("acme-bright-area",)

    @classmethod
    def create(cls, ctx: Any, **config: Any) -> BrightAreaModel:
        return cls()

    def modules(self) -> list[Any]:
        return []

    def bright_area(self, image: Any, *, level: int = 128) -> BrightAreaResult:
        from zoo.io.images import load_image

        img = load_image(image)
        mask = img.mean(axis=2) > level
        return BrightAreaResult(
            mask=mask,
            count=int(mask.sum()),
            image_size=img.shape[:2],
            provenance=self.provenance("acme-bright-area"),
        )


@hookimpl
def zoo_register_tasks(register: RegisterTask) -> None:
    register(BrightAreaTask())


@hookimpl
def zoo_register_families(register: RegisterFamily) -> None:
    register(
        FamilySpec(
            name="acme-counter",
            tasks=["acme-bright-area"],
            loader="acme_tasks:BrightAreaModel",
            card=str(Path(__file__).with_name("acme_tasks.md")),
            default_tag="v1",
            requires_weights=False,
            variants=[VariantSpec(family="acme-counter", tag="v1")],
            license="MIT",
        )
    )
