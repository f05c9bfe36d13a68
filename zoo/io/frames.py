"""Lazy frame sources for the ``video`` task: a folder of frames or a video file.

Videos can be long and high-resolution, so nothing here decodes more than the frame being
asked for: iteration reads one frame at a time, and the first frame is decoded only once
(to learn ``size``). Two kinds of source exist:

* a folder of JPEG/PNG frames (the DAVIS / SA-V layout, ``00000.jpg``, ``00001.jpg``...),
  sorted *naturally* so that ``frame2`` comes before ``frame10``;
* a video file (``.mp4 .avi .mov .mkv .webm .m4v``) decoded with PyAV (imported lazily).

Every frame comes out as ``HxWx3 uint8 RGB`` (see :mod:`zoo.io.images`). All frames must
have the size of the first one; the odd frame is reported when it is read, because
checking up front would mean decoding everything before the model starts.
"""

from __future__ import annotations

import os
import re
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Union

import numpy as np

from zoo.errors import InputError, install_hint
from zoo.io.images import load_image, to_rgb_uint8

__all__ = [
    "FRAME_EXTENSIONS",
    "VIDEO_EXTENSIONS",
    "ArrayFrames",
    "FolderFrames",
    "FrameSource",
    "VideoFrames",
    "natural_key",
    "open_frames",
]

FRAME_EXTENSIONS = (".jpg", ".jpeg", ".png")
VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v")
_IMAGE_EXTENSIONS = (*FRAME_EXTENSIONS, ".bmp", ".tif", ".tiff", ".webp", ".gif")

FramesInput = Union[str, "os.PathLike[str]", "FrameSource", np.ndarray, Sequence[np.ndarray]]


def natural_key(name: str) -> tuple[Any, ...]:
    """Sort key that orders embedded numbers by value: ``f2 < f10``, ``00009 < 00010``.

    ``re.split`` with a capturing group alternates text and digit runs, so position ``k``
    of two keys always holds the same type and tuples compare without ``TypeError``.
    The full name is the final tie-breaker (``1.jpg`` vs ``01.jpg``).
    """
    parts = re.split(r"(\d+)", name)
    key = tuple(int(p) if i % 2 else p.lower() for i, p in enumerate(parts))
    return (key, name)


def _convert_hint(path: Path) -> str:
    return f"convert it to a JPEG folder: ffmpeg -i {path} -q:v 2 frames/%05d.jpg"


class FrameSource(ABC):
    """A sized, lazily decoded sequence of ``HxWx3 uint8`` frames.

    ``for index, frame in source`` decodes one frame per step. ``size`` is ``(H, W)`` of
    the first frame; every later frame must match it (:class:`InputError` otherwise).
    ``names`` are stem names for output files (``"00000"`` ...). Sources can be used as
    context managers to release decoders early (:meth:`close`).
    """

    path: Path | None = None
    fps: float | None = None

    def __init__(self) -> None:
        self._size: tuple[int, int] | None = None

    @abstractmethod
    def __len__(self) -> int:
        """Number of frames (see subclasses for how exact it is)."""

    @abstractmethod
    def _iter_frames(self) -> Iterator[np.ndarray]:
        """Yield raw ``HxWx3 uint8`` frames in order, without the size check."""

    @abstractmethod
    def _read(self, index: int) -> np.ndarray:
        """Decode frame ``index`` (already normalised to ``0 <= index < len``)."""

    @property
    @abstractmethod
    def names(self) -> list[str]:
        """Stem names of the frames, used to name per-frame outputs."""

    def _label(self, index: int) -> str:
        return f"frame {index}"

    def _check(self, index: int, frame: np.ndarray) -> np.ndarray:
        h, w = frame.shape[:2]
        if self._size is None:
            if index == 0:
                self._size = (h, w)
                return frame
            first = self.size
        else:
            first = self._size
        if (h, w) != first:
            raise InputError(
                f"{self._label(index)} is {w}x{h} (WxH) but {self._label(0)} is "
                f"{first[1]}x{first[0]}; resize all frames to one size"
            )
        return frame

    @property
    def size(self) -> tuple[int, int]:
        """``(H, W)`` of the first frame (decoded once and cached)."""
        if self._size is None:
            for frame in self._iter_frames():
                self._size = (int(frame.shape[0]), int(frame.shape[1]))
                break
            else:
                raise InputError(f"{self._describe()} has no readable frames; check it")
        return self._size

    def _describe(self) -> str:
        return str(self.path) if self.path is not None else "the frame sequence"

    def __iter__(self) -> Iterator[tuple[int, np.ndarray]]:
        count = 0
        for index, frame in enumerate(self._iter_frames()):
            count += 1
            yield index, self._check(index, frame)
        if count == 0:
            raise InputError(f"{self._describe()} has no readable frames; check it")

    def __getitem__(self, index: int) -> np.ndarray:
        n = len(self)
        if index < 0:
            index += n
        if not 0 <= index < n:
            raise IndexError(f"frame index {index} out of range for {n} frames")
        return self._check(index, self._read(index))

    def close(self) -> None:  # noqa: B027 - optional hook, deliberately not abstract
        """Release any open decoder (no-op for folders and arrays)."""

    def __enter__(self) -> FrameSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._describe()!r}, frames={len(self)})"


