"""Mask and result writers: PNG masks, COCO RLE / results JSON, DAVIS palette PNGs, PLY.

The formats are the ones the evaluation tools of each community read, so that outputs of
``zoo run`` can be fed to them unchanged:

* COCO: run-length encoding from ``pycocotools`` (imported lazily) with ``counts``
  decoded to ``str`` so the dict is JSON-serialisable; a results list in the format
  ``COCOeval.loadRes`` expects.
* DAVIS / YouTube-VOS: one palette ("P" mode) PNG per frame whose *indices* are object
  ids, coloured with the standard PASCAL VOC / DAVIS palette.
* Point clouds: binary little-endian PLY (readable by Open3D, MeshLab, CloudCompare).

Every writer is atomic (:mod:`zoo.io.atomic`).
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from zoo.errors import InputError
from zoo.io.atomic import atomic_write

__all__ = [
    "coco_results",
    "compress_rle",
    "davis_palette",
    "decode_rle",
    "decode_segmentation",
    "encode_rle",
    "encode_rles",
    "load_palette_png",
    "mask_bbox",
    "save_mask_png",
    "save_palette_png",
    "segmentation_rle",
    "write_json",
]


# --------------------------------------------------------------------------- RLE


def _as_mask(mask: Any, what: str = "mask") -> np.ndarray:
    arr = np.asarray(mask)
    if arr.ndim != 2:
        raise InputError(f"{what} has shape {tuple(arr.shape)}; expected a 2-D HxW mask")
    return arr.astype(bool, copy=False)


def encode_rle(mask: np.ndarray) -> dict[str, Any]:
    """COCO compressed RLE of a ``HxW`` mask (non-zero = foreground).

    Returns ``{"size": [H, W], "counts": str}``; ``counts`` is decoded from the bytes
    pycocotools produces so that the dict can go straight into ``json.dump``.
    """
    from pycocotools import mask as mask_utils

    arr = _as_mask(mask)
    rle = mask_utils.encode(np.asfortranarray(arr.astype(np.uint8)))
    counts = rle["counts"]
    return {
        "size": [int(arr.shape[0]), int(arr.shape[1])],
        "counts": counts.decode("ascii") if isinstance(counts, bytes) else str(counts),
    }


def encode_rles(masks: np.ndarray | Sequence[np.ndarray]) -> list[dict[str, Any]]:
    """:func:`encode_rle` for each mask of an ``NxHxW`` stack (one pycocotools call)."""
    from pycocotools import mask as mask_utils

    stack = np.asarray(masks)
    if stack.ndim != 3:
        raise InputError(f"masks have shape {tuple(stack.shape)}; expected NxHxW")
    if stack.shape[0] == 0:
        return []
    fortran = np.asfortranarray(stack.astype(bool).transpose(1, 2, 0).astype(np.uint8))
    out = []
    for rle in mask_utils.encode(fortran):
        counts = rle["counts"]
        out.append(
            {
                "size": [int(stack.shape[1]), int(stack.shape[2])],
                "counts": counts.decode("ascii") if isinstance(counts, bytes) else str(counts),
            }
        )
    return out


def compress_rle(rle: Mapping[str, Any]) -> dict[str, Any]:
    """A COCO RLE in the form pycocotools' C functions take: compressed, ``bytes`` counts.

    Uncompressed RLE (``counts`` a list of run lengths, what COCO uses for crowd regions)
    goes through ``frPyObjects``; its runs must cover the image exactly, because
    pycocotools does not check and decodes a short list into garbage pixels.
    """
    from pycocotools import mask as mask_utils

    try:
        h, w = (int(v) for v in rle["size"])
        counts = rle["counts"]
        if isinstance(counts, list):
            runs = [int(c) for c in counts]
            if sum(runs) != h * w or min(runs, default=0) < 0:
                raise ValueError(f"uncompressed counts cover {sum(runs)} pixels, not {h}x{w}")
            return dict(mask_utils.frPyObjects({"size": [h, w], "counts": runs}, h, w))
        if isinstance(counts, str):
            counts = counts.encode("ascii")
        if not isinstance(counts, bytes):
            raise TypeError(f"counts is a {type(counts).__name__}")
        return {"size": [h, w], "counts": counts}
    except (KeyError, TypeError, ValueError, UnicodeEncodeError) as exc:
        raise InputError(
            f"not a COCO RLE ({exc!r}); expected {{'size': [H, W], 'counts': ...}}"
        ) from None


def _decode_c(rle: Mapping[str, Any]) -> np.ndarray:
    from pycocotools import mask as mask_utils

    try:
        with warnings.catch_warnings():
            # pycocotools' RLE wrapper predates NumPy 2's __array__(copy=) protocol and
            # warns on every decode; the result is correct, the warning is just noise.
            warnings.simplefilter("ignore", DeprecationWarning)
            decoded = mask_utils.decode(rle)
    except (TypeError, ValueError) as exc:
        raise InputError(f"not a COCO RLE ({exc!r}); its 'counts' do not decode") from None
    return np.ascontiguousarray(decoded.astype(bool))


def decode_rle(rle: Mapping[str, Any]) -> np.ndarray:
    """Decode a COCO RLE (compressed ``str``/``bytes`` counts, or uncompressed list
    counts) into a ``bool HxW`` mask; the RLE part of :func:`decode_segmentation`."""
    return _decode_c(compress_rle(rle))


def _polygons(segmentation: Sequence[Any]) -> list[list[float]]:
    """Polygons as float lists for pycocotools; one flat ``[x1, y1, ...]`` list is one
    polygon (some labelling tools write that). Polygons of under three points enclose
    nothing and are dropped; an odd number of coordinates is a broken export."""
    flat = all(isinstance(v, (int, float)) for v in segmentation)
    out = []
    for k, poly in enumerate([segmentation] if flat else segmentation):
        try:
            if len(poly) % 2:
                raise ValueError(f"{len(poly)} coordinates, not x, y pairs")
            if len(poly) >= 6:
                out.append([float(v) for v in poly])
        except (TypeError, ValueError) as exc:
            raise InputError(f"polygon {k} is not [x1, y1, x2, y2, ...] ({exc})") from None
    return out


def _c_segmentation(segmentation: Any, height: int, width: int) -> dict[str, Any] | None:
    """Any COCO segmentation as one pycocotools RLE, or ``None`` when it covers nothing."""
    from pycocotools import mask as mask_utils

    if isinstance(segmentation, Mapping):
        return compress_rle(segmentation)
    if not isinstance(segmentation, (list, tuple)):
        raise InputError(
            f"a segmentation of type {type(segmentation).__name__} is not COCO; use polygons "
            "[[x1, y1, ...]] or RLE {'size': [H, W], 'counts': ...}"
        )
    polys = _polygons(segmentation)
    return dict(mask_utils.merge(mask_utils.frPyObjects(polys, height, width))) if polys else None


def decode_segmentation(segmentation: Any, height: int, width: int) -> np.ndarray:
    """Any COCO-style segmentation as a ``bool HxW`` mask: the one decoder of the project.

    Accepts polygons (a list of ``[x1, y1, ...]`` lists, or one flat list), compressed RLE
    (``str`` or ``bytes`` counts), uncompressed RLE (list counts, through pycocotools'
    ``frPyObjects``) and ``HxW`` arrays (non-zero = foreground). Datasets mix these
    (COCOA-cls: polygon amodal masks, RLE visible masks; COCO: RLE for crowds), so no
    reader should care which one it meets. An empty list is an empty mask. Anything else,
    or a mask that is not ``height x width``, is a one-line :class:`InputError`.
    """
    if isinstance(segmentation, np.ndarray):
        mask = segmentation.astype(bool, copy=False)
    else:
        rle = _c_segmentation(segmentation, height, width)
        mask = np.zeros((height, width), dtype=bool) if rle is None else _decode_c(rle)
    if mask.shape != (height, width):
        shape = "x".join(str(v) for v in mask.shape[::-1])
        raise InputError(
            f"a segmentation is {shape} but its image is {width}x{height}; the annotation "
            "belongs to another image size (fix its 'size' or the image entry)"
        )
    return np.ascontiguousarray(mask)


def segmentation_rle(segmentation: Any, height: int, width: int) -> dict[str, Any]:
    """Any COCO segmentation as compressed RLE with ``str`` counts (JSON-safe), for ground
    truth handed to pycocotools (polygons resolved against the image size); compressed RLE
    passes through without being decoded."""
    if isinstance(segmentation, np.ndarray):
        return encode_rle(decode_segmentation(segmentation, height, width))
    rle = _c_segmentation(segmentation, height, width)
    if rle is None:
        return encode_rle(np.zeros((height, width), dtype=bool))
    counts = rle["counts"]
    return {
        "size": [int(v) for v in rle["size"]],
        "counts": counts.decode("ascii") if isinstance(counts, bytes) else str(counts),
    }


def mask_bbox(mask: np.ndarray) -> list[float]:
    """COCO box ``[x, y, w, h]`` of the foreground, in pixels (``[0, 0, 0, 0]`` if empty).

    ``w``/``h`` count pixels (a single pixel at ``(x, y)`` gives ``[x, y, 1, 1]``), which
    is what ``pycocotools.mask.toBbox`` returns for the same mask.
    """
    arr = _as_mask(mask)
    rows = np.flatnonzero(arr.any(axis=1))
    if rows.size == 0:
        return [0.0, 0.0, 0.0, 0.0]
    cols = np.flatnonzero(arr.any(axis=0))
    y0, y1 = int(rows[0]), int(rows[-1])
    x0, x1 = int(cols[0]), int(cols[-1])
    return [float(x0), float(y0), float(x1 - x0 + 1), float(y1 - y0 + 1)]


def coco_results(
    masks: np.ndarray | Sequence[np.ndarray],
    scores: np.ndarray | Sequence[float],
    image_id: int | str,
    category_ids: int | Sequence[int] | None = None,
    extra: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """Instance masks of one image as a COCO results list (``COCOeval.loadRes`` format).

    Each entry has ``image_id``, ``category_id`` (1 when ``category_ids`` is ``None``, so
    class-agnostic results evaluate out of the box), ``segmentation`` (RLE with ``str``
    counts), ``score``, ``bbox`` ``[x, y, w, h]`` and ``area`` (pixels). ``extra`` adds
    keys: one mapping for every entry, or a sequence with one mapping per mask (e.g.
    ``{"track_id": 3}``). All values are plain Python types.
    """
    stack = np.asarray(masks)
    if stack.ndim == 2:
        stack = stack[None]
    if stack.ndim != 3:
        raise InputError(f"masks have shape {tuple(stack.shape)}; expected NxHxW")
    n = stack.shape[0]
    score_arr = np.asarray(scores, dtype=np.float64).reshape(-1)
    if score_arr.size != n:
        raise InputError(f"got {n} masks but {score_arr.size} scores; pass one score per mask")
    if category_ids is None:
        cats = [1] * n
    elif isinstance(category_ids, (int, np.integer)):
        cats = [int(category_ids)] * n
    else:
        cats = [int(c) for c in category_ids]
        if len(cats) != n:
            raise InputError(f"got {n} masks but {len(cats)} category ids; pass one id per mask")
    extras: list[Mapping[str, Any]]
    if extra is None:
        extras = [{}] * n
    elif isinstance(extra, Mapping):
        extras = [extra] * n
    else:
        extras = list(extra)
        if len(extras) != n:
            raise InputError(f"got {n} masks but {len(extras)} extra dicts; pass one per mask")
    rles = encode_rles(stack)
    results = []
    for i in range(n):
        mask = stack[i].astype(bool)
        entry: dict[str, Any] = {
            "image_id": int(image_id) if isinstance(image_id, (int, np.integer)) else image_id,
            "category_id": cats[i],
            "segmentation": rles[i],
            "score": float(score_arr[i]),
            "bbox": mask_bbox(mask),
            "area": int(mask.sum()),
        }
        entry.update(_jsonable(dict(extras[i])))
        results.append(entry)
    return results


# --------------------------------------------------------------------------- JSON


def _jsonable(obj: Any) -> Any:
    """Recursively turn numpy scalars/arrays, paths and bytes into JSON types."""
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, bytes):
        return obj.decode("utf-8", errors="replace")
    return obj


def write_json(path: str | os.PathLike[str], obj: Any, indent: int | None = None) -> None:
    """Write ``obj`` as UTF-8 JSON atomically; numpy values and paths are converted.

    Non-finite floats are written as ``NaN``/``Infinity`` (Python's json default), which
    Python and JavaScript's JSON5 read but strict parsers do not; convert them to
    ``None`` first if the consumer is strict.
    """
    text = json.dumps(_jsonable(obj), indent=indent, ensure_ascii=False)
    with atomic_write(path) as tmp:
        tmp.write_text(text + "\n", encoding="utf-8")


# --------------------------------------------------------------------------- PNG masks


def save_mask_png(path: str | os.PathLike[str], mask: np.ndarray) -> None:
    """Write a binary mask as an 8-bit grayscale PNG with values 0 and 255."""
    arr = _as_mask(mask)
    im = Image.fromarray(arr.astype(np.uint8) * np.uint8(255), mode="L")
    with atomic_write(path) as tmp:
        im.save(tmp, format="PNG")


def davis_palette() -> np.ndarray:
    """The 256-colour PASCAL VOC / DAVIS palette as a ``256x3 uint8`` array.

    Colour ``i`` spreads the bits of ``i`` over the channels, most significant bit first:
    bit ``3k`` of ``i`` goes to red bit ``7-k``, bit ``3k+1`` to green, ``3k+2`` to blue.
    So 0 is black, 1 dark red ``(128, 0, 0)``, 2 dark green, 3 olive ``(128, 128, 0)``,
    and every index has a distinct colour.
    """
    idx = np.arange(256)
    palette = np.zeros((256, 3), dtype=np.uint8)
    for k in range(8):  # up to 8 rounds of 3 bits; only the first 3 are non-zero
        shift = 7 - k
        for channel in range(3):
            bit = (idx >> (3 * k + channel)) & 1
            palette[:, channel] |= (bit << shift).astype(np.uint8)
    return palette


def save_palette_png(
    path: str | os.PathLike[str], label_map: np.ndarray, text: Mapping[str, str] | None = None
) -> None:
    """Write an ``HxW`` map of object ids (0 = background, 1..255) as a DAVIS palette PNG.

    The pixel values stored are the ids themselves; the palette only colours them for
    viewers. Evaluation tools read the indices (see :func:`load_palette_png`). ``text``
    goes into tEXt chunks (provenance, the test-mode note).
    """
    arr = np.asarray(label_map)
    if arr.ndim != 2:
        raise InputError(f"label map has shape {tuple(arr.shape)}; expected HxW object ids")
    if arr.dtype == np.bool_:
        arr = arr.astype(np.uint8)
    if not np.issubdtype(arr.dtype, np.integer):
        if np.issubdtype(arr.dtype, np.floating) and np.array_equal(arr, np.round(arr)):
            arr = arr.astype(np.int64)
        else:
            raise InputError(f"label map has dtype {arr.dtype}; pass integer object ids")
    if arr.size and (int(arr.min()) < 0 or int(arr.max()) > 255):
        raise InputError(
            f"label map has ids in [{int(arr.min())}, {int(arr.max())}]; palette PNGs hold "
            "ids 0-255"
        )
    im = Image.fromarray(arr.astype(np.uint8), mode="P")
    im.putpalette(davis_palette().reshape(-1).tolist())
    info = None
    if text:
        from PIL.PngImagePlugin import PngInfo

        info = PngInfo()
        for k, v in text.items():
            info.add_text(k, v)
    with atomic_write(path) as tmp:
        im.save(tmp, format="PNG", pnginfo=info)


def load_palette_png(path: str | os.PathLike[str]) -> np.ndarray:
    """Read object ids from a DAVIS-style annotation PNG as an ``int32 HxW`` array.

    Palette ("P") PNGs give their indices directly (whatever the palette). Grayscale
    ("L") PNGs give their values. RGB(A) PNGs, e.g. annotations re-saved by an editor,
    are mapped back through the DAVIS palette; a colour outside it is an error.
    """
    p = Path(path)
    if not p.is_file():
        raise InputError(f"mask {p} does not exist; check the path")
    try:
        with Image.open(p) as im:
            im.load()
            mode = im.mode
            if mode in ("RGBA", "LA", "PA"):
                arr = np.array(im.convert("RGBA"))[..., :3]
                mode = "RGB"
            else:
                arr = np.array(im)
    except UnidentifiedImageError as exc:
        raise InputError(f"mask {p} is not an image; pass a palette PNG") from exc
    except OSError as exc:
        raise InputError(f"mask {p} is truncated or corrupt ({exc}); re-export it") from exc
    if mode in ("P", "L"):
        return arr.astype(np.int32)
    if mode == "1":
        return arr.astype(np.int32)
    if mode != "RGB":
        raise InputError(f"mask {p} is a {mode} image; pass a palette (P-mode) PNG of object ids")
    palette = davis_palette().astype(np.int64)
    codes = (palette[:, 0] << 16) | (palette[:, 1] << 8) | palette[:, 2]
    order = np.argsort(codes)
    sorted_codes = codes[order]
    rgb = arr.astype(np.int64)
    pix = (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]
    pos = np.clip(np.searchsorted(sorted_codes, pix), 0, 255)
    found = sorted_codes[pos] == pix
    if not found.all():
        bad = arr[~found][0]
        raise InputError(
            f"mask {p} is RGB and has colour {tuple(int(c) for c in bad)} outside the DAVIS "
            "palette; save annotations as palette (P-mode) PNGs"
        )
    return order[pos].astype(np.int32)
