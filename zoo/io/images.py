"""Image loading and saving: everything becomes an ``HxWx3 uint8 RGB`` numpy array.

Models in the zoo all consume 8-bit RGB, so the conversion rules live here once rather
than in every plugin. The rules (and why):

* EXIF orientation is applied, so that prompt coordinates a user picked in an image
  viewer (which honours EXIF) land on the same pixels the model sees.
* Alpha is dropped, not composited: SAM-style models were trained on opaque photos and
  the colour under a transparent pixel is as good a guess as any background colour.
* Grayscale, palette, CMYK, YCbCr, LAB, HSV and 1-bit images are converted by Pillow.
* 16-bit data (Pillow modes ``I;16*``, and ``I``, which Pillow uses for 16-bit files) is
  mapped with ``round(v / 257)``: this sends 0 -> 0 and 65535 -> 255 exactly and inverts
  the usual 8 -> 16 bit expansion ``v * 257``. We scale by the dtype's range, not the
  image's own min/max, so that a dark frame stays dark and a sequence stays consistent.
* Float data in ``[0, 1]`` is scaled by 255; float data in ``[0, 255]`` (an 8-bit image
  that went through ``astype(float)``) is rounded; anything else is an error because no
  guess would be right.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Union

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from zoo.errors import InputError, install_hint
from zoo.io.atomic import atomic_write

__all__ = ["ImageInput", "load_image", "save_png", "to_rgb_uint8"]

#: Anything :func:`load_image` accepts.
ImageInput = Union[str, "os.PathLike[str]", np.ndarray, Image.Image]

_ALPHA_MODES = {"RGBA", "LA", "PA", "RGBa", "La"}
_SIXTEEN_BIT_MODES = {"I;16", "I;16L", "I;16B", "I;16N", "I"}


def _uint16_to_uint8(arr: np.ndarray) -> np.ndarray:
    """``round(v / 257)``: exact at both ends, inverse of ``v8 * 257``."""
    return ((arr.astype(np.uint32) + 128) // 257).astype(np.uint8)


def _describe_shape(arr: np.ndarray) -> str:
    return "x".join(str(s) for s in arr.shape)


def _to_uint8(arr: np.ndarray, what: str, from_pil_int_mode: bool = False) -> np.ndarray:
    """Map any numeric array to uint8 following the module rules.

    ``from_pil_int_mode`` marks Pillow's ``I`` mode, whose values are 16-bit samples by
    construction (see module docstring); plain numpy integer arrays are instead judged by
    their value range, since ``int64`` arrays usually come from arithmetic on 8-bit data.
    """
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype == np.bool_:
        return arr.astype(np.uint8) * np.uint8(255)
    if arr.dtype == np.uint16 or arr.dtype == np.dtype(">u2"):
        return _uint16_to_uint8(arr.astype(np.uint16))
    if np.issubdtype(arr.dtype, np.integer):
        if arr.size == 0:
            return arr.astype(np.uint8)
        if from_pil_int_mode:
            return _uint16_to_uint8(np.clip(arr, 0, 65535))
        lo, hi = int(arr.min()), int(arr.max())
        if lo >= 0 and hi <= 255:
            return arr.astype(np.uint8)
        if lo >= 0 and hi <= 65535:
            return _uint16_to_uint8(arr)
        raise InputError(
            f"{what} has integer values in [{lo}, {hi}]; pass 8-bit (0-255) or 16-bit "
            "(0-65535) data"
        )
    if np.issubdtype(arr.dtype, np.floating):
        if arr.size == 0:
            return arr.astype(np.uint8)
        if not np.isfinite(arr).all():
            raise InputError(f"{what} contains NaN or infinite values; replace them first")
        lo_f, hi_f = float(arr.min()), float(arr.max())
        if lo_f >= 0.0 and hi_f <= 1.0:
            return np.rint(arr * 255.0).astype(np.uint8)
        if lo_f >= 0.0 and hi_f <= 255.0:
            return np.rint(arr).astype(np.uint8)
        raise InputError(
            f"{what} has float values in [{lo_f:g}, {hi_f:g}]; pass floats in [0, 1] or [0, 255]"
        )
    raise InputError(f"{what} has dtype {arr.dtype}; pass uint8, uint16 or float data")


def to_rgb_uint8(arr: np.ndarray, what: str = "image array") -> np.ndarray:
    """Convert an ``HxW``, ``HxWx1``, ``HxWx3`` or ``HxWx4`` array to ``HxWx3 uint8``.

    Always returns a new C-contiguous array (callers and overlays may write into it
    without touching the caller's data).
    """
    arr = np.asarray(arr)
    if arr.ndim == 3 and arr.shape[0] in (1, 3, 4) and arr.shape[2] > 4:
        raise InputError(
            f"{what} has shape {_describe_shape(arr)}, which looks channels-first; "
            "pass HxWxC (e.g. arr.transpose(1, 2, 0))"
        )
    if arr.ndim == 3 and arr.shape[2] in (1, 3, 4):
        arr = arr[..., 0] if arr.shape[2] == 1 else arr[..., :3]
    elif arr.ndim != 2:
        raise InputError(
            f"{what} has shape {_describe_shape(arr)}; expected HxW, HxWx1, HxWx3 or HxWx4"
        )
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise InputError(f"{what} is empty (shape {_describe_shape(arr)}); pass a real image")
    out = _to_uint8(arr, what)
    if out.ndim == 2:
        out = np.repeat(out[:, :, None], 3, axis=2)
    return np.array(out, dtype=np.uint8, order="C", copy=True)


def _pil_to_rgb(im: Image.Image, what: str) -> np.ndarray:
    """Convert a loaded Pillow image of any mode to ``HxWx3 uint8`` (module rules)."""
    mode = im.mode
    if mode in _SIXTEEN_BIT_MODES:
        arr = np.array(im)
        gray = _to_uint8(arr, what, from_pil_int_mode=(mode == "I"))
        return np.ascontiguousarray(np.repeat(gray[:, :, None], 3, axis=2))
    if mode == "F":
        return to_rgb_uint8(np.array(im), what)
    if mode in _ALPHA_MODES:
        try:
            converted = im.convert("RGBA")
        except ValueError:  # pragma: no cover - exotic premultiplied modes
            converted = im.convert("RGB")
        return np.ascontiguousarray(np.array(converted)[..., :3])
    if mode != "RGB":
        return np.array(im.convert("RGB"), dtype=np.uint8)
    return np.array(im, dtype=np.uint8)


def _open_path(path: Path, what: str = "image") -> np.ndarray:
    if not path.exists():
        raise InputError(f"{what} {path} does not exist; check the path")
    if path.is_dir():
        raise InputError(f"{what} {path} is a folder; pass an image file")
    try:
        with Image.open(path) as opened:
            opened.load()
            return _pil_to_rgb(ImageOps.exif_transpose(opened), f"{what} {path}")
    except InputError:
        raise
    except UnidentifiedImageError as exc:
        raise InputError(
            f"{what} {path} is not an image Pillow can read; pass a JPEG, PNG, BMP, TIFF "
            "or WebP file"
        ) from exc
    except Image.DecompressionBombError as exc:
        raise InputError(
            f"{what} {path} is too large to load safely ({exc}); downscale it first"
        ) from exc
    except PermissionError as exc:
        raise InputError(
            f"cannot read {what} {path}: permission denied; fix its permissions"
        ) from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        # Pillow reports truncated data as OSError("image file is truncated"), and some
        # plugins raise SyntaxError/ValueError for broken headers found during load().
        raise InputError(
            f"image {path} is truncated or corrupt ({exc}); re-export or re-download it"
        ) from exc


#: Example photos that ship inside installed packages, usable as ``--image example:NAME``.
EXAMPLES = {
    # Public-domain US Navy portrait of Grace Hopper, 512x600, shipped in matplotlib's
    # sample data; it lets the quickstart run without downloading or committing a photo.
    "grace-hopper": ("matplotlib", "mpl-data/sample_data/grace_hopper.jpg"),
}


def resolve_image_path(source: str | os.PathLike[str]) -> Path:
    """A path, or ``example:NAME`` for one of the bundled :data:`EXAMPLES`."""
    text = os.fspath(source)
    if not text.startswith("example:"):
        return Path(text)
    name = text.split(":", 1)[1]
    if name not in EXAMPLES:
        raise InputError(
            f"unknown example image {name!r}; available: "
            + ", ".join(f"example:{n}" for n in EXAMPLES)
        )
    import importlib.util

    package, rel = EXAMPLES[name]
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise InputError(f"example:{name} needs the {package} package; {install_hint(package)}")
    return Path(next(iter(spec.submodule_search_locations))) / rel


def load_image(source: ImageInput) -> np.ndarray:
    """Load a path, numpy array or Pillow image as an ``HxWx3 uint8`` RGB array.

    See the module docstring for the conversion rules (EXIF, alpha, 16-bit, float).
    Arrays and Pillow images are copied, never modified in place.

    Raises:
        InputError: missing file, not an image, truncated/corrupt file, or an array with
            a shape/dtype/value range that has no sensible RGB meaning.
    """
    if isinstance(source, np.ndarray):
        return to_rgb_uint8(source)
    if isinstance(source, Image.Image):
        try:
            source.load()
        except (OSError, SyntaxError, ValueError, EOFError) as exc:
            raise InputError(f"image is truncated or corrupt ({exc}); re-export it") from exc
        return _pil_to_rgb(ImageOps.exif_transpose(source), "image")
    if isinstance(source, (str, os.PathLike)):
        return _open_path(resolve_image_path(source))
    raise InputError(
        f"cannot use a {type(source).__name__} as an image; pass a path, a numpy array "
        "or a PIL.Image"
    )


def image_fingerprint(img: np.ndarray) -> str:
    """Cheap identity of an image's pixels, so models can reuse a cached embedding."""
    import hashlib

    h = hashlib.blake2b(digest_size=16)
    h.update(str(img.shape).encode())
    h.update(str(img.dtype).encode())
    h.update(np.ascontiguousarray(img).data)
    return h.hexdigest()


def save_png(
    path: str | os.PathLike[str], array: np.ndarray, text: dict[str, str] | None = None
) -> None:
    """Write ``array`` as a PNG atomically (see :func:`zoo.io.atomic.atomic_write`).

    ``text`` goes into PNG tEXt chunks: provenance (which model, which weights) travels with
    each mask file, so a ``weights=random`` test output is labelled even out of context.

    Accepts ``HxW`` bool/uint8 (grayscale), ``HxW`` uint16 (16-bit grayscale, e.g.
    depth in millimetres), and ``HxWx3`` / ``HxWx4`` uint8. Values are written as given;
    no rescaling happens here (use :func:`to_rgb_uint8` first if needed).
    """
    arr = np.asarray(array)
    if arr.dtype == np.bool_:
        arr = arr.astype(np.uint8) * np.uint8(255)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    gray_ok = arr.ndim == 2 and arr.dtype in (np.uint8, np.uint16)
    color_ok = arr.ndim == 3 and arr.shape[2] in (3, 4) and arr.dtype == np.uint8
    if not (gray_ok or color_ok):
        raise InputError(
            f"cannot save an array of shape {_describe_shape(arr)} and dtype {arr.dtype} "
            "as PNG; pass HxW bool/uint8/uint16 or HxWx3/HxWx4 uint8"
        )
    im = Image.fromarray(np.ascontiguousarray(arr))
    info = None
    if text:
        from PIL.PngImagePlugin import PngInfo

        info = PngInfo()
        for k, v in text.items():
            info.add_text(k, v)
    # Colour images (overlays, renders) compress 2.5x faster at level 3 than at Pillow's
    # default 6 for the same size (1800x1200 overlay: 197 vs 492 ms, 1.93 vs 1.94 MB);
    # masks are tiny and fast at any level, so they keep the default.
    level = 3 if arr.ndim == 3 else 6
    with atomic_write(path) as tmp:
        im.save(tmp, format="PNG", pnginfo=info, compress_level=level)
