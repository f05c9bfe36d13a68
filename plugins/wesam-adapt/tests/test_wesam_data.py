"""zoo.data.coco, zoo.data.corruptions, weak-label prompts and augmentations (no model)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from zoo_wesam.augment import strong_augment, weak_augment
from zoo_wesam.prompts import coarse_box, coarse_polygon, make_prompts, sample_points

from zoo.data.coco import CocoDataset, build_coco
from zoo.data.corruptions import CORRUPTIONS, corrupt, corrupt_folder, frost_texture
from zoo.errors import InputError


def _write(tmp: Path, coco: dict[str, Any], images: dict[str, np.ndarray]) -> tuple[Path, Path]:
    img_dir = tmp / "imgs"
    img_dir.mkdir(exist_ok=True)
    for name, arr in images.items():
        Image.fromarray(arr).save(img_dir / name)
    ann = tmp / "ann.json"
    ann.write_text(json.dumps(coco))
    return ann, img_dir


def _square_mask(h: int = 20, w: int = 30) -> np.ndarray:
    m = np.zeros((h, w), bool)
    m[5:15, 10:20] = True
    return m


# --------------------------------------------------------------------------- COCO reader


def test_coco_polygon_rle_and_boxes(tmp_path: Path) -> None:
    m = _square_mask()
    coco = build_coco([{"file_name": "a.png", "masks": m[None]}])
    # a second instance as a polygon (x, y pairs), a third boxes-only
    coco["annotations"].append(
        {
            "id": 2,
            "image_id": 1,
            "category_id": 1,
            "bbox": [0, 0, 4, 4],
            "segmentation": [[0, 0, 4, 0, 4, 4, 0, 4]],
            "iscrowd": 0,
        }
    )
    coco["annotations"].append({"id": 3, "image_id": 1, "category_id": 1, "bbox": [20, 1, 5, 2]})
    coco["annotations"].append(
        {
            "id": 4,
            "image_id": 1,
            "category_id": 1,
            "bbox": [0, 0, 9, 9],
            "iscrowd": 1,
            "segmentation": [[0, 0, 9, 0, 9, 9]],
        }
    )
    ann, imgs = _write(tmp_path, coco, {"a.png": np.zeros((20, 30, 3), np.uint8)})
    ds = CocoDataset(ann, imgs)
    assert len(ds) == 1 and len(ds[0]) == 3  # the crowd annotation is skipped
    item = ds.by_id(1)
    np.testing.assert_array_equal(item.boxes()[0], [10, 5, 20, 15])  # x, y, w, h -> x1, y1, x2, y2
    np.testing.assert_array_equal(item.instances[0].mask(20, 30), m)
    poly = item.instances[1].mask(20, 30)
    assert poly[1:4, 1:4].all() and not poly[10:, 10:].any()
    assert not item.instances[2].has_mask and not ds.has_masks
    assert item.load().shape == (20, 30, 3)
    assert len(CocoDataset(ann, imgs, include_crowd=True)[0]) == 4


def test_coco_errors(tmp_path: Path) -> None:
    m = _square_mask()
    coco = build_coco([{"file_name": "a.png", "masks": m[None]}])
    ann, imgs = _write(tmp_path, coco, {"a.png": np.zeros((20, 30, 3), np.uint8)})
    cases: list[tuple[Any, str]] = [
        (lambda: CocoDataset(tmp_path / "nope.json", imgs), "does not exist"),
        (lambda: CocoDataset(ann, tmp_path / "missing"), "does not exist"),
        (lambda: CocoDataset(ann, imgs, image_ids=[7]), "image id 7"),
    ]
    empty = tmp_path / "empty"
    empty.mkdir()
    cases.append((lambda: CocoDataset(ann, empty), "contains no images"))
    bad_ref = json.loads(json.dumps(coco))
    bad_ref["annotations"][0]["image_id"] = 42
    (tmp_path / "bad_ref.json").write_text(json.dumps(bad_ref))
    cases.append((lambda: CocoDataset(tmp_path / "bad_ref.json", imgs), "image id 42"))
    missing_file = json.loads(json.dumps(coco))
    missing_file["images"].append({"id": 2, "file_name": "b.png", "height": 20, "width": 30})
    (tmp_path / "missing_file.json").write_text(json.dumps(missing_file))
    cases.append((lambda: CocoDataset(tmp_path / "missing_file.json", imgs), "b.png"))
    boxes_only = json.loads(json.dumps(coco))
    del boxes_only["annotations"][0]["segmentation"]
    (tmp_path / "boxes.json").write_text(json.dumps(boxes_only))
    cases.append(
        (
            lambda: CocoDataset(tmp_path / "boxes.json", imgs, require_masks="because"),
            "no segmentation mask; because",
        )
    )
    (tmp_path / "broken.json").write_text("{not json")
    cases.append((lambda: CocoDataset(tmp_path / "broken.json", imgs), "not valid JSON"))
    (tmp_path / "list.json").write_text("[]")
    cases.append((lambda: CocoDataset(tmp_path / "list.json", imgs), "not a COCO instance file"))
    for call, needle in cases:
        with pytest.raises(InputError) as info:
            call()
        msg = str(info.value)
        assert needle.lower() in msg.lower() and "\n" not in msg, msg


def test_coco_size_mismatch_is_reported(tmp_path: Path) -> None:
    coco = build_coco([{"file_name": "a.png", "masks": _square_mask()[None]}])
    ann, imgs = _write(tmp_path, coco, {"a.png": np.zeros((10, 10, 3), np.uint8)})
    with pytest.raises(InputError, match="annotations say 30x20"):
        CocoDataset(ann, imgs)[0].load()


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
