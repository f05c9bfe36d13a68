"""The HTTP endpoints: thin wrappers that move blocking work off the event loop.

Every handler validates its body (pydantic), then runs the :class:`~.service.Service`
method in the thread pool, so a 2-second encoder pass never stalls other clients' clicks
or ``/healthz``. The video track streams server-sent events as frames are decided.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, Security, UploadFile
from fastapi.responses import StreamingResponse
from fastapi.security import HTTPBearer
from starlette.concurrency import run_in_threadpool

from zoo.serve.errors import ApiError, body, from_zoo_error
from zoo.serve.schemas import (
    ERRORS,
    AmodalRequest,
    DepthInfo,
    EverythingRequest,
    ImageInfo,
    RGBDRequest,
    SegmentRequest,
    SegmentResponse,
    ShadowRequest,
    TaskResponse,
    TrackRequest,
    VideoInfo,
)
from zoo.serve.service import Service

_END = object()


def _service(request: Request) -> Service:
    return request.app.state.service  # type: ignore[no-any-return]


async def _read(upload: UploadFile, limit: int) -> bytes:
    """An upload's bytes, refusing to read past the limit."""
    data = await upload.read(limit + 1)
    if len(data) > limit:
        raise ApiError(
            413,
            "too_large",
            f"the file is over {limit / 1e6:.3g} MB, this server's limit (--max-upload-mb)",
        )
    return data