class FolderFrames(FrameSource):
    """Frames stored as JPEG/PNG files in one folder; ``len`` is exact, access is random.

    Hidden files (``.DS_Store``, macOS ``._00000.jpg``) are ignored. Two files with the
    same stem (``00000.jpg`` and ``00000.png``) are rejected because their outputs would
    collide.
    """

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        super().__init__()
        self.path = Path(folder)
        if not self.path.is_dir():
            raise InputError(f"frame folder {self.path} does not exist; check the path")
        files = [
            p
            for p in self.path.iterdir()
            if p.suffix.lower() in FRAME_EXTENSIONS and not p.name.startswith(".") and p.is_file()
        ]
        if not files:
            raise InputError(
                f"frame folder {self.path} has no JPEG/PNG frames; put frames named like "
                "00000.jpg in it"
            )
        files.sort(key=lambda p: natural_key(p.name))
        seen: dict[str, Path] = {}
        for p in files:
            if p.stem in seen:
                raise InputError(
                    f"frame folder {self.path} has both {seen[p.stem].name} and {p.name}; "
                    "keep one file per frame"
                )
            seen[p.stem] = p
        self.files: list[Path] = files

    def __len__(self) -> int:
        return len(self.files)

    @property
    def names(self) -> list[str]:
        return [p.stem for p in self.files]

    def _label(self, index: int) -> str:
        return f"frame {self.files[index].name}"

    def _iter_frames(self) -> Iterator[np.ndarray]:
        for p in self.files:
            yield load_image(p)

    def _read(self, index: int) -> np.ndarray:
        return load_image(self.files[index])


class ArrayFrames(FrameSource):
    """In-memory frames (a ``TxHxWxC`` array or a list of images), for tests and APIs.

    Each frame goes through :func:`zoo.io.images.to_rgb_uint8` when it is read.
    """

    def __init__(self, frames: np.ndarray | Sequence[np.ndarray]) -> None:
        super().__init__()
        if len(frames) == 0:
            raise InputError("the frame sequence is empty; pass at least one frame")
        self._frames = frames

    def __len__(self) -> int:
        return len(self._frames)

    @property
    def names(self) -> list[str]:
        return [f"{i:05d}" for i in range(len(self))]

    def _iter_frames(self) -> Iterator[np.ndarray]:
        for i in range(len(self._frames)):
            yield self._read(i)

    def _read(self, index: int) -> np.ndarray:
        return to_rgb_uint8(np.asarray(self._frames[index]), f"frame {index}")


