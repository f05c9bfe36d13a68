"""Depth maps, camera intrinsics and poses for the ``rgbd`` task.

Conventions (the ScanNet / TUM / NYU habit, and what the RGB-D plugins expect):

* depth is returned in **metres** as ``float32 HxW`` together with a ``bool`` validity
  mask; invalid pixels hold ``0.0`` in the depth array;
* integer depth (16-bit PNG, integer ``.npy``) is in sensor units, by default
  millimetres (``depth_scale = 0.001`` metres per unit); pass e.g. ``depth_scale=1/5000``
  for TUM RGB-D;
* float depth (``.npy``/``.npz``, float TIFF) is already in metres (``depth_scale = 1``);
* ``0`` and ``+inf`` mean "no measurement" (invalid); negative values and NaN are
  rejected, because they mean the file is not what the user thinks it is (a disparity
  map, a normalised visualisation, a failed conversion) and silently masking them out
  would hide that.
"""

from __future__ import annotations

import os
import re
import warnings
from pathlib import Path
from typing import Union

import numpy as np
from PIL import Image, UnidentifiedImageError

from zoo.errors import InputError

__all__ = [
    "DepthInput",
    "Intrinsics",
    "load_depth",
    "load_intrinsics",
    "load_pose",
    "parse_intrinsics",
]

DepthInput = Union[str, "os.PathLike[str]", np.ndarray]
Intrinsics = tuple[float, float, float, float]

_INTRINSICS_FORMATS = (
    "expected a 4x4 or 3x3 matrix (like ScanNet's intrinsic_depth.txt) or one line 'fx fy cx cy'"
)


def _read_depth_array(path: Path) -> tuple[np.ndarray, str]:
    """Read the raw array and say where it came from ("png8", "int", "float")."""
    if not path.exists():
        raise InputError(f"depth {path} does not exist; check the path")
    suffix = path.suffix.lower()
    if suffix in (".npy", ".npz"):
        try:
            loaded = np.load(path, allow_pickle=False)
        except (OSError, ValueError, EOFError) as exc:
            raise InputError(f"cannot read depth {path} ({exc}); save it with np.save") from exc
        if isinstance(loaded, np.lib.npyio.NpzFile):
            with loaded:
                keys = list(loaded.files)
                if not keys:
                    raise InputError(f"depth {path} is an empty .npz; store the depth as 'depth'")
                arr = loaded["depth" if "depth" in keys else keys[0]]
        else:
            arr = loaded
        kind = "float" if np.issubdtype(arr.dtype, np.floating) else "int"
        return arr, kind
    try:
        with Image.open(path) as im:
            im.load()
            mode = im.mode
            arr = np.array(im)
    except UnidentifiedImageError as exc:
        raise InputError(
            f"depth {path} is not an image or .npy/.npz; pass a 16-bit PNG in millimetres "
            "or a .npy in metres"
        ) from exc
    except OSError as exc:
        raise InputError(f"depth {path} is truncated or corrupt ({exc}); re-export it") from exc
    if mode in ("RGB", "RGBA", "P", "CMYK", "YCbCr", "LA", "PA"):
        raise InputError(
            f"depth {path} is a {mode} image (a colour-mapped visualisation?); pass a "
            "single-channel 16-bit PNG in millimetres or a .npy in metres"
        )
    if mode == "F":
        return arr, "float"
    if mode in ("L", "1"):
        return arr, "png8"
    return arr, "int"


