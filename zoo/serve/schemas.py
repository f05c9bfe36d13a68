"""Bodies of the ``/v1`` API that are not a task's (uploads, errors); each task's request
and answer models live with the task (:attr:`zoo.tasks.TaskSpec.request`,
:attr:`~zoo.tasks.TaskSpec.response_model`), so a registered task is documented in
``/docs`` like a built-in one."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class PathRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: str = Field(description="a file inside the server's --allow-paths folder")


# ---------------------------------------------------------------------------- responses


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
