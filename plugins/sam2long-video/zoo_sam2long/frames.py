"""Frame sources and preprocessing identical to the SAM 2 / SAM2Long video loaders.

The reference loaders resize every frame to a square ``image_size`` with Pillow's default
filter (bicubic), ignoring aspect ratio, divide by 255 *in float64*, store float32, then
subtract the ImageNet mean and divide by the std in float32.  Each of those choices moves
the outputs by more than the golden tolerance when changed, so :func:`preprocess_frame`
performs exactly these steps (it reproduces the fixture's sha256 of frame 0).

Unlike the references, which decode the whole video up front, frames here are produced
lazily: a source is any iterable of frames, and only the frame being processed is held.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Union

import numpy as np
import torch
from PIL import Image

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
JPEG_SUFFIXES = (".jpg", ".jpeg", ".JPG", ".JPEG")

#: One frame: an ``HxWx3`` uint8 array, a PIL image, or a path to an image file.
Frame = Union[np.ndarray, Image.Image, str, os.PathLike]
#: A video: a directory of JPEG frames named by integer index, or an iterable of frames.
FrameSource = Union[str, os.PathLike, Iterable[Frame]]


def load_rgb(frame: Frame) -> Image.Image:
    """Decode/convert one frame to an RGB PIL image (as SAM 2's loader does)."""
    if isinstance(frame, Image.Image):
        return frame.convert("RGB")
    if isinstance(frame, (str, os.PathLike)):
        with Image.open(frame) as im:
            return im.convert("RGB")
    arr = np.asarray(frame)
    if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] != 3:
        raise ValueError(
            f"frames must be HxWx3 uint8 arrays, got dtype={arr.dtype} shape={arr.shape}"
        )
    return Image.fromarray(arr, mode="RGB")


def preprocess_frame(frame: Frame, image_size: int = 1024) -> torch.Tensor:
    """Turn one frame into the model's normalised ``[3, S, S]`` float32 input.

    Matches ``sam2.utils.misc.load_video_frames`` bit for bit: bicubic resize to ``SxS``,
    ``/255`` in float64, cast to float32, then ``(x - mean) / std`` in float32.
    """
    pil = load_rgb(frame)
    arr = np.array(pil.resize((image_size, image_size), Image.Resampling.BICUBIC))
    img = torch.from_numpy(arr / 255.0).permute(2, 0, 1).to(torch.float32)
    mean = torch.tensor(IMAGENET_MEAN, dtype=torch.float32)[:, None, None]
    std = torch.tensor(IMAGENET_STD, dtype=torch.float32)[:, None, None]
    img -= mean
    img /= std
    return img


def list_jpeg_frames(directory: str | os.PathLike) -> list[Path]:
    """JPEG files of a frame directory, ordered by their integer file stem (``00012.jpg``).

    This is the ordering SAM 2's loader uses; a name that is not an integer is an error
    there and here.
    """
    d = Path(directory)
    if not d.is_dir():
        raise FileNotFoundError(f"not a directory of frames: {d}")
    paths = [p for p in d.iterdir() if p.suffix in JPEG_SUFFIXES]
    if not paths:
        raise FileNotFoundError(f"no JPEG frames in {d}")
    try:
        return sorted(paths, key=lambda p: int(p.stem))
    except ValueError as exc:
        raise ValueError(f"frame files in {d} must be named by integer index") from exc


def source_length(source: FrameSource) -> int | None:
    """Number of frames if it is known without decoding anything, else ``None``."""
    if isinstance(source, (str, os.PathLike)):
        return len(list_jpeg_frames(source))
    try:
        return len(source)  # type: ignore[arg-type]
    except TypeError:
        return None


def iter_frames(source: FrameSource) -> Iterator[Frame]:
    """Yield frames lazily from a directory or any iterable (list, generator, reader)."""
    if isinstance(source, (str, os.PathLike)):
        yield from list_jpeg_frames(source)
    else:
        yield from source
