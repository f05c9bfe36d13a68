"""``amodal``: whole-object masks (the hidden parts too) for boxes, e.g. a detector's.

Boxes come from ``--boxes``, a detections file (``--detections``: any detector's COCO
results, read by :mod:`zoo.detections`), a manifest, an HTTP request or a concept model
used as a detector. One rule for all of them: boxes crossing the image edge are clipped
to it, boxes entirely outside or with ``x2 <= x1`` are refused (typed) or dropped
(detections, counted).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from pydantic import Field

from zoo.errors import InputError
from zoo.options import Options, option

from .common import DetectorOptions, cli_image, image_inputs, refuse, row_extras, stored_image
from .promptable import MAX_OBJECTS
from .spec import ImageRequest, RunInputs, TaskInputs, TaskSpec

#: ``--score-thr`` when not given: a picture wants confident detections.
RUN_SCORE_THR = 0.3


class AmodalOptions(DetectorOptions):
    detections: Path | None = option(
        None,
        help="COCO results JSON from any detector (image_id, bbox as x,y,w,h, score, "
        "category_id; an optional modal 'segmentation' becomes the visible mask)",
        commands=("run",),
    )
    score_thr: float | None = option(
        None,
        help=f"keep detections scoring at least this, 0..1 (default {RUN_SCORE_THR})",
        ge=0.0,
        le=1.0,
        commands=("run",),
    )
    image_id: str | None = option(
        None, help="which image of a multi-image --detections file --image is", commands=("run",)
    )


class AmodalRequest(ImageRequest):
    boxes: list[tuple[float, float, float, float]] = Field(
        min_length=1, max_length=MAX_OBJECTS, description="x1, y1, x2, y2 per object"
    )


def boxes_inputs(inputs: TaskInputs, boxes: Any) -> TaskInputs:
    """Check and clip boxes (the one rule), as the method's second argument."""
    import numpy as np

    from zoo.prompts import Prompts

    h, w = inputs.size
    prompts, notes = Prompts.build(boxes=boxes).fit(h, w)
    arr = prompts.boxes
    assert arr is not None
    inputs.args = [np.asarray(arr, dtype=np.float64)]
    inputs.notes += notes
    return inputs


