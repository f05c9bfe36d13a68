"""``everything``: automatic masks for the whole image, no prompt (promptable families).

Implied by ``promptable``: every promptable family does it through
``ZooModel.segment_everything`` (the core grid procedure, :mod:`zoo.everything`, or the
family's own generator). ``--everything`` on ``zoo run``/``zoo batch`` picks this task;
its grid settings are bounded so that no request can ask for unbounded work.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pydantic import Field

from zoo.options import Options, option

from .common import cli_image, image_inputs, refuse, stored_image
from .spec import ImageRequest, RunInputs, TaskInputs, TaskSpec

#: Grid points per side: 128 is 16,384 prompts, four times SAM's finest documented grid.
MAX_POINTS_PER_SIDE = 128


class EverythingOptions(Options):
    everything: bool = option(
        False,
        help="segment everything: a point grid instead of prompts (model.segment_everything)",
        commands=("run", "batch"),
    )
    points_per_side: int | None = option(
        None,
        help=f"grid points per side (default 32, at most {MAX_POINTS_PER_SIDE}; cost grows with "
        "its square)",
        ge=1,
        le=MAX_POINTS_PER_SIDE,
    )
    points_per_batch: int | None = option(
        None, help="prompts per decoder call (default 64; memory vs speed)", ge=1, le=1024
    )
    pred_iou_thresh: float | None = option(
        None, help="predicted-IoU threshold (default 0.8; 0 in test mode)", ge=0.0, le=1.0
    )
    stability_score_thresh: float | None = option(
        None,
        help="stability-score threshold (default 0.95; 0 in test mode)",
        ge=0.0,
        le=1.0,
        aliases=("stability_thresh",),
    )
    box_nms_thresh: float | None = option(
        None, help="box NMS IoU threshold (default 0.7)", ge=0.0, le=1.0
    )
    min_region_area: int | None = option(
        None,
        help="fill holes, drop islands and masks under this many pixels",
        ge=0,
        le=100_000_000,
        aliases=("min_area",),
    )


class EverythingRequest(ImageRequest):
    options: dict[str, Any] = Field(
        default_factory=dict,
        description="grid settings: points_per_side (1-128), points_per_batch, pred_iou_thresh, "
        "stability_score_thresh, box_nms_thresh, min_region_area",
    )


class EverythingTask(TaskSpec):
    name = "everything"
    method = "segment_everything"
    summary = "every object in the image, no prompt (point grid, filtering, NMS)"
    result = "zoo.results:SegmentationResult"
    options = EverythingOptions
    route = "everything"
    request = EverythingRequest
    implied_by = ("promptable",)
    signals = ("everything",)

    def wants(self, run: RunInputs, raw: Mapping[str, Any]) -> bool:
        return bool(raw.get("everything"))

    def from_cli(self, run: RunInputs, options: Options) -> TaskInputs:
        refuse(
            run,
            ("boxes", "points", "labels", "prompts", "video", "depth"),
            self.name,
            "--everything takes no prompts; drop --boxes/--points/--prompts",
        )
        return cli_image(run, self.name)

    def from_row(
        self, row: Mapping[str, Any], image: Any, location: str, options: Options
    ) -> TaskInputs:
        return image_inputs(image, location)

    def from_request(
        self, request: Any, store: Any, path: Mapping[str, str] | None = None
    ) -> TaskInputs:
        return stored_image(store, request.image_id)

    def call_options(self, options: Options) -> dict[str, Any]:
        return {k: v for k, v in options.values().items() if k != "everything" and v is not None}

    def report(self, results: list[Any], inputs: TaskInputs) -> dict[str, Any]:
        (r,) = results
        return {"masks": len(r), "scores": [round(float(s), 4) for s in r.scores]}

    def response(self, results: list[Any], inputs: TaskInputs) -> dict[str, Any]:
        (r,) = results
        return {"scores": [float(s) for s in r.scores]}

    def samples(self, height: int, width: int) -> list[TaskInputs]:
        return []  # the promptable samples cover the decoder; the grid is tested in core

    def bad_calls(self, model: Any, height: int, width: int) -> list[tuple[str, Callable[[], Any]]]:
        return []
