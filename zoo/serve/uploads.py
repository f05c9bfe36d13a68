"""Turning uploaded bytes into arrays: content sniffing, size and pixel limits.

Why sniff: a client-supplied file name or ``Content-Type`` says nothing about what the
bytes are, and handing them to "whatever decoder Pillow guesses" exposes every decoder
Pillow has (EPS via Ghostscript, and many rarely used parsers). Here the first bytes pick
one format from a short allow-list and Pillow is told to use that decoder only.

Why check pixels before decoding: a 100-kB PNG can declare 30000x30000 pixels (2.7 GB
decoded). The header gives the size; the limit is enforced before ``load()``. The same
holds for a whole video: 600 frames of 40 MP each fit in a 25 MB body of compressible PNGs
and decode to 72 GB, so the frames' headers are all read first and their total pixels
checked against ``--max-video-pixels`` before any frame is decoded.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from zoo.errors import InputError
from zoo.serve.errors import ApiError

#: magic bytes -> Pillow format name (the only image decoders the server uses)
_IMAGE_MAGIC: tuple[tuple[int, bytes, str], ...] = (
    (0, b"\xff\xd8\xff", "JPEG"),
    (0, b"\x89PNG\r\n\x1a\n", "PNG"),
    (0, b"GIF87a", "GIF"),
    (0, b"GIF89a", "GIF"),
    (0, b"BM", "BMP"),
    (0, b"II*\x00", "TIFF"),
    (0, b"MM\x00*", "TIFF"),
)
IMAGE_FORMATS = "JPEG, PNG, WebP, BMP, TIFF or GIF"


def sniff_image(data: bytes) -> str | None:
    """The Pillow format the bytes are, judged by their signature only; None if unknown."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    for offset, magic, fmt in _IMAGE_MAGIC:
        if data[offset : offset + len(magic)] == magic:
            return fmt
    return None


def sniff_video(data: bytes) -> str | None:
    """A file suffix PyAV can open for this container (ISO-BMFF, Matroska/WebM, AVI)."""
    if data[4:8] == b"ftyp":
        return ".mp4"
    if data[:4] == b"\x1a\x45\xdf\xa3":
        return ".mkv"
    if data[:4] == b"RIFF" and data[8:12] == b"AVI ":
        return ".avi"
    return None


def _unsupported(what: str, data: bytes, expected: str) -> ApiError:
    head = data[:8].hex(" ") if data else "nothing"
    return ApiError(
        415,
        "unsupported_media_type",
        f"the {what} is not a {expected} file (it starts with bytes {head}); the file "
        "name and Content-Type are not trusted, the content decides",
    )


def check_size(n_bytes: int, limit: int, what: str = "upload") -> None:
    if n_bytes > limit:
        raise ApiError(
            413,
            "too_large",
            f"the {what} is {n_bytes / 1e6:.3g} MB; this server accepts at most "
            f"{limit / 1e6:.3g} MB (--max-upload-mb)",
        )
    if n_bytes == 0:
        raise ApiError(400, "empty_upload", f"the {what} is empty; send the file's bytes")


def check_pixels(width: int, height: int, limit: int, what: str = "image") -> None:
    if width * height > limit:
        raise ApiError(
            413,
            "too_many_pixels",
            f"the {what} is {width}x{height} ({width * height / 1e6:.3g} MP); this server "
            f"accepts at most {limit / 1e6:.3g} MP (--max-pixels); downscale it first",
        )


def decode_image(data: bytes, *, max_pixels: int, what: str = "image") -> np.ndarray:
    """Bytes -> ``HxWx3 uint8`` with the rules of :func:`zoo.io.images.load_image`."""
    from PIL import Image

    from zoo.io.images import load_image

    fmt = sniff_image(data)
    if fmt is None:
        raise _unsupported(what, data, IMAGE_FORMATS)
    try:
        with Image.open(io.BytesIO(data), formats=[fmt]) as im:
            check_pixels(im.size[0], im.size[1], max_pixels, what)
            return load_image(im)
    except ApiError:
        raise
    except Image.DecompressionBombError as exc:  # Pillow refuses before we see the size
        raise ApiError(
            413,
            "too_many_pixels",
            f"the {what} declares too many pixels to decode safely ({exc}); this server "
            f"accepts at most {max_pixels / 1e6:.3g} MP (--max-pixels)",
        ) from None
    except InputError as exc:
        raise ApiError(400, "bad_image", f"the {what} cannot be decoded: {exc}") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ApiError(
            400, "bad_image", f"the {what} looks like {fmt} but is truncated or corrupt ({exc})"
        ) from None


def decode_depth(data: bytes, *, max_pixels: int) -> np.ndarray:
    """A depth map: 16-bit PNG (millimetres), float TIFF (metres) or ``.npy`` (no pickles).

    Units are interpreted later by :func:`zoo.io.depth.load_depth` (integers: mm, floats: m).
    """
    from PIL import Image

    if data[:6] == b"\x93NUMPY":
        try:
            arr = np.load(io.BytesIO(data), allow_pickle=False)
        except (ValueError, OSError, EOFError) as exc:
            raise ApiError(400, "bad_depth", f"the depth .npy cannot be read ({exc})") from None
        if arr.ndim not in (2, 3):
            raise ApiError(400, "bad_depth", f"the depth .npy has shape {arr.shape}; send HxW")
        check_pixels(arr.shape[1], arr.shape[0], max_pixels, "depth map")
        return np.asarray(arr)
    fmt = sniff_image(data)
    if fmt not in ("PNG", "TIFF"):
        raise _unsupported("depth map", data, "16-bit PNG, float TIFF or .npy")
    try:
        with Image.open(io.BytesIO(data), formats=[fmt]) as im:
            check_pixels(im.size[0], im.size[1], max_pixels, "depth map")
            im.load()
            if im.mode in ("RGB", "RGBA", "P", "CMYK", "YCbCr", "LA", "PA"):
                raise ApiError(
                    400,
                    "bad_depth",
                    f"the depth map is a {im.mode} image (a colour visualisation?); send a "
                    "single-channel 16-bit PNG in millimetres or a .npy in metres",
                )
            return np.array(im)
    except ApiError:
        raise
    except Image.DecompressionBombError as exc:
        raise ApiError(
            413, "too_many_pixels", f"the depth map declares too many pixels ({exc})"
        ) from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ApiError(400, "bad_depth", f"the depth map is truncated or corrupt ({exc})") from None