class VideoFrames(FrameSource):
    """Frames decoded lazily from a video file with PyAV.

    ``len`` comes from the container's frame count when it declares one; otherwise the
    packets of the video stream are counted (demuxing without decoding). Both can differ
    from the number of decodable frames for broken or variable-frame-rate files, so
    treat ``len`` as an estimate and iterate for the truth. ``source[i]`` works but
    decodes from the start (or from the last frame read, when moving forwards), so it is
    O(i); prefer iteration. Rotation metadata is not applied.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        super().__init__()
        self._file = Path(path)
        self.path = self._file
        if not self._file.is_file():
            raise InputError(f"video {self._file} does not exist; check the path")
        self._len: int | None = None
        self._cursor: Iterator[np.ndarray] | None = None
        self._cursor_next = 0
        self._last: tuple[int, np.ndarray] | None = None
        container = self._open()
        try:
            stream = container.streams.video[0]
            declared = int(stream.frames or 0)
            self._len = declared if declared > 0 else None
            rate = stream.average_rate or stream.guessed_rate
            self.fps = float(rate) if rate else None
        finally:
            container.close()

    def _fail(self, exc: BaseException | str) -> InputError:
        return InputError(f"cannot decode video {self._file} ({exc}); {_convert_hint(self._file)}")

    def _open(self) -> Any:
        try:
            import av
        except ImportError as exc:  # pragma: no cover - av is the optional "video" extra
            raise InputError(
                f"reading video {self._file} needs PyAV ({install_hint('av>=12')}); or "
                f"{_convert_hint(self._file)}"
            ) from exc
        try:
            container = av.open(str(self.path))
        except av.error.FFmpegError as exc:
            raise self._fail(exc) from exc
        if not container.streams.video:
            container.close()
            raise InputError(
                f"{self.path} has no video stream; pass a video file or a frame folder"
            )
        stream = container.streams.video[0]
        if getattr(stream, "codec_context", None) is None:
            container.close()
            raise self._fail("unsupported codec")
        return container

    def __len__(self) -> int:
        if self._len is None:
            container = self._open()
            try:
                stream = container.streams.video[0]
                self._len = sum(1 for pkt in container.demux(stream) if pkt.size)
            except Exception as exc:
                raise self._fail(exc) from exc
            finally:
                container.close()
        return self._len

    @property
    def names(self) -> list[str]:
        return [f"{i:05d}" for i in range(len(self))]

    def _label(self, index: int) -> str:
        return f"frame {index} of {self.path}"

    def _iter_frames(self) -> Iterator[np.ndarray]:
        import av

        container = self._open()
        try:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            decoded = container.decode(stream)
            while True:
                try:
                    frame = next(decoded)
                except StopIteration:
                    return
                except av.error.FFmpegError as exc:
                    raise self._fail(exc) from exc
                yield frame.to_ndarray(format="rgb24")
        finally:
            container.close()

    def _read(self, index: int) -> np.ndarray:
        if self._last is not None and self._last[0] == index:
            return self._last[1]
        if self._cursor is None or index < self._cursor_next:
            self.close()
            self._cursor = self._iter_frames()
            self._cursor_next = 0
        for frame in self._cursor:
            current = self._cursor_next
            self._cursor_next += 1
            if current == index:
                self._last = (index, frame)
                return frame
        self.close()
        raise IndexError(
            f"frame index {index} is past the last decodable frame of {self.path} "
            "(the container's frame count was an estimate)"
        )

    def close(self) -> None:
        if self._cursor is not None:
            close = getattr(self._cursor, "close", None)
            if close is not None:
                close()
        self._cursor = None
        self._cursor_next = 0


def open_frames(source: FramesInput) -> FrameSource:
    """Open a frame folder, a video file, or in-memory frames as a :class:`FrameSource`.

    A :class:`FrameSource` is returned unchanged. Nothing is decoded here except, for
    videos, the container header.

    Raises:
        InputError: missing path, an image file instead of a folder/video, an unknown
            extension, an empty folder, or a video PyAV cannot open.
    """
    if isinstance(source, FrameSource):
        return source
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if path.is_dir():
            return FolderFrames(path)
        if not path.exists():
            raise InputError(f"frames {path} do not exist; pass a frame folder or a video file")
        suffix = path.suffix.lower()
        if suffix in VIDEO_EXTENSIONS:
            return VideoFrames(path)
        if suffix in _IMAGE_EXTENSIONS:
            raise InputError(f"{path} is a single image; pass a folder of frames or a video file")
        raise InputError(
            f"{path} has an unsupported extension '{path.suffix}'; pass a frame folder or a "
            f"video ({' '.join(VIDEO_EXTENSIONS)})"
        )
    if isinstance(source, np.ndarray) and source.ndim == 4:
        return ArrayFrames(source)
    if isinstance(source, (list, tuple)):
        return ArrayFrames(source)
    raise InputError(
        f"cannot read frames from a {type(source).__name__}; pass a frame folder, a video "
        "file or a list of arrays"
    )
