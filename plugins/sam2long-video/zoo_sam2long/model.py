"""SAM2Long as a ``video`` zoo model: ``zoo.load("sam2long-video:tiny").track(frames, prompts)``.

This is the glue between the zoo's contracts (:class:`zoo.loading.LoadContext`, frame
sources, :class:`zoo.prompts.Prompts`, :class:`zoo.results.VideoFrameResult`,
``InputError``) and :class:`~zoo_sam2long.tracker.SAM2LongTracker`. The SAM 2.1 network is
built by the one SAM 2 builder, :func:`zoo_sam2.build.build_sam2_model` (same configs,
strict pickle-free loading), with the flags of the SAM2Long reference evaluation.

``track(..., record=True)`` is the documented way to see the tracker's internals (output
logits before and after resizing, every frame's tree decision); the golden tests read the
reference comparison from it, so they check exactly the path users run.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch

from zoo.errors import InputError
from zoo.loading import LoadContext
from zoo.model import ZooModel
from zoo.prompts import Prompts, as_prompts
from zoo.results import VideoFrameResult
from zoo.specs import Task

from .profiling import stage
from .tracker import FrameRecord, ObjectPrompt, SAM2LongConfig, SAM2LongTracker, TreeRecorder

#: Hydra overrides that, with ``apply_postprocessing=False``, reproduce the reference
#: evaluation tool run without ``--apply_postprocessing`` (as its README runs it).
REFERENCE_OVERRIDES = ("++model.non_overlap_masks=true",)

#: ``zoo.load`` kwargs -> :class:`SAM2LongConfig` fields (``iou_thre``: upstream's name).
_CONFIG_KEYS = {
    "pathways": "num_pathways",
    "iou_threshold": "iou_threshold",
    "iou_thre": "iou_threshold",
    "uncertainty": "uncertainty",
    "dedup": "dedup",
    "batch": "batch",
    "share_first_layer": "share_first_layer",
    "lazy_memory": "lazy_memory",
    "cache_rope": "cache_rope",
}


class SAM2LongVideoModel(ZooModel):
    """SAM 2.1 with SAM2Long's memory tree, tracking prompted objects through a video.

    Results stream: :meth:`track` yields a frame as soon as every memory pathway agrees on
    it, so with ``pathways > 1`` a frame may come out a few frames after it was read (all
    remaining frames come out at the end of the video).
    """

    tasks = (Task.VIDEO,)

    def __init__(self, model: Any, config: SAM2LongConfig) -> None:
        #: the ``sam2`` ``SAM2VideoPredictor`` (its own ``init_state``/``propagate_in_video``
        #: give plain SAM 2 on the same network: the eval baseline)
        self.model: Any = model
        self.config = config

    @classmethod
    def create(
        cls,
        ctx: LoadContext,
        *,
        size: str | None = None,
        image_size: int | None = None,
        **config: Any,
    ) -> SAM2LongVideoModel:
        """Build SAM 2.1 ``size`` with the reference flags and load ``ctx.path()``.

        ``config`` holds the tree options (``pathways``, ``iou_threshold`` or its upstream
        name ``iou_thre``, ``uncertainty``, and the execution switches ``dedup``, ``batch``,
        ``share_first_layer``, ``lazy_memory``, ``cache_rope``); the defaults live in
        :class:`SAM2LongConfig` only. An unknown key is refused rather than ignored, so a
        misspelt option never silently runs the defaults.
        """
        from zoo_sam2.build import build_sam2_model

        if ctx.dtype not in (None, torch.float32):
            raise InputError(
                "sam2long-video runs in float32 only: its tree decisions hinge on IoU "
                "differences of ~1e-3 that half precision blurs; drop --dtype"
            )
        tree = _tree_config(config)
        model = build_sam2_model(
            size or (ctx.variant.tag if ctx.variant else "tiny"),
            ctx.path(),
            device=ctx.device,
            video=True,
            apply_postprocessing=False,
            image_size=image_size,
            overrides=list(REFERENCE_OVERRIDES),
            model_name=ctx.name,
        )
        return cls(model, tree)

    def track(
        self,
        frames: Any,
        prompts: Any,
        *,
        prompt_frame: int = 0,
        pathways: int | None = None,
        record: bool = False,
        progress: Callable[[int, int], None] | None = None,
    ) -> Iterator[VideoFrameResult]:
        """Track the prompted objects; yields one :class:`VideoFrameResult` per frame, in order.

        Args:
            frames: a frame folder, a video file, a :class:`zoo.io.frames.FrameSource`, a
                ``TxHxWx3`` array or a list of ``HxWx3`` frames; decoded lazily.
            prompts: boxes / clicks / masks of the objects on ``prompt_frame`` (anything
                :func:`zoo.prompts.as_prompts` accepts). A box and clicks of one object go
                together (box + refining clicks); a box crossing the frame's edge is
                clipped to it; a mask prompt is a boolean mask at frame resolution and
                stands alone. ``object_id`` (1-255) names each track; objects without one
                are numbered 1, 2, ... in order (the video task's rule,
                :func:`zoo.tasks.video.check_object_ids`).
            prompt_frame: index of the frame the prompts refer to; earlier frames get
                empty masks.
            pathways: override the number of memory pathways for this call.
            record: also put the tracker's internals in each result's
                ``extra["sam2long"]`` (see :func:`frame_record`): the output logits
                before (low-res) and after resizing, and every object's tree decision on
                that frame. Costs memory (a few MB per frame); for analysis and tests.
            progress: called as ``progress(done, total)`` each time the tracker has
                processed a frame. Results can come out several frames later than the
                frame is processed (the tree decides late), so a progress bar driven by
                this moves steadily where one driven by the results would stall.

        Every result's ``extra["object_scores"]`` holds each object's presence logit (SAM
        2's object-score head; ``<= 0`` means "absent": the mask is then empty).
        """
        from zoo.io.frames import open_frames

        source = open_frames(frames)
        h, w = source.size
        parsed, _ = as_prompts(prompts).fit(h, w)  # `zoo run` says what was clipped
        n = len(source)
        if not 0 <= prompt_frame < n:
            raise InputError(
                f"prompt_frame {prompt_frame} is outside the video's {n} frames (0..{n - 1}); "
                "give the index of the frame the prompts were drawn on"
            )
        objects = to_object_prompts(parsed, prompt_frame, (h, w))
        config = self.config
        if pathways is not None:
            if int(pathways) < 1:
                raise InputError(f"pathways must be >= 1, got {pathways}")
            config = dataclasses.replace(config, num_pathways=int(pathways))
        recorder = _ByFrame() if record else None
        tracker = SAM2LongTracker(self.model, config, recorder=recorder)
        names = source.names
        provenance = self.provenance(Task.VIDEO)
        read = 0

        def stream() -> Iterator[np.ndarray]:
            nonlocal read
            frames_in = iter(source)
            while True:
                with stage("frame loading"):  # decoding counts as loading in profiles
                    item = next(frames_in, None)
                if item is None:
                    return
                frame = item[1]
                read += 1
                yield frame
                if progress is not None:
                    progress(read, n)

        try:
            for out in tracker.track(stream(), objects, num_frames=n):
                masks = {oid: out.masks[i] for i, oid in enumerate(out.obj_ids)}
                scores = {
                    oid: float(out.ious[i])
                    for i, oid in enumerate(out.obj_ids)
                    if not math.isnan(out.ious[i])
                }
                presence = {
                    oid: float(out.object_scores[i])
                    for i, oid in enumerate(out.obj_ids)
                    if not math.isnan(out.object_scores[i])
                }
                extra: dict[str, Any] = {"object_scores": presence}
                if recorder is not None:
                    extra["sam2long"] = frame_record(out, recorder.pop(out.frame_idx), read)
                name = names[out.frame_idx] if out.frame_idx < len(names) else None
                yield VideoFrameResult(
                    frame_index=out.frame_idx,
                    frame_name=name or f"{out.frame_idx:05d}",
                    masks=masks,
                    scores=scores,
                    image_size=(h, w),
                    provenance=provenance,
                    extra=extra,
                )
        except ValueError as exc:  # the tracker's user-facing checks (InputError included)
            if isinstance(exc, InputError):
                raise
            raise InputError(str(exc).splitlines()[0]) from exc
        finally:
            source.close()


def _tree_config(config: dict[str, Any]) -> SAM2LongConfig:
    unknown = sorted(k for k in config if k not in _CONFIG_KEYS)
    if unknown:
        known = ", ".join(sorted({*_CONFIG_KEYS, "image_size", "size"}))
        raise InputError(f"unknown sam2long-video option {unknown[0]!r}; it accepts {known}")
    if "iou_thre" in config and "iou_threshold" in config:
        raise InputError("give iou_threshold or its upstream name iou_thre, not both")
    fields = {_CONFIG_KEYS[k]: v for k, v in config.items() if v is not None}
    try:
        return SAM2LongConfig(**fields)
    except (TypeError, ValueError) as exc:
        raise InputError(f"bad sam2long-video option: {exc}") from None


class _ByFrame(TreeRecorder):
    """Keeps each frame's tree records until that frame is emitted (then hands them over)."""

    def __init__(self) -> None:
        super().__init__(keep_slot_logits=True)
        self.by_frame: dict[int, list[FrameRecord]] = {}

    def add(self, record: FrameRecord) -> None:
        self.by_frame.setdefault(record.frame_idx, []).append(record)

    def pop(self, frame_idx: int) -> list[FrameRecord]:
        return self.by_frame.pop(frame_idx, [])


def frame_record(out: Any, records: list[FrameRecord], frames_read: int) -> dict[str, Any]:
    """The ``extra["sam2long"]`` of a result tracked with ``record=True`` (JSON-safe via
    the result codec: arrays stay exact through ``to_dict``/``from_dict``).

    Layout::

        {"frames_read": int,            # frames read from the source when this one came out
         "objects": {object_id: {
             "lowres_logits": float32 [S/4, S/4],  # output logits before resizing
             "logits": float32 [H, W],             # at frame size (masks = logits > 0)
             "iou": float, "object_score": float,  # NaN before the object's prompt frame
             "tree": None | {                      # this frame's decision for the object
                 "kind": "prompt" | "first" | "tree",
                 "object_scores": [float] per pathway,
                 "ious": [[float, float, float]] per pathway (candidates),
                 "kept": [{"pathway", "mask_index", "score", "iou"}] in slot order,
                 "slot_lowres": float32 [slots, S/4, S/4] (each kept slot's logits),
                 "num_distinct": int, "num_batches": int}}}}

    The output shown for a frame is the history of the best pathway *at the end*, so
    ``tree.kept[0]`` is not necessarily the lineage the output came from.
    """
    by_obj = {r.obj_id: r for r in records}
    objects: dict[int, Any] = {}
    for i, oid in enumerate(out.obj_ids):
        rec = by_obj.get(oid)
        objects[int(oid)] = {
            "lowres_logits": out.lowres_logits[i].detach().float().cpu().numpy(),
            "logits": out.logits[i].detach().float().cpu().numpy(),
            "iou": float(out.ious[i]),
            "object_score": float(out.object_scores[i]),
            "tree": None if rec is None else _tree_dict(rec),
        }
    return {"frames_read": int(frames_read), "objects": objects}


def _tree_dict(rec: FrameRecord) -> dict[str, Any]:
    slots = [t.detach().float().cpu().numpy().reshape(t.shape[-2:]) for t in rec.slot_lowres]
    return {
        "kind": rec.kind,
        "object_scores": [float(v) for v in rec.object_scores],
        "ious": [[float(v) for v in row] for row in rec.ious],
        "kept": [
            {
                "pathway": int(c.pathway),
                "mask_index": int(c.mask_index),
                "score": float(c.score),
                "iou": float(c.iou),
            }
            for c in rec.kept
        ],
        "slot_lowres": np.stack(slots) if slots else np.zeros((0, 0, 0), np.float32),
        "num_distinct": int(rec.num_distinct),
        "num_batches": int(rec.num_batches),
    }


def to_object_prompts(
    prompts: Prompts, frame: int, video_hw: tuple[int, int]
) -> list[ObjectPrompt]:
    """The tracker's per-object prompts. Object ids follow the video task's one rule
    (:func:`zoo.tasks.video.check_object_ids`: 1-255, unique, missing ones numbered in
    order); the tracker adds its own checks of mask prompts (alone, at frame size, not
    empty)."""
    from zoo.tasks.video import check_object_ids

    out: list[ObjectPrompt] = []
    for i, (p, oid) in enumerate(zip(prompts, check_object_ids(prompts), strict=True)):
        mask = None
        if p.mask is not None:
            if p.box is not None or p.points is not None:
                raise InputError(
                    f"prompt {i}: a video object takes a mask or a box/clicks, not both"
                )
            mask = np.asarray(p.mask)
            if mask.shape != video_hw:
                raise InputError(
                    f"prompt {i}: mask is {mask.shape[1]}x{mask.shape[0]} (WxH) but the frames "
                    f"are {video_hw[1]}x{video_hw[0]}; give the mask at frame resolution"
                )
            mask = mask > 0.5 if mask.dtype != np.bool_ else mask
            if not mask.any():
                raise InputError(
                    f"prompt {i}: the mask of object {oid} is empty; draw the object or drop it"
                )
        out.append(
            ObjectPrompt(
                obj_id=oid,
                frame_idx=frame,
                box=p.box,
                points=p.points,
                labels=p.labels,
                mask=mask,
            )
        )
    return out
