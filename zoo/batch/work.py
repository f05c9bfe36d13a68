"""The per-item function every engine runs: read the item, build the task's call, run it.

Split in two so engines can overlap them: :meth:`ItemRunner.prepare` (decode the image or
fetch the video, download remote files a row names, build the task's inputs with
:meth:`zoo.tasks.TaskSpec.from_row`; no model, thread-safe) and :meth:`ItemRunner.compute`
(the model call, :meth:`zoo.tasks.TaskSpec.call`). Nothing here knows one task from
another: the plan names the task, the task builds and runs.

Where an item's prompts come from, first match wins: the detections file (``--detections``,
by the item's key or file name), the row's own prompt columns, the prompts given for every
item (``--boxes``/``--points``/``--prompts``).
"""

from __future__ import annotations

import os
from typing import Any

from zoo.errors import InputError
from zoo.tasks.spec import TaskInputs, TaskSpec

from .decode import decode_image
from .items import Item
from .plan import Plan
from .remote import download, scheme_of

__all__ = ["ItemRunner", "Prepared"]

#: What :meth:`ItemRunner.prepare` returns (the task's inputs, with temp files to clean up).
Prepared = TaskInputs

_PROMPT_COLUMNS = ("prompts", "boxes", "points", "objects", "shadows")


def _local(uri: str, inputs: TaskInputs, suffix: str = "") -> str:
    if scheme_of(uri):
        path = download(uri, suffix)
        inputs.temp_files.append(path)
        return path
    if not os.path.exists(uri):
        raise InputError(f"{uri} does not exist")
    return uri


class ItemRunner:
    """Runs one :class:`Plan` with one loaded model, item by item."""

    def __init__(self, model: Any, plan: Plan) -> None:
        self.model = model
        self.plan = plan
        self.task: TaskSpec = plan.task_spec()
        self.options = plan.task_options_instance()
        self._detections = plan.load_detections()
        from zoo.concept_detector import ConceptDetector

        # a concept model as the detector: its detections take the detections file's path
        self._detector = (
            ConceptDetector(
                self.options, device=model_device(model, plan), weights=plan.weights, seed=plan.seed
            )
            if getattr(self.options, "detector", None)
            else None
        )
        self._call = {**plan.call, **self.task.call_options(self.options)}

    # ------------------------------------------------------------------ prepare
    def _row(self, item: Item) -> dict[str, Any]:
        row = dict(item.row)
        if self._detections is not None or self._detector is not None:
            if self._detector is not None:
                image = decode_image(item.uri, self.plan.max_pixels)
                dets = self._detector.detect(image, item.key).for_key(item.key)
            else:
                dets = self._detections.for_item(item.key, item.uri)
            for k in _PROMPT_COLUMNS:
                row.pop(k, None)
            row.update(
                boxes=[list(d.box) for d in dets],
                scores=[d.score for d in dets],
                category_ids=[d.category_id for d in dets],
            )
        elif not any(k in row for k in _PROMPT_COLUMNS) and self.plan.fixed:
            row.update(self.plan.fixed)
        return row

    def prepare(self, item: Item) -> TaskInputs:
        """Decode and parse; raises ``InputError`` for a bad item (recorded, not fatal)."""
        if item.error:
            raise InputError(item.error)
        scratch = TaskInputs()
        try:
            row = self._row(item)
            for col in self.task.path_columns:
                value = row.get(col)
                if isinstance(value, str) and "," not in value:
                    row[col] = _local(value, scratch, os.path.splitext(value)[1])
            if self.task.media == "video":
                location = _local(item.uri, scratch, os.path.splitext(item.uri)[1])
                inputs = self.task.from_row(row, None, location, self.options)
            else:
                image = decode_image(item.uri, self.plan.max_pixels)
                inputs = self.task.from_row(row, image, item.uri, self.options)
            inputs.temp_files += scratch.temp_files
            return inputs
        except BaseException:
            scratch.cleanup()
            raise

    # ------------------------------------------------------------------ compute
    def compute(self, inputs: TaskInputs) -> list[Any]:
        """The task results of one item (one per video frame for a video task)."""
        out = []
        for res in self.task.call(self.model, inputs, self._call):
            if getattr(res, "low_res_logits", None) is not None:
                # 256 KB of floats per mask: not a batch output
                res = res.model_copy(update={"low_res_logits": None})
            out.append(res)
        return out


def model_device(model: Any, plan: Plan) -> str:
    """Where the detector runs: beside the task's model (a worker's GPU), else the plan's."""
    device = getattr(model, "device", None)
    return str(device) if device else plan.device