def check_frames(frames: Sequence[np.ndarray], max_frames: int) -> None:
    """Frames of one video: at least one, at most ``max_frames``, all of one size."""
    if not frames:
        raise ApiError(400, "empty_upload", "no frames were sent; send a video or frame images")
    if len(frames) > max_frames:
        raise ApiError(
            413,
            "too_many_frames",
            f"{len(frames)} frames; this server accepts at most {max_frames} (--max-video-frames)",
        )
    h, w = frames[0].shape[:2]
    for i, f in enumerate(frames):
        if f.shape[:2] != (h, w):
            raise ApiError(
                400,
                "bad_video",
                f"frame {i} is {f.shape[1]}x{f.shape[0]} but frame 0 is {w}x{h}; all frames "
                "of a video must have one size",
            )


def check_video_pixels(frames: int, width: int, height: int, budget: int, flag: str) -> None:
    """A video's decoded pixels (frames x width x height) against the server's budget."""
    total = frames * width * height
    if total > budget:
        raise ApiError(
            413,
            "too_many_pixels",
            f"the video is {frames} frames of {width}x{height} ({total / 1e6:.4g} MP decoded); "
            f"this server accepts at most {budget / 1e6:.4g} MP per video ({flag}); send "
            "fewer or smaller frames",
        )


def image_size(data: bytes, *, max_pixels: int, what: str = "image") -> tuple[int, int]:
    """``(width, height)`` from the header alone (nothing is decoded), checked against
    ``max_pixels``; the same refusals as :func:`decode_image` for what is not an image."""
    from PIL import Image

    fmt = sniff_image(data)
    if fmt is None:
        raise _unsupported(what, data, IMAGE_FORMATS)
    try:
        with Image.open(io.BytesIO(data), formats=[fmt]) as im:
            width, height = int(im.size[0]), int(im.size[1])
    except Image.DecompressionBombError as exc:
        raise ApiError(
            413,
            "too_many_pixels",
            f"the {what} declares too many pixels to decode safely ({exc}); this server "
            f"accepts at most {max_pixels / 1e6:.3g} MP (--max-pixels)",
        ) from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ApiError(
            400, "bad_image", f"the {what} looks like {fmt} but is truncated or corrupt ({exc})"
        ) from None
    check_pixels(width, height, max_pixels, what)
    return width, height


def decode_frames(
    files: Sequence[bytes],
    *,
    max_pixels: int,
    max_frames: int,
    max_video_pixels: int,
    budget_flag: str = "--max-video-pixels",
) -> list[np.ndarray]:
    """The frames of one video, refused *before any is decoded* when they are too many,
    of different sizes, or together more than ``max_video_pixels`` decoded pixels (every
    header is read first); then decoded in order."""
    if not files:
        raise ApiError(400, "empty_upload", "no frames were sent; send a video or frame images")
    if len(files) > max_frames:
        raise ApiError(
            413,
            "too_many_frames",
            f"{len(files)} frames; this server accepts at most {max_frames} (--max-video-frames)",
        )
    sizes = [image_size(d, max_pixels=max_pixels, what=f"frame {i}") for i, d in enumerate(files)]
    w, h = sizes[0]
    for i, (fw, fh) in enumerate(sizes):
        if (fw, fh) != (w, h):
            raise ApiError(
                400,
                "bad_video",
                f"frame {i} is {fw}x{fh} but frame 0 is {w}x{h}; all frames of a video must "
                "have one size",
            )
    check_video_pixels(len(files), w, h, max_video_pixels, budget_flag)
    frames = [
        decode_image(d, max_pixels=max_pixels, what=f"frame {i}") for i, d in enumerate(files)
    ]
    check_frames(frames, max_frames)  # what the headers promised is what was decoded
    return frames


def open_video_file(
    path: Path,
    *,
    max_pixels: int,
    max_frames: int,
    max_video_pixels: int | None = None,
    budget_flag: str = "--max-video-pixels",
) -> tuple[int, int, int]:
    """Check a stored video: decodable, small enough (per frame, frame count and, with
    ``max_video_pixels``, all frames' pixels together). Returns ``(frames, height, width)``."""
    from zoo.io.frames import VideoFrames

    try:
        source = VideoFrames(path)
    except InputError as exc:
        raise ApiError(400, "bad_video", f"the video cannot be decoded: {exc}") from None
    try:
        n = len(source)
        h, w = source.size
    except InputError as exc:
        raise ApiError(400, "bad_video", f"the video cannot be decoded: {exc}") from None
    finally:
        source.close()
    check_pixels(w, h, max_pixels, "video frame")
    if n > max_frames:
        raise ApiError(
            413,
            "too_many_frames",
            f"the video has {n} frames; this server accepts at most {max_frames} "
            "(--max-video-frames)",
        )
    if max_video_pixels is not None:
        check_video_pixels(n, w, h, max_video_pixels, budget_flag)
    return n, h, w
