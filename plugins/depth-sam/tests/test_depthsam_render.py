"""Depth rendering: pixel-exact against matplotlib, inverse vs linear, invalid pixels."""

from __future__ import annotations

import matplotlib
import numpy as np
import pytest
from zoo_depthsam.render import normalise_depth, render_depth

from zoo.errors import InputError

DEPTH = np.array(
    [
        [0.0, 0.5, 1.0, 1.5],
        [2.0, 0.0, 3.0, 4.0],
        [0.8, 1.2, np.inf, 2.5],
    ],
    dtype=np.float32,
)


def _expected(values: np.ndarray, valid: np.ndarray, cmap: str) -> np.ndarray:
    """Independent reference: matplotlib's Normalize over the valid values, then the cmap."""
    v = values[valid].astype(np.float64)
    norm = matplotlib.colors.Normalize(vmin=v.min(), vmax=v.max())
    x = np.zeros(values.shape, dtype=np.float64)
    x[valid] = norm(values[valid].astype(np.float64))
    rgb = matplotlib.colormaps[cmap](x, bytes=True)[..., :3].copy()
    rgb[~valid] = 0
    return rgb


@pytest.mark.parametrize("cmap", ["inferno", "plasma", "viridis", "turbo"])
def test_inverse_depth_matches_matplotlib_pixel_exactly(cmap: str) -> None:
    valid = np.isfinite(DEPTH) & (DEPTH > 0)
    inv = np.zeros_like(DEPTH, dtype=np.float64)
    inv[valid] = 1.0 / DEPTH[valid].astype(np.float64)
    got = render_depth(DEPTH, colormap=cmap, inverse=True)
    assert got.dtype == np.uint8 and got.shape == (3, 4, 3)
    np.testing.assert_array_equal(got, _expected(inv, valid, cmap))


def test_linear_depth_matches_matplotlib_and_orders_the_other_way() -> None:
    valid = np.isfinite(DEPTH) & (DEPTH > 0)
    lin = render_depth(DEPTH, colormap="inferno", inverse=False)
    np.testing.assert_array_equal(lin, _expected(DEPTH.astype(np.float64), valid, "inferno"))
    inv = render_depth(DEPTH, colormap="inferno", inverse=True)
    # nearest valid pixel (0.5 m) is the bright end with inverse depth, the dark end linearly
    top = matplotlib.colormaps["inferno"](1.0, bytes=True)[:3]
    bottom = matplotlib.colormaps["inferno"](0.0, bytes=True)[:3]
    assert tuple(inv[0, 1]) == top and tuple(lin[0, 1]) == bottom
    assert tuple(inv[1, 3]) == bottom and tuple(lin[1, 3]) == top  # farthest, 4 m


def test_invalid_pixels_are_black_and_excluded_from_normalisation() -> None:
    norm, ok = normalise_depth(DEPTH, inverse=False)
    assert not ok[0, 0] and not ok[1, 1] and not ok[2, 2]  # zero and +inf are invalid
    assert norm[ok].min() == 0.0 and norm[ok].max() == 1.0  # min-max over valid pixels only
    rgb = render_depth(DEPTH)
    assert (rgb[~ok] == 0).all()
    # an explicit validity mask removes further pixels from the range
    extra = ok.copy()
    extra[1, 3] = False  # drop the 4 m pixel: 3 m becomes the far end
    norm2, _ = normalise_depth(DEPTH, extra, inverse=False)
    assert norm2[1, 2] == 1.0


def test_constant_depth_maps_to_the_low_end() -> None:
    d = np.full((2, 2), 1.5, np.float32)
    rgb = render_depth(d, colormap="plasma")
    assert (rgb == np.array(matplotlib.colormaps["plasma"](0.0, bytes=True)[:3])).all()


def test_unknown_colormap_is_an_input_error_with_a_suggestion() -> None:
    with pytest.raises(InputError, match=r"unknown colormap 'infern'.*inferno"):
        render_depth(DEPTH, colormap="infern")


def test_all_invalid_depth_is_an_input_error() -> None:
    with pytest.raises(InputError, match="no valid pixels"):
        render_depth(np.zeros((3, 3), np.float32))
