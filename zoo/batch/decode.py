"""Reading an item's pixels safely: size checked from the header before decoding.

A 30000x30000 PNG is a few kilobytes on disk and 2.7 GB decoded; one such file in a
million must cost an ``errors.jsonl`` line, not the worker. So the header is read first
and an image over ``--max-pixels`` is refused before any pixel is decoded. Decoding then
follows :func:`zoo.io.images.load_image`'s rules (EXIF, alpha, 16-bit).
"""

from __future__ import annotations

import io
import os
import threading
import warnings

import numpy as np
from PIL import Image, UnidentifiedImageError

from zoo.errors import InputError

from .remote import read_bytes, scheme_of

__all__ = ["DEFAULT_MAX_PIXELS", "decode_image"]

_OPEN_LOCK = threading.Lock()

#: 100 megapixels: a 10000x10000 scan passes, a decompression bomb does not.
DEFAULT_MAX_PIXELS = 100_000_000


def decode_image(uri: str, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """``HxWx3 uint8`` pixels of the image at ``uri`` (path or URI); ``InputError`` if it
    is missing, not an image, truncated, or larger than ``max_pixels``."""
    from zoo.io.images import load_image

    if scheme_of(uri):
        source: str | io.BytesIO = io.BytesIO(read_bytes(uri))
    else:
        if not os.path.isfile(uri):
            raise InputError(f"image {uri} does not exist (or is not a file)")
        source = uri
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with _OPEN_LOCK:  # our own limit replaces Pillow's for this header read only
                saved, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
                try:
                    im = Image.open(source)  # reads the header only
                finally:
                    Image.MAX_IMAGE_PIXELS = saved
        with im:
            w, h = im.size
            if w * h > max_pixels:
                raise InputError(
                    f"image {uri} is {w}x{h} ({w * h / 1e6:.0f} MP), over the limit of "
                    f"{max_pixels / 1e6:g} MP; downscale it or raise --max-pixels"
                )
            im.load()
            return load_image(im)
    except InputError as exc:
        if uri in str(exc):
            raise
        raise InputError(f"image {uri}: {exc}") from None
    except Image.DecompressionBombError as exc:  # Pillow's own ceiling (2x its default)
        raise InputError(
            f"image {uri} is too large to decode safely ({exc}); downscale it"
        ) from None
    except UnidentifiedImageError:
        raise InputError(f"{uri} is not an image Pillow can read") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise InputError(f"image {uri} is truncated or corrupt ({exc})") from None
