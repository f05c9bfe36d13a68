"""Reading amodal annotations (COCOA-cls / D2SA / KINS conventions) and detections (the
core's reader, :mod:`zoo.detections`, which SAMEO's evaluation uses like ``zoo run``)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from zoo_sameo.data import load_amodal_coco
from zoo_sameo.evaluate import fit_boxes

from zoo.detections import read_detections
from zoo.errors import InputError
from zoo.io.images import save_png
from zoo.io.masks import encode_rle


def _masks() -> tuple[np.ndarray, np.ndarray]:
    amodal = np.zeros((40, 60), bool)
    amodal[10:30, 10:40] = True
    visible = amodal.copy()
    visible[:, 25:] = False  # right half hidden
    return amodal, visible


def _write(tmp_path: Path, ann_extra: dict, *, with_image: bool = True) -> tuple[Path, Path]:
    images = tmp_path / "images"
    images.mkdir(exist_ok=True)
    if with_image:
        save_png(images / "a.png", np.zeros((40, 60, 3), np.uint8))
    amodal, _ = _masks()
    ann = {
        "id": 7,
        "image_id": 1,
        "category_id": 3,
        "segmentation": encode_rle(amodal),
        "bbox": [10, 10, 30, 20],
        "iscrowd": 0,
        **ann_extra,
    }
    data = {
        "images": [{"id": 1, "file_name": "a.png", "height": 40, "width": 60}],
        "annotations": [ann],
        "categories": [{"id": 3, "name": "thing"}],
    }
    path = tmp_path / "gt.json"
    path.write_text(json.dumps(data))
    return path, images


def test_cocoa_d2sa_visible_mask(tmp_path: Path) -> None:
    _, visible = _masks()
    path, images = _write(tmp_path, {"visible_mask": encode_rle(visible)})
    ds = load_amodal_coco(path, images)
    a = ds.images[0].annotations[0]
    assert a.amodal_box == (10, 10, 40, 30)
    assert a.modal_box == (10, 10, 25, 30)  # measured from the visible mask
    assert a.visible_mask(40, 60).sum() == visible.sum()


def test_kins_inmodal_seg_and_bbox_polygons(tmp_path: Path) -> None:
    poly = [[10, 10, 25, 10, 25, 30, 10, 30]]
    path, images = _write(tmp_path, {"inmodal_seg": poly, "inmodal_bbox": [10, 10, 15, 20]})
    a = load_amodal_coco(path, images).images[0].annotations[0]
    assert a.modal_box == (10, 10, 25, 30)
    assert a.visible_known and a.visible_mask(40, 60).any()


def test_original_kins_keys(tmp_path: Path) -> None:
    amodal, visible = _masks()
    images = tmp_path / "images"
    images.mkdir()
    save_png(images / "a.png", np.zeros((40, 60, 3), np.uint8))
    data = {
        "images": [{"id": 1, "file_name": "a.png", "height": 40, "width": 60}],
        "annotations": [
            {
                "id": 1,
                "image_id": 1,
                "category_id": 1,
                "a_segm": encode_rle(amodal),
                "a_bbox": [10, 10, 30, 20],
                "i_segm": encode_rle(visible),
                "i_bbox": [10, 10, 15, 20],
            }
        ],
    }
    (tmp_path / "k.json").write_text(json.dumps(data))
    a = load_amodal_coco(tmp_path / "k.json", images).images[0].annotations[0]
    assert a.amodal_box == (10, 10, 40, 30) and a.modal_box == (10, 10, 25, 30)


def test_missing_visible_conventions_warn_and_use_the_amodal_box(tmp_path: Path) -> None:
    path, images = _write(tmp_path, {})
    with pytest.warns(UserWarning, match="no visible mask"):
        ds = load_amodal_coco(path, images)
    a = ds.images[0].annotations[0]
    assert a.modal_box == a.amodal_box and not a.visible_known
    assert ds.warnings


def test_bad_annotation_files_are_input_errors(tmp_path: Path) -> None:
    path, images = _write(tmp_path, {}, with_image=False)
    with pytest.raises(InputError, match="missing"), pytest.warns(UserWarning):
        load_amodal_coco(path, images)
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(InputError, match="not valid JSON"):
        load_amodal_coco(tmp_path / "bad.json", images)
    (tmp_path / "list.json").write_text("[]")
    with pytest.raises(InputError, match="COCO dict"):
        load_amodal_coco(tmp_path / "list.json", images)
    with pytest.raises(InputError, match="does not exist"):
        load_amodal_coco(path, tmp_path / "nope")


def test_detections_parsing_and_bad_shapes(tmp_path: Path) -> None:
    good = [
        {"image_id": 1, "bbox": [1, 2, 10, 20], "score": 0.9, "category_id": 4},
        {"image_id": 1, "bbox": [1, 2, 10, 20], "score": 0.1, "category_id": 4},
        {"image_id": 2, "bbox": [5, 5, 0, 10], "score": 0.9},
    ]  # zero area: skipped
    p = tmp_path / "d.json"
    p.write_text(json.dumps(good))
    found = read_detections(p, 0.3)
    dets = found.by_image
    assert list(dets) == [1] and dets[1][0].box == (1, 2, 11, 22)
    assert dets[1][0].category_id == 4 and dets[1][0].score == 0.9
    assert found.stats == {"read": 3, "kept": 1, "below_threshold": 1, "zero_area": 1}
    assert any("zero-area" in n for n in found.notes())
    # zoo run's own results.json ({"annotations": [...]}) is accepted too
    p.write_text(json.dumps({"annotations": good[:1]}))
    assert read_detections(p).by_image[1][0].score == 0.9
    for bad, needle in [
        ({"x": 1}, "results list"),
        ([1, 2], "image_id"),
        ([{"bbox": [1, 2, 3, 4]}], "image_id"),
        ([{"image_id": 1, "bbox": [1, 2, 3]}], "4 numbers"),
        ([{"image_id": 1, "bbox": [1, 2, 3, 4], "score": "hi"}], "score"),
    ]:
        p.write_text(json.dumps(bad))
        with pytest.raises(InputError, match=needle):
            read_detections(p)


def test_ground_truth_boxes_are_clipped_like_every_prompt() -> None:
    """The evaluation's GT boxes follow the core rule: clipped where they cross the image
    edge, left out (no prompt) when entirely outside it."""
    keep, boxes = fit_boxes([(-3, -1, 70, 50), (60, 0, 80, 10), (5, 5, 10, 10)], 40, 60)
    assert keep == [0, 2]
    assert boxes.dtype == np.float32 and boxes.tolist() == [[0, 0, 60, 40], [5, 5, 10, 10]]
