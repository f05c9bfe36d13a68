"""Tests for zoo.io: atomic writes, image/frame/depth readers, mask writers, overlays.

Expected values are computed by hand in the tests (pixel arithmetic), never by calling
the code under test twice. Real fixtures from ``../shared/fixtures`` are used when that
folder exists and skipped otherwise.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from zoo.errors import InputError
from zoo.io import (
    FolderFrames,
    VideoFrames,
    atomic_output_dir,
    atomic_write,
    coco_results,
    compress_rle,
    davis_palette,
    decode_rle,
    decode_segmentation,
    distinct_colors,
    encode_rle,
    encode_rles,
    ensure_writable_dir,
    load_depth,
    load_image,
    load_intrinsics,
    load_palette_png,
    load_pose,
    mask_bbox,
    natural_key,
    open_frames,
    overlay_amodal,
    overlay_masks,
    overlay_pairs,
    parse_intrinsics,
    read_ply,
    save_mask_png,
    save_palette_png,
    save_png,
    segmentation_rle,
    write_json,
    write_ply,
)

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
FIXTURES = SHARED / "fixtures"


def fixture(rel: str) -> Path:
    path = FIXTURES / rel
    if not path.exists():
        pytest.skip(f"shared fixture {rel} not present (needs ../shared beside the checkout)")
    return path


def one_line(exc: pytest.ExceptionInfo[BaseException]) -> str:
    msg = str(exc.value)
    assert "\n" not in msg, f"error message is not one line: {msg!r}"
    return msg


# --------------------------------------------------------------------------- import hygiene


def test_import_does_not_pull_torch() -> None:
    code = (
        "import sys, zoo.io, zoo.metrics; "
        "heavy = [m for m in ('torch', 'cv2', 'av', 'pycocotools', 'matplotlib') "
        "if m in sys.modules]; "
        "assert not heavy, heavy"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr


# --------------------------------------------------------------------------- atomic


def test_atomic_write_success_and_failure(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "out.txt"
    with atomic_write(target) as tmp:
        assert tmp.parent == target.parent and tmp.suffix == ".txt"
        tmp.write_text("v1")
        assert not target.exists()
    assert target.read_text() == "v1"

    with pytest.raises(RuntimeError), atomic_write(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("boom")
    assert target.read_text() == "v1"  # old version untouched
    assert sorted(p.name for p in target.parent.iterdir()) == ["out.txt"]  # no temp left


def test_atomic_write_gives_normal_permissions(tmp_path: Path) -> None:
    target = tmp_path / "perm.txt"
    with atomic_write(target) as tmp:
        tmp.write_text("x")
    umask = os.umask(0o022)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask


def test_atomic_output_dir_moves_files(tmp_path: Path) -> None:
    out = tmp_path / "results"
    with atomic_output_dir(out) as tmp:
        (tmp / "a.json").write_text("{}")
        (tmp / "masks").mkdir()
        (tmp / "masks" / "00000.png").write_bytes(b"png")
        assert not out.exists()
    assert (out / "a.json").read_text() == "{}"
    assert (out / "masks" / "00000.png").read_bytes() == b"png"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results"]  # temp dir removed


def test_atomic_output_dir_failure_leaves_nothing(tmp_path: Path) -> None:
    out = tmp_path / "results"
    with pytest.raises(ValueError), atomic_output_dir(out) as tmp:
        (tmp / "partial.png").write_bytes(b"half")
        raise ValueError("model crashed")
    assert list(tmp_path.iterdir()) == []

    out.mkdir()
    (out / "old.txt").write_text("keep")
    with pytest.raises(ValueError), atomic_output_dir(out) as tmp:
        (tmp / "old.txt").write_text("new")
        raise ValueError("crash")
    assert (out / "old.txt").read_text() == "keep"


def test_ensure_writable_dir(tmp_path: Path) -> None:
    made = ensure_writable_dir(tmp_path / "new" / "deep")
    assert made.is_dir()
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    with pytest.raises(InputError) as exc:
        ensure_writable_dir(a_file)
    assert "cannot write to --out" in one_line(exc) and "choose a writable folder" in str(exc.value)
    with pytest.raises(InputError) as exc:
        ensure_writable_dir(a_file / "below")
    assert str(a_file / "below") in one_line(exc)


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root ignores permissions"
)
def test_ensure_writable_dir_read_only(tmp_path: Path) -> None:
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        with pytest.raises(InputError, match="cannot write to --out"):
            ensure_writable_dir(ro)
    finally:
        ro.chmod(0o700)


# --------------------------------------------------------------------------- images


def test_load_image_modes(tmp_path: Path) -> None:
    gray = np.array([[0, 100], [200, 255]], dtype=np.uint8)
    Image.fromarray(gray, mode="L").save(tmp_path / "gray.png")
    out = load_image(tmp_path / "gray.png")
    assert out.shape == (2, 2, 3) and out.dtype == np.uint8
    assert (out == gray[:, :, None]).all()

    rgba = np.zeros((2, 2, 4), dtype=np.uint8)
    rgba[..., 0], rgba[..., 1], rgba[..., 2], rgba[..., 3] = 10, 20, 30, 0
    Image.fromarray(rgba, mode="RGBA").save(tmp_path / "rgba.png")
    assert (load_image(tmp_path / "rgba.png") == [10, 20, 30]).all()  # alpha dropped

    la = Image.fromarray(np.full((2, 2), 77, np.uint8), mode="L").convert("LA")
    la.save(tmp_path / "la.png")
    assert (load_image(tmp_path / "la.png") == 77).all()

    pal = Image.fromarray(np.array([[0, 1]], dtype=np.uint8), mode="P")
    pal.putpalette([0, 0, 0, 255, 128, 0] + [0] * 762)
    pal.save(tmp_path / "pal.png")
    assert load_image(tmp_path / "pal.png").tolist() == [[[0, 0, 0], [255, 128, 0]]]

    Image.new("CMYK", (3, 2), (0, 0, 0, 0)).save(tmp_path / "cmyk.jpg")
    cmyk = load_image(tmp_path / "cmyk.jpg")
    assert cmyk.shape == (2, 3, 3) and cmyk.min() > 240  # no ink = white


def test_load_image_16bit_png(tmp_path: Path) -> None:
    raw = np.array([[0, 257, 32768, 65535]], dtype=np.uint16)
    Image.fromarray(raw).save(tmp_path / "d16.png")
    out = load_image(tmp_path / "d16.png")
    # round(v / 257): 0 -> 0, 257 -> 1, 32768 -> 127.5 -> 128 (rounding half up), 65535 -> 255
    assert out[0, :, 0].tolist() == [0, 1, 128, 255]
    assert (out[..., 0] == out[..., 2]).all()


def test_load_image_arrays() -> None:
    f = np.array([[0.0, 0.5, 1.0]], dtype=np.float32)
    assert load_image(f)[0, :, 1].tolist() == [0, 128, 255]  # 127.5 rounds to even 128
    f255 = np.array([[0.0, 12.4, 255.0]])
    assert load_image(f255)[0, :, 0].tolist() == [0, 12, 255]
    u16 = np.array([[514, 65535]], dtype=np.uint16)
    assert load_image(u16)[0, :, 0].tolist() == [2, 255]
    rgba = np.zeros((2, 3, 4), dtype=np.uint8)
    rgba[..., 3] = 255
    assert load_image(rgba).shape == (2, 3, 3)
    one = np.full((2, 3, 1), 9, dtype=np.uint8)
    assert (load_image(one) == 9).all()
    src = np.zeros((2, 2, 3), dtype=np.uint8)
    loaded = load_image(src)
    loaded[0, 0] = 255
    assert src[0, 0, 0] == 0  # a copy, never the caller's array
    pil = Image.fromarray(np.full((4, 5), 3, np.uint8))
    assert load_image(pil).shape == (4, 5, 3)


@pytest.mark.parametrize(
    ("array", "fragment"),
    [
        (np.zeros((3, 40, 50), np.uint8), "channels-first"),
        (np.zeros((4, 4, 2), np.uint8), "expected HxW"),
        (np.array([[0.0, 2.0], [-1.0, 0.5]]), "float values"),
        (np.array([[np.nan, 0.0]]), "NaN"),
        (np.zeros((0, 5), np.uint8), "empty"),
    ],
)
def test_load_image_bad_arrays(array: np.ndarray, fragment: str) -> None:
    with pytest.raises(InputError) as exc:
        load_image(array)
    assert fragment in one_line(exc)


def test_load_image_exif_orientation(tmp_path: Path) -> None:
    im = Image.new("RGB", (4, 2), (10, 20, 30))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    im.save(tmp_path / "rot.jpg", exif=exif)
    assert load_image(tmp_path / "rot.jpg").shape == (4, 2, 3)  # 2x4 stored, 4x2 shown


def test_load_image_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError) as exc:
        load_image(tmp_path / "missing.png")
    assert "missing.png" in one_line(exc) and "does not exist" in str(exc.value)

    (tmp_path / "text.jpg").write_text("this is not a jpeg")
    with pytest.raises(InputError) as exc:
        load_image(tmp_path / "text.jpg")
    assert "text.jpg" in one_line(exc) and "not an image" in str(exc.value)

    with pytest.raises(InputError, match="is a folder"):
        load_image(tmp_path)

    rng = np.random.default_rng(0)
    noisy = rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)
    Image.fromarray(noisy).save(tmp_path / "full.jpg", quality=95)
    data = (tmp_path / "full.jpg").read_bytes()
    (tmp_path / "half.jpg").write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError) as exc:
        load_image(tmp_path / "half.jpg")
    assert "half.jpg is truncated or corrupt" in one_line(exc)


def test_load_image_real_photo() -> None:
    out = load_image(fixture("images/truck.jpg"))
    assert out.shape == (1200, 1800, 3) and out.dtype == np.uint8
    assert out.flags.c_contiguous


def test_save_png_roundtrip(tmp_path: Path) -> None:
    rgb = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    save_png(tmp_path / "a.png", rgb)
    assert (np.array(Image.open(tmp_path / "a.png")) == rgb).all()
    depth = np.array([[0, 1000, 65535]], dtype=np.uint16)
    save_png(tmp_path / "d.png", depth)
    assert np.array(Image.open(tmp_path / "d.png")).tolist() == depth.tolist()
    with pytest.raises(InputError):
        save_png(tmp_path / "bad.png", np.zeros((2, 2), np.float32))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "d.png"]


# --------------------------------------------------------------------------- frames


def _write_frames(folder: Path, names: list[str], sizes: list[tuple[int, int]]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for k, (name, (h, w)) in enumerate(zip(names, sizes, strict=True)):
        Image.fromarray(np.full((h, w, 3), 10 * k, np.uint8)).save(folder / name)


def test_natural_key_order() -> None:
    names = ["frame10.png", "frame2.png", "frame1.png", "Frame3.png"]
    assert sorted(names, key=natural_key) == [
        "frame1.png",
        "frame2.png",
        "Frame3.png",
        "frame10.png",
    ]


def test_folder_frames(tmp_path: Path) -> None:
    names = ["f10.png", "f2.png", "f1.png", ".hidden.png"]
    _write_frames(tmp_path / "v", names, [(6, 8)] * 4)
    (tmp_path / "v" / "notes.txt").write_text("ignored")
    src = open_frames(tmp_path / "v")
    assert isinstance(src, FolderFrames)
    assert len(src) == 3
    assert src.names == ["f1", "f2", "f10"]
    assert src.size == (6, 8)
    # f1.png was written with value 20, f2 with 10, f10 with 0
    assert [int(frame[0, 0, 0]) for _, frame in src] == [20, 10, 0]
    assert int(src[-1][0, 0, 0]) == 0
    with pytest.raises(IndexError):
        src[3]


def test_folder_frames_size_mismatch_detected_lazily(tmp_path: Path) -> None:
    _write_frames(tmp_path / "v", ["00000.jpg", "00001.jpg", "00002.jpg"], [(6, 8), (6, 8), (5, 8)])
    src = open_frames(tmp_path / "v")
    seen = []
    with pytest.raises(InputError) as exc:
        for index, _ in src:
            seen.append(index)
    assert seen == [0, 1]
    msg = one_line(exc)
    assert "00002.jpg" in msg and "8x5" in msg and "8x6" in msg and "00000.jpg" in msg


def test_frames_errors(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError) as exc:
        open_frames(tmp_path / "empty")
    assert "no JPEG/PNG frames" in one_line(exc)
    with pytest.raises(InputError, match="do not exist"):
        open_frames(tmp_path / "nope")
    Image.new("RGB", (4, 4)).save(tmp_path / "single.png")
    with pytest.raises(InputError, match="single image"):
        open_frames(tmp_path / "single.png")
    _write_frames(tmp_path / "dup", ["00000.jpg", "00000.png"], [(4, 4), (4, 4)])
    with pytest.raises(InputError, match="one file per frame"):
        open_frames(tmp_path / "dup")
    (tmp_path / "junk.mp4").write_bytes(b"\x00" * 64 + b"definitely not a video")
    with pytest.raises(InputError) as exc:
        open_frames(tmp_path / "junk.mp4")
    assert "junk.mp4" in one_line(exc) and "ffmpeg" in str(exc.value)


def test_array_frames() -> None:
    frames = [np.full((4, 5), 7, np.uint8), np.full((4, 5, 3), 9, np.uint8)]
    src = open_frames(frames)
    assert len(src) == 2 and src.size == (4, 5) and src.names == ["00000", "00001"]
    assert [int(f[0, 0, 0]) for _, f in src] == [7, 9]
    with pytest.raises(InputError, match="resize all frames"):
        list(open_frames([np.zeros((4, 5), np.uint8), np.zeros((5, 4), np.uint8)]))


def _write_video(path: Path, n: int, h: int = 48, w: int = 64) -> None:
    av = pytest.importorskip("av")
    codec = "mpeg4" if "mpeg4" in av.codecs_available else "libx264"
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream(codec, rate=10)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        for i in range(n):
            img = np.full((h, w, 3), 20 * i + 10, dtype=np.uint8)
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def test_video_frames(tmp_path: Path) -> None:
    path = tmp_path / "clip.mp4"
    _write_video(path, 8)
    src = open_frames(path)
    assert isinstance(src, VideoFrames)
    assert len(src) == 8
    assert src.names[:2] == ["00000", "00001"]
    assert src.size == (48, 64)
    assert src.fps == pytest.approx(10.0)
    means = []
    for index, frame in src:
        assert frame.shape == (48, 64, 3) and frame.dtype == np.uint8
        means.append(float(frame.mean()))
        if index == 4:
            break  # lazy: stopping early must be fine
    assert means == pytest.approx([10, 30, 50, 70, 90], abs=4)
    with src:
        assert float(src[3].mean()) == pytest.approx(70, abs=4)
        assert float(src[5].mean()) == pytest.approx(110, abs=4)  # forward from cursor
        assert float(src[1].mean()) == pytest.approx(30, abs=4)  # restart from the start
    assert sum(1 for _ in src) == 8


def test_real_frame_folder() -> None:
    src = open_frames(fixture("video/bedroom"))
    assert len(src) == 24 and src.size == (540, 960)
    assert src.names[0] == "00000" and src.names[-1] == "00023"
    assert src[23].shape == (540, 960, 3)


# --------------------------------------------------------------------------- depth


def test_load_depth_png_millimetres(tmp_path: Path) -> None:
    raw = np.array([[0, 1000], [1500, 65535]], dtype=np.uint16)
    Image.fromarray(raw).save(tmp_path / "d.png")
    depth, valid = load_depth(tmp_path / "d.png")
    assert depth.dtype == np.float32 and valid.dtype == np.bool_
    assert valid.tolist() == [[False, True], [True, True]]
    assert depth == pytest.approx(np.array([[0.0, 1.0], [1.5, 65.535]]))
    depth_tum, _ = load_depth(tmp_path / "d.png", depth_scale=1 / 5000)
    assert depth_tum[0, 1] == pytest.approx(0.2)


def test_load_depth_numpy(tmp_path: Path) -> None:
    arr = np.array([[0.0, 2.5], [np.inf, 1.25]], dtype=np.float32)
    np.save(tmp_path / "d.npy", arr)
    depth, valid = load_depth(tmp_path / "d.npy")
    assert valid.tolist() == [[False, True], [False, True]]
    assert depth.tolist() == [[0.0, 2.5], [0.0, 1.25]]
    np.savez(tmp_path / "k.npz", rgb=np.zeros(3), depth=arr * 2)
    assert load_depth(tmp_path / "k.npz")[0][0, 1] == pytest.approx(5.0)
    np.savez(tmp_path / "first.npz", arr)
    assert load_depth(tmp_path / "first.npz")[0][1, 1] == pytest.approx(1.25)
    assert load_depth(np.array([[2000]], dtype=np.uint16))[0][0, 0] == pytest.approx(2.0)


def test_load_depth_errors(tmp_path: Path) -> None:
    np.save(tmp_path / "nan.npy", np.array([[1.0, np.nan]]))
    with pytest.raises(InputError) as exc:
        load_depth(tmp_path / "nan.npy")
    assert "NaN" in one_line(exc)
    np.save(tmp_path / "neg.npy", np.array([[1.0, -0.5]]))
    with pytest.raises(InputError) as exc:
        load_depth(tmp_path / "neg.npy")
    assert "negative" in one_line(exc)
    Image.fromarray(np.zeros((3, 3), np.uint16)).save(tmp_path / "zero.png")
    with pytest.raises(InputError, match="no valid pixels"):
        load_depth(tmp_path / "zero.png")
    Image.new("RGB", (3, 3), (1, 2, 3)).save(tmp_path / "color.png")
    with pytest.raises(InputError, match="RGB image"):
        load_depth(tmp_path / "color.png")
    with pytest.raises(InputError, match="does not exist"):
        load_depth(tmp_path / "missing.png")
    with pytest.raises(InputError, match="depth_scale"):
        load_depth(np.ones((2, 2), np.float32), depth_scale=-1)
    with pytest.raises(InputError, match="shape"):
        load_depth(np.ones((2, 2, 3), np.float32))


def test_load_depth_8bit_warns(tmp_path: Path) -> None:
    Image.fromarray(np.array([[0, 200]], np.uint8), mode="L").save(tmp_path / "d8.png")
    with pytest.warns(UserWarning, match="8-bit depth PNG|8-bit PNG"):
        depth, valid = load_depth(tmp_path / "d8.png")
    assert valid.tolist() == [[False, True]] and depth[0, 1] == pytest.approx(0.2)


def test_load_depth_scale_sanity_warning() -> None:
    with pytest.warns(UserWarning, match="metres per unit"):
        load_depth(np.array([[1500]], dtype=np.uint16), depth_scale=1000)


def test_real_scannet_depth() -> None:
    folder = fixture("rgbd/scannet_scene0000_00_1660")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a genuine 16-bit depth must not warn
        depth, valid = load_depth(folder / "depth.png")
    assert depth.shape == (480, 640)
    assert 0.5 < valid.mean() <= 1.0
    assert float(depth[valid].min()) > 0.1 and float(depth[valid].max()) < 10.0
    assert (depth[~valid] == 0).all()


def test_intrinsics_formats(tmp_path: Path) -> None:
    (tmp_path / "k3.txt").write_text("500 0 320\n0 510 240\n0 0 1\n")
    assert load_intrinsics(tmp_path / "k3.txt") == (500.0, 510.0, 320.0, 240.0)
    (tmp_path / "line.txt").write_text("# fx fy cx cy\n500, 510, 320.5, 240.5\n")
    assert load_intrinsics(tmp_path / "line.txt") == (500.0, 510.0, 320.5, 240.5)
    (tmp_path / "bad.txt").write_text("1 2 3\n")
    with pytest.raises(InputError) as exc:
        load_intrinsics(tmp_path / "bad.txt")
    msg = one_line(exc)
    assert "bad.txt" in msg and "3 numbers" in msg and "4x4" in msg and "fx fy cx cy" in msg
    (tmp_path / "words.txt").write_text("fx = five hundred")
    with pytest.raises(InputError, match="non-numeric"):
        load_intrinsics(tmp_path / "words.txt")
    (tmp_path / "neg.txt").write_text("-500 510 320 240")
    with pytest.raises(InputError, match="positive"):
        load_intrinsics(tmp_path / "neg.txt")
    assert parse_intrinsics("525,525,319.5,239.5") == (525.0, 525.0, 319.5, 239.5)
    assert parse_intrinsics("525 525 319.5 239.5") == (525.0, 525.0, 319.5, 239.5)
    assert parse_intrinsics(str(tmp_path / "k3.txt"))[0] == 500.0
    with pytest.raises(InputError, match="fx,fy,cx,cy"):
        parse_intrinsics("525,525")


def test_real_scannet_intrinsics_and_pose() -> None:
    folder = fixture("rgbd/scannet_scene0000_00_1660")
    fx, fy, cx, cy = load_intrinsics(folder / "intrinsic_depth.txt")
    assert (fx, fy, cx, cy) == pytest.approx((577.590698, 578.729797, 318.905426, 242.683609))
    pose = load_pose(folder / "pose.txt")
    assert pose.shape == (4, 4) and pose[3].tolist() == [0, 0, 0, 1]
    assert pose[0, 3] == pytest.approx(4.877258)
    rot = pose[:3, :3]
    assert rot @ rot.T == pytest.approx(np.eye(3), abs=1e-4)  # a real rotation


def test_pose_errors(tmp_path: Path) -> None:
    (tmp_path / "inf.txt").write_text("\n".join(["-inf -inf -inf -inf"] * 4))
    with pytest.raises(InputError, match="non-finite"):
        load_pose(tmp_path / "inf.txt")
    (tmp_path / "short.txt").write_text("1 0 0\n0 1 0\n")
    with pytest.raises(InputError, match="4x4"):
        load_pose(tmp_path / "short.txt")
    (tmp_path / "34.txt").write_text("1 0 0 5\n0 1 0 6\n0 0 1 7\n")
    assert load_pose(tmp_path / "34.txt")[:, 3].tolist() == [5, 6, 7, 1]


# --------------------------------------------------------------------------- masks


def test_rle_roundtrip_and_known_encoding() -> None:
    rng = np.random.default_rng(1)
    mask = rng.random((37, 53)) < 0.3
    rle = encode_rle(mask)
    assert rle["size"] == [37, 53] and isinstance(rle["counts"], str)
    json.dumps(rle)
    assert (decode_rle(rle) == mask).all()
    assert (decode_rle({"size": rle["size"], "counts": rle["counts"].encode()}) == mask).all()
    # Uncompressed RLE runs go down columns (Fortran order): 1 zero, 2 ones, 3 zeros.
    known = decode_rle({"size": [2, 3], "counts": [1, 2, 3]})
    assert known.tolist() == [[False, True, False], [True, False, False]]
    stack = np.stack([mask, ~mask, np.zeros_like(mask)])
    rles = encode_rles(stack)
    assert [decode_rle(r).sum() for r in rles] == [mask.sum(), (~mask).sum(), 0]
    with pytest.raises(InputError):
        decode_rle({"counts": "abc"})


# The square with corners (1, 1) and (3, 3) as pycocotools rasterises polygons: pixel
# (x, y) is in when its centre lies inside, i.e. rows 1-2 and columns 1-2 of a 4x5 image.
_SQUARE = np.array(
    [
        [0, 0, 0, 0, 0],
        [0, 1, 1, 0, 0],
        [0, 1, 1, 0, 0],
        [0, 0, 0, 0, 0],
    ],
    dtype=bool,
)


def test_decode_segmentation_polygons() -> None:
    np.testing.assert_array_equal(decode_segmentation([[1, 1, 3, 1, 3, 3, 1, 3]], 4, 5), _SQUARE)
    # one flat polygon, and a degenerate two-point "polygon" next to a real one
    np.testing.assert_array_equal(decode_segmentation([1, 1, 3, 1, 3, 3, 1, 3], 4, 5), _SQUARE)
    np.testing.assert_array_equal(
        decode_segmentation([[0, 0, 1, 1], [1, 1, 3, 1, 3, 3, 1, 3]], 4, 5), _SQUARE
    )
    # two polygons: their union
    two = decode_segmentation([[1, 1, 3, 1, 3, 3, 1, 3], [3, 0, 5, 0, 5, 2, 3, 2]], 4, 5)
    expected = _SQUARE.copy()
    expected[0:2, 3:5] = True
    np.testing.assert_array_equal(two, expected)
    assert decode_segmentation([], 4, 5).shape == (4, 5) and not decode_segmentation([], 4, 5).any()


def test_decode_segmentation_rle_forms() -> None:
    # Uncompressed RLE runs go down columns (Fortran order), starting with background:
    # off 4 (column 0) + 1, on 2, off 1 + 1, on 2, off 1 + 4 + 4 (columns 3 and 4).
    runs = [5, 2, 2, 2, 9]
    uncompressed = {"size": [4, 5], "counts": runs}
    np.testing.assert_array_equal(decode_segmentation(uncompressed, 4, 5), _SQUARE)
    compressed = encode_rle(_SQUARE)
    np.testing.assert_array_equal(decode_segmentation(compressed, 4, 5), _SQUARE)
    as_bytes = {"size": [4, 5], "counts": compressed["counts"].encode()}
    np.testing.assert_array_equal(decode_segmentation(as_bytes, 4, 5), _SQUARE)
    # frPyObjects turns the list runs into the same compressed string
    assert compress_rle(uncompressed) == {"size": [4, 5], "counts": compressed["counts"].encode()}
    assert segmentation_rle([[1, 1, 3, 1, 3, 3, 1, 3]], 4, 5) == compressed
    assert segmentation_rle(compressed, 4, 5) == compressed


def test_decode_segmentation_arrays() -> None:
    np.testing.assert_array_equal(decode_segmentation(_SQUARE, 4, 5), _SQUARE)
    as_uint8 = _SQUARE.astype(np.uint8) * 255
    out = decode_segmentation(as_uint8, 4, 5)
    assert out.dtype == np.bool_
    np.testing.assert_array_equal(out, _SQUARE)


@pytest.mark.parametrize(
    ("segmentation", "needle"),
    [
        (encode_rle(np.ones((5, 5), bool)), "image is 5x4"),  # another image's mask
        (np.ones((5, 5), bool), "image is 5x4"),
        (
            {"size": [4, 5], "counts": [5, 2]},
            "cover 7 pixels",
        ),  # short runs: garbage in pycocotools
        ({"size": [4, 5]}, "not a COCO RLE"),
        ({"size": [4, 5], "counts": 12}, "not a COCO RLE"),
        ([[1, 1, 3, 1, 3]], "polygon 0"),  # odd number of coordinates
        ([[1, "a", 3, 1, 3, 3]], "polygon 0"),
        ("1 1 3 1", "not COCO"),
        (None, "not COCO"),
    ],
)
def test_decode_segmentation_rejects_garbage(segmentation: Any, needle: str) -> None:
    with pytest.raises(InputError, match=needle) as info:
        decode_segmentation(segmentation, 4, 5)
    assert "\n" not in str(info.value)


def test_mask_png(tmp_path: Path) -> None:
    mask = np.array([[True, False], [False, True]])
    save_mask_png(tmp_path / "m.png", mask)
    im = Image.open(tmp_path / "m.png")
    assert im.mode == "L" and np.array(im).tolist() == [[255, 0], [0, 255]]


def test_davis_palette_known_colours() -> None:
    pal = davis_palette()
    assert pal.shape == (256, 3) and pal.dtype == np.uint8
    assert pal[:5].tolist() == [[0, 0, 0], [128, 0, 0], [0, 128, 0], [128, 128, 0], [0, 0, 128]]
    assert pal[8].tolist() == [64, 0, 0]  # bit 3 -> red bit 6
    assert pal[255].tolist() == [224, 224, 192]
    assert len({tuple(c) for c in pal.tolist()}) == 256


def test_palette_png_roundtrip(tmp_path: Path) -> None:
    labels = np.array([[0, 1, 2], [7, 255, 1]], dtype=np.int64)
    save_palette_png(tmp_path / "p.png", labels)
    im = Image.open(tmp_path / "p.png")
    assert im.mode == "P"
    assert im.getpalette()[3:6] == [128, 0, 0]
    loaded = load_palette_png(tmp_path / "p.png")
    assert loaded.tolist() == labels.tolist() and np.issubdtype(loaded.dtype, np.integer)

    # Annotations re-saved as RGB by an editor map back through the palette.
    im.convert("RGB").save(tmp_path / "rgb.png")
    assert load_palette_png(tmp_path / "rgb.png").tolist() == labels.tolist()
    Image.new("RGB", (2, 2), (1, 2, 3)).save(tmp_path / "foreign.png")
    with pytest.raises(InputError) as exc:
        load_palette_png(tmp_path / "foreign.png")
    assert "(1, 2, 3)" in one_line(exc) and "palette" in str(exc.value)
    with pytest.raises(InputError, match="0-255"):
        save_palette_png(tmp_path / "big.png", np.array([[0, 300]]))


def test_mask_bbox_and_coco_results() -> None:
    masks = np.zeros((2, 10, 12), dtype=bool)
    masks[0, 2:5, 3:9] = True  # rows 2..4, cols 3..8 -> x=3, y=2, w=6, h=3, area 18
    masks[1, 7, 11] = True  # one pixel
    assert mask_bbox(masks[0]) == [3.0, 2.0, 6.0, 3.0]
    assert mask_bbox(np.zeros((3, 3), bool)) == [0.0, 0.0, 0.0, 0.0]
    res = coco_results(
        masks,
        np.array([0.9, 0.4], np.float32),
        image_id=np.int64(5),
        category_ids=[3, 4],
        extra={"source": "test"},
    )
    assert [r["bbox"] for r in res] == [[3.0, 2.0, 6.0, 3.0], [11.0, 7.0, 1.0, 1.0]]
    assert [r["area"] for r in res] == [18, 1]
    assert [r["category_id"] for r in res] == [3, 4]
    assert res[0]["image_id"] == 5 and type(res[0]["image_id"]) is int
    assert res[0]["score"] == pytest.approx(0.9) and res[0]["source"] == "test"
    assert (decode_rle(res[0]["segmentation"]) == masks[0]).all()
    json.dumps(res)
    assert [r["category_id"] for r in coco_results(masks, [1, 1], 0)] == [1, 1]
    per = coco_results(masks, [1, 1], 0, category_ids=2, extra=[{"t": 1}, {"t": 2}])
    assert [(r["category_id"], r["t"]) for r in per] == [(2, 1), (2, 2)]
    with pytest.raises(InputError, match="scores"):
        coco_results(masks, [1.0], 0)


def test_write_json_numpy(tmp_path: Path) -> None:
    obj = {"a": np.int64(3), "b": np.float32(0.5), "c": np.arange(3), "p": tmp_path, "t": (1,)}
    write_json(tmp_path / "o.json", obj)
    assert json.loads((tmp_path / "o.json").read_text()) == {
        "a": 3,
        "b": 0.5,
        "c": [0, 1, 2],
        "p": str(tmp_path),
        "t": [1],
    }


def test_ply_roundtrip(tmp_path: Path) -> None:
    xyz = np.array([[0.0, 1.0, 2.0], [-1.5, 0.25, 3.0], [1e3, -2e3, 0.5]], dtype=np.float64)
    rgb = np.array([[255, 0, 0], [0, 255, 0], [1, 2, 3]], dtype=np.uint8)
    inst = np.array([0, 7, -1])
    label = np.array([3, 3, 12], dtype=np.int16)
    write_ply(tmp_path / "c.ply", xyz, rgb, {"instance": inst, "label": label})
    raw = (tmp_path / "c.ply").read_bytes()
    header, body = raw.split(b"end_header\n", 1)
    assert b"format binary_little_endian 1.0" in header
    assert b"property int instance" in header and b"property uchar red" in header
    assert len(body) == 3 * (3 * 4 + 3 + 2 * 4)  # float xyz + uchar rgb + 2 ints
    out = read_ply(tmp_path / "c.ply")
    assert out["xyz"] == pytest.approx(xyz.astype(np.float32))
    assert out["rgb"].tolist() == rgb.tolist()
    assert out["instance"].tolist() == [0, 7, -1] and out["label"].tolist() == [3, 3, 12]
    with pytest.raises(InputError):
        write_ply(tmp_path / "bad.ply", xyz, extra={"red": inst})


def test_read_ascii_ply(tmp_path: Path) -> None:
    text = (
        "ply\nformat ascii 1.0\nelement vertex 2\nproperty float x\nproperty float y\n"
        "property float z\nproperty int label\nelement face 0\n"
        "property list uchar int vertex_indices\nend_header\n1 2 3 5\n4 5 6 -2\n"
    )
    (tmp_path / "a.ply").write_text(text)
    out = read_ply(tmp_path / "a.ply")
    assert out["xyz"].tolist() == [[1, 2, 3], [4, 5, 6]] and out["label"].tolist() == [5, -2]


# --------------------------------------------------------------------------- overlays


def test_distinct_colors_deterministic() -> None:
    a, b = distinct_colors(12), distinct_colors(12)
    assert a.shape == (12, 3) and a.dtype == np.uint8 and (a == b).all()
    assert len({tuple(c) for c in a.tolist()}) == 12
    assert (distinct_colors(3) == a[:3]).all()


def test_overlay_masks_blend_and_contour() -> None:
    image = np.full((20, 30, 3), 100, dtype=np.uint8)
    mask = np.zeros((20, 30), dtype=bool)
    mask[5:15, 10:20] = True
    out = overlay_masks(image, mask[None], colors=[[200, 0, 50]], alpha=0.5, contour=False)
    assert out.shape == image.shape and out.dtype == np.uint8
    assert out[10, 15].tolist() == [150, 50, 75]  # 0.5*100 + 0.5*colour
    assert out[0, 0].tolist() == [100, 100, 100]
    assert (image == 100).all()  # input untouched
    with_contour = overlay_masks(image, mask[None], colors=[[200, 0, 50]], alpha=0.5)
    assert with_contour[5, 15].tolist() == [200, 0, 50]  # top edge drawn in full colour
    assert with_contour[10, 15].tolist() == [150, 50, 75]
    with pytest.raises(InputError, match="masks have shape"):
        overlay_masks(image, np.zeros((1, 10, 10), bool))


def test_overlay_prompts_and_caption() -> None:
    image = np.zeros((60, 80, 3), dtype=np.uint8)
    out = overlay_masks(
        image,
        np.zeros((0, 60, 80), bool),
        points=[[20, 30], [60, 30]],
        labels=[1, 0],
        boxes=[[5, 5, 75, 55]],
    )
    g, r = out[30, 20], out[30, 60]
    assert g[1] > 150 and g[0] < 50  # positive point: green
    assert r[0] > 150 and r[1] < 80  # negative point: red
    assert out[5, 40].any()  # box edge drawn
    captioned = overlay_masks(image, np.zeros((0, 60, 80), bool), label_text="weights=random")
    assert captioned[:15, :60].max() > 200 and captioned[40:, :].max() == 0  # white text


def test_overlay_outlines_are_thin_and_inside_the_mask() -> None:
    """Issue 21 item 17: a contour marks where the mask ends without hiding the photo: it
    lies inside the mask (the photo outside is untouched) and is 3 px at 1080p."""
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (1080, 1920, 3), dtype=np.uint8)
    mask = np.zeros((1080, 1920), dtype=bool)
    mask[300:800, 500:1400] = True
    out = overlay_masks(image, mask[None], colors=[[255, 0, 255]], alpha=0.5)
    assert (out[~mask] == image[~mask]).all()  # nothing drawn outside the mask
    row = out[550, 480:700]  # crosses the left edge at x = 500
    full = np.flatnonzero((row == [255, 0, 255]).all(axis=1))
    assert full.tolist() == [20, 21, 22]  # a 3 px band from the edge inwards
    small_mask = np.zeros((200, 300), dtype=bool)
    small_mask[50:150, 100:250] = True
    small = overlay_masks(image[:200, :300], small_mask[None], colors=[[255, 0, 255]])
    # 1 px below ~540 px
    assert (small[100, 99:102] == [255, 0, 255]).all(axis=1).tolist() == [False, True, False]


def test_overlay_box_on_its_own_mask_has_a_contrasting_edge() -> None:
    """Issue 21 item 17: a box drawn on its own mask (same hue as the tint and the
    contour) is still visible: its coloured line runs between two dark hairlines."""
    image = np.full((540, 960, 3), 200, dtype=np.uint8)
    mask = np.zeros((540, 960), dtype=bool)
    mask[100:400, 300:600] = True  # the mask fills its box
    color = [240, 140, 40]
    out = overlay_masks(image, mask[None], colors=[color], boxes=[[300, 100, 599, 399]])
    row = out[250, 295:310].astype(int)  # across the left side of box and mask
    dark = np.flatnonzero(row.max(axis=1) < 40)
    assert dark.size >= 2  # hairlines on both sides of the line
    line = np.flatnonzero((row == color).all(axis=1))
    assert line.size >= 1 and dark.min() < line.min() and line.max() < dark.max()
    # the photo just outside the hairline is untouched
    assert (out[250, 295] == 200).all()


@pytest.mark.parametrize("hw", [(1, 1), (2, 2), (3, 5), (5, 3)])
@pytest.mark.parametrize("random_weights", [True, False])
def test_every_result_overlays_at_tiny_sizes(hw: tuple[int, int], random_weights: bool) -> None:
    """Issue 21 item 10: overlays (and the test-mode banner) work at every image size; a
    1x1 image used to raise "x1 must be greater than or equal to x0" (HTTP 500 in serve)."""
    from zoo.prompts import Prompts
    from zoo.results import (
        AmodalResult,
        Provenance,
        RGBDResult,
        SegmentationResult,
        ShadowResult,
        VideoFrameResult,
    )
    from zoo.results.amodal import AmodalInstance
    from zoo.results.shadow import ShadowInstance
    from zoo.specs import Task

    h, w = hw
    image = np.full((h, w, 3), 90, dtype=np.uint8)
    full = np.ones((h, w), dtype=bool)
    weights = "random (seed 0)" if random_weights else "hf://x/y.pt"

    def prov(task: Task) -> Provenance:
        return Provenance(model="toy:v1", weights=weights, task=task)

    box = (0.0, 0.0, float(w), float(h))
    results = [
        SegmentationResult(
            masks=full[None],
            scores=np.array([0.9], np.float32),
            image_size=hw,
            prompts=Prompts.from_json([{"box": list(box), "points": [[0, 0]], "labels": [1]}]),
            provenance=prov(Task.PROMPTABLE),
        ),
        AmodalResult(
            instances=[AmodalInstance(amodal_mask=full, visible_mask=~full, score=0.5, box=box)],
            image_size=hw,
            provenance=prov(Task.AMODAL),
        ),
        ShadowResult(
            instances=[ShadowInstance(association_id=1, object_mask=full, shadow_mask=~full)],
            image_size=hw,
            provenance=prov(Task.SHADOW),
        ),
        RGBDResult(
            masks=full[None],
            labels=["wall"],
            scores=np.array([0.8], np.float32),
            vocabulary=["wall"],
            class_ids=np.array([0]),
            image_size=hw,
            provenance=prov(Task.RGBD),
        ),
        VideoFrameResult(
            frame_index=0,
            frame_name="00000",
            masks={1: full},
            scores={1: 1.0},
            image_size=hw,
            provenance=prov(Task.VIDEO),
        ),
    ]
    for result in results:
        out = result.overlay(image)
        assert out.shape == (h, w, 3) and out.dtype == np.uint8, type(result).__name__
        assert not (out == image).all(), type(result).__name__  # something was drawn
    from zoo.io.overlay import draw_label_text

    captioned = draw_label_text(image, "weights=random (TEST MODE, not a real prediction)")
    assert captioned.shape == image.shape


def test_overlay_amodal_and_pairs() -> None:
    image = np.full((40, 40, 3), 50, dtype=np.uint8)
    amodal = np.zeros((1, 40, 40), dtype=bool)
    amodal[0, 5:35, 5:35] = True
    visible = amodal.copy()
    visible[0, :, 20:] = False
    out = overlay_amodal(image, amodal, visible, colors=[[250, 250, 250]], alpha=0.5)
    solid = out[10:30, 8:18, 0]
    occluded = out[10:30, 22:32, 0]
    assert (solid == 150).all()  # visible part: uniform 50/50 blend
    assert len(np.unique(occluded)) >= 2  # occluded part: stripes
    obj = np.zeros((1, 40, 40), bool)
    obj[0, 2:10, 2:10] = True
    shadow = np.zeros((1, 40, 40), bool)
    shadow[0, 20:38, 20:38] = True
    pair = overlay_pairs(image, obj, shadow)
    assert pair.shape == (40, 40, 3) and (pair[0, 39] == 50).all()
    with pytest.raises(InputError, match="one shadow per object"):
        overlay_pairs(image, obj, np.zeros((2, 40, 40), bool))


def test_atomic_output_dir_creates_no_parent_on_failure(tmp_path: Path) -> None:
    """A failed command leaves nothing behind: not --out, not a missing parent of it."""
    from zoo.io.atomic import atomic_output_dir

    target = tmp_path / "a" / "b" / "out"
    with pytest.raises(RuntimeError), atomic_output_dir(target) as tmp:
        (tmp / "x.txt").write_text("half")
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []
    with atomic_output_dir(target) as tmp:
        (tmp / "x.txt").write_text("whole")
    assert (target / "x.txt").read_text() == "whole"
    assert [p.name for p in tmp_path.iterdir()] == ["a"]
