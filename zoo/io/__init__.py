"""Readers and writers shared by every task: images, frames, depth, masks, overlays.

Everything works on numpy arrays and imports only numpy and Pillow at import time;
``av`` (video), ``pycocotools`` (RLE, COCO) and ``cv2`` are imported inside the
functions that need them, and torch never is, so ``zoo list``/``zoo info`` and the
registry stay fast and light.

All user-fixable problems raise :class:`zoo.errors.InputError` with a one-line message;
all writers are atomic (:mod:`zoo.io.atomic`).
"""

from __future__ import annotations

from zoo.io.atomic import atomic_output_dir, atomic_write, ensure_writable_dir
from zoo.io.depth import load_depth, load_intrinsics, load_pose, parse_intrinsics
from zoo.io.frames import (
    ArrayFrames,
    FolderFrames,
    FrameSource,
    VideoFrames,
    natural_key,
    open_frames,
)
from zoo.io.images import load_image, save_png, to_rgb_uint8
from zoo.io.masks import (
    coco_results,
    compress_rle,
    davis_palette,
    decode_rle,
    decode_segmentation,
    encode_rle,
    encode_rles,
    load_palette_png,
    mask_bbox,
    save_mask_png,
    save_palette_png,
    segmentation_rle,
    write_json,
)
from zoo.io.overlay import (
    distinct_colors,
    draw_label_text,
    overlay_amodal,
    overlay_masks,
    overlay_pairs,
)
from zoo.io.ply import read_ply, write_ply

__all__ = [
    "ArrayFrames",
    "FolderFrames",
    "FrameSource",
    "VideoFrames",
    "atomic_output_dir",
    "atomic_write",
    "coco_results",
    "compress_rle",
    "davis_palette",
    "decode_rle",
    "decode_segmentation",
    "distinct_colors",
    "draw_label_text",
    "encode_rle",
    "encode_rles",
    "ensure_writable_dir",
    "load_depth",
    "load_image",
    "load_intrinsics",
    "load_palette_png",
    "load_pose",
    "mask_bbox",
    "natural_key",
    "open_frames",
    "overlay_amodal",
    "overlay_masks",
    "overlay_pairs",
    "parse_intrinsics",
    "read_ply",
    "save_mask_png",
    "save_palette_png",
    "save_png",
    "segmentation_rle",
    "to_rgb_uint8",
    "write_json",
    "write_ply",
]
