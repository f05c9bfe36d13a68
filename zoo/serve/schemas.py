"""Request and response bodies of the ``/v1`` API (what ``/docs`` shows).

Prompts are :mod:`zoo.prompts`' own wire schemas (:class:`~zoo.prompts.ObjectPromptJSON`),
validated by the same code as the CLI's ``--prompts`` file; results are the COCO entries of
:meth:`zoo.results.TaskResult.to_coco` (RLE masks, scores, boxes) and, on request, the
lossless :meth:`~zoo.results.TaskResult.to_dict`.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from zoo.prompts import RLEJSON, ObjectPromptJSON, ShadowPromptJSON

#: More objects than this in one request is more likely a mistake (or abuse) than a use.
MAX_OBJECTS = 256

JsonScalar = bool | int | float | str | list[Any] | None


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str = Field(description="a model name as `zoo list` prints it, e.g. sam2:tiny")
    image_id: str = Field(description="what POST /v1/images returned")
    overlay: bool = Field(default=False, description="also return the overlay as a PNG")
    lossless: bool = Field(
        default=False, description="also return the lossless result (to_dict, can be large)"
    )


class SegmentRequest(_Request):
    prompts: list[ObjectPromptJSON] = Field(
        min_length=1, max_length=MAX_OBJECTS, description="one entry per object: one mask each"
    )
    multimask: bool = Field(
        default=False, description="three candidates per prompt, keep the best (single clicks)"
    )


class EverythingRequest(_Request):
    options: dict[str, JsonScalar] = Field(
        default_factory=dict, description="keyword options of the model's segment_everything"
    )


class AmodalRequest(_Request):
    boxes: list[tuple[float, float, float, float]] = Field(
        min_length=1, max_length=MAX_OBJECTS, description="x1, y1, x2, y2 per object"
    )
    options: dict[str, JsonScalar] = Field(default_factory=dict)


class ShadowRequest(_Request):
    instances: list[ShadowPromptJSON] = Field(min_length=1, max_length=MAX_OBJECTS)
    options: dict[str, JsonScalar] = Field(default_factory=dict)


class RGBDRequest(_Request):
    depth_id: str = Field(description="what POST /v1/depth returned")
    intrinsics: tuple[float, float, float, float] | None = Field(
        default=None, description="fx, fy, cx, cy of the depth camera (enables the cloud)"
    )
    vocabulary: list[str] | str | None = Field(
        default=None, description="class names, or a vocabulary name such as scannet20"
    )
    options: dict[str, JsonScalar] = Field(default_factory=dict)


class TrackRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str
    prompts: list[ObjectPromptJSON] = Field(min_length=1, max_length=MAX_OBJECTS)
    prompt_frame: int = Field(default=0, ge=0, description="the frame the prompts are on")
    options: dict[str, JsonScalar] = Field(default_factory=dict)


class PathRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: str = Field(description="a file inside the server's --allow-paths folder")


# ---------------------------------------------------------------------------- responses


class Annotation(BaseModel):
    """One COCO results entry (``loadRes`` format); tasks add keys (object_id, label...)."""

    model_config = ConfigDict(extra="allow")

    image_id: int
    category_id: int
    segmentation: RLEJSON
    score: float
    bbox: list[float]
    area: float


class TaskResponse(BaseModel):
    model_config = ConfigDict(extra="allow")

    model: str
    task: str
    weights: str = Field(description="'random' = test mode: not real predictions")
    test_mode: bool
    width: int
    height: int
    image_id: str | None = None
    annotations: list[Annotation]
    overlay_png: str | None = Field(default=None, description="base64 PNG, when asked")
    result: dict[str, Any] | None = Field(default=None, description="to_dict(), when asked")
    timing_ms: dict[str, float] | None = None


class SegmentResponse(TaskResponse):
    embedding: str = Field(description="computed, cached (restored) or current")
    scores: list[float]
    prompts: list[dict[str, Any]] = Field(description="the prompts as the model read them")


class ImageInfo(BaseModel):
    image_id: str = Field(description="sha256 of the decoded pixels")
    width: int
    height: int
    name: str | None = None
    cached: bool = Field(description="the server already had these pixels")


class DepthInfo(BaseModel):
    depth_id: str
    width: int
    height: int


class VideoInfo(BaseModel):
    video_id: str
    frames: int
    width: int
    height: int
    names: list[str]


class ErrorDetail(BaseModel):
    code: str
    message: str


class ErrorResponse(BaseModel):
    error: ErrorDetail


#: Documented on every route: the one error shape.
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse} for code in (400, 401, 403, 404, 413, 415, 422, 503)
}
