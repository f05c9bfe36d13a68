"""What each endpoint does, without HTTP: uploads in, task results out as JSON-safe dicts.

Everything here is blocking (decoding, torch) and is called from a thread pool, never on
the event loop. Models are used only through the task interfaces of :mod:`zoo.tasks`
(``segment``, ``segment_amodal``, ``segment_shadows``, ``segment_rgbd``, ``track``,
``segment_everything``) and results only through :mod:`zoo.results` (``to_coco``,
``overlay``, ``to_dict``), so a family works here as soon as it implements its task.

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

from zoo.errors import ZooError
from zoo.serve import uploads
from zoo.serve.cache import LRUCache
from zoo.serve.config import ServeConfig
from zoo.serve.errors import ApiError
from zoo.serve.pool import ModelPool, Slot
from zoo.specs import Task

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
            n, h, w = uploads.open_video_file(  # decoded lazily: the cache bound is not at stake
                path,
                max_pixels=self.config.max_pixels,
                max_frames=self.config.max_video_frames,
                max_video_pixels=self.config.max_video_pixels,
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
        budget, flag = self.config.video_pixel_budget()
        frames = uploads.decode_frames(
            [d for d, _ in files],
            max_pixels=self.config.max_pixels,
            max_frames=self.config.max_video_frames,
            max_video_pixels=budget,
            budget_flag=flag,
        )
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
    def slot(self, name: str, task: Task, method: str) -> Slot:
        slot = self.pool.get(name)
        if task not in slot.tasks or not slot.supports(method):
            does = ", ".join(t.value for t in slot.tasks) or "no task"
            raise ApiError(
                400,
                "unsupported_task",
                f"{slot.key} does not do {task.value} (it does {does}); pick a model whose "
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
            "task": result.task.value,
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

    def _call(self, fn: Any, *args: Any, options: dict[str, Any], **kwargs: Any) -> Any:
        """Run a task method; with client options, a ``TypeError``/``ValueError`` is theirs."""
        try:
            return fn(*args, **kwargs, **options)
        except ZooError:
            raise
        except (TypeError, ValueError) as exc:
            if not options:
                raise
            raise ApiError(
                400,
                "bad_option",
                f"{getattr(fn, '__name__', 'the model')} rejected the "
                f"options {sorted(options)}: {exc}",
            ) from None

    # ------------------------------------------------------------------ tasks
    def segment(
        self,
        model: str,
        image_id: str,
        prompts: Any,
        *,
        multimask: bool = False,
        overlay: bool = False,
        lossless: bool = False,
    ) -> dict[str, Any]:
        from zoo.prompts import Prompts

        self._count("segment_requests")
        image = self.image(image_id)
        slot = self.slot(model, Task.PROMPTABLE, "segment")
        parsed = Prompts.from_json(prompts)
        parsed.check_inside(image.height, image.width)
        t0 = time.perf_counter()
        with slot.lock:
            t1 = time.perf_counter()
            embedding = self._ensure_image(slot, image)
            t2 = time.perf_counter()
            result = slot.model.segment(None, parsed, multimask=multimask)
            t3 = time.perf_counter()
        out = self._payload(
            slot,
            image,
            result,
            overlay=overlay,
            lossless=lossless,
            timing={"wait": (t1 - t0) * 1e3, "embed": (t2 - t1) * 1e3, "decode": (t3 - t2) * 1e3},
        )
        out["embedding"] = embedding
        out["scores"] = [float(s) for s in result.scores]
        out["prompts"] = parsed.to_json()
        return out

    def everything(
        self, model: str, image_id: str, options: dict[str, Any], *, overlay: bool = False
    ) -> dict[str, Any]:
        image = self.image(image_id)
        slot = self.pool.get(model)
        method = getattr(slot.model, "segment_everything", None)
        if not callable(method):
            raise ApiError(
                400,
                "unsupported_task",
                f"{slot.key} has no automatic mask generation (segment_everything); use a "
                "model whose /v1/models row lists /v1/everything",
            )
        check_call_options(method, options, ("image",))
        with slot.lock:
            if slot.supports("set_image"):
                self._ensure_image(slot, image)
            result = self._call(method, image.pixels, options=options)
        return self._payload(slot, image, result, overlay=overlay)

    def amodal(
        self,
        model: str,
        image_id: str,
        boxes: Any,
        options: dict[str, Any],
        *,
        overlay: bool = False,
        lossless: bool = False,
    ) -> dict[str, Any]:
        image = self.image(image_id)
        slot = self.slot(model, Task.AMODAL, "segment_amodal")
        check_call_options(slot.model.segment_amodal, options, ("image", "boxes"))
        arr = np.asarray(boxes, dtype=np.float64)
        with slot.lock:
            if slot.supports("set_image"):
                self._ensure_image(slot, image)
            result = self._call(slot.model.segment_amodal, image.pixels, arr, options=options)
        return self._payload(slot, image, result, overlay=overlay, lossless=lossless)

    def shadows(
        self,
        model: str,
        image_id: str,
        instances: Any,
        options: dict[str, Any],
        *,
        overlay: bool = False,
        lossless: bool = False,
    ) -> dict[str, Any]:
        image = self.image(image_id)
        slot = self.slot(model, Task.SHADOW, "segment_shadows")
        check_call_options(slot.model.segment_shadows, options, ("image", "prompts", "instances"))
        parsed = shadow_prompts(instances)
        for inst in parsed:
            for side in (inst.object, inst.shadow):
                if side is not None:
                    side.check_inside(image.height, image.width)
        with slot.lock:
            if slot.supports("set_image"):
                self._ensure_image(slot, image)
            result = self._call(slot.model.segment_shadows, image.pixels, parsed, options=options)
        return self._payload(slot, image, result, overlay=overlay, lossless=lossless)

    def rgbd(
        self,
        model: str,
        image_id: str,
        depth_id: str,
        intrinsics: Any,
        vocabulary: Any,
        options: dict[str, Any],
        *,
        overlay: bool = False,
        lossless: bool = False,
    ) -> dict[str, Any]:
        image = self.image(image_id)
        depth = self.depth(depth_id)
        slot = self.slot(model, Task.RGBD, "segment_rgbd")
        fixed = ("image", "depth", "intrinsics", "vocabulary")
        check_call_options(slot.model.segment_rgbd, options, fixed)
        k = None if intrinsics is None else tuple(float(v) for v in intrinsics)
        with slot.lock:
            result = self._call(
                slot.model.segment_rgbd, image.pixels, depth, k, vocabulary, options=options
            )
        return self._payload(slot, image, result, overlay=overlay, lossless=lossless)

    def track(
        self,
        model: str,
        video_id: str,
        prompts: Any,
        prompt_frame: int,
        options: dict[str, Any],
    ) -> Generator[dict[str, Any], None, None]:
        """Validate now, then return a generator of per-frame events (runs the tracker).

        The generator holds the model's lock from its first ``next`` to its close, so the
        caller must close it (the route does, also when the client goes away).
        """
        from zoo.prompts import Prompts

        video = self.video(video_id)
        slot = self.slot(model, Task.VIDEO, "track")
        check_call_options(slot.model.track, options, ("frames", "prompts", "prompt_frame"))
        parsed = Prompts.from_json(prompts)
        parsed.check_inside(video.height, video.width)
        if not 0 <= prompt_frame < video.count:
            raise ApiError(
                400,
                "bad_input",
                f"prompt_frame {prompt_frame} is outside the video's {video.count} frames "
                f"(0-{video.count - 1})",
            )
        frames: Any = str(video.frames) if isinstance(video.frames, Path) else video.frames
        return self._track_events(slot, video, frames, parsed, prompt_frame, options)

    def _track_events(
        self,
        slot: Slot,
        video: StoredVideo,
        frames: Any,
        prompts: Any,
        prompt_frame: int,
        options: dict[str, Any],
    ) -> Generator[dict[str, Any], None, None]:
        with slot.lock:
            slot.current_image = None  # the tracker may use the model's image state
            stream = self._call(
                slot.model.track, frames, prompts, prompt_frame=prompt_frame, options=options
            )
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


def shadow_prompts(instances: Sequence[dict[str, Any]]) -> list[Any]:
    """``[{"object": {...}, "shadow": {...}}]`` with each side read by ``Prompts.from_json``
    (so mask prompts may be RLE, and messages match the CLI's)."""
    from zoo.errors import InputError
    from zoo.prompts import Prompts, ShadowPrompt

    out = []
    for i, inst in enumerate(instances):
        sides = {}
        for role in ("object", "shadow"):
            if inst.get(role) is not None:
                try:
                    sides[role] = Prompts.from_json([inst[role]]).objects[0]
                except InputError as exc:
                    raise InputError(f"instance {i} {role}: {exc}") from None
        if not sides:
            raise InputError(f"instance {i} needs an object prompt, a shadow prompt, or both")
        out.append(ShadowPrompt(**sides))
    return out


def _safe_name(name: str | None) -> str | None:
    """A client's file name, reduced to a display label (never used as a path)."""
    if not name:
        return None
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = "".join(c for c in base if c.isprintable())[:200]
    return cleaned or None
