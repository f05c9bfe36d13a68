"""Tests for the one COCO reader (zoo.data.coco) and its dataset dialects (zoo.data.adapters).

Images and annotations are written by the tests; expected masks and boxes are set by hand.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from zoo.data.adapters import AMODAL, COCO_INSTANCES, AnnotationAdapter, SobaAdapter
from zoo.data.coco import CocoDataset, build_coco, read_coco
from zoo.errors import InputError
from zoo.io.masks import encode_rle


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


def _user_error(call: Any, *needles: str) -> str:
    """Run ``call``; it must raise a one-line InputError containing every needle."""
    with pytest.raises(InputError) as info:
        call()
    msg = str(info.value)
    assert "\n" not in msg, msg
    for needle in needles:
        assert needle.lower() in msg.lower(), msg
    return msg


# --------------------------------------------------------------------------- CocoDataset


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


# --------------------------------------------------------------------------- read_coco


def test_read_coco_structure_and_grouping(tmp_path: Path) -> None:
    data = {
        "images": [
            {"id": 2, "file_name": "sub/b.png", "height": 4, "width": 6},
            {"id": 1, "file_name": "a.png"},
        ],
        "annotations": [
            {"image_id": 1, "bbox": [0, 0, 1, 1]},  # no id: numbered from 1 in file order
            {"id": 9, "image_id": "2", "bbox": [0, 0, 2, 2]},  # a string id that is a number
            {"id": 10, "image_id": 1, "bbox": [1, 1, 1, 1]},
        ],
        "categories": [{"id": 3, "name": "cup"}],
        "association_anno": [{"id": 1, "image_id": 1}],
    }
    snapshot = json.loads(json.dumps(data))
    coco = read_coco(data)
    assert data == snapshot  # the caller's dict is never modified
    assert [a["id"] for a in coco.annotations] == [1, 9, 10]
    assert [a["id"] for a in coco.by_image[1]] == [1, 10] and coco.by_image[2][0]["image_id"] == 2
    assert [iid for iid, _, _ in coco.iter_images()] == [2, 1]  # file order
    assert coco.category_names() == {3: "cup"}
    assert coco.section("association_anno") == [{"id": 1, "image_id": 1}]
    assert coco.section("nothing") == []
    # files: direct path, else the base name (exports keep a "train2017/" prefix)
    (tmp_path / "b.png").write_bytes(b"")
    Image.fromarray(np.zeros((3, 5, 3), np.uint8)).save(tmp_path / "a.png")
    assert coco.find_image(2, tmp_path) == tmp_path / "b.png"
    assert coco.image_size(2) == (4, 6)
    assert coco.image_size(1, coco.find_image(1, tmp_path)) == (3, 5)  # measured from the header
    _user_error(lambda: coco.image_size(1), "height/width")
    _user_error(lambda: coco.image(5), "image id 5", "annotations (dict)")


def test_read_coco_errors_name_the_file_and_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "ann.json"
    _user_error(lambda: read_coco(path), str(path), "does not exist", "check")
    _user_error(lambda: read_coco(tmp_path), "is a folder")
    path.write_text("{not json")
    _user_error(lambda: read_coco(path), str(path), "not valid JSON", "line 1")

    def bad(data: Any, *needles: str) -> None:
        path.write_text(json.dumps(data))
        _user_error(lambda: read_coco(path), str(path), *needles)

    im = {"id": 1, "file_name": "a.png"}
    bad([], "not a COCO instance file", "'images' and 'annotations'")
    bad({"images": [im]}, "not a COCO instance file")
    bad({"images": [{"id": 1}], "annotations": []}, "images[0]", "'file_name'")
    bad({"images": [{"id": "one", "file_name": "a"}], "annotations": []}, "image id 'one'")
    bad({"images": [im, im], "annotations": []}, "image id 1 is listed twice")
    bad({"images": [im], "annotations": [{"id": 1}]}, "annotations[0]", "'image_id'")
    bad({"images": [im], "annotations": [{"id": 4, "image_id": 42}]}, "annotation 4", "image id 42")
    bad({"images": [im], "annotations": [], "categories": [{"name": "x"}]}, "'categories'")
    # images-only files (unlabelled data) and annotations of unknown images, when asked
    assert read_coco({"images": [im]}, require_annotations=False).annotations == []
    skipping = read_coco(
        {"images": [im], "annotations": [{"image_id": 7}, {"image_id": 1}]}, unknown_images="skip"
    )
    assert skipping.skipped_unknown_image == 1 and len(skipping.annotations) == 1


# --------------------------------------------------------------------------- adapters


def test_plain_coco_adapter() -> None:
    m = _square_mask()
    ann = {"id": 1, "image_id": 1, "segmentation": encode_rle(m), "bbox": [10, 5, 10, 10]}
    assert COCO_INSTANCES.box(ann) == (10, 5, 20, 15)
    np.testing.assert_array_equal(COCO_INSTANCES.mask(ann, 20, 30), m)
    np.testing.assert_array_equal(COCO_INSTANCES.visible_mask(ann, 20, 30), m)  # modal data
    boxes_only = {"id": 2, "image_id": 1, "bbox": [0, 0, 1, 1]}
    assert not COCO_INSTANCES.has_mask(boxes_only)
    _user_error(lambda: COCO_INSTANCES.mask(boxes_only, 20, 30), "annotation 2", "no segmentation")
    for box in ([1, 2, 3], [1, 2, "w", 4], [0, 0, float("nan"), 1]):
        _user_error(lambda b=box: COCO_INSTANCES.box({"id": 3, "bbox": b}), "annotation 3", "bbox")
    wrong_size = {"id": 4, "image_id": 2, "segmentation": encode_rle(np.ones((5, 5), bool))}
    _user_error(lambda: COCO_INSTANCES.mask(wrong_size, 20, 30), "annotation 4", "image is 30x20")


def test_amodal_adapter_reads_cocoa_d2sa_and_both_kins_dialects() -> None:
    amodal = _square_mask()
    visible = amodal.copy()
    visible[:, 15:] = False
    poly = [[10, 5, 15, 5, 15, 15, 10, 15]]  # the visible half as a polygon
    cocoa = {"segmentation": encode_rle(amodal), "bbox": [10, 5, 10, 10],
             "visible_mask": encode_rle(visible), "visible_bbox": [10, 5, 5, 10]}  # fmt: skip
    kins = {"segmentation": encode_rle(amodal), "bbox": [10, 5, 10, 10],
            "inmodal_seg": poly, "inmodal_bbox": [10, 5, 5, 10]}  # fmt: skip
    kins_orig = {"a_segm": encode_rle(amodal), "a_bbox": [10, 5, 10, 10],
                 "i_segm": encode_rle(visible), "i_bbox": [10, 5, 5, 10]}  # fmt: skip
    for ann in (cocoa, kins, kins_orig):
        assert AMODAL.box(ann) == (10, 5, 20, 15) and AMODAL.visible_box(ann) == (10, 5, 15, 15)
        np.testing.assert_array_equal(AMODAL.mask(ann, 20, 30), amodal)
        np.testing.assert_array_equal(AMODAL.visible_mask(ann, 20, 30), visible)
    # no visible part annotated; an empty value falls through to the next key
    assert AMODAL.visible_mask({"segmentation": encode_rle(amodal)}, 20, 30) is None
    both = {"segmentation": [], "a_segm": encode_rle(amodal), "bbox": [], "a_bbox": [1, 1, 1, 1]}
    np.testing.assert_array_equal(AMODAL.mask(both, 20, 30), amodal)
    assert AMODAL.box(both) == (1, 1, 2, 2)


def test_soba_adapter_roles_and_associations() -> None:
    assert SobaAdapter.for_categories([]).object_category == 1
    soba = SobaAdapter.for_categories([{"id": 7, "name": "Shadow"}, {"id": 4, "name": "object"}])
    assert (soba.object_category, soba.shadow_category) == (4, 7)
    assert soba.role({"category_id": 4}) == "object" and soba.role({"category_id": 7}) == "shadow"
    assert soba.role({"category_id": 1}) is None
    assert soba.association({"association": "2"}) == 2 and soba.association({}) is None
    _user_error(lambda: soba.association({"id": 5, "association": "x"}), "annotation 5", "integer")
    m = _square_mask()
    np.testing.assert_array_equal(soba.mask({"segmentation": encode_rle(m)}, 20, 30), m)


def test_coco_dataset_with_the_amodal_adapter(tmp_path: Path) -> None:
    amodal = _square_mask()
    visible = amodal.copy()
    visible[:, 15:] = False
    coco = {
        "images": [{"id": 1, "file_name": "a.png", "height": 20, "width": 30}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 2, "a_segm": encode_rle(amodal),
                         "a_bbox": [10, 5, 10, 10], "i_segm": encode_rle(visible)}],
    }  # fmt: skip
    ann, imgs = _write(tmp_path, coco, {"a.png": np.zeros((20, 30, 3), np.uint8)})
    inst = CocoDataset(ann, imgs, adapter=AMODAL)[0].instances[0]
    assert inst.box == (10, 5, 20, 15) and inst.visible_box is None
    np.testing.assert_array_equal(inst.mask(20, 30), amodal)
    np.testing.assert_array_equal(inst.visible_mask(20, 30), visible)
    # the plain reader sees no mask nor box under the KINS keys
    _user_error(lambda: CocoDataset(ann, imgs), "neither a bbox nor a segmentation")
    custom = AnnotationAdapter(name="kins-only", mask_keys=("a_segm",), box_keys=("a_bbox",))
    assert CocoDataset(ann, imgs, adapter=custom)[0].instances[0].has_mask


def test_coco_dataset_measures_missing_boxes_and_names_decode_errors(tmp_path: Path) -> None:
    m = _square_mask()
    coco = build_coco([{"file_name": "a.png", "masks": m[None]}])
    del coco["annotations"][0]["bbox"]
    coco["annotations"].append(
        {"id": 2, "image_id": 1, "bbox": [0, 0, 1, 1], "segmentation": [[0, 0, 4, 0, 4, 4, 0]]}
    )
    ann, imgs = _write(tmp_path, coco, {"a.png": np.zeros((20, 30, 3), np.uint8)})
    item = CocoDataset(ann, imgs)[0]
    assert item.instances[0].box == (10, 5, 20, 15)  # measured from the mask
    _user_error(lambda: item.instances[1].mask(20, 30), str(ann), "annotation 2", "polygon 0")


def test_malformed_boxes_name_the_file(tmp_path: Path) -> None:
    coco = build_coco([{"file_name": "a.png", "masks": _square_mask()[None]}])
    coco["annotations"][0]["bbox"] = [1, 2, 3]
    ann, imgs = _write(tmp_path, coco, {"a.png": np.zeros((20, 30, 3), np.uint8)})
    _user_error(lambda: CocoDataset(ann, imgs), str(ann), "annotation 1", "bbox", "[x, y, w, h]")
