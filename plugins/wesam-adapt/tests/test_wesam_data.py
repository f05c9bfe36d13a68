"""zoo_wesam.corruptions, weak-label prompts and augmentations (no model)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from zoo_wesam.augment import strong_augment, weak_augment
from zoo_wesam.corruptions import CORRUPTIONS, corrupt, corrupt_folder, frost_texture
from zoo_wesam.prompts import coarse_box, coarse_polygon, make_prompts, sample_points

from zoo.data.coco import CocoDataset
from zoo.errors import InputError


def _square_mask(h: int = 20, w: int = 30) -> np.ndarray:
    m = np.zeros((h, w), bool)
    m[5:15, 10:20] = True
    return m


# --------------------------------------------------------------------------- corruptions


def test_all_corruptions_shape_determinism_and_strength() -> None:
    from zoo.testing import synthetic_image

    img = synthetic_image(64, 96)
    stronger = 0
    for name in CORRUPTIONS:
        a = corrupt(img, name, 1, seed=3)
        b = corrupt(img, name, 5, seed=3)
        assert a.shape == img.shape and a.dtype == np.uint8, name
        np.testing.assert_array_equal(b, corrupt(img, name, 5, seed=3))  # seeded: reproducible
        d1 = np.abs(a.astype(int) - img).mean()
        d5 = np.abs(b.astype(int) - img).mean()
        assert d5 > 0.5, f"{name} at severity 5 barely changes the image"
        stronger += d5 > d1
    assert stronger == len(CORRUPTIONS)  # severity 5 always distorts more than severity 1


def test_corruption_errors() -> None:
    img = np.zeros((8, 8, 3), np.uint8)
    with pytest.raises(InputError, match="unknown corruption"):
        corrupt(img, "rain", 3)
    with pytest.raises(InputError, match="severity must be an integer 1-5"):
        corrupt(img, "fog", 6)


def test_frost_texture_is_synthesised() -> None:
    f = frost_texture(40, 60, np.random.default_rng(0))
    assert f.shape == (40, 60, 3) and f.dtype == np.float32
    assert f.min() >= 0.0 and f.max() <= 1.0 and f.std() > 0.02


def test_corrupt_folder_layouts(tmp_path: Path, domain: dict[str, Any]) -> None:
    src = domain["clean_images"]
    one = corrupt_folder(src, tmp_path / "one", "contrast", 2, progress=False)
    names = sorted(p.name for p in (tmp_path / "one").iterdir())
    assert names == sorted(p.name for p in src.iterdir()) and one["images"] == 3
    corrupt_folder(src, tmp_path / "two", "fog,pixelate", 2, progress=False)
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == ["fog", "pixelate"]
    # the annotations of the clean folder fit the corrupted copy unchanged
    ds = CocoDataset(domain["annotations"], tmp_path / "one", require_masks=True)
    assert ds[0].load().shape == (96, 128, 3)
    with pytest.raises(InputError, match="contains no images"):
        empty = tmp_path / "empty"
        empty.mkdir()
        corrupt_folder(empty, tmp_path / "out", "fog", 1, progress=False)
    assert not (tmp_path / "out").exists()


# --------------------------------------------------------------------------- prompts / augment


def test_point_prompts_inside_and_outside() -> None:
    m = _square_mask()
    pts, labels = sample_points(m, np.random.default_rng(0), 5, 5)  # type: ignore[misc]
    assert pts.shape == (10, 2) and labels.tolist() == [1] * 5 + [0] * 5
    for (x, y), lab in zip(pts.astype(int), labels, strict=True):
        assert m[y, x] == bool(lab)
    assert sample_points(np.zeros((4, 4), bool), np.random.default_rng(0)) is None
    assert sample_points(np.ones((4, 4), bool), np.random.default_rng(0)) is None


def test_coarse_polygon_box() -> None:
    m = np.zeros((60, 60), bool)
    yy, xx = np.mgrid[0:60, 0:60]
    m[(yy - 30) ** 2 + (xx - 30) ** 2 <= 15**2] = True
    poly = coarse_polygon(m, 0.05)
    assert poly is not None and 3 <= len(poly) < 20  # simplified: far fewer than the contour
    box = coarse_box(m, 0.05)
    assert box is not None
    assert np.allclose(box, [15, 15, 46, 46], atol=4)  # close to the mask's box


def test_make_prompts_kinds_and_flip() -> None:
    m = _square_mask()
    rng = np.random.default_rng(0)
    boxes = np.array([[10, 5, 20, 15], [0, 0, 0, 5]], np.float32)  # 2nd has zero width
    p, keep = make_prompts("box", 20, 30, rng, boxes=boxes)
    assert keep.tolist() == [0] and len(p) == 1
    f = p.flipped(True, True)
    np.testing.assert_array_equal(f.boxes[0], [10, 5, 20, 15])  # centred square: symmetric
    coords, labels = p.sam_inputs()
    assert coords.shape == (1, 2, 2) and labels.tolist() == [[2, 3]]
    p2, _ = make_prompts("point", 20, 30, rng, masks=m[None])
    flipped = p2.flipped(True, False)
    assert np.all(flipped.points[..., 0] == 29 - p2.points[..., 0])
    assert len(p2.to_prompts()) == 1
    with pytest.raises(InputError, match="use --prompt box"):
        make_prompts("coarse", 20, 30, rng, boxes=boxes)


def test_augmentations_keep_geometry_and_flip_prompts() -> None:
    rng = np.random.default_rng(0)
    img = np.zeros((20, 30, 3), np.uint8)
    img[5:15, 10:20] = 200
    img[0, 0] = 255  # a marker to follow through the flips
    for _ in range(8):
        weak, hf, vf = weak_augment(img, rng)
        y = 19 if vf else 0
        x = 29 if hf else 0
        assert tuple(weak[y, x]) == (255, 255, 255)
        strong = strong_augment(weak, rng, p=1.0)
        assert strong.shape == weak.shape and strong.dtype == np.uint8
