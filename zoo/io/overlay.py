"""Overlays for people: masks blended over the image, contours, prompts, captions.

Pure numpy + Pillow, so overlays work in the same minimal environment as the rest of
:mod:`zoo.io`. Work per mask is restricted to the mask's bounding box, which keeps
automatic-mask-generation outputs (hundreds of small masks on a large photo) fast.

Visual language shared by all task overlays:

* solid tint + full-colour contour: a region the model says is there and visible;
* diagonal stripes ("hatched"): a region that is there but not directly seen (the
  occluded part of an amodal mask) or that belongs to another thing (a shadow cast by
  the object of the same hue);
* green dot: positive point prompt; red dot: negative point prompt; boxes are outlined in
  their mask's colour between two dark hairlines, so a box stays visible where it lies on
  its own mask's tint and contour;
* lines are thin: a mask's contour is drawn *inside* the mask (the photo outside it is
  untouched) and is 1 px wide up to about 540 px, 3 px at 1080p, 6 px at 4K;
* an optional caption in the top-left corner, e.g. ``"weights=random (test mode)"`` so
  that nobody mistakes a smoke test for a result.

Every function works at every image size, down to 1x1 (a caption that cannot be legible
there is clipped to the image; the test mode is still in the PNG's text chunks).
"""

from __future__ import annotations

import colorsys
from collections.abc import Sequence
from typing import Any, Union

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from zoo.errors import InputError
from zoo.io.images import ImageInput, load_image

__all__ = [
    "distinct_colors",
    "draw_boxes",
    "draw_label_text",
    "overlay_amodal",
    "overlay_masks",
    "overlay_pairs",
]

HatchSpec = Union[bool, np.ndarray, None]

POSITIVE_COLOR = (0, 200, 60)
NEGATIVE_COLOR = (230, 30, 30)
#: the hairlines on both sides of a box outline (contrast against its own mask's tint)
BOX_EDGE_COLOR = (16, 16, 16)
_GOLDEN = 0.618033988749895


def distinct_colors(n: int) -> np.ndarray:
    """``n`` deterministic, well separated RGB colours as an ``nx3 uint8`` array.

    Hues advance by the golden ratio (each new hue lands in the largest gap left so far)
    and saturation/value cycle through three levels so neighbours in the sequence also
    differ in brightness. Same ``n`` -> same colours, on every machine.
    """
    if n < 0:
        raise InputError(f"number of colours must be >= 0, got {n}")
    colors = np.zeros((n, 3), dtype=np.uint8)
    levels = ((0.75, 0.95), (0.55, 0.80), (0.90, 0.70))
    for i in range(n):
        hue = (0.08 + i * _GOLDEN) % 1.0
        sat, val = levels[i % 3]
        r, g, b = colorsys.hsv_to_rgb(hue, sat, val)
        colors[i] = (round(r * 255), round(g * 255), round(b * 255))
    return colors


def _lighten(color: np.ndarray, amount: float = 0.5) -> np.ndarray:
    c = color.astype(np.float64)
    return np.rint(c + (255.0 - c) * amount).astype(np.uint8)


def _thickness(h: int, w: int) -> int:
    """Size unit of prompt marks (point radius, stripe period) from thumbnails to 4K."""
    return max(1, round(min(h, w) / 300))


def _line_width(h: int, w: int) -> int:
    """Width of contours and box outlines: 1 px up to ~540 px, 2 to ~900, 3 at 1080p.

    Thin on purpose: an outline marks where a mask ends; a thick one hides the photo
    (hair, fingers, the edge the user wants to judge) under solid colour.
    """
    return max(1, round(min(h, w) / 360))


def _inner_band(mask: np.ndarray, width: int) -> np.ndarray:
    """The mask's pixels within ``width`` px (4-connected) of its boundary: the contour,
    drawn inside the mask so that nothing outside it is covered."""
    inner = mask
    for _ in range(width):
        p = np.pad(inner, 1, constant_values=False)
        inner = p[:-2, 1:-1] & p[2:, 1:-1] & p[1:-1, :-2] & p[1:-1, 2:] & inner
    return mask & ~inner


