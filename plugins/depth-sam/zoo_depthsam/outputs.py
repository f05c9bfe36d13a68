"""Writing a :class:`~zoo_depthsam.model.DepthSamResult` to disk, and looking at clouds.

Files (all written together through :func:`zoo.io.atomic.atomic_output_dir`):

===================== ==============================================================
``semantic.png``      palette PNG, value ``k + 1`` = vocabulary class ``k``, 0 unlabelled
``legend.png``        the classes present with their palette colours
``classes.json``      index, PNG value, name, colour and pixel count of every class
``instances.png``     16-bit PNG, value ``i + 1`` = mask ``i`` of ``results.json``, 0 none
``results.json``      COCO results (RLE masks) with class names, scores, source, timings
``overlay.png``       the RGB image with masks tinted by class and named
``depth_render.png``  the colour-mapped depth SAM saw (depth resolution)
``points.ply``        x y z red green blue instance label (binary PLY), with intrinsics
``cloud_top.png``     the labelled cloud seen from above (matplotlib, Agg backend)
``cloud_oblique.png`` the labelled cloud from an oblique viewpoint
===================== ==============================================================

The cloud renders are plain orthographic scatter plots so nobody needs a 3D viewer to see
whether the lifting worked; "up" is world +z when a ScanNet pose was applied (ScanNet's
world frame is z-up) and camera -y otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

if TYPE_CHECKING:
    from .model import DepthSamResult

UNLABELLED_RGB = (160, 160, 160)


def class_colors(n: int) -> np.ndarray:
    """Colour of class ``k``: DAVIS palette entry ``k + 1``, as viewers show semantic.png."""
    from zoo.io.masks import davis_palette

    pal = davis_palette()
    idx = np.arange(n) + 1
    return pal[np.minimum(idx, 255)]


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


def legend_image(names: Sequence[str], colors: np.ndarray, counts: Sequence[int]) -> np.ndarray:
    """A legend of ``names`` with colour swatches and pixel shares, as an RGB array."""
    from matplotlib.patches import Patch

    rows = max(len(names), 1)
    fig, canvas = _figure(360, 40 + 22 * rows)
    total = max(int(sum(counts)), 1)
    handles = [
        Patch(
            facecolor=np.asarray(c) / 255.0,
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
    )
    return _to_rgb(canvas)


def _inside_point(mask: np.ndarray) -> tuple[int, int]:
    """The mask pixel farthest from its border: a label anchor that is surely inside."""
    import cv2

    dist = cv2.distanceTransform(np.pad(mask, 1).astype(np.uint8), cv2.DIST_L2, 3)[1:-1, 1:-1]
    y, x = np.unravel_index(int(dist.argmax()), dist.shape)
    return int(x), int(y)


def semantic_overlay(image: np.ndarray, result: DepthSamResult) -> np.ndarray:
    """RGB with each mask tinted in its class colour and named at an interior point."""
    from PIL import ImageDraw, ImageFont

    from zoo.io.overlay import overlay_masks

    from .model import paint_order

    order = paint_order(result.masks) if len(result) else np.zeros(0, np.int64)
    colors = class_colors(len(result.vocabulary))
    mask_colors = colors[result.class_ids[order]] if len(order) else np.zeros((0, 3), np.uint8)
    caption = result.provenance.label if result.provenance.is_random else None
    out = overlay_masks(
        image, result.masks[order], colors=mask_colors, alpha=0.5, label_text=caption
    )
    h, w = out.shape[:2]
    pil = Image.fromarray(out)
    draw = ImageDraw.Draw(pil)
    try:
        font: Any = ImageFont.load_default(size=max(11, min(h, w) // 40))
    except TypeError:  # Pillow < 10.1 has one bitmap size
        font = ImageFont.load_default()
    min_area = 0.01 * h * w  # naming every sliver would hide the image
    for i in order:
        if result.masks[i].sum() < min_area:
            continue
        x, y = _inside_point(result.masks[i])
        text = result.labels[i]
        box = draw.textbbox((x, y), text, font=font, anchor="mm")
        draw.rectangle(box, fill=(0, 0, 0))
        draw.text((x, y), text, fill=(255, 255, 255), font=font, anchor="mm")
    return np.asarray(pil)


def _point_colors(result: DepthSamResult) -> np.ndarray:
    assert result.points_label is not None
    colors = class_colors(len(result.vocabulary))
    out = np.empty((len(result.points_label), 3), dtype=np.uint8)
    out[:] = UNLABELLED_RGB
    ok = result.points_label >= 0
    out[ok] = colors[result.points_label[ok]]
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
    ax = fig.add_axes((0.02, 0.02, 0.96, 0.92))
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


def save_result(
    result: DepthSamResult,
    out_dir: str | Path,
    image: Any,
    *,
    image_id: int | str = 0,
    pose_applied: bool = False,
    extra_json: dict[str, Any] | None = None,
) -> list[Path]:
    """Write every output of one frame into ``out_dir`` (atomically); returns the paths."""
    from zoo.io.atomic import atomic_output_dir
    from zoo.io.images import load_image, save_png
    from zoo.io.masks import coco_results, save_palette_png, write_json, write_ply

    img = load_image(image)
    names = result.vocabulary
    colors = class_colors(len(names))
    sem = result.semantic_map
    counts = np.bincount(sem[sem >= 0].ravel(), minlength=len(names))
    written: list[str] = []
    with atomic_output_dir(out_dir) as tmp:
        tmp = Path(tmp)
        save_palette_png(tmp / "semantic.png", (sem + 1).astype(np.uint8))
        present = [k for k in range(len(names)) if counts[k] > 0]
        legend_names = [names[k] for k in present]
        legend_colors = colors[present] if present else np.zeros((0, 3), np.uint8)
        legend_counts = [int(counts[k]) for k in present]
        unl = int((sem < 0).sum())
        if unl:
            legend_names.append("unlabelled")
            legend_colors = np.vstack([legend_colors, [[0, 0, 0]]]).astype(np.uint8)
            legend_counts.append(unl)
        save_png(tmp / "legend.png", legend_image(legend_names, legend_colors, legend_counts))
        write_json(
            tmp / "classes.json",
            [
                {
                    "index": k,
                    "value": k + 1,
                    "name": n,
                    "color": colors[k].tolist(),
                    "pixels": int(counts[k]),
                }
                for k, n in enumerate(names)
            ],
            indent=1,
        )
        inst = (result.instance_map + 1).astype(np.uint16)
        save_png(tmp / "instances.png", inst)
        extra = [
            {"category_name": lab, "mask_score": float(ms), "class_score": float(cs), "source": src}
            for lab, ms, cs, src in zip(
                result.labels, result.mask_scores, result.class_scores, result.sources, strict=True
            )
        ]
        anns = (
            coco_results(
                result.masks,
                result.scores,
                image_id=image_id,
                category_ids=[int(c) + 1 for c in result.class_ids],
                extra=extra,
            )
            if len(result)
            else []
        )
        payload = {
            "provenance": result.provenance.model_dump(mode="json"),
            "image_size": list(result.image_size),
            "depth_size": list(result.depth_size),
            "mode": result.mode,
            "categories": [{"id": k + 1, "name": n} for k, n in enumerate(names)],
            "annotations": anns,
            "points": None if result.points_xyz is None else len(result.points_xyz),
            "timings_s": {k: round(v, 4) for k, v in result.timings.items()},
            **(extra_json or {}),
        }
        write_json(tmp / "results.json", payload, indent=1)
        save_png(tmp / "overlay.png", semantic_overlay(img, result))
        if result.rendered_depth is not None:
            save_png(tmp / "depth_render.png", result.rendered_depth)
        if result.points_xyz is not None:
            assert result.points_instance is not None and result.points_label is not None
            write_ply(
                tmp / "points.ply",
                result.points_xyz,
                result.points_rgb,
                extra={
                    "instance": result.points_instance.astype(np.int32),
                    "label": result.points_label.astype(np.int32),
                },
            )
            pc = _point_colors(result)
            for view in ("top", "oblique"):
                pic = render_cloud(
                    result.points_xyz,
                    pc,
                    view=view,
                    world=pose_applied,
                    title=f"{len(result.points_xyz)} points, {view} view"
                    + (" (world frame)" if pose_applied else " (camera frame)"),
                )
                save_png(tmp / f"cloud_{view}.png", pic)
        written = sorted(p.name for p in tmp.iterdir())
    out = Path(out_dir)
    return [out / n for n in written]
