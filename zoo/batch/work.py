"""The per-item function every engine runs: read the item, ask the model, get results.

It is split in two so engines can overlap them: :meth:`ItemRunner.prepare` (decode the
image, download a remote video or depth map, build the prompts; no model, thread-safe)
and :meth:`ItemRunner.compute` (the model call). Dispatch is on the *task* the family
declares (:mod:`zoo.tasks`), never on the family: promptable ``segment`` (or
``segment_everything``), amodal ``segment_amodal``, shadow ``segment_shadows``, rgbd
``segment_rgbd`` and video ``track``. Keyword options a family declares for ``zoo batch``
(``OptionSpec(commands=("batch",))`` without ``model=True``) go to that method when its
signature takes them; ``model=True`` ones went to ``zoo.load`` already.
"""

from __future__ import annotations

import contextlib
import inspect
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from zoo.errors import InputError
from zoo.specs import Task

from .decode import decode_image
from .items import Item
from .plan import Plan
from .remote import download, scheme_of

__all__ = ["BATCH_TASKS", "ItemRunner", "Prepared"]

#: Tasks ``zoo batch`` runs, in the order a family's default task is chosen.
BATCH_TASKS = (Task.PROMPTABLE, Task.AMODAL, Task.SHADOW, Task.RGBD, Task.VIDEO)


@dataclass
class Prepared:
    """An item ready for the model: pixels, prompts and the task's other inputs."""

    item: Item
    image: np.ndarray | None = None
    inputs: dict[str, Any] = field(default_factory=dict)
    #: nothing to ask (a COCO image with no boxes): an empty result, no model call
    empty: bool = False
    temp_files: list[str] = field(default_factory=list)

    def cleanup(self) -> None:
        for p in self.temp_files:
            with contextlib.suppress(OSError):
                os.unlink(p)
        self.image = None


def _local(uri: str, prep: Prepared, suffix: str = "") -> str:
    if scheme_of(uri):
        path = download(uri, suffix)
        prep.temp_files.append(path)
        return path
    if not os.path.exists(uri):
        raise InputError(f"{uri} does not exist")
    return uri


