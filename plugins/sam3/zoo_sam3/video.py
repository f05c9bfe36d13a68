"""Concept tracking through a video with transformers' ``Sam3VideoModel``, one frame at a
time and in flat memory.

transformers' own loop (``Sam3VideoProcessor.init_video_session(video=...)`` then
``propagate_in_video_iterator``) holds every preprocessed frame (12 MB each at 1008 px) and
every frame's tracker outputs for the whole video. Here frames are read lazily
(:mod:`zoo.io.frames`), added to the session one at a time, and after each frame the
session drops what no later frame reads:

* the frame's pixels;
* tracker outputs of frames older than the memory window (``num_maskmem`` frames of
  memory features, ``max_object_pointers_in_encoder`` frames of object pointers);
* of older conditioning frames, all but the object pointer once they can no longer be
  among the ``max_cond_frame_num`` most recent (only those are attended to, and tracking
  runs forward, so an old one never becomes recent again); the pointers stay, since
  transformers attends to the pointers of every earlier conditioning frame (a few hundred
  bytes each, one every ``recondition_every_nth_frame`` frames per object);
* per-frame bookkeeping (tracker scores, suppressed ids, tracked-frame marks) of past
  frames, and the lists of unmatched/overlap frames beyond the count the hot-start rules
  compare with.

Nothing that is read later is dropped, so the outputs are the same as transformers' loop
(the tests compare them); the session reports the video's length so that transformers'
object-pointer window is the one it would use for the whole video.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import torch

from zoo.errors import InputError
from zoo.io.frames import open_frames
from zoo.prompts import ConceptPrompts, as_concept_prompts
from zoo.results import ConceptFrameResult
from zoo.specs import Task

if TYPE_CHECKING:
    from .model import Sam3ZooModel


def _session_class() -> type:
    from transformers.models.sam3_video.modeling_sam3_video import Sam3VideoInferenceSession

    class StreamingSession(Sam3VideoInferenceSession):  # type: ignore[misc, valid-type]
        """A session fed one frame at a time that still knows the video's length."""

        def __init__(self, total_frames: int, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.total_frames = total_frames

        @property
        def num_frames(self) -> int:
            return self.total_frames

    return StreamingSession


def video_processor(side: int) -> Any:
    """transformers' SAM 3 frame preprocessing (resize to ``side``, mean/std 0.5)."""
    from transformers.models.sam2_video.video_processing_sam2_video import Sam2VideoVideoProcessor

    return Sam2VideoVideoProcessor(
        image_mean=[0.5, 0.5, 0.5], image_std=[0.5, 0.5, 0.5], size={"height": side, "width": side}
    )


def postprocessor(model: Sam3ZooModel) -> Any:
    """transformers' ``Sam3VideoProcessor`` (its ``postprocess_outputs`` makes the masks)."""
    from transformers import Sam3VideoProcessor

    net = model.net
    cached = net.extra.get("video_processor")
    if cached is None:
        cached = net.extra["video_processor"] = Sam3VideoProcessor(
            image_processor=net.image_processor,
            video_processor=video_processor(net.side),
            tokenizer=net.tokenizer,
        )
    return cached


def prune(session: Any, frame: int, video: Any) -> None:
    """Drop from ``session`` what no frame after ``frame`` reads (module docstring)."""
    cfg = video.tracker_model.config
    mem = int(cfg.num_maskmem)
    ptrs = int(cfg.max_object_pointers_in_encoder)
    recent = int(cfg.max_cond_frame_num)
    nxt = frame + 1
    oldest_read = nxt - max(mem - 1, ptrs - 1, 1)  # non-conditioning outputs still read
    oldest_mem = nxt - (mem - 1)  # frames whose memory features may still be read
    session.processed_frames.pop(frame, None)
    for obj, outputs in session.output_dict_per_obj.items():
        non_cond = outputs["non_cond_frame_outputs"]
        for t in [t for t in non_cond if t < oldest_read]:
            del non_cond[t]
        cond = outputs["cond_frame_outputs"]
        newest = sorted(cond)[-recent:] if recent > 0 else list(cond)
        for t, out in cond.items():
            if t < oldest_mem and t not in newest and len(out) > 1:
                cond[t] = {"object_pointer": out["object_pointer"]}
        for table in (
            session.frames_tracked_per_obj,
            session.mask_inputs_per_obj,
            session.point_inputs_per_obj,
        ):
            entries = table.get(obj)
            if entries:
                for t in [t for t in entries if t <= frame]:
                    del entries[t]
    for table in (session.obj_id_to_tracker_score_frame_wise, session.suppressed_obj_ids):
        for t in [t for t in table if t < frame]:
            del table[t]
    keep = max(int(video.hotstart_unmatch_thresh), int(video.hotstart_dup_thresh), 1)
    for lists in (session.unmatched_frame_inds, session.overlap_pair_to_frame_inds):
        for key, frames in lists.items():
            if len(frames) > keep:
                lists[key] = frames[-keep:]


def _exemplar_hook(model: Sam3ZooModel, prompts: ConceptPrompts, prompt_frame: int) -> Any:
    """``run_detection`` with exemplar boxes on the prompt frame (transformers' video model
    takes text only); exemplar-only concepts detect nothing on other frames (their objects
    are tracked from the prompt frame). Without exemplars, transformers' own method."""
    from transformers.models.sam3_video.modeling_sam3_video import nms_masks

    video = model.net.video
    original = type(video).run_detection
    boxes = {
        k: model._exemplar_tensors(prompts, k, model.net.extra["video_hw"])
        for k in range(len(prompts.concepts))
    }
    only_boxes = {
        k
        for k in range(len(prompts.concepts))
        if prompts.concepts[k] == "visual" and boxes[k][0] is not None
    }

    def run_detection(
        inference_session: Any, vision_embeds: Any
    ) -> dict[int, dict[str, torch.Tensor]]:
        frame = model.net.extra["video_frame"]
        if not prompts.exemplars or (frame != prompt_frame and not only_boxes):
            return original(video, inference_session, vision_embeds)
        out = {}
        for prompt_id, k in model.net.extra["video_prompt_ids"].items():
            input_boxes, labels = boxes[k] if frame == prompt_frame else (None, None)
            device = vision_embeds.fpn_hidden_states[0].device
            if frame != prompt_frame and k in only_boxes:
                side = video.low_res_mask_size
                out[prompt_id] = {
                    "bbox": torch.zeros(0, 4, device=device),
                    "mask": torch.zeros(0, side, side, device=device),
                    "scores": torch.zeros(0, device=device),
                }
                continue
            text, mask = model.encode_text(prompts.concepts[k])
            det = video.detector_model(
                vision_embeds=vision_embeds,
                text_embeds=text,
                attention_mask=mask,
                input_boxes=input_boxes,
                input_boxes_labels=labels,
            )
            probs = det.pred_logits.sigmoid() * det.presence_logits.sigmoid()
            if video.det_nms_thresh > 0.0:
                keep = nms_masks(
                    pred_probs=probs[0],
                    pred_masks=det.pred_masks[0],
                    prob_threshold=video.score_threshold_detection,
                    iou_threshold=video.det_nms_thresh,
                )
                probs[0][~keep] = 0.0
            pos = torch.where(probs > video.score_threshold_detection)
            out[prompt_id] = {
                "bbox": det.pred_boxes[pos[0], pos[1]],
                "mask": det.pred_masks[pos[0], pos[1]],
                "scores": probs[pos[0], pos[1]],
            }
        return out

    return run_detection


def _frame_result(
    model: Sam3ZooModel,
    session: Any,
    out: Any,
    prompts: ConceptPrompts,
    index: int,
    name: str,
    hw: tuple[int, int],
    provenance: Any,
) -> ConceptFrameResult:
    post = postprocessor(model).postprocess_outputs(session, out, original_sizes=[list(hw)])
    ids = [int(i) for i in post["object_ids"].tolist()]
    masks = post["masks"].cpu().numpy().astype(bool)
    boxes = post["boxes"].float().cpu().numpy()
    scores = post["scores"].float().cpu().numpy()
    texts = {v: k for k, v in model.net.extra["video_prompt_ids"].items()}
    concept_of = {oid: texts[session.obj_id_to_prompt_id[oid]] for oid in ids}
    return ConceptFrameResult(
        frame_index=index,
        frame_name=name,
        concepts=prompts.concepts,
        masks={oid: masks[i] for i, oid in enumerate(ids)},
        scores={oid: float(scores[i]) for i, oid in enumerate(ids)},
        boxes={oid: tuple(float(v) for v in boxes[i]) for i, oid in enumerate(ids)},  # type: ignore[misc]
        concept_ids=concept_of,
        image_size=hw,
        provenance=provenance,
    )


def _empty(
    prompts: ConceptPrompts, index: int, name: str, hw: tuple[int, int], provenance: Any
) -> ConceptFrameResult:
    return ConceptFrameResult(
        frame_index=index,
        frame_name=name,
        concepts=prompts.concepts,
        masks={},
        image_size=hw,
        provenance=provenance,
    )


def track_concepts(
    model: Sam3ZooModel,
    frames: Any,
    concepts: Any = None,
    exemplars: Any = None,
    *,
    prompt_frame: int = 0,
) -> Iterator[ConceptFrameResult]:
    """See :meth:`zoo_sam3.model.Sam3ZooModel.track_concepts`."""
    prompts = as_concept_prompts(concepts, exemplars)
    for c in prompts.concepts:
        model.text_tokens(c)
    source = open_frames(frames)
    total = len(source)
    if total == 0:
        raise InputError("the video has no frames; give a frame folder or a video with frames")
    if not 0 <= int(prompt_frame) < total:
        raise InputError(
            f"prompt_frame {prompt_frame} is outside the video's {total} frames (0..{total - 1})"
        )
    hw = source.size
    prompts, _ = prompts.fit(*hw)  # exemplars crossing the edge are clipped to it
    return _track(model, source, prompts, int(prompt_frame), total, hw)


def _track(
    model: Sam3ZooModel,
    source: Any,
    prompts: ConceptPrompts,
    prompt_frame: int,
    total: int,
    hw: tuple[int, int],
) -> Iterator[ConceptFrameResult]:
    net = model.net
    video = net.video
    names = source.names
    provenance = model.provenance(Task.CONCEPT_VIDEO)
    device = model._device
    session = _session_class()(
        total,
        video_height=hw[0],
        video_width=hw[1],
        inference_device=device,
        inference_state_device=device,
        video_storage_device=device,
        dtype=torch.float32,
    )
    prompt_ids = {}
    for k, text in enumerate(prompts.concepts):
        pid = session.add_prompt(text)
        prompt_ids[pid] = k
        ids, mask = model.text_tokens(text)
        session.prompt_input_ids[pid] = ids
        session.prompt_attention_masks[pid] = mask
        session.prompt_embeddings[pid] = model.encode_text(text)[0]
    net.extra.update(video_prompt_ids=prompt_ids, video_hw=hw, video_frame=-1)
    frames_in = video_processor(net.side)
    hook = _exemplar_hook(model, prompts, prompt_frame)
    setattr(video, "run_detection", hook)  # noqa: B010 - this call's exemplars; removed in `finally`
    buffer: list[tuple[int, Any]] = []
    delay = int(video.hotstart_delay)
    try:
        for index, frame in source:
            name = names[index] if index < len(names) else f"{index:05d}"
            if index < prompt_frame:
                yield _empty(prompts, index, name, hw, provenance)
                continue
            pixels = frames_in(videos=[frame[None]], return_tensors="pt").pixel_values_videos[0, 0]
            session.add_new_frame(pixels, index)
            net.extra["video_frame"] = index
            with torch.inference_mode():
                out = video(inference_session=session, frame_idx=index)
            prune(session, index, video)
            model.stats["video_frames"] += 1
            if delay > 0:
                buffer.append((index, out))
                session.hotstart_removed_obj_ids.update(out.removed_obj_ids)
                if index == total - 1:
                    ready, buffer = buffer, []
                elif len(buffer) >= delay:
                    ready, buffer = buffer[:1], buffer[1:]
                else:
                    ready = []
            else:
                ready = [(index, out)]
            for i, o in ready:
                n = names[i] if i < len(names) else f"{i:05d}"
                yield _frame_result(model, session, o, prompts, i, n, hw, provenance)
        for i, o in buffer:  # a source shorter than it said: flush what is left
            n = names[i] if i < len(names) else f"{i:05d}"
            yield _frame_result(model, session, o, prompts, i, n, hw, provenance)
    finally:
        video.__dict__.pop("run_detection", None)
        for key in ("video_prompt_ids", "video_hw", "video_frame"):
            net.extra.pop(key, None)
        del session