def _stripes(y0: int, x0: int, h: int, w: int, period: int) -> np.ndarray:
    """Diagonal stripe pattern in image coordinates (so crops line up)."""
    yy, xx = np.mgrid[y0 : y0 + h, x0 : x0 + w]
    return ((xx + yy) // max(1, period // 2)) % 2 == 0


def _bbox(mask: np.ndarray, pad: int, h: int, w: int) -> tuple[int, int, int, int] | None:
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    return (
        max(0, int(rows[0]) - pad),
        min(h, int(rows[-1]) + pad + 1),
        max(0, int(cols[0]) - pad),
        min(w, int(cols[-1]) + pad + 1),
    )


def _as_masks(masks: Any, h: int, w: int, what: str = "masks") -> np.ndarray:
    arr = np.asarray(masks)
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3 or arr.shape[1:] != (h, w):
        if arr.size == 0 and arr.ndim >= 1:
            return np.zeros((0, h, w), dtype=bool)
        raise InputError(
            f"{what} have shape {tuple(arr.shape)} but the image is {h}x{w}; pass NxHxW "
            "masks at image resolution"
        )
    return arr.astype(bool, copy=False)


def _as_colors(colors: Any, n: int) -> np.ndarray:
    if colors is None:
        return distinct_colors(n)
    arr = np.asarray(colors)
    if arr.ndim == 1 and arr.shape[0] == 3:
        arr = np.tile(arr, (n, 1))
    if arr.ndim != 2 or arr.shape[1] != 3 or arr.shape[0] < n:
        raise InputError(f"colors have shape {tuple(arr.shape)}; pass one RGB triple per mask")
    if np.issubdtype(arr.dtype, np.floating) and arr.size and float(arr.max()) <= 1.0:
        arr = arr * 255.0
    return np.clip(np.rint(arr[:n]), 0, 255).astype(np.uint8)


def _load_font(size: int) -> Any:
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, ImportError, OSError):  # older Pillow or no FreeType
        return ImageFont.load_default()


def _wrap(draw: Any, text: str, font: Any, width: int) -> list[str]:
    """Greedy word wrap of ``text`` to lines no wider than ``width`` pixels."""
    lines: list[str] = []
    for word in text.split():
        trial = f"{lines[-1]} {word}" if lines else word
        if lines and draw.textlength(trial, font=font) <= width:
            lines[-1] = trial
        else:
            lines.append(word)
    return lines or [""]