class ItemRunner:
    """Runs one :class:`Plan` with one loaded model, item by item."""

    def __init__(self, model: Any, plan: Plan) -> None:
        self.model = model
        self.plan = plan
        self.task = Task(plan.task)
        self._detections = plan.load_detections()
        from zoo.tasks import TASK_METHODS

        self.method = getattr(model, TASK_METHODS[self.task])
        self._kwargs = _accepted(self.method, plan.call)

    # ------------------------------------------------------------------ prepare
    def prepare(self, item: Item) -> Prepared:
        """Decode and parse; raises ``InputError`` for a bad item (recorded, not fatal)."""
        if item.error:
            raise InputError(item.error)
        prep = Prepared(item)
        try:
            if self.task is Task.VIDEO:
                suffix = os.path.splitext(item.uri)[1]
                prep.inputs["frames"] = _local(item.uri, prep, suffix)
                prep.inputs["prompts"] = self._prompts(item, prep)
                return prep
            prep.image = decode_image(item.uri, self.plan.max_pixels)
            if self.task is Task.RGBD:
                depth = item.row.get("depth")
                if not depth:
                    raise InputError("rgbd item has no 'depth' column")
                prep.inputs["depth"] = _local(str(depth), prep, os.path.splitext(str(depth))[1])
                intr = item.row.get("intrinsics")
                if isinstance(intr, str) and ("/" in intr or intr.endswith(".txt")):
                    intr = _local(intr, prep, ".txt")
                prep.inputs["intrinsics"] = intr
                prep.inputs["vocabulary"] = item.row.get("vocabulary")
            elif not (self.task is Task.PROMPTABLE and self.plan.everything is not None):
                prep.inputs["prompts"] = self._prompts(item, prep)
            return prep
        except BaseException:
            prep.cleanup()
            raise

    def _boxes_row(self, item: Item) -> dict[str, Any]:
        """``--detections`` for this item's id, else its own columns (else: fixed prompts).

        Detections replace the boxes a COCO ``--input`` carries (its annotations)."""
        row = item.row
        if self._detections is not None:
            return self._detections.get(item.key, {"boxes": []})
        if any(k in row for k in ("prompts", "boxes", "points", "objects", "shadows")):
            return row
        return {}

    def _prompts(self, item: Item, prep: Prepared) -> Any:
        from zoo.prompts import Prompts, as_shadow_prompts

        row = self._boxes_row(item)
        if not row and self.plan.fixed_prompts is not None:
            row = {"prompts": self.plan.fixed_prompts}
        if not row:
            raise InputError(
                "no prompt for this item; give it a prompts/boxes column, use --boxes, "
                "--points or --prompts for all items, or --everything"
            )
        if "boxes" in row and not row["boxes"] and "prompts" not in row:
            prep.empty = True  # a COCO image without (kept) boxes: nothing to segment
            return None
        if self.task is Task.SHADOW:
            if "prompts" in row:
                return as_shadow_prompts(row["prompts"])
            objs, shads = row.get("objects") or [], row.get("shadows") or []
            if not objs and not shads and "boxes" in row:
                objs = row["boxes"]
            n = max(len(objs), len(shads))
            return as_shadow_prompts(
                [
                    {
                        **({"object": {"box": objs[i]}} if i < len(objs) else {}),
                        **({"shadow": {"box": shads[i]}} if i < len(shads) else {}),
                    }
                    for i in range(n)
                ]
            )
        if "prompts" in row:
            prompts = Prompts.from_json(row["prompts"])
        else:
            prompts = Prompts.build(
                boxes=row.get("boxes"), points=row.get("points"), labels=row.get("labels")
            )
        n = len(prompts)
        for key in ("category_ids", "scores"):
            if row.get(key) is not None:
                vals = list(row[key])
                if len(vals) != n:
                    raise InputError(f"{len(vals)} {key} for {n} prompts; give one per box")
                prep.inputs[key] = (
                    [int(v) for v in vals] if key == "category_ids" else [float(v) for v in vals]
                )
        if self.task is Task.AMODAL:
            boxes = prompts.boxes
            if boxes is None:
                raise InputError("amodal families take boxes only; give boxes or detections")
            return boxes
        return prompts

    # ------------------------------------------------------------------ compute
    def compute(self, prep: Prepared) -> list[Any]:
        """The task results of one item (one per video frame for ``video``)."""
        if prep.empty:
            return [self._empty(prep)]
        inp = prep.inputs
        t = self.task
        if t is Task.PROMPTABLE:
            if self.plan.everything is not None:
                return [self.model.segment_everything(prep.image, **self.plan.everything)]
            res = self.method(
                prep.image, inp["prompts"], multimask=self.plan.multimask, **self._kwargs
            )
            if res.low_res_logits is not None:  # 256 KB of floats per mask: not a batch output
                res = res.model_copy(update={"low_res_logits": None})
            if "category_ids" in inp and res.category_ids is None:
                res = res.model_copy(update={"category_ids": inp["category_ids"]})
            return [res]
        if t is Task.AMODAL:
            extra: dict[str, Any] = {k: inp[k] for k in ("scores", "category_ids") if k in inp}
            kw = {**self._kwargs, **_accepted(self.method, extra)}
            res = self.method(prep.image, inp["prompts"], **kw)
            _fill_amodal(res, inp)
            return [res]
        if t is Task.SHADOW:
            return [self.method(prep.image, inp["prompts"], **self._kwargs)]
        if t is Task.RGBD:
            return [
                self.method(
                    prep.image, inp["depth"], inp["intrinsics"], inp["vocabulary"], **self._kwargs
                )
            ]
        return list(self.method(inp["frames"], inp["prompts"], **self._kwargs))

    def _empty(self, prep: Prepared) -> Any:
        from zoo.results import AmodalResult, SegmentationResult, ShadowResult

        assert prep.image is not None
        h, w = prep.image.shape[:2]
        prov = self.model.provenance(self.task)
        if self.task is Task.AMODAL:
            return AmodalResult(instances=[], image_size=(h, w), provenance=prov)
        if self.task is Task.SHADOW:
            return ShadowResult(instances=[], image_size=(h, w), provenance=prov)
        return SegmentationResult(
            masks=np.zeros((0, h, w), dtype=bool),
            scores=np.zeros(0, dtype=np.float32),
            image_size=(h, w),
            provenance=prov,
        )


def _fill_amodal(res: Any, inp: dict[str, Any]) -> None:
    """Carry detector scores and categories through when the family did not."""
    insts = getattr(res, "instances", [])
    for key, attr in (("category_ids", "category_id"), ("scores", "det_score")):
        vals = inp.get(key)
        if vals is not None and len(vals) == len(insts):
            for inst, v in zip(insts, vals, strict=True):
                if getattr(inst, attr) is None:
                    setattr(inst, attr, v)


def _accepted(method: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
    """The keywords ``method`` takes (all of them when it has ``**kwargs``)."""
    if not kwargs:
        return {}
    try:
        params = inspect.signature(method).parameters
    except (TypeError, ValueError):
        return dict(kwargs)
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return dict(kwargs)
    return {k: v for k, v in kwargs.items() if k in params}
