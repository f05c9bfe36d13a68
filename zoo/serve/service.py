"""What each endpoint does, without HTTP: uploads in, task results out as JSON-safe dicts.

Everything here is blocking (decoding, torch) and is called from a thread pool, never on
the event loop. One method serves every image task (:meth:`Service.run_task`: the task's
own request builder, its call, its answer) and one every video task (:meth:`Service.track`),
so a task registered by any plugin is served, and a family works here as soon as it does
its task. Results are answered through :mod:`zoo.results` (``to_coco``, ``overlay``,
``to_dict``).

The embedding cache: a model's current image is set once (``set_image``) and its
:meth:`~zoo.model.ZooModel.image_state` snapshot kept in the LRU; a click on another
cached image restores the snapshot instead of running the encoder again.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import inspect
import io
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

import zoo.serve.uploads as uploads
from zoo.errors import ZooError
from zoo.serve.cache import LRUCache
from zoo.serve.config import ServeConfig
from zoo.serve.errors import ApiError
from zoo.serve.pool import ModelPool, Slot
from zoo.tasks.spec import TaskSpec

#: How many uploaded videos are kept (each may be hundreds of MB of frames).
MAX_VIDEOS = 4


@dataclass(frozen=True)
class StoredImage:
    image_id: str
    pixels: np.ndarray
    name: str | None

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])

    def info(self) -> dict[str, Any]:
        return {
            "image_id": self.image_id,
            "width": self.width,
            "height": self.height,
            "name": self.name,
        }


@dataclass(frozen=True)
class StoredVideo:
    video_id: str
    frames: Path | list[np.ndarray]
    count: int
    height: int
    width: int
    names: list[str] = field(default_factory=list)

    def info(self) -> dict[str, Any]:
        return {
            "video_id": self.video_id,
            "frames": self.count,
            "width": self.width,
            "height": self.height,
            "names": self.names,
        }


def pixel_id(pixels: np.ndarray) -> str:
    """sha256 of the decoded pixels (and their shape): the same photo re-encoded as PNG
    or sent twice gets the same id, hence the same cached embedding."""
    h = hashlib.sha256(f"{pixels.shape}:{pixels.dtype}:".encode())
    h.update(np.ascontiguousarray(pixels).data)
    return h.hexdigest()


def png_base64(image: np.ndarray) -> str:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image)).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def check_call_options(method: Any, options: dict[str, Any], fixed: Sequence[str]) -> None:
    """Client-given keyword options must be keyword parameters the method declares.

    Checked against the signature *before* the call, so a typo is a 400 naming the
    accepted options rather than a ``TypeError`` deep inside a model.
    """
    if not options:
        return
    params = inspect.signature(method).parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    accepted = [
        n
        for n, p in params.items()
        if p.kind in (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
        and n not in fixed
        and not n.startswith("_")
    ]
    name = getattr(method, "__name__", "the model")
    for key, value in options.items():
        if key in fixed or key.startswith("_") or (key not in accepted and not takes_any):
            raise ApiError(
                400,
                "unknown_option",
                f"{name} takes no option {key!r}"
                + (f"; it accepts {', '.join(accepted)}" if accepted else "; it takes none"),
            )
        if not isinstance(value, (bool, int, float, str, list, type(None))):
            raise ApiError(400, "bad_option", f"option {key!r} must be a JSON scalar or list")


class Service:
    """The server's state (pool, cache, temporary files) and one method per endpoint."""

    def __init__(self, config: ServeConfig, pool: ModelPool) -> None:
        self.config = config
        self.pool = pool
        limits = {"image": config.max_images, "depth": config.max_images, "video": MAX_VIDEOS}
        limits["embedding"] = config.max_images
        self.cache = LRUCache(config.max_cache_bytes, limits, on_evict=self._evicted)
        self._tmp = Path(tempfile.mkdtemp(prefix="zoo-serve-"))
        self.counters = {"embeddings_computed": 0, "embeddings_reused": 0, "segment_requests": 0}
        self._counter_lock = threading.Lock()

    def close(self) -> None:
        """Free cached arrays and delete uploaded videos (server shutdown)."""
        self.cache.clear()
        shutil.rmtree(self._tmp, ignore_errors=True)

    def _count(self, key: str) -> None:
        with self._counter_lock:
            self.counters[key] += 1

    def _evicted(self, kind: str, key: Any, value: Any) -> None:
        if kind == "video" and isinstance(value.frames, Path):
            shutil.rmtree(value.frames.parent, ignore_errors=True)

    # ------------------------------------------------------------------ uploads
    def add_image(self, data: bytes, name: str | None = None) -> dict[str, Any]:
        uploads.check_size(len(data), self.config.max_upload_bytes, "image")
        pixels = uploads.decode_image(data, max_pixels=self.config.max_pixels)
        pixels.setflags(write=False)  # shared by every request on this image
        image_id = pixel_id(pixels)
        existing = self.cache.get("image", image_id)
        stored = existing or StoredImage(image_id, pixels, _safe_name(name))
        self.cache.put("image", image_id, stored, pixels.nbytes)
        return {**stored.info(), "name": _safe_name(name), "cached": existing is not None}

    def add_image_path(self, path: str) -> dict[str, Any]:
        from zoo.serve.security import allowed_path

        file = allowed_path(path, self.config.allow_paths)
        size = file.stat().st_size
        uploads.check_size(size, self.config.max_upload_bytes, "image file")
        return self.add_image(file.read_bytes(), file.name)

    def image(self, image_id: str) -> StoredImage:
        stored = self.cache.get("image", image_id)
        if stored is None:
            raise ApiError(
                404,
                "unknown_image",
                f"no image {image_id[:16]}... here (never uploaded, or evicted by "
                "--max-images/--max-cache-mb); upload it again with POST /v1/images",
            )
        return stored  # type: ignore[no-any-return]

    def add_depth(self, data: bytes) -> dict[str, Any]:
        uploads.check_size(len(data), self.config.max_upload_bytes, "depth map")
        arr = uploads.decode_depth(data, max_pixels=self.config.max_pixels)
        arr.setflags(write=False)
        depth_id = pixel_id(arr)
        self.cache.put("depth", depth_id, arr, arr.nbytes)
        return {"depth_id": depth_id, "width": int(arr.shape[1]), "height": int(arr.shape[0])}

    def depth(self, depth_id: str) -> np.ndarray:
        arr = self.cache.get("depth", depth_id)
        if arr is None:
            raise ApiError(
                404, "unknown_depth", "no such depth map here; upload it with POST /v1/depth"
            )
        return arr  # type: ignore[no-any-return]

    def add_video(self, data: bytes) -> dict[str, Any]:
        """A video file, kept on disk (decoded lazily by the tracker) until evicted."""
        uploads.check_size(len(data), self.config.max_upload_bytes, "video")
        suffix = uploads.sniff_video(data)
        if suffix is None:
            raise ApiError(
                415,
                "unsupported_media_type",
                "the video is not an MP4/MOV, MKV/WebM or AVI file (judged by its content); "
                "or send the frames as images in the form field 'frames'",
            )
        video_id = hashlib.sha256(data).hexdigest()
        folder = Path(tempfile.mkdtemp(dir=self._tmp))
        path = folder / f"video{suffix}"
        path.write_bytes(data)
        try:
            n, h, w = uploads.open_video_file(
                path, max_pixels=self.config.max_pixels, max_frames=self.config.max_video_frames
            )
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        stored = StoredVideo(video_id, path, n, h, w, [f"{i:05d}" for i in range(n)])
        self.cache.put("video", video_id, stored, len(data))
        return stored.info()

    def add_frames(self, files: Sequence[tuple[bytes, str | None]]) -> dict[str, Any]:
        """A video sent as frame images (in the order given), kept decoded in memory."""
        total = sum(len(d) for d, _ in files)
        uploads.check_size(total, self.config.max_upload_bytes, "frames")
        if len(files) > self.config.max_video_frames:  # refuse before decoding any
            raise ApiError(
                413,
                "too_many_frames",
                f"{len(files)} frames; this server accepts at most "
                f"{self.config.max_video_frames} (--max-video-frames)",
            )
        frames = [
            uploads.decode_image(d, max_pixels=self.config.max_pixels, what=f"frame {i}")
            for i, (d, _) in enumerate(files)
        ]
        uploads.check_frames(frames, self.config.max_video_frames)
        h = hashlib.sha256()
        for f in frames:
            h.update(pixel_id(f).encode())
        names = [_safe_name(n) or f"{i:05d}" for i, (_, n) in enumerate(files)]
        stored = StoredVideo(
            h.hexdigest(), frames, len(frames), frames[0].shape[0], frames[0].shape[1], names
        )
        self.cache.put("video", stored.video_id, stored, sum(f.nbytes for f in frames))
        return stored.info()

    def video(self, video_id: str) -> StoredVideo:
        stored = self.cache.get("video", video_id)
        if stored is None:
            raise ApiError(
                404, "unknown_video", "no such video here; upload it with POST /v1/videos"
            )
        return stored  # type: ignore[no-any-return]

    # ------------------------------------------------------------------ models
    def slot(self, name: str, spec: TaskSpec) -> Slot:
        slot = self.pool.get(name)
        if not slot.does(spec):
            does = ", ".join(slot.task_names()) or "no task"
            raise ApiError(
                400,
                "unsupported_task",
                f"{slot.key} does not do {spec.name} (it does {does}); pick a model whose "
                "`zoo list` row names that task",
            )
        return slot

    def _ensure_image(self, slot: Slot, image: StoredImage) -> str:
        """Make ``image`` the model's current image; call with ``slot.lock`` held.

        Returns ``"current"`` (nothing to do), ``"cached"`` (snapshot restored: no encoder
        pass) or ``"computed"`` (the encoder ran; its snapshot is cached when the model
        declares :attr:`~zoo.model.ZooModel.image_state_attrs`).
        """
        if slot.current_image == image.image_id:
            return "current"
        model = slot.model
        kind = f"embedding:{slot.key}"
        state = self.cache.get(kind, image.image_id)
        if state is not None:
            model.restore_image_state(state)
            slot.current_image = image.image_id
            self._count("embeddings_reused")
            return "cached"
        slot.current_image = None  # a failing set_image leaves no stale claim behind
        model.set_image(image.pixels)
        self._count("embeddings_computed")
        can_restore = callable(getattr(model, "restore_image_state", None))
        snapshot = model.image_state() if can_restore and hasattr(model, "image_state") else None
        if snapshot is not None:
            # larger than the whole budget: keep serving, just uncached
            with contextlib.suppress(ApiError):
                self.cache.put(kind, image.image_id, snapshot)
        slot.current_image = image.image_id
        return "computed"

    def _payload(
        self,
        slot: Slot,
        image: StoredImage | None,
        result: Any,
        *,
        overlay: bool = False,
        lossless: bool = False,
        timing: dict[str, float] | None = None,
    ) -> dict[str, Any]:
        """The common response: COCO RLE annotations + scores, provenance, optional extras."""
        prov = result.provenance
        h, w = result.image_size
        out: dict[str, Any] = {
            "model": slot.key,
            "task": str(result.task),
            "weights": prov.weights,
            "test_mode": bool(prov.is_random),
            "width": int(w),
            "height": int(h),
            "annotations": result.to_coco(image_id=1),
        }
        if image is not None:
            out["image_id"] = image.image_id
        if overlay and image is not None:
            out["overlay_png"] = png_base64(result.overlay(image.pixels))
        if lossless:
            out["result"] = result.to_dict()
        if timing is not None:
            out["timing_ms"] = {k: round(v, 2) for k, v in timing.items()}
        return out

    def call_options(self, slot: Slot, spec: TaskSpec, raw: dict[str, Any]) -> dict[str, Any]:
        """A request's ``options``, checked against the task's and the family's declared
        options for ``serve`` (a ready-made model object without a family: against its
        method's signature); loader options cannot change a loaded model."""
        from zoo.options import validate_many

        fam = slot.family
        sets = [fam.options, spec.options] if fam is not None else [spec.options]
        loaders = set(fam.options.loader_names()) if fam is not None else set()
        for key in raw:
            if fam is not None and fam.options.lookup(key) in loaders:
                raise ApiError(
                    400,
                    "bad_option",
                    f"option {key!r} sets how {slot.key} is loaded; give it when starting the "
                    f"server (zoo serve {slot.key} --{key.replace('_', '-')} ...)",
                )
        known = {
            n
            for s in sets
            for n in (*s.model_fields, *(a for f in s.model_fields for a in s.aliases_of(f)))
        }
        if fam is None:
            extra = {k: v for k, v in raw.items() if k not in known}
            check_call_options(getattr(slot.model, spec.method), extra, ())
            raw = {k: v for k, v in raw.items() if k in known}
        else:
            extra = {}
        try:
            checked = validate_many(
                sets, raw, command="serve", where=f"POST {spec.path()} {slot.key}"
            )
        except ZooError as exc:
            code = "unknown_option" if "unknown option" in str(exc) else "bad_input"
            raise ApiError(400, code, str(exc)) from None
        call: dict[str, Any] = dict(extra)
        if fam is not None:
            call.update({k: v for k, v in checked[0].given().items() if k not in loaders})
        call.update(spec.call_options(checked[-1]))
        return call

    # ------------------------------------------------------------------ tasks
    def run_task(self, spec: TaskSpec, request: Any) -> dict[str, Any]:
        """``POST /v1/<route>`` for any image task: build the inputs with the task's own
        builder, run it under the model's lock (reusing the image's embedding), answer."""
        if spec.name == "promptable":
            self._count("segment_requests")
        slot = self.slot(request.model, spec)
        image = self.image(request.image_id)
        raw = dict(getattr(request, "options", None) or {})
        for key in ("multimask",):  # request fields that are task options
            if hasattr(request, key) and getattr(request, key):
                raw.setdefault(key, getattr(request, key))
        call = self.call_options(slot, spec, raw)
        inputs = spec.from_request(request, self)
        t0 = time.perf_counter()
        with slot.lock:
            t1 = time.perf_counter()
            embedding = None
            if slot.supports("set_image"):
                embedding = self._ensure_image(slot, image)
                if spec.uses_embedding:
                    inputs.image = None  # the model's current image is this one
            t2 = time.perf_counter()
            results = self._call(lambda: list(spec.call(slot.model, inputs, call)), call)
            t3 = time.perf_counter()
        (result,) = results
        out = self._payload(
            slot,
            image,
            result,
            overlay=bool(getattr(request, "overlay", False)),
            lossless=bool(getattr(request, "lossless", False)),
            timing={"wait": (t1 - t0) * 1e3, "embed": (t2 - t1) * 1e3, "decode": (t3 - t2) * 1e3}
            if spec.uses_embedding
            else None,
        )
        if embedding is not None and spec.uses_embedding:
            out["embedding"] = embedding
        response = getattr(spec, "response", None)
        if callable(response):
            out.update(response(results, inputs))
        return out

    def _call(self, fn: Any, options: dict[str, Any]) -> Any:
        """Run a task; with client options, a ``TypeError``/``ValueError`` is theirs."""
        try:
            return fn()
        except ZooError:
            raise
        except (TypeError, ValueError) as exc:
            if not options:
                raise
            raise ApiError(
                400,
                "bad_option",
                f"the model rejected the options {sorted(options)}: {exc}",
            ) from None

    def track(
        self, spec: TaskSpec, video_id: str, request: Any
    ) -> Generator[dict[str, Any], None, None]:
        """Validate now, then return a generator of per-frame events (runs the tracker).

        The generator holds the model's lock from its first ``next`` to its close, so the
        caller must close it (the route does, also when the client goes away).
        """
        slot = self.slot(request.model, spec)
        call = self.call_options(slot, spec, dict(request.options or {}))
        video = self.video(video_id)
        inputs = spec.from_request(request, self, {"video_id": video_id})
        return self._track_events(slot, spec, video, inputs, call)

    def _track_events(
        self,
        slot: Slot,
        spec: TaskSpec,
        video: StoredVideo,
        inputs: Any,
        call: dict[str, Any],
    ) -> Generator[dict[str, Any], None, None]:
        with slot.lock:
            slot.current_image = None  # the tracker may use the model's image state
            stream = self._call(lambda: spec.call(slot.model, inputs, call), call)
            count = 0
            try:
                for frame in stream:
                    count += 1
                    yield {
                        "model": slot.key,
                        "video_id": video.video_id,
                        "frame_index": int(frame.frame_index),
                        "frame_name": frame.frame_name,
                        "weights": frame.provenance.weights,
                        "test_mode": bool(frame.provenance.is_random),
                        "width": int(frame.image_size[1]),
                        "height": int(frame.image_size[0]),
                        "annotations": frame.to_coco(image_id=1),
                    }
            finally:
                close = getattr(stream, "close", None)
                if callable(close):
                    close()
        yield {"done": True, "frames": count}

    # ------------------------------------------------------------------ status
    def health(self) -> dict[str, Any]:
        from zoo import __version__

        return {
            "status": "ok",
            "version": __version__,
            "models_loaded": {
                k: {"weights": s.weights, "test_mode": s.test_mode}
                for k, s in self.pool.loaded().items()
            },
            "cache": self.cache.stats(),
            "counters": dict(self.counters),
            "pid": os.getpid(),
        }


def _safe_name(name: str | None) -> str | None:
    """A client's file name, reduced to a display label (never used as a path)."""
    if not name:
        return None
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = "".join(c for c in base if c.isprintable())[:200]
    return cleaned or None
