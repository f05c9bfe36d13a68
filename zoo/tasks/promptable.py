"""``promptable``: one mask per object prompt (boxes, clicks, mask prompts)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Annotated, Any

from pydantic import Field

from zoo.errors import InputError
from zoo.options import Options, option
from zoo.prompts import BoxesPromptJSON, ObjectPromptJSON

from .common import (
    DetectorOptions,
    cli_image,
    image_inputs,
    refuse,
    row_extras,
    row_prompts,
    stored_image,
)
from .spec import ImageRequest, RunInputs, TaskInputs, TaskResponse, TaskSpec

#: More objects than this in one request is more likely a mistake (or abuse) than a use.
MAX_OBJECTS = 256


class PromptableOptions(DetectorOptions):
    multimask: bool = option(
        False,
        help="ask for three candidates per prompt and keep the best (single clicks)",
        commands=("run", "batch", "serve"),
    )


class PromptableEvalOptions(Options):
    max_images: int | None = option(
        None, help="evaluate only the first N annotated images", ge=1, commands=("eval",)
    )
    class_agnostic: bool = option(
        False,
        help="also report class-agnostic COCO AP (AP_agnostic...; AP itself is "
        "pycocotools' class-aware coco-segm)",
        commands=("eval",),
    )


class SegmentRequest(ImageRequest):
    prompts: (
        Annotated[list[ObjectPromptJSON], Field(min_length=1, max_length=MAX_OBJECTS)]
        | BoxesPromptJSON
    ) = Field(description="one entry per object (one mask each), or {boxes, points, labels}")
    multimask: bool = Field(
        default=False, description="three candidates per prompt, keep the best (single clicks)"
    )


class SegmentResponse(TaskResponse):
    embedding: str = Field(description="computed, cached (restored) or current")
    scores: list[float]
    prompts: list[dict[str, Any]] = Field(description="the prompts as the model read them")


class PromptableTask(TaskSpec):
    name = "promptable"
    method = "segment"
    summary = "masks for boxes, clicks and mask prompts"
    result = "zoo.results:SegmentationResult"
    options = PromptableOptions
    route = "segment"
    request = SegmentRequest
    response_model = SegmentResponse
    uses_embedding = True
    evaluator = "zoo.evaluation:evaluate_promptable"
    eval_options = PromptableEvalOptions
    signals = ("boxes", "points", "prompts", "detector")

    def _fit(self, inputs: TaskInputs, prompts: Any) -> TaskInputs:
        from zoo.prompts import as_prompts

        h, w = inputs.size
        fitted, notes = as_prompts(prompts).fit(h, w)
        if len(fitted) > MAX_OBJECTS * 16:
            raise InputError(
                f"{len(fitted)} prompts in one call; at most {MAX_OBJECTS * 16} (split the work)"
            )
        inputs.args = [fitted]
        inputs.notes += notes
        return inputs

    def from_cli(self, run: RunInputs, options: Options) -> TaskInputs:
        from zoo.prompts import prompts_from_flags

        refuse(run, ("video", "depth"), self.name, "give --image and prompts")
        prompts = prompts_from_flags(run.boxes, run.points, run.labels, run.prompts)
        return self._fit(cli_image(run, self.name), prompts)

    def from_row(
        self, row: Mapping[str, Any], image: Any, location: str, options: Options
    ) -> TaskInputs:
        inputs = image_inputs(image, location)
        if row.get("boxes") is not None and not list(row["boxes"]) and not row.get("prompts"):
            inputs.empty = True  # a COCO image without (kept) boxes: nothing to segment
            return inputs
        prompts = row_prompts(row)
        if prompts is None:
            raise InputError(
                "no prompt for this item; give it a prompts/boxes column, use --boxes, "
                "--points or --prompts for all items, or --everything"
            )
        self._fit(inputs, prompts)
        row_extras(row, len(inputs.args[0]), inputs)
        return inputs

    def from_request(
        self, request: Any, store: Any, path: Mapping[str, str] | None = None
    ) -> TaskInputs:
        inputs = stored_image(store, request.image_id)
        raw = request.prompts
        data = (
            [p.model_dump(exclude_none=True) for p in raw]
            if isinstance(raw, list)
            else raw.model_dump(exclude_none=True)
        )
        return self._fit(inputs, data)

    def call_options(self, options: Options) -> dict[str, Any]:
        return {"multimask": bool(getattr(options, "multimask", False))}

    def finish(self, result: Any, inputs: TaskInputs) -> Any:
        cats = inputs.meta.get("category_ids")
        if cats is not None and result.category_ids is None and len(cats) == len(result):
            result = result.model_copy(update={"category_ids": cats})
        return result

    def empty(self, model: Any, inputs: TaskInputs) -> Any:
        import numpy as np

        from zoo.results import SegmentationResult

        h, w = inputs.size
        return SegmentationResult(
            masks=np.zeros((0, h, w), dtype=bool),
            scores=np.zeros(0, dtype=np.float32),
            image_size=(h, w),
            provenance=model.provenance(self.name),
        )

    def report(self, results: list[Any], inputs: TaskInputs) -> dict[str, Any]:
        (r,) = results
        return {"masks": len(r), "scores": [round(float(s), 4) for s in r.scores]}

    def response(self, results: list[Any], inputs: TaskInputs) -> dict[str, Any]:
        """Extra keys of the HTTP answer: the scores and the prompts as the model read them."""
        (r,) = results
        prompts = r.prompts.to_json() if r.prompts is not None else inputs.args[0].to_json()
        return {"scores": [float(s) for s in r.scores], "prompts": prompts}

    # ------------------------------------------------------------------ conformance
    def samples(self, height: int, width: int) -> list[TaskInputs]:
        from zoo.prompts import as_prompts
        from zoo.testing.synthetic import synthetic_boxes, synthetic_image

        inputs = image_inputs(synthetic_image(height, width))
        inputs.args = [as_prompts({"boxes": synthetic_boxes(height, width)})]
        return [inputs]

    def check(self, results: list[Any], inputs: TaskInputs) -> None:
        import numpy as np

        super().check(results, inputs)
        (r,) = results
        n = len(inputs.args[0])
        h, w = inputs.size
        assert r.masks.shape == (n, h, w) and r.masks.dtype == np.bool_, (
            f"masks must be bool {n}x{h}x{w}, got {r.masks.dtype} {r.masks.shape}"
        )
        assert r.scores.shape == (n,) and np.isfinite(r.scores).all(), "one finite score per mask"
        coco = r.to_coco(image_id=1)
        assert len(coco) == n and all("counts" in c["segmentation"] for c in coco)

    def bad_calls(self, model: Any, height: int, width: int) -> list[tuple[str, Callable[[], Any]]]:
        from zoo.testing.synthetic import synthetic_image

        img = synthetic_image(height, width)
        h, w = height, width
        return [
            (
                "box entirely outside the image",
                lambda: model.segment(img, {"boxes": [[w * 2, h * 2, w * 3, h * 3]]}),
            ),
            ("box with x2<x1", lambda: model.segment(img, {"boxes": [[50, 10, 10, 40]]})),
            ("empty prompt", lambda: model.segment(img, [])),
            ("label not 0/1", lambda: model.segment(img, {"points": [[5, 5]], "labels": [7]})),
            (
                "point outside the image",
                lambda: model.segment(img, {"points": [[w * 2, 5]], "labels": [1]}),
            ),
            (
                "missing image file",
                lambda: model.segment("/nonexistent/zoo.png", {"boxes": [[0, 0, 5, 5]]}),
            ),
        ]
