"""``concept-video``: find every instance of each concept in a video and track it.

The concepts are given once (``--text "dog;red car"``, exemplar boxes on frame ``--frame
K``); the model method is ``track_concepts(frames, concepts, exemplars, *, prompt_frame)``
and yields one :class:`~zoo.results.ConceptFrameResult` per frame (object id, mask, box,
score and concept of every track). Outputs are written as the video task writes them
(:class:`~zoo.tasks.video.VideoTask`: frame by frame, palette PNGs, COCO with one category
per concept, ``results.jsonl``, overlays), so a long video never holds all its masks.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from zoo.errors import InputError
from zoo.options import Options, option
from zoo.prompts import MAX_EXEMPLARS

from .concept import (
    ConceptPromptOptions,
    ConceptText,
    ExemplarJSON,
    concept_categories,
    concepts_from_options,
    concepts_from_row,
    refuse_object_prompts,
)
from .spec import RunInputs, TaskInputs
from .video import VideoTask

#: A prompt frame beyond this is more likely a typo than a video (the server's uploads
#: are bounded by --max-video-frames anyway).
MAX_FRAME = 1_000_000


class ConceptVideoOptions(ConceptPromptOptions):
    frame: int = option(
        0,
        help="index of the frame the exemplar boxes are drawn on; concepts are searched "
        "from it on (0 = first)",
        ge=0,
        le=MAX_FRAME,
        commands=("run",),
        aliases=("prompt_frame",),
    )


class ConceptTrackRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str
    concepts: list[ConceptText] = Field(default_factory=list, max_length=32)
    exemplars: list[ExemplarJSON] = Field(default_factory=list, max_length=MAX_EXEMPLARS)
    prompt_frame: int = Field(default=0, ge=0, le=MAX_FRAME, description="the exemplars' frame")
    options: dict[str, Any] = Field(default_factory=dict)


class ConceptVideoTask(VideoTask):
    name = "concept-video"
    method = "track_concepts"
    summary = "find and track every instance of each concept through a video"
    result = "zoo.results:ConceptFrameResult"
    options = ConceptVideoOptions
    route = "videos/{video_id}/concepts"
    request = ConceptTrackRequest
    signals = ("text", "exemplar_boxes")
    columns: ClassVar[dict[str, str]] = {}

    def _start(self, inputs: TaskInputs, prompts: Any, frame: int, count: int) -> TaskInputs:
        if not 0 <= frame < count:
            raise InputError(
                f"frame {frame} is outside the video's {count} frames (0..{count - 1}); give "
                "the index of the frame the exemplar boxes are drawn on"
            )
        h, w = inputs.size
        fitted, notes = prompts.fit(h, w)
        inputs.args = [fitted]
        inputs.kwargs["prompt_frame"] = frame
        inputs.meta["concepts"] = list(fitted.concepts)
        inputs.notes += notes
        return inputs

    def from_cli(self, run: RunInputs, options: Options) -> TaskInputs:
        from zoo.io.frames import open_frames

        if run.video is None:
            raise InputError(
                "the concept-video task needs --video DIR|FILE.mp4 (for a photo: --image)"
            )
        for flag in ("image", "depth"):
            if getattr(run, flag) is not None:
                raise InputError(
                    f"the concept-video task reads a video: pass --video, not --{flag}"
                )
        refuse_object_prompts(run, self.name)
        prompts = concepts_from_options(options)
        source = open_frames(Path(run.video))
        inputs = TaskInputs(frames=source, size=(int(source.size[0]), int(source.size[1])))
        inputs.meta.update(video=str(run.video), frame_count=len(source))
        return self._start(inputs, prompts, int(getattr(options, "frame", 0) or 0), len(source))

    def from_row(
        self, row: Mapping[str, Any], image: Any, location: str, options: Options
    ) -> TaskInputs:
        from zoo.io.frames import open_frames

        if any(row.get(k) is not None for k in ("prompts", "boxes", "points")):
            raise InputError("the concept-video task takes text and exemplars, not boxes/points")
        prompts = concepts_from_row(row, options)
        if prompts is None:
            raise InputError("no concept for this video; give it a text column or --text")
        source = open_frames(Path(location))
        inputs = TaskInputs(frames=location, size=(int(source.size[0]), int(source.size[1])))
        return self._start(inputs, prompts, int(row.get("prompt_frame") or 0), len(source))

    def from_request(
        self, request: Any, store: Any, path: Mapping[str, str] | None = None
    ) -> TaskInputs:
        from zoo.prompts import as_concept_prompts

        video = store.video((path or {})["video_id"])
        frames: Any = str(video.frames) if isinstance(video.frames, Path) else video.frames
        inputs = TaskInputs(frames=frames, size=(video.height, video.width))
        inputs.meta["video_id"] = video.video_id
        prompts = as_concept_prompts(
            list(request.concepts) or None,
            [e.model_dump(exclude_none=True) for e in request.exemplars] or None,
        )
        return self._start(inputs, prompts, request.prompt_frame, video.count)

    def categories(self, options: Options) -> list[dict[str, Any]] | None:
        return concept_categories(options)

    def prompt_record(self, inputs: TaskInputs) -> dict[str, Any]:
        return {"prompts": inputs.args[0].to_json()}

    def report(self, results: list[Any], inputs: TaskInputs) -> dict[str, Any]:
        m = inputs.meta
        return {
            "frames": m.get("frames"),
            "concepts": m.get("concepts"),
            "tracks": m.get("tracks"),
            "frames_per_s": m.get("frames_per_s"),
        }

    # ------------------------------------------------------------------ conformance
    def samples(self, height: int, width: int) -> list[TaskInputs]:
        from zoo.prompts import as_concept_prompts
        from zoo.testing.synthetic import synthetic_image

        frames = [synthetic_image(height, width, seed=s) for s in range(3)]
        inputs = TaskInputs(frames=frames, size=(height, width))
        return [self._start(inputs, as_concept_prompts("object"), 0, len(frames))]

    def check(self, results: list[Any], inputs: TaskInputs) -> None:
        import numpy as np

        rtype = self.result_type()
        assert len(results) == len(inputs.frames), "one result per frame"
        concepts = inputs.args[0].concepts
        for i, fr in enumerate(results):
            assert isinstance(fr, rtype), f"concept-video must yield {rtype.__name__}"
            assert fr.frame_index == i, "frames in order"
            assert tuple(fr.image_size) == tuple(inputs.size)
            assert fr.concepts == concepts, "the frame's categories are the concepts"
            for oid, m in fr.masks.items():
                assert m.dtype == np.bool_ and m.shape == tuple(inputs.size)
                assert 0 <= fr.concept_ids[oid] < len(concepts)

    def bad_calls(self, model: Any, height: int, width: int) -> list[tuple[str, Callable[[], Any]]]:
        from zoo.testing.synthetic import synthetic_image

        frames = [synthetic_image(height, width, seed=s) for s in range(2)]
        return [
            ("no frames", lambda: list(model.track_concepts([], "dog"))),
            ("no concept", lambda: list(model.track_concepts(frames, None))),
            (
                "prompt frame past the end",
                lambda: list(model.track_concepts(frames, "dog", prompt_frame=5)),
            ),
        ]
