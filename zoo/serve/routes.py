"""The HTTP endpoints: thin wrappers that move blocking work off the event loop.

Uploads have their own routes; every registered task with a ``route`` gets one generic
``POST /v1/<route>`` whose body is the task's own request model (so ``/docs`` shows typed
bodies) and which runs :meth:`~.service.Service.run_task` in the thread pool, so a
2-second encoder pass never stalls other clients' clicks or ``/healthz``. Video tasks
stream server-sent events as frames are decided.
"""

import inspect
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, Security, UploadFile
from fastapi.responses import StreamingResponse
from fastapi.security import HTTPBearer
from starlette.concurrency import run_in_threadpool

from zoo.serve.errors import ApiError, body, from_zoo_error
from zoo.serve.schemas import ERRORS, DepthInfo, ImageInfo, VideoInfo
from zoo.serve.service import Service
from zoo.tasks.spec import TaskSpec

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


def _typed(handler: Any, **annotations: Any) -> Any:
    """Give a handler made in a loop its real parameter types (FastAPI reads them)."""
    sig = inspect.signature(handler)
    params = [
        p.replace(annotation=annotations.get(p.name, p.annotation)) for p in sig.parameters.values()
    ]
    handler.__signature__ = sig.replace(parameters=params)
    return handler


async def _in_time(svc: Service, fn: Any, *args: Any) -> Any:
    """Run ``fn`` in the thread pool within the server's time budget: past it the client gets
    a 503 at once (the model finishes the call and frees its lock on its own)."""
    import asyncio

    budget = svc.config.request_timeout
    try:
        return await asyncio.wait_for(run_in_threadpool(fn, *args), timeout=budget)
    except TimeoutError:
        raise ApiError(
            503,
            "timeout",
            f"the request took more than {budget:g} s (--request-timeout); ask for less "
            "(fewer prompts or points, a smaller grid) or try again",
        ) from None
    except asyncio.CancelledError:  # the server is stopping: answer instead of dying noisily
        raise ApiError(
            503, "shutting_down", "the server is stopping; send the request again later"
        ) from None


def _image_route(api: APIRouter, spec: TaskSpec) -> None:
    async def handler(request: Request, req: Any) -> dict[str, Any]:
        svc = _service(request)
        return await _in_time(svc, svc.run_task, spec, req)  # type: ignore[no-any-return]

    api.post(
        f"/{spec.route}",
        response_model=spec.response_model,
        response_model_exclude_none=True,
        summary=spec.summary[:1].upper() + spec.summary[1:] + f" ({spec.name} task)",
        name=f"task_{spec.name}",
    )(_typed(handler, req=spec.request))


def _video_route(api: APIRouter, spec: TaskSpec) -> None:
    async def handler(request: Request, video_id: str, req: Any) -> StreamingResponse:
        svc = _service(request)
        gen = await run_in_threadpool(svc.track, spec, video_id, req)
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

    api.post(
        f"/{spec.route}",
        summary=spec.summary[:1].upper()
        + spec.summary[1:]
        + "; per-frame masks stream back as server-sent events",
        response_class=StreamingResponse,
        responses={200: {"content": {"text/event-stream": {}}}},
        name=f"task_{spec.name}",
    )(_typed(handler, req=spec.request))


def build_router(tasks: list[TaskSpec] | None = None) -> APIRouter:
    """The ``/v1`` router: uploads, model listing, and one route per task (registered ones
    unless ``tasks`` is given)."""
    # The token is enforced by GuardMiddleware before any body is read; this no-op security
    # dependency only declares it in the OpenAPI schema, so /docs offers "Authorize".
    bearer = HTTPBearer(auto_error=False, description="the server's --token")
    api = APIRouter(prefix="/v1", responses=ERRORS, dependencies=[Security(bearer)])

    @api.get("/models", summary="Every model served (the rows of `zoo list --json`)")
    async def models(request: Request) -> list[dict[str, Any]]:
        return await run_in_threadpool(_service(request).pool.rows)  # type: ignore[no-any-return]

    @api.get("/models/{name}", summary="A model's card (what `zoo info --json` prints)")
    async def model_card(request: Request, name: str) -> dict[str, Any]:
        return await run_in_threadpool(_service(request).pool.card, name)  # type: ignore[no-any-return]

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
            return await run_in_threadpool(svc.add_image_path, path)  # type: ignore[no-any-return]
        assert file is not None
        data = await _read(file, svc.config.max_upload_bytes)
        return await run_in_threadpool(svc.add_image, data, file.filename)  # type: ignore[no-any-return]

    @api.post("/depth", response_model=DepthInfo, summary="Upload a depth map (for /v1/rgbd)")
    async def depth(
        request: Request,
        file: Annotated[UploadFile, File(description="16-bit PNG in mm, float TIFF or .npy")],
    ) -> dict[str, Any]:
        svc = _service(request)
        data = await _read(file, svc.config.max_upload_bytes)
        return await run_in_threadpool(svc.add_depth, data)  # type: ignore[no-any-return]

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
            return await run_in_threadpool(svc.add_video, await _read(file, limit))  # type: ignore[no-any-return]
        assert frames is not None
        items = [(await _read(f, limit), f.filename) for f in frames]
        return await run_in_threadpool(svc.add_frames, items)  # type: ignore[no-any-return]

    if tasks is None:
        from zoo.registry import get_registry

        tasks = list(get_registry().tasks.values())
    for spec in tasks:
        if spec.route is None:
            continue
        if spec.media == "video":
            _video_route(api, spec)
        else:
            _image_route(api, spec)
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
