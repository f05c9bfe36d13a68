"""Pictures of a depth-sam result: class colours, the labelled overlay, legend, cloud renders.

Pure functions of arrays (no model, no result type), so :mod:`zoo_depthsam.results` can
use them without an import cycle.

The cloud renders are plain orthographic scatter plots so nobody needs a 3D viewer to see
whether the lifting worked; "up" is world +z when a ScanNet pose was applied (ScanNet's
world frame is z-up) and camera -y otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image

UNLABELLED_RGB = (160, 160, 160)


def class_colors(n: int) -> np.ndarray:
    """Colour of class ``k``: DAVIS palette entry ``k + 1``, as viewers show semantic.png."""
    from zoo.io.masks import davis_palette

    pal = davis_palette()
    idx = np.arange(n) + 1
    return pal[np.minimum(idx, 255)]


def paint_order(masks: np.ndarray) -> np.ndarray:
    """Indices by area, largest first, so smaller (usually finer) masks end up on top."""
    area = masks.reshape(masks.shape[0], -1 if masks.shape[0] else 0).sum(axis=1)
    return np.argsort(-area, kind="stable")


def paint(masks: np.ndarray, values: np.ndarray, base: np.ndarray) -> np.ndarray:
    """Write ``values[i]`` wherever mask ``i`` is set, larger masks first."""
    out = base.copy()
    for i in paint_order(masks):
        out[masks[i]] = values[i]
    return out


def _figure(width_px: int, height_px: int) -> tuple[Any, Any]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    dpi = 100
    fig = Figure(figsize=(width_px / dpi, height_px / dpi), dpi=dpi)
    canvas = FigureCanvasAgg(fig)
    return fig, canvas


def _to_rgb(canvas: Any) -> np.ndarray:
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def legend_image(
    names: Sequence[str], colors: np.ndarray, counts: Sequence[int], title: str = ""
) -> np.ndarray:
    """A legend of ``names`` with colour swatches and pixel shares, as an RGB array."""
    from matplotlib.patches import Patch

    rows = max(len(names), 1) + (1 if title else 0)
    fig, canvas = _figure(360, 40 + 22 * rows)
    total = max(int(sum(counts)), 1)
    handles = [
        Patch(
            facecolor=(float(c[0]) / 255.0, float(c[1]) / 255.0, float(c[2]) / 255.0),
            edgecolor="black",
            label=f"{n} ({100.0 * k / total:.1f}%)",
        )
        for n, c, k in zip(names, colors, counts, strict=True)
    ]
    fig.legend(
        handles=handles or [Patch(color="white", label="(no masks)")],
        loc="upper left",
        frameon=False,
        fontsize=10,
        handlelength=1.6,
        title=title or None,
        title_fontsize=8,
    )
    return _to_rgb(canvas)


def _inside_point(mask: np.ndarray) -> tuple[int, int]:
    """The mask pixel farthest from its border: a label anchor that is surely inside."""
    import cv2

    dist = cv2.distanceTransform(np.pad(mask, 1).astype(np.uint8), cv2.DIST_L2, 3)[1:-1, 1:-1]
    y, x = np.unravel_index(int(dist.argmax()), dist.shape)
    return int(x), int(y)


def semantic_overlay(
    image: np.ndarray,
    masks: np.ndarray,
    class_ids: np.ndarray,
    labels: Sequence[str],
    num_classes: int,
) -> np.ndarray:
    """RGB with each mask tinted in its class colour and named at an interior point."""
    from PIL import ImageDraw, ImageFont

    from zoo.io.overlay import overlay_masks

    order = paint_order(masks) if len(masks) else np.zeros(0, np.int64)
    colors = class_colors(num_classes)
    mask_colors = colors[class_ids[order]] if len(order) else np.zeros((0, 3), np.uint8)
    out = overlay_masks(image, masks[order], colors=mask_colors, alpha=0.5)
    h, w = out.shape[:2]
    pil = Image.fromarray(out)
    draw = ImageDraw.Draw(pil)
    try:
        font: Any = ImageFont.load_default(size=max(11, min(h, w) // 40))
    except TypeError:  # Pillow < 10.1 has one bitmap size
        font = ImageFont.load_default()
    min_area = 0.01 * h * w  # naming every sliver would hide the image
    for i in order:
        if masks[i].sum() < min_area:
            continue
        x, y = _inside_point(masks[i])
        text = labels[int(i)]
        box = draw.textbbox((x, y), text, font=font, anchor="mm")
        draw.rectangle(box, fill=(0, 0, 0))
        draw.text((x, y), text, fill=(255, 255, 255), font=font, anchor="mm")
    return np.asarray(pil)


def point_colors(points_label: np.ndarray, num_classes: int) -> np.ndarray:
    """Class colour per point (grey where unlabelled, ``-1``)."""
    colors = class_colors(num_classes)
    out = np.empty((len(points_label), 3), dtype=np.uint8)
    out[:] = UNLABELLED_RGB
    ok = points_label >= 0
    out[ok] = colors[points_label[ok]]
    return out


def _up_frame(world: bool) -> np.ndarray:
    """Rows: right, forward, up axes (orthonormal) in the cloud's frame."""
    if world:  # ScanNet world: z up
        return np.array([[1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0]])
    return np.array([[1.0, 0, 0], [0, 0, 1.0], [0, -1.0, 0]])  # camera: x right, z fwd, -y up


def render_cloud(
    xyz: np.ndarray,
    colors: np.ndarray,
    *,
    view: str,
    world: bool,
    size: int = 640,
    max_points: int = 60000,
    title: str = "",
) -> np.ndarray:
    """Orthographic scatter of a coloured cloud: ``view`` "top" (looking down the up axis)
    or "oblique" (azimuth -45 deg, elevation 35 deg), far points drawn first."""
    fig, canvas = _figure(size, size)
    ax = fig.add_axes((0.02, 0.02, 0.96, 0.90))
    ax.set_axis_off()
    if title:
        fig.suptitle(title, fontsize=9)
    if len(xyz) == 0:
        ax.text(0.5, 0.5, "no points", ha="center", va="center")
        return _to_rgb(canvas)
    if len(xyz) > max_points:  # even stride keeps the picture deterministic
        step = int(np.ceil(len(xyz) / max_points))
        xyz, colors = xyz[::step], colors[::step]
    frame = _up_frame(world)
    p = (xyz - xyz.mean(axis=0)) @ frame.T  # columns: right, forward, up
    if view == "top":
        u, v, depth = p[:, 0], p[:, 1], p[:, 2]  # looking down: near = high
    else:
        az, el = np.deg2rad(-45.0), np.deg2rad(35.0)
        rx = p[:, 0] * np.cos(az) - p[:, 1] * np.sin(az)
        ry = p[:, 0] * np.sin(az) + p[:, 1] * np.cos(az)
        u = rx
        v = p[:, 2] * np.cos(el) - ry * np.sin(el)
        depth = -(ry * np.cos(el) + p[:, 2] * np.sin(el))
    order = np.argsort(depth, kind="stable")
    ax.scatter(u[order], v[order], c=colors[order] / 255.0, s=1.0, marker=".", linewidths=0)
    ax.set_aspect("equal")
    return _to_rgb(canvas)