def draw_label_text(image: np.ndarray, text: str) -> np.ndarray:
    """Return a copy of ``image`` with ``text`` in a dark banner across the top.

    The banner always fits inside the image: the font shrinks for narrow images and long
    captions wrap onto further lines (a test-mode label must be readable, never cut off).
    """
    im = Image.fromarray(np.ascontiguousarray(image))
    draw = ImageDraw.Draw(im)
    h, w = image.shape[:2]
    # below ~40 px nothing is legible anyway: no margins, the banner is clipped to the image
    margin = max(2, min(h, w) // 100) if min(h, w) >= 40 else 0
    avail = max(8, w - 4 * margin)
    size = max(8, min(h, w) // 30)
    font = _load_font(size)
    lines = _wrap(draw, text, font, avail)
    while size > 8 and (
        len(lines) > 3 or any(draw.textlength(t, font=font) > avail for t in lines)
    ):
        size -= 1
        font = _load_font(size)
        lines = _wrap(draw, text, font, avail)
    y = margin * 2
    boxes = []
    for line in lines:
        box = draw.textbbox((margin * 2, y), line, font=font)
        boxes.append((line, y))
        y = box[3] + margin
    right = min(
        w - 1, max(int(draw.textbbox((margin * 2, 0), t, font=font)[2]) for t, _ in boxes) + margin
    )
    x0, y0 = min(margin, w - 1), min(margin, h - 1)
    draw.rectangle((x0, y0, max(x0, right), max(y0, min(h - 1, y))), fill=(0, 0, 0))
    for line, ly in boxes:
        draw.text((margin * 2, ly), line, fill=(255, 255, 255), font=font)
    return np.array(im)


def draw_boxes(
    image: np.ndarray,
    boxes: Any,
    colors: Any = None,
    labels: Sequence[str] | None = None,
    dashed: bool = False,
) -> np.ndarray:
    """Outline ``x1, y1, x2, y2`` boxes, each with an optional caption tag above its corner.

    ``colors``: one RGB per box (default :func:`distinct_colors`); ``labels``: one text per
    box (``None`` or ``""`` for no tag). A tag sits on a filled strip of the box's colour,
    inside the image even for boxes at its top edge; ``dashed`` draws dashed outlines (used
    for prompts, as opposed to predictions). Returns a new ``HxWx3 uint8`` image.
    """
    out = np.ascontiguousarray(load_image(image))
    box_arr = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    n = box_arr.shape[0]
    if labels is not None and len(labels) != n:
        raise InputError(f"got {n} boxes but {len(labels)} labels; pass one label per box")
    if n == 0:
        return out.copy()
    palette = _as_colors(colors, n)
    h, w = out.shape[:2]
    t = max(2, _thickness(h, w))
    im = Image.fromarray(out)
    draw = ImageDraw.Draw(im)
    font = _load_font(max(10, min(h, w) // 40))
    for k, (x1, y1, x2, y2) in enumerate(box_arr):
        color = tuple(int(c) for c in palette[k])
        x1, x2 = min(x1, x2), max(x1, x2)
        y1, y2 = min(y1, y2), max(y1, y2)
        if dashed:
            dash = max(4, 3 * t)
            for a, b, c, d in (
                (x1, y1, x2, y1),
                (x2, y1, x2, y2),
                (x1, y2, x2, y2),
                (x1, y1, x1, y2),
            ):
                length = max(abs(c - a), abs(d - b))
                steps = max(1, int(length // dash))
                for i in range(0, steps, 2):
                    f0, f1 = i / steps, min(1.0, (i + 1) / steps)
                    draw.line(
                        (a + (c - a) * f0, b + (d - b) * f0, a + (c - a) * f1, b + (d - b) * f1),
                        fill=color,
                        width=t,
                    )
        else:
            draw.rectangle((x1, y1, x2, y2), outline=color, width=t)
        text = labels[k] if labels is not None else None
        if text:
            left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
            tw, th = right - left, bottom - top
            pad = max(1, t // 2)
            tx = min(max(0.0, x1), max(0.0, w - tw - 2 * pad))
            ty = y1 - th - 2 * pad
            if ty < 0:  # no room above the box: put the tag just inside it
                ty = min(max(0.0, y1), max(0.0, h - th - 2 * pad))
            draw.rectangle((tx, ty, tx + tw + 2 * pad, ty + th + 2 * pad), fill=color)
            luma = 0.299 * color[0] + 0.587 * color[1] + 0.114 * color[2]
            ink = (0, 0, 0) if luma > 140 else (255, 255, 255)
            draw.text((tx + pad - left, ty + pad - top), text, fill=ink, font=font)
    return np.array(im)


def overlay_masks(
    image: ImageInput,
    masks: np.ndarray | Sequence[np.ndarray],
    colors: Any = None,
    alpha: float = 0.5,
    boxes: Any = None,
    points: Any = None,
    labels: Any = None,
    contour: bool = True,
    hatched: Sequence[HatchSpec] | None = None,
    label_text: str | None = None,
) -> np.ndarray:
    """Blend masks over an image and draw contours, boxes and point prompts.

    Args:
        image: anything :func:`zoo.io.images.load_image` accepts.
        masks: ``NxHxW`` (or one ``HxW``) boolean masks at image resolution; later masks
            are drawn over earlier ones.
        colors: ``Nx3`` RGB (0-255, or floats in 0-1); default :func:`distinct_colors`.
        alpha: tint opacity for solid regions (0 = invisible, 1 = opaque).
        boxes: ``Kx4`` ``x1, y1, x2, y2`` boxes; box ``k`` uses mask ``k``'s colour when
            there is one, else green.
        points: ``Kx2`` (or ``NxKx2``) ``x, y`` point prompts in pixels.
        labels: per point 1 (positive, green) or 0 (negative, red); default all 1.
        contour: outline each mask in its colour.
        hatched: per mask ``True`` (stripe the whole mask), ``False``/``None`` (solid),
            or an ``HxW`` boolean region to stripe inside an otherwise solid mask.
        label_text: optional caption drawn in the top-left corner.

    Returns:
        a new ``HxWx3 uint8`` image; the input is never modified.
    """
    out = load_image(image)
    h, w = out.shape[:2]
    stack = _as_masks(masks, h, w)
    n = stack.shape[0]
    palette = _as_colors(colors, n)
    if not 0.0 <= alpha <= 1.0:
        raise InputError(f"alpha must lie in [0, 1], got {alpha}")
    if hatched is not None and len(hatched) != n:
        raise InputError(f"got {n} masks but {len(hatched)} hatched entries; pass one per mask")
    t = _thickness(h, w)
    lw = _line_width(h, w)
    period = max(6, 4 * t)
    work = out.astype(np.float32)

    for i in range(n):
        mask = stack[i]
        box = _bbox(mask, t, h, w)
        if box is None:
            continue
        y0, y1, x0, x1 = box
        m = mask[y0:y1, x0:x1]
        spec = None if hatched is None else hatched[i]
        if spec is None or (isinstance(spec, (bool, np.bool_)) and not spec):
            hatch = np.zeros_like(m)
        elif isinstance(spec, (bool, np.bool_)):
            hatch = m
        else:
            region = np.asarray(spec, dtype=bool)
            if region.shape != (h, w):
                raise InputError(f"hatched region {i} has shape {region.shape}; expected {h}x{w}")
            hatch = region[y0:y1, x0:x1] & m
        solid = m & ~hatch
        color = palette[i].astype(np.float32)
        crop = work[y0:y1, x0:x1]
        crop[solid] = (1.0 - alpha) * crop[solid] + alpha * color
        if hatch.any():
            on = hatch & _stripes(y0, x0, y1 - y0, x1 - x0, period)
            off = hatch & ~on
            strong = min(1.0, alpha + 0.35)
            faint = alpha * 0.25
            crop[on] = (1.0 - strong) * crop[on] + strong * color
            crop[off] = (1.0 - faint) * crop[off] + faint * color
        if contour:
            crop[_inner_band(m, lw)] = color

    result = np.clip(np.rint(work), 0, 255).astype(np.uint8)
    if boxes is not None or points is not None:
        result = _draw_prompts(result, boxes, points, labels, palette, t, lw)
    if label_text:
        result = draw_label_text(result, label_text)
    return result


def _draw_prompts(
    image: np.ndarray,
    boxes: Any,
    points: Any,
    labels: Any,
    palette: np.ndarray,
    t: int,
    lw: int = 1,
) -> np.ndarray:
    im = Image.fromarray(image)
    draw = ImageDraw.Draw(im)
    if boxes is not None:
        box_arr = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        for k, (x1, y1, x2, y2) in enumerate(box_arr):
            color = tuple(int(c) for c in palette[k]) if k < len(palette) else POSITIVE_COLOR
            left, top = round(min(x1, x2)), round(min(y1, y2))
            right, bottom = max(left, round(max(x1, x2))), max(top, round(max(y1, y2)))
            # a dark hairline on each side of the coloured line: the box stays visible
            # where it lies on its own mask (same hue) or on a contour
            draw.rectangle(
                (left - 1, top - 1, right + 1, bottom + 1), outline=BOX_EDGE_COLOR, width=lw + 2
            )
            draw.rectangle((left, top, right, bottom), outline=color, width=lw)
    if points is not None:
        pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        if labels is None:
            lab = np.ones(len(pts), dtype=np.int64)
        else:
            lab = np.asarray(labels).reshape(-1)
            if lab.shape[0] != pts.shape[0]:
                raise InputError(
                    f"got {pts.shape[0]} points but {lab.shape[0]} labels; pass one per point"
                )
        r = max(4, 3 * t)
        for (x, y), label in zip(pts, lab, strict=True):
            fill = POSITIVE_COLOR if int(label) == 1 else NEGATIVE_COLOR
            draw.ellipse(
                (x - r, y - r, x + r, y + r),
                fill=fill,
                outline=(255, 255, 255),
                width=max(1, t // 2),
            )
    return np.array(im)


def overlay_pairs(
    image: ImageInput,
    obj_masks: np.ndarray | Sequence[np.ndarray],
    shadow_masks: np.ndarray | Sequence[np.ndarray],
    colors: Any = None,
    alpha: float = 0.5,
    label_text: str | None = None,
) -> np.ndarray:
    """Object/shadow pairs: pair ``i``'s object is solid, its shadow hatched in a lighter
    tint of the same hue, so the association is visible at a glance."""
    base = load_image(image)
    h, w = base.shape[:2]
    objs = _as_masks(obj_masks, h, w, "object masks")
    shadows = _as_masks(shadow_masks, h, w, "shadow masks")
    if objs.shape[0] != shadows.shape[0]:
        raise InputError(
            f"got {objs.shape[0]} object masks but {shadows.shape[0]} shadow masks; "
            "pass one shadow per object (an empty mask if it has none)"
        )
    n = objs.shape[0]
    palette = _as_colors(colors, n)
    all_colors = np.concatenate(
        [np.stack([_lighten(c) for c in palette]) if n else palette, palette]
    )
    # shadows first so that an object standing on its shadow stays solid on top
    return overlay_masks(
        base,
        np.concatenate([shadows, objs]),
        colors=all_colors,
        alpha=alpha,
        hatched=[True] * n + [False] * n,
        label_text=label_text,
    )


def overlay_amodal(
    image: ImageInput,
    amodal_masks: np.ndarray | Sequence[np.ndarray],
    visible_masks: np.ndarray | Sequence[np.ndarray] | None = None,
    colors: Any = None,
    alpha: float = 0.5,
    label_text: str | None = None,
) -> np.ndarray:
    """Amodal masks: the visible part solid, the occluded part (amodal minus visible)
    striped in the same colour. Without ``visible_masks`` the amodal masks are drawn
    solid, since nothing is known about occlusion."""
    base = load_image(image)
    h, w = base.shape[:2]
    amodal = _as_masks(amodal_masks, h, w, "amodal masks")
    hatched: list[HatchSpec] | None = None
    if visible_masks is not None:
        visible = _as_masks(visible_masks, h, w, "visible masks")
        if visible.shape[0] != amodal.shape[0]:
            raise InputError(
                f"got {amodal.shape[0]} amodal masks but {visible.shape[0]} visible masks; "
                "pass one visible mask per amodal mask"
            )
        hatched = [amodal[i] & ~visible[i] for i in range(amodal.shape[0])]
    return overlay_masks(
        base, amodal, colors=colors, alpha=alpha, hatched=hatched, label_text=label_text
    )