class AmodalTask(TaskSpec):
    name = "amodal"
    method = "segment_amodal"
    summary = "whole-object (amodal) masks for boxes"
    result = "zoo.results:AmodalResult"
    options = AmodalOptions
    route = "amodal"
    request = AmodalRequest
    uses_embedding = False
    signals = ("detections", "detector")

    def from_cli(self, run: RunInputs, options: Options) -> TaskInputs:
        from zoo.detections import read_detections, select_for_image
        from zoo.prompts import parse_boxes

        refuse(run, ("video", "depth"), self.name, "give --image and boxes")
        if run.points or run.labels or run.prompts:
            raise InputError("amodal families take boxes only: use --boxes or --detections FILE")
        det_file = getattr(options, "detections", None)
        image_id = getattr(options, "image_id", None)
        if det_file is not None and run.boxes:
            raise InputError("use either --boxes or --detections FILE, not both")
        if det_file is None and not run.boxes:
            raise InputError(
                'no boxes given; add --boxes "x1,y1,x2,y2;..." or --detections DETS.json '
                "(COCO results from any detector)"
            )
        if image_id is not None and det_file is None:
            raise InputError("--image-id only applies to --detections")
        inputs = cli_image(run, self.name)
        if det_file is None:
            return boxes_inputs(inputs, parse_boxes(str(run.boxes)))
        thr = getattr(options, "score_thr", None)
        dets = read_detections(det_file, RUN_SCORE_THR if thr is None else thr)
        key, chosen = select_for_image(dets, str(run.image), image_id)
        inputs.notes += dets.notes()
        inputs.meta["detections_kept"] = len(chosen)
        if isinstance(key, int) and not isinstance(key, bool):
            inputs.meta["image_id"] = key
        return self.from_detections(inputs, chosen)

    def from_detections(self, inputs: TaskInputs, chosen: list[Any]) -> TaskInputs:
        """Detector boxes (and their scores, categories, modal masks) as this task's call."""
        from zoo.io.masks import decode_segmentation

        h, w = inputs.size
        kept = [
            d for d in chosen if d.box[2] > 0 and d.box[3] > 0 and d.box[0] < w and d.box[1] < h
        ]
        if not kept:
            inputs.empty = True
            return inputs
        boxes_inputs(inputs, [list(d.box) for d in kept])
        visible = []
        for d in kept:
            try:
                visible.append(
                    None if d.segmentation is None else decode_segmentation(d.segmentation, h, w)
                )
            except InputError:
                visible.append(None)  # a malformed modal mask only loses the visible part
        inputs.kwargs.update(
            scores=[d.score for d in kept],
            category_ids=[d.category_id for d in kept],
            visible_masks=visible,
        )
        inputs.meta["category_ids"] = [d.category_id for d in kept]
        return inputs

    def detections_inputs(
        self, inputs: TaskInputs, chosen: list[Any], options: Options
    ) -> TaskInputs:
        return self.from_detections(inputs, chosen)

    def from_row(
        self, row: Mapping[str, Any], image: Any, location: str, options: Options
    ) -> TaskInputs:
        inputs = image_inputs(image, location)
        if row.get("prompts") is not None or row.get("points") is not None:
            raise InputError("amodal families take boxes only; give boxes or detections")
        boxes = row.get("boxes")
        if boxes is None:
            raise InputError(
                "no boxes for this item; give it a boxes column, --boxes for all items, or "
                "--detections"
            )
        if not list(boxes):
            inputs.empty = True
            return inputs
        boxes_inputs(inputs, boxes)
        row_extras(row, len(inputs.args[0]), inputs)
        for key in ("scores", "category_ids"):
            if key in inputs.meta:
                inputs.kwargs[key] = inputs.meta[key]
        return inputs

    def from_request(
        self, request: Any, store: Any, path: Mapping[str, str] | None = None
    ) -> TaskInputs:
        return boxes_inputs(stored_image(store, request.image_id), [list(b) for b in request.boxes])

    def finish(self, result: Any, inputs: TaskInputs) -> Any:
        """Carry detector scores and categories through when the family did not."""
        insts = getattr(result, "instances", [])
        for key, attr in (("category_ids", "category_id"), ("scores", "det_score")):
            vals = inputs.kwargs.get(key) or inputs.meta.get(key)
            if vals is not None and len(vals) == len(insts):
                for inst, v in zip(insts, vals, strict=True):
                    if getattr(inst, attr, None) is None:
                        setattr(inst, attr, v)
        return result

    def empty(self, model: Any, inputs: TaskInputs) -> Any:
        from zoo.results import AmodalResult

        return AmodalResult(
            instances=[], image_size=inputs.size, provenance=model.provenance(self.name)
        )

    def report(self, results: list[Any], inputs: TaskInputs) -> dict[str, Any]:
        (r,) = results
        out: dict[str, Any] = {
            "instances": len(r.instances),
            "scores": [round(i.score, 4) for i in r.instances],
            "pred_iou": [round(i.pred_iou, 4) for i in r.instances if i.pred_iou is not None],
        }
        if "detections_kept" in inputs.meta:
            out["detections_kept"] = inputs.meta["detections_kept"]
        return out

    def samples(self, height: int, width: int) -> list[TaskInputs]:
        from zoo.testing.synthetic import synthetic_boxes, synthetic_image

        return [
            boxes_inputs(
                image_inputs(synthetic_image(height, width)), synthetic_boxes(height, width)
            )
        ]

    def check(self, results: list[Any], inputs: TaskInputs) -> None:
        import math

        import numpy as np

        super().check(results, inputs)
        (r,) = results
        assert len(r.instances) == len(inputs.args[0]), "one instance per box"
        for inst in r.instances:
            m = inst.amodal_mask
            assert m.dtype == np.bool_ and m.shape == tuple(inputs.size), "bool HxW amodal masks"
            assert math.isfinite(inst.score)

    def bad_calls(self, model: Any, height: int, width: int) -> list[tuple[str, Callable[[], Any]]]:
        import numpy as np

        from zoo.testing.synthetic import synthetic_image

        img = synthetic_image(height, width)
        return [
            (
                "zero-area box",
                lambda: model.segment_amodal(img, np.array([[10, 10, 10, 50]], dtype=float)),
            ),
            (
                "box entirely outside the image",
                lambda: model.segment_amodal(
                    img, np.array([[width * 2, 0, width * 3, 20]], dtype=float)
                ),
            ),
        ]
