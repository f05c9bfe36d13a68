"""SAM2Long as a ``video`` zoo model: ``zoo.load("sam2long-video:tiny").track(frames, prompts)``.

This is the glue between the zoo's schemas (frame sources, :class:`zoo.tasks.Prompts`,
:class:`zoo.tasks.VideoFrameResult`, ``InputError``) and :class:`SAM2LongTracker`.  The
SAM 2.1 network is built by the ``sam2`` plugin's builder (same configs, same weights
resolution and strict loading), with the flags of the SAM2Long reference evaluation.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from zoo.errors import InputError
from zoo.model import ZooModel
from zoo.specs import FamilySpec, VariantSpec
from zoo.tasks import Prompts, Task, VideoFrameResult, as_prompts

from .tracker import REFERENCE_OVERRIDES, ObjectPrompt, SAM2LongConfig, SAM2LongTracker


class SAM2LongVideoModel(ZooModel):
    """SAM 2.1 with SAM2Long's memory tree, tracking prompted objects through a video.

    Results stream: :meth:`track` yields a frame as soon as every memory pathway agrees on
    it, so with ``pathways > 1`` a frame may come out a few frames after it was read (all
    remaining frames come out at the end of the video).
    """

    tasks = (Task.VIDEO,)

    def __init__(self, model: Any, config: SAM2LongConfig) -> None:
        self.model: Any = model
        self.config = config

    @classmethod
    def create(
        cls,
        *,
        family: FamilySpec,
        variant: VariantSpec | None,
        checkpoint: Path | None,
        device: str,
        dtype: Any = None,
        size: str | None = None,
        image_size: int | None = None,
        pathways: int = 3,
        iou_threshold: float = 0.1,
        uncertainty: float = 2.0,
        dedup: bool = True,
        batch: bool = True,
        **_: Any,
    ) -> SAM2LongVideoModel:
        from zoo_sam2.build import build_sam2_model

        if dtype not in (None, torch.float32):
            raise InputError(
                "sam2long-video runs in float32 only: its tree decisions hinge on IoU "
                "differences of ~1e-3 that half precision blurs; drop --dtype"
            )
        size = size or (variant.tag if variant else "tiny")
        try:
            config = SAM2LongConfig(
                num_pathways=int(pathways),
                iou_threshold=float(iou_threshold),
                uncertainty=float(uncertainty),
                dedup=bool(dedup),
                batch=bool(batch),
            )
        except ValueError as exc:
            raise InputError(f"bad sam2long-video option: {exc}") from None
        model = build_sam2_model(
            size,
            checkpoint,
            device=device,
            video=True,
            apply_postprocessing=False,
            image_size=image_size,
            overrides=list(REFERENCE_OVERRIDES),
            model_name=variant.name if variant else f"sam2long-video:{size}",
        )
        return cls(model, config)

    def track(
        self,
        frames: Any,
        prompts: Any,
        *,
        prompt_frame: int = 0,
        pathways: int | None = None,
    ) -> Iterator[VideoFrameResult]:
        """Track the prompted objects; yields one :class:`VideoFrameResult` per frame, in order.

        Args:
            frames: a frame folder, a video file, a :class:`zoo.io.frames.FrameSource`, a
                ``TxHxWx3`` array or a list of ``HxWx3`` frames; decoded lazily.
            prompts: boxes / clicks / masks of the objects on ``prompt_frame`` (anything
                :func:`zoo.tasks.as_prompts` accepts).  A mask prompt is a boolean mask
                at frame resolution and cannot be mixed with a box or clicks.
            prompt_frame: index of the frame the prompts refer to; earlier frames get
                empty masks.
            pathways: override the number of memory pathways for this call.
        """
        from zoo.io.frames import open_frames

        source = open_frames(frames)
        parsed: Prompts = as_prompts(prompts)
        h, w = source.size
        parsed.check_inside(h, w)
        n = len(source)
        if not 0 <= prompt_frame < n:
            raise InputError(
                f"prompt_frame {prompt_frame} is outside the video's {n} frames; "
                "give the index of the frame the prompts were drawn on"
            )
        objects = _to_object_prompts(parsed, prompt_frame, (h, w))
        config = self.config
        if pathways is not None:
            if int(pathways) < 1:
                raise InputError(f"pathways must be >= 1, got {pathways}")
            config = dataclasses.replace(config, num_pathways=int(pathways))
        tracker = SAM2LongTracker(self.model, config)
        names = source.names
        provenance = self.provenance(Task.VIDEO)
        stream = (frame for _, frame in source)
        try:
            for out in tracker.track(stream, objects, num_frames=n):
                masks = {oid: out.masks[i] for i, oid in enumerate(out.obj_ids)}
                scores = {
                    oid: float(out.ious[i])
                    for i, oid in enumerate(out.obj_ids)
                    if not math.isnan(out.ious[i])
                }
                name = names[out.frame_idx] if out.frame_idx < len(names) else None
                yield VideoFrameResult(
                    frame_index=out.frame_idx,
                    frame_name=name or f"{out.frame_idx:05d}",
                    masks=masks,
                    scores=scores,
                    provenance=provenance,
                )
        except ValueError as exc:  # the tracker's user-facing checks
            raise InputError(str(exc).splitlines()[0]) from exc
        finally:
            source.close()


def _to_object_prompts(
    prompts: Prompts, frame: int, video_hw: tuple[int, int]
) -> list[ObjectPrompt]:
    out: list[ObjectPrompt] = []
    used: set[int] = set()
    for i, p in enumerate(prompts):
        oid = p.object_id if p.object_id is not None else i + 1
        if oid in used:
            raise InputError(f"object_id {oid} is used twice; give each object its own id")
        used.add(oid)
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
