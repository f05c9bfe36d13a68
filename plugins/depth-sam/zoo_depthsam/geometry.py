"""Pinhole back-projection, resolution matching and voxel down-sampling.

Conventions (ScanNet's): pixel ``(u, v)`` is column ``u``, row ``v`` of the depth map, with
integer coordinates at pixel centres; the camera looks along +z, x right, y down; the
intrinsics ``fx, fy, cx, cy`` belong to the *depth* image (``intrinsic_depth.txt``); a pose
is a 4x4 camera-to-world matrix. A point is

    x = (u - cx) * z / fx,   y = (v - cy) * z / fy,   z = depth(v, u)

and, with a pose ``T``, ``[X Y Z 1]^T = T [x y z 1]^T``. Points are produced in row-major
pixel order over valid pixels, so point ``i`` is the ``i``-th valid pixel of
``depth.ravel()``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from zoo.errors import InputError

#: RGB and depth may differ slightly in aspect (ScanNet colour is 1296x968 = 1.339, depth
#: 640x480 = 1.333; the two cameras are registered by resizing). More than this is a
#: different camera or a cropped image, where resizing would misalign every pixel.
ASPECT_TOLERANCE = 0.02


def check_intrinsics(intrinsics: Any) -> tuple[float, float, float, float]:
    """Accept ``(fx, fy, cx, cy)``, a 3x3 ``K`` or a 4x4 matrix; return the four floats."""
    arr = np.asarray(intrinsics, dtype=np.float64) if not isinstance(intrinsics, str) else None
    if arr is None:
        from zoo.io.depth import parse_intrinsics

        return parse_intrinsics(intrinsics)
    if arr.shape == (4,):
        fx, fy, cx, cy = (float(v) for v in arr)
    elif arr.shape in ((3, 3), (4, 4)):
        fx, fy, cx, cy = float(arr[0, 0]), float(arr[1, 1]), float(arr[0, 2]), float(arr[1, 2])
    else:
        raise InputError(
            f"intrinsics have shape {arr.shape}; give (fx, fy, cx, cy), a 3x3 K or a 4x4 matrix"
        )
    if not all(np.isfinite(v) for v in (fx, fy, cx, cy)) or fx <= 0 or fy <= 0:
        raise InputError(
            f"intrinsics fx={fx:g}, fy={fy:g}, cx={cx:g}, cy={cy:g} are invalid; fx and fy "
            "must be positive and all values finite"
        )
    return fx, fy, cx, cy


def check_pose(pose: Any) -> np.ndarray:
    """A 4x4 (or 3x4) finite camera-to-world matrix as float64."""
    arr = np.asarray(pose, dtype=np.float64)
    if arr.shape == (3, 4):
        arr = np.vstack([arr, [0.0, 0.0, 0.0, 1.0]])
    if arr.shape != (4, 4):
        raise InputError(f"pose has shape {arr.shape}; give a 4x4 camera-to-world matrix")
    if not np.isfinite(arr).all():
        raise InputError(
            "pose has non-finite values (an untracked ScanNet frame?); skip this frame"
        )
    return arr


def check_aspect(rgb_hw: Sequence[int], depth_hw: Sequence[int]) -> None:
    """Refuse RGB/depth pairs whose aspect ratios differ by more than 2 %."""
    (h1, w1), (h2, w2) = rgb_hw, depth_hw
    a, b = w1 / h1, w2 / h2
    if abs(a - b) / b > ASPECT_TOLERANCE:
        raise InputError(
            f"RGB is {w1}x{h1} (aspect {a:.3f}) but depth is {w2}x{h2} (aspect {b:.3f}); "
            "they must show the same view - pass the matching (uncropped) RGB and depth"
        )


def nearest_index(src: int, dst: int) -> np.ndarray:
    """Source index of each destination pixel for nearest resizing (pixel-centre aligned)."""
    idx = np.floor((np.arange(dst) + 0.5) * (src / dst)).astype(np.int64)
    return np.clip(idx, 0, src - 1)


def resize_nearest(arr: np.ndarray, hw: Sequence[int]) -> np.ndarray:
    """Nearest-neighbour resize of the last two axes (masks, label maps) to ``hw``."""
    h, w = int(hw[0]), int(hw[1])
    if arr.shape[-2:] == (h, w):
        return arr
    rows = nearest_index(arr.shape[-2], h)
    cols = nearest_index(arr.shape[-1], w)
    return arr[..., rows[:, None], cols[None, :]]


def resize_image(image: np.ndarray, hw: Sequence[int]) -> np.ndarray:
    """Bilinear (area when shrinking) resize of an RGB uint8 image to ``hw``."""
    import cv2

    h, w = int(hw[0]), int(hw[1])
    if image.shape[:2] == (h, w):
        return image
    shrink = h < image.shape[0] and w < image.shape[1]
    interp = cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
    return cv2.resize(image, (w, h), interpolation=interp)


def backproject(
    depth: np.ndarray,
    valid: np.ndarray,
    intrinsics: Sequence[float],
    pose: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Lift every valid depth pixel to 3D.

    Returns ``(xyz float64 Nx3, flat_index int64 N)`` where ``flat_index`` is the position
    of each point's pixel in ``depth.ravel()`` (row-major), so per-pixel attributes
    (colour, labels) are gathered with ``attr.reshape(-1, ...)[flat_index]``.
    """
    fx, fy, cx, cy = check_intrinsics(intrinsics)
    d = np.asarray(depth, dtype=np.float64)
    flat = np.flatnonzero(np.asarray(valid, dtype=bool).ravel())
    v, u = np.divmod(flat, d.shape[1])
    z = d.ravel()[flat]
    x = (u.astype(np.float64) - cx) * z / fx
    y = (v.astype(np.float64) - cy) * z / fy
    xyz = np.stack([x, y, z], axis=1)
    if pose is not None:
        t = check_pose(pose)
        xyz = xyz @ t[:3, :3].T + t[:3, 3]
    return xyz, flat