def load_depth(
    source: DepthInput, depth_scale: float | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Load a depth map as ``(depth_m float32 HxW, valid bool HxW)``.

    Args:
        source: a 16-bit PNG (millimetres), an 8-bit PNG (loaded with a warning), a
            ``.npy``/``.npz`` (float: metres; integer: millimetres; ``.npz`` uses the key
            ``"depth"`` or else its first array), a float TIFF (metres), or an array.
        depth_scale: metres per stored unit. ``None`` means 0.001 for integer data and
            1.0 for float data.

    Raises:
        InputError: missing/unreadable file, colour image, wrong shape, negative or NaN
            values, a bad ``depth_scale``, or no valid pixel at all.
    """
    if isinstance(source, np.ndarray):
        arr = source
        kind = "float" if np.issubdtype(arr.dtype, np.floating) else "int"
        name = "depth array"
    elif isinstance(source, (str, os.PathLike)):
        path = Path(source)
        arr, kind = _read_depth_array(path)
        name = f"depth {path}"
    else:
        raise InputError(
            f"cannot use a {type(source).__name__} as depth; pass a path or a numpy array"
        )

    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    if arr.ndim != 2 or arr.size == 0:
        raise InputError(
            f"{name} has shape {tuple(arr.shape)}; expected a single-channel HxW depth map"
        )
    if arr.dtype == np.bool_ or not (
        np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)
    ):
        raise InputError(f"{name} has dtype {arr.dtype}; expected integer or float depth")
    if kind == "png8":
        warnings.warn(
            f"{name} is an 8-bit PNG: probably not metric depth (16-bit millimetres or a "
            ".npy in metres are expected); loading it anyway",
            UserWarning,
            stacklevel=2,
        )

    if depth_scale is None:
        scale = 1.0 if kind == "float" else 0.001
    else:
        scale = float(depth_scale)
        if not np.isfinite(scale) or scale <= 0:
            raise InputError(
                f"depth_scale must be a positive number of metres per unit, got {depth_scale}"
            )

    values = arr.astype(np.float64)
    nan_count = int(np.isnan(values).sum())
    if nan_count:
        raise InputError(f"{name} has {nan_count} NaN values; mark missing depth with 0 instead")
    if (values < 0).any():
        raise InputError(
            f"{name} has negative values (min {values.min():g}); depth must be >= 0 "
            "with 0 = missing (is this disparity or inverse depth?)"
        )
    valid = np.isfinite(values) & (values > 0)
    if not valid.any():
        raise InputError(
            f"{name} has no valid pixels (all zero or infinite); check the file and the depth scale"
        )
    depth = np.where(valid, values * scale, 0.0).astype(np.float32)
    if depth_scale is not None and float(np.median(depth[valid])) > 1000.0:
        warnings.warn(
            f"{name}: median depth is {float(np.median(depth[valid])):g} m with "
            f"depth_scale={depth_scale}; depth_scale is metres per unit "
            f"(did you mean {1.0 / scale:g}?)",
            UserWarning,
            stacklevel=2,
        )
    return depth, valid


def _numbers(text: str) -> list[float] | None:
    """All numbers in ``text`` (commas, whitespace, brackets as separators), or ``None``
    if some token is not a number."""
    tokens = [t for t in re.split(r"[\s,;\[\]()]+", text.strip()) if t]
    try:
        return [float(t) for t in tokens]
    except ValueError:
        return None


def _intrinsics_from_numbers(values: list[float]) -> Intrinsics | None:
    if len(values) == 16:
        m = np.array(values).reshape(4, 4)
    elif len(values) == 9:
        m = np.array(values).reshape(3, 3)
    elif len(values) == 4:
        fx, fy, cx, cy = values
        return (fx, fy, cx, cy)
    else:
        return None
    return (float(m[0, 0]), float(m[1, 1]), float(m[0, 2]), float(m[1, 2]))


def _check_intrinsics(k: Intrinsics, where: str) -> Intrinsics:
    fx, fy, cx, cy = k
    if not all(np.isfinite(v) for v in k) or fx <= 0 or fy <= 0:
        raise InputError(
            f"intrinsics from {where} have fx={fx:g}, fy={fy:g}, cx={cx:g}, cy={cy:g}; "
            "fx and fy must be positive and all values finite"
        )
    return (float(fx), float(fy), float(cx), float(cy))


def load_intrinsics(path: str | os.PathLike[str]) -> Intrinsics:
    """Read pinhole intrinsics ``(fx, fy, cx, cy)`` in pixels from a text file.

    Accepted: a 4x4 matrix (ScanNet ``intrinsic_*.txt``), a 3x3 matrix ``K``, or the four
    numbers ``fx fy cx cy`` (whitespace or commas). Lines starting with ``#`` are ignored.
    """
    p = Path(path)
    if not p.is_file():
        raise InputError(f"intrinsics file {p} does not exist; check the path")
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read intrinsics {p} ({exc}); {_INTRINSICS_FORMATS}") from exc
    text = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    values = _numbers(text)
    k = _intrinsics_from_numbers(values) if values is not None else None
    if k is None:
        found = "non-numeric text" if values is None else f"{len(values)} numbers"
        raise InputError(f"cannot read intrinsics {p}: found {found}; {_INTRINSICS_FORMATS}")
    return _check_intrinsics(k, str(p))


def parse_intrinsics(text: str) -> Intrinsics:
    """Parse ``"fx,fy,cx,cy"`` (commas or spaces), as given to ``--intrinsics``.

    If ``text`` is not four numbers but names an existing file, that file is read with
    :func:`load_intrinsics`, so a CLI option can take either form.
    """
    values = _numbers(text)
    if values is not None and len(values) == 4:
        return _check_intrinsics((values[0], values[1], values[2], values[3]), repr(text))
    if text.strip() and Path(text.strip()).is_file():
        return load_intrinsics(text.strip())
    raise InputError(
        f"intrinsics '{text}' are not 'fx,fy,cx,cy'; pass four numbers or an intrinsics file"
    )


def load_pose(path: str | os.PathLike[str]) -> np.ndarray:
    """Read a 4x4 camera-to-world pose (ScanNet ``pose.txt``) as ``float64``.

    A 3x4 ``[R|t]`` is completed with ``[0, 0, 0, 1]``. ScanNet marks frames whose
    tracking failed with ``-inf`` poses; those are rejected rather than propagated.
    """
    p = Path(path)
    if not p.is_file():
        raise InputError(f"pose file {p} does not exist; check the path")
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read pose {p} ({exc}); expected a 4x4 matrix") from exc
    values = _numbers(text)
    if values is None or len(values) not in (12, 16):
        found = "non-numeric text" if values is None else f"{len(values)} numbers"
        raise InputError(f"cannot read pose {p}: found {found}; expected a 4x4 (or 3x4) matrix")
    pose = np.array(values, dtype=np.float64).reshape(-1, 4)
    if pose.shape[0] == 3:
        pose = np.vstack([pose, [0.0, 0.0, 0.0, 1.0]])
    if not np.isfinite(pose).all():
        raise InputError(
            f"pose {p} has non-finite values (ScanNet marks untracked frames this way); "
            "skip this frame"
        )
    return pose
