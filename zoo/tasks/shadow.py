"""``shadow``: objects and their cast shadows, paired under one association id.

Prompts name each instance's object, its shadow, or both: ``--objects``/``--shadows`` box
lists paired by order, or a ``--prompts`` JSON of ``{"object": ..., "shadow": ...}``
entries (any object-prompt form on each side). One builder
(:func:`zoo.prompts.as_shadow_prompts`) reads them for every surface.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from pydantic import Field

from zoo.errors import InputError
from zoo.options import Options, option
from zoo.prompts import ShadowPromptJSON

from .common import DetectorOptions, cli_image, image_inputs, refuse, stored_image
from .promptable import MAX_OBJECTS
from .spec import ImageRequest, RunInputs, TaskInputs, TaskSpec


class ShadowOptions(DetectorOptions):
    objects: str | None = option(
        None,
        help='object boxes "x1,y1,x2,y2;..." (paired with --shadows by order)',
        commands=("run",),
    )
    shadows: str | None = option(
        None,
        help='shadow boxes "x1,y1,x2,y2;..." (paired with --objects by order)',
        commands=("run",),
    )
    multimask: bool = option(
        False,
        help="three candidates per prompt, keep the best (single clicks)",
        commands=("run", "batch", "serve"),
    )


class ShadowRequest(ImageRequest):
    instances: list[ShadowPromptJSON] = Field(min_length=1, max_length=MAX_OBJECTS)


def _side(text: str | None, flag: str) -> list[list[float]] | None:
    from zoo.prompts import parse_boxes

    if text is None:
        return None
    if not str(text).strip():
        raise InputError(f'{flag} needs boxes: {flag} "x1,y1,x2,y2;x1,y1,x2,y2"')
    return parse_boxes(str(text), flag)


def _holds_shadow_prompts(path: str) -> bool:
    """Whether a ``--prompts`` file holds ``{"object": ..., "shadow": ...}`` instances (a file
    that cannot be read is left to the task that reads it, which says why)."""
    import json

    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError):
        return False
    if isinstance(data, dict):
        data = data.get("instances", [data])
    return isinstance(data, list) and any(
        isinstance(d, dict) and bool({"object", "shadow"} & set(d)) for d in data
    )


class ShadowTask(TaskSpec):
    name = "shadow"
    method = "segment_shadows"
    summary = "objects and their shadows, paired"
    result = "zoo.results:ShadowResult"
    options = ShadowOptions
    route = "shadows"
    request = ShadowRequest
    uses_embedding = True
    signals = ("objects", "shadows", "detector")
    columns: ClassVar[dict[str, str]] = {
        "objects": "object boxes [[x1,y1,x2,y2], ...], paired with shadows by order",
        "shadows": "shadow boxes [[x1,y1,x2,y2], ...]",
    }

    def _fit(self, inputs: TaskInputs, prompts: list[Any]) -> TaskInputs:
        from zoo.prompts import fit_shadow_prompts

        h, w = inputs.size
        fitted, notes = fit_shadow_prompts(prompts, h, w)
        inputs.args = [fitted]
        inputs.notes += notes
        return inputs

    def wants(self, run: RunInputs, raw: Mapping[str, Any]) -> bool:
        """``--objects``/``--shadows``, or a ``--prompts`` file of object/shadow entries (a
        family with the promptable task too would otherwise read it as plain prompts)."""
        return super().wants(run, raw) or (
            run.prompts is not None and _holds_shadow_prompts(run.prompts)
        )

    def claims(self, run: RunInputs, raw: Mapping[str, Any]) -> bool:
        """A ``--prompts`` file of object/shadow entries is this task's alone."""
        return super().claims(run, raw) or (
            run.prompts is not None and _holds_shadow_prompts(run.prompts)
        )

    def from_cli(self, run: RunInputs, options: Options) -> TaskInputs:
        from zoo.io.jsonfiles import read_json
        from zoo.prompts import as_shadow_prompts, shadow_prompts_from_boxes

        refuse(run, ("video", "depth"), self.name, "give --image and --objects/--shadows")
        for key in ("boxes", "points", "labels"):
            if getattr(run, key):
                raise InputError(
                    f"--{key} is ambiguous for a shadow model; use --objects/--shadows boxes "
                    "(paired by order) or --prompts FILE with object/shadow entries"
                )
        objects = _side(getattr(options, "objects", None), "--objects")
        shadows = _side(getattr(options, "shadows", None), "--shadows")
        if run.prompts is not None:
            if objects or shadows:
                raise InputError("use either --prompts FILE or --objects/--shadows, not both")
            prompts = as_shadow_prompts(read_json(run.prompts, "prompts file", "--prompts"))
        else:
            prompts = shadow_prompts_from_boxes(objects, shadows)
        return self._fit(cli_image(run, self.name), prompts)

    def from_row(
        self, row: Mapping[str, Any], image: Any, location: str, options: Options
    ) -> TaskInputs:
        from zoo.prompts import as_shadow_prompts, shadow_prompts_from_boxes

        inputs = image_inputs(image, location)
        if row.get("prompts") is not None:
            return self._fit(inputs, as_shadow_prompts(row["prompts"]))
        objects, shadows = row.get("objects"), row.get("shadows")
        if objects is None and shadows is None:
            objects = row.get("boxes")
            if objects is not None and not list(objects):
                inputs.empty = True
                return inputs
        return self._fit(inputs, shadow_prompts_from_boxes(objects, shadows))

    def from_request(
        self, request: Any, store: Any, path: Mapping[str, str] | None = None
    ) -> TaskInputs:
        from zoo.prompts import as_shadow_prompts

        instances = [i.model_dump(exclude_none=True) for i in request.instances]
        return self._fit(stored_image(store, request.image_id), as_shadow_prompts(instances))

    def call_options(self, options: Options) -> dict[str, Any]:
        return {"multimask": bool(getattr(options, "multimask", False))}

    def empty(self, model: Any, inputs: TaskInputs) -> Any:
        from zoo.results import ShadowResult

        return ShadowResult(
            instances=[], image_size=inputs.size, provenance=model.provenance(self.name)
        )

    def report(self, results: list[Any], inputs: TaskInputs) -> dict[str, Any]:
        (r,) = results
        rows = [
            [
                inst.association_id,
                "-" if inst.object_score is None else float(inst.object_score),
                "-" if inst.shadow_score is None else float(inst.shadow_score),
            ]
            for inst in r.instances
        ]
        return {
            "instances": len(r.instances),
            "table": {
                "title": "predicted IoU per pair",
                "columns": ["pair", "object", "shadow"],
                "rows": rows,
            },
        }

    def samples(self, height: int, width: int) -> list[TaskInputs]:
        from zoo.prompts import as_shadow_prompts
        from zoo.testing.synthetic import synthetic_boxes, synthetic_image

        boxes = synthetic_boxes(height, width)
        inputs = image_inputs(synthetic_image(height, width))
        prompts = [{"object": {"box": boxes[0].tolist()}, "shadow": {"box": boxes[1].tolist()}}]
        inputs.args = [as_shadow_prompts(prompts)]
        return [inputs]

    def check(self, results: list[Any], inputs: TaskInputs) -> None:
        import numpy as np

        super().check(results, inputs)
        (r,) = results
        assert len(r.instances) == len(inputs.args[0]), "one pair per instance"
        for pair in r.instances:
            for m in (pair.object_mask, pair.shadow_mask):
                assert m is not None and m.dtype == np.bool_ and m.shape == tuple(inputs.size)

    def bad_calls(self, model: Any, height: int, width: int) -> list[tuple[str, Callable[[], Any]]]:
        from zoo.testing.synthetic import synthetic_image

        img = synthetic_image(height, width)
        return [("empty instance", lambda: model.segment_shadows(img, [{}]))]