def _majority(keys: np.ndarray, values: np.ndarray, n_groups: int) -> np.ndarray:
    """Most frequent value per group (ties: the smallest value), for integer labels."""
    if values.size == 0:
        return np.zeros(0, dtype=values.dtype)
    uniq, codes = np.unique(values, return_inverse=True)
    counts = np.zeros((n_groups, uniq.size), dtype=np.int64)
    np.add.at(counts, (keys, codes), 1)
    return uniq[counts.argmax(axis=1)]


def voxel_downsample(
    xyz: np.ndarray,
    voxel_size: float,
    *,
    rgb: np.ndarray | None = None,
    labels: Sequence[np.ndarray] = (),
) -> tuple[np.ndarray, np.ndarray | None, list[np.ndarray]]:
    """One point per occupied voxel: mean position, mean colour, majority of each label.

    Majority (not mean) for labels because an instance id or class index has no average.
    ``voxel_size <= 0`` returns the inputs unchanged.
    """
    if voxel_size <= 0 or len(xyz) == 0:
        return xyz, rgb, list(labels)
    grid = np.floor(xyz / float(voxel_size)).astype(np.int64)
    _, keys, counts = np.unique(grid, axis=0, return_inverse=True, return_counts=True)
    keys = keys.reshape(-1)
    n = counts.size
    out_xyz = np.zeros((n, 3), dtype=np.float64)
    np.add.at(out_xyz, keys, xyz)
    out_xyz /= counts[:, None]
    out_rgb = None
    if rgb is not None:
        acc = np.zeros((n, 3), dtype=np.float64)
        np.add.at(acc, keys, rgb.astype(np.float64))
        out_rgb = np.clip(np.rint(acc / counts[:, None]), 0, 255).astype(np.uint8)
    out_labels = [_majority(keys, np.asarray(lab), n) for lab in labels]
    return out_xyz, out_rgb, out_labels