def build_router() -> APIRouter:
    # The token is enforced by GuardMiddleware before any body is read; this no-op security
    # dependency only declares it in the OpenAPI schema, so /docs offers "Authorize".
    bearer = HTTPBearer(auto_error=False, description="the server's --token")
    api = APIRouter(prefix="/v1", responses=ERRORS, dependencies=[Security(bearer)])

    @api.get("/models", summary="Every model served (the rows of `zoo list --json`)")
    async def models(request: Request) -> list[dict[str, Any]]:
        return await run_in_threadpool(_service(request).pool.rows)

    @api.get("/models/{name}", summary="A model's card (what `zoo info --json` prints)")
    async def model_card(request: Request, name: str) -> dict[str, Any]:
        return await run_in_threadpool(_service(request).pool.card, name)

    @api.post(
        "/images",
        response_model=ImageInfo,
        summary="Upload an image (form field 'file'), or name one with 'path'",
    )
    async def images(
        request: Request,
        file: Annotated[UploadFile | None, File(description="the image bytes")] = None,
        path: Annotated[
            str | None, Form(description="a file inside --allow-paths (off by default)")
        ] = None,
    ) -> dict[str, Any]:
        svc = _service(request)
        if (file is None) == (path is None):
            raise ApiError(
                400,
                "bad_request",
                "send exactly one of the form fields 'file' (the image) or 'path'",
            )
        if path is not None:
            return await run_in_threadpool(svc.add_image_path, path)
        assert file is not None
        data = await _read(file, svc.config.max_upload_bytes)
        return await run_in_threadpool(svc.add_image, data, file.filename)

    @api.post("/depth", response_model=DepthInfo, summary="Upload a depth map (for /v1/rgbd)")
    async def depth(
        request: Request,
        file: Annotated[UploadFile, File(description="16-bit PNG in mm, float TIFF or .npy")],
    ) -> dict[str, Any]:
        svc = _service(request)
        data = await _read(file, svc.config.max_upload_bytes)
        return await run_in_threadpool(svc.add_depth, data)

    @api.post(
        "/videos",
        response_model=VideoInfo,
        summary="Upload a video (field 'file') or its frames in order (fields 'frames')",
    )
    async def videos(
        request: Request,
        file: Annotated[UploadFile | None, File(description="an MP4/MKV/WebM/AVI")] = None,
        frames: Annotated[
            list[UploadFile] | None, File(description="frame images, in order")
        ] = None,
    ) -> dict[str, Any]:
        svc = _service(request)
        limit = svc.config.max_upload_bytes
        if (file is None) == (not frames):
            raise ApiError(400, "bad_request", "send either the field 'file' (a video) or 'frames'")
        if file is not None:
            return await run_in_threadpool(svc.add_video, await _read(file, limit))
        assert frames is not None
        items = [(await _read(f, limit), f.filename) for f in frames]
        return await run_in_threadpool(svc.add_frames, items)

    @api.post(
        "/segment",
        response_model=SegmentResponse,
        response_model_exclude_none=True,
        summary="Masks for boxes/clicks/masks on an uploaded image (promptable models)",
    )
    async def segment(request: Request, req: SegmentRequest) -> dict[str, Any]:
        prompts = [p.model_dump(exclude_none=True) for p in req.prompts]
        return await run_in_threadpool(
            _service(request).segment,
            req.model,
            req.image_id,
            prompts,
            multimask=req.multimask,
            overlay=req.overlay,
            lossless=req.lossless,
        )

    @api.post(
        "/everything",
        response_model=TaskResponse,
        response_model_exclude_none=True,
        summary="Automatic masks for the whole image (models with segment_everything)",
    )
    async def everything(request: Request, req: EverythingRequest) -> dict[str, Any]:
        return await run_in_threadpool(
            _service(request).everything,
            req.model,
            req.image_id,
            dict(req.options),
            overlay=req.overlay,
        )

    @api.post(
        "/amodal",
        response_model=TaskResponse,
        response_model_exclude_none=True,
        summary="Whole-object (amodal) masks for boxes",
    )
    async def amodal(request: Request, req: AmodalRequest) -> dict[str, Any]:
        return await run_in_threadpool(
            _service(request).amodal,
            req.model,
            req.image_id,
            [list(b) for b in req.boxes],
            dict(req.options),
            overlay=req.overlay,
            lossless=req.lossless,
        )

    @api.post(
        "/shadows",
        response_model=TaskResponse,
        response_model_exclude_none=True,
        summary="Objects and their shadows, paired",
    )
    async def shadows(request: Request, req: ShadowRequest) -> dict[str, Any]:
        instances = [i.model_dump(exclude_none=True) for i in req.instances]
        return await run_in_threadpool(
            _service(request).shadows,
            req.model,
            req.image_id,
            instances,
            dict(req.options),
            overlay=req.overlay,
            lossless=req.lossless,
        )

    @api.post(
        "/rgbd",
        response_model=TaskResponse,
        response_model_exclude_none=True,
        summary="Labelled masks of an RGB-D frame (image + uploaded depth)",
    )
    async def rgbd(request: Request, req: RGBDRequest) -> dict[str, Any]:
        return await run_in_threadpool(
            _service(request).rgbd,
            req.model,
            req.image_id,
            req.depth_id,
            req.intrinsics,
            req.vocabulary,
            dict(req.options),
            overlay=req.overlay,
            lossless=req.lossless,
        )

    @api.post(
        "/videos/{video_id}/track",
        summary="Track prompted objects; per-frame masks stream back as server-sent events",
        response_class=StreamingResponse,
        responses={200: {"content": {"text/event-stream": {}}}},
    )
    async def track(request: Request, video_id: str, req: TrackRequest) -> StreamingResponse:
        svc = _service(request)
        prompts = [p.model_dump(exclude_none=True) for p in req.prompts]
        gen = await run_in_threadpool(
            svc.track, req.model, video_id, prompts, req.prompt_frame, dict(req.options)
        )
        # The first frame is decided before answering: a bad prompt is then a plain 4xx.
        try:
            first = await run_in_threadpool(next, gen, _END)
        except BaseException:
            await run_in_threadpool(gen.close)
            raise
        return StreamingResponse(
            _events(gen, first),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    return api


def _sse(event: str, data: Any) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


async def _events(gen: Any, first: Any) -> AsyncIterator[bytes]:
    """``frame`` events, then ``done`` (or one ``error`` event); closes the tracker always."""
    item = first
    try:
        while item is not _END:
            if item.get("done"):
                yield _sse("done", item)
            else:
                yield _sse("frame", item)
            try:
                item = await run_in_threadpool(next, gen, _END)
            except ApiError as exc:
                yield _sse("error", body(exc.code, exc.message))
                return
            except Exception as exc:
                from zoo.errors import ZooError

                if isinstance(exc, ZooError):
                    err = from_zoo_error(exc)
                    yield _sse("error", body(err.code, err.message))
                    return
                import logging

                logging.getLogger("zoo.serve").error("tracking failed", exc_info=exc)
                yield _sse("error", body("internal", "tracking failed; see the server log"))
                return
    finally:
        await run_in_threadpool(gen.close)
