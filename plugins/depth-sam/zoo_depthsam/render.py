"""Depth -> RGB rendering: the image SAM actually sees in depth mode.

SAD's observation is that SAM, trained on photos, over-segments texture but finds clean
geometric boundaries when the depth map is shown to it as a colour image. The rendering
choices matter for what SAM can separate:

* **inverse depth** (the default, as upstream does for ScanNet) spends the colormap's range
  on near surfaces, where indoor objects are, instead of on the far wall;
* normalisation is **min-max over valid pixels only**, so the zero "no measurement" pixels
  do not squash every real depth into one end of the colormap;
* invalid pixels are painted **black**, a colour the perceptual colormaps SAD uses
  (``inferno`` for ScanNet, ``plasma`` for SAIL-VOS) only reach at one end.

Colours come from matplotlib's colormap with ``bytes=True``, so a rendering is
pixel-identical to ``matplotlib.colormaps[name](normalised, bytes=True)``.
"""

from __future__ import annotations

import difflib
from typing import Any

import numpy as np

from zoo.errors import InputError

#: Colormaps upstream SAD used: ScanNet renders with inferno, SAIL-VOS with plasma.
DEFAULT_COLORMAP = "inferno"


def get_colormap(name: str) -> Any:
    """A matplotlib colormap by name; an unknown name is an ``InputError`` with suggestions."""
    import matplotlib

    try:
        return matplotlib.colormaps[name]
    except (KeyError, ValueError):
        names = sorted(matplotlib.colormaps)
        close = difflib.get_close_matches(name, names, n=3)
        hint = (
            f"did you mean {', '.join(close)}?" if close else "e.g. inferno, plasma, viridis, turbo"
        )
        raise InputError(
            f"unknown colormap {name!r}; {hint} (any matplotlib colormap works)"
        ) from None


def normalise_depth(
    depth: np.ndarray, valid: np.ndarray | None = None, *, inverse: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Map valid depth to [0, 1] (float64): min-max over valid pixels of depth or 1/depth.

    Returns ``(normalised, valid)``; invalid pixels are 0 in ``normalised``. A constant
    depth (every valid pixel equal) maps to 0, as ``matplotlib.colors.Normalize`` does.
    """
    d = np.asarray(depth, dtype=np.float64)
    if d.ndim != 2:
        raise InputError(f"depth has shape {d.shape}; expected HxW")
    ok = np.isfinite(d) & (d > 0)
    if valid is not None:
        ok &= np.asarray(valid, dtype=bool)
    if not ok.any():
        raise InputError(
            "depth has no valid pixels (all zero, negative or infinite); nothing to render"
        )
    values = np.zeros_like(d)
    values[ok] = 1.0 / d[ok] if inverse else d[ok]
    lo = float(values[ok].min())
    hi = float(values[ok].max())
    out = np.zeros_like(d)
    if hi > lo:
        out[ok] = (values[ok] - lo) / (hi - lo)
    return out, ok


def render_depth(
    depth: np.ndarray,
    valid: np.ndarray | None = None,
    *,
    colormap: str = DEFAULT_COLORMAP,
    inverse: bool = True,
) -> np.ndarray:
    """Render metric depth (HxW, metres, 0 = invalid) as an ``HxWx3 uint8`` RGB image.

    ``inverse=True`` colours 1/depth (near = the bright end of inferno/plasma), as SAD does
    for ScanNet; ``inverse=False`` colours depth linearly. Invalid pixels are black.
    """
    cmap = get_colormap(colormap)
    norm, ok = normalise_depth(depth, valid, inverse=inverse)
    rgba = cmap(norm, bytes=True)
    rgb = np.ascontiguousarray(rgba[..., :3])
    rgb[~ok] = 0
    return rgb
