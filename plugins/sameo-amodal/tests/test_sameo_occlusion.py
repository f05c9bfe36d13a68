"""zoo_sameo.occlusion: the synthetic-occlusion generator (Amodal-LVIS recipe, in small)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from zoo_sameo.occlusion import (
    Instance,
    Scene,
    cutout_from_mask,
    make_synthetic_amodal_dataset,
    occlude,
    occlusion_pair,
    paste_cutout,
    random_shape_cutout,
    synthesize_from_coco,
)

from zoo.errors import InputError
from zoo.io.masks import decode_segmentation, encode_rle


def _scene_with_square(h: int = 64, w: int = 64) -> Scene:
    img = np.full((h, w, 3), 90, np.uint8)
    m = np.zeros((h, w), bool)
    m[20:44, 20:44] = True
    img[m] = (200, 30, 30)
    return Scene(image=img, instances=[Instance(m, m.copy(), 1)])


def test_paste_hides_covered_pixels_and_adds_a_complete_occluder() -> None:
    scene = _scene_with_square()
    cut_mask = np.ones((10, 10), bool)
    cut = cutout_from_mask(np.full((10, 10, 3), 7, np.uint8), cut_mask, 5)
    assert cut is not None
    out = paste_cutout(scene, cut, 15, 15)
    target, occ = out.instances
    assert target.amodal.sum() == 24 * 24  # the amodal mask never changes
    hidden = target.amodal & ~target.visible
    assert hidden.sum() == 5 * 5  # the overlap of [15,25) and [20,44) on both axes
    assert np.array_equal(occ.amodal, occ.visible) and occ.occluder and occ.category_id == 5
    assert (out.image[occ.amodal] == 7).all()
    assert scene.instances[0].visible.sum() == 24 * 24  # the input scene is untouched


def test_occlude_respects_the_requested_cover_fraction() -> None:
    rng = np.random.default_rng(0)
    scene = _scene_with_square(96, 96)
    for _ in range(5):
        donor = random_shape_cutout(rng, (10, 30))
        out = occlude(scene, 0, donor, rng, cover=(0.2, 0.4))
        if out is None:
            continue
        rate = out.instances[0].occlusion_rate
        assert 0.2 <= rate <= 0.4
        assert out.instances[-1].occluder


def test_synthetic_dataset_pairs_unoccluded_and_occluded_versions(tmp_path: Path) -> None:
    path = make_synthetic_amodal_dataset(tmp_path / "d", 6, height=96, width=96, seed=3)
    data = json.loads(path.read_text())
    by_scene: dict[int, list[dict]] = {}
    for im in data["images"]:
        assert (tmp_path / "d" / "images" / im["file_name"]).is_file()
        by_scene.setdefault(im["scene_index"], []).append(im)
    assert any(len(v) == 2 for v in by_scene.values())  # both versions were written
    anns: dict[int, list[dict]] = {}
    for a in data["annotations"]:
        anns.setdefault(a["image_id"], []).append(a)
        amodal = decode_segmentation(a["segmentation"], 96, 96)
        visible = decode_segmentation(a["visible_mask"], 96, 96)
        assert not (visible & ~amodal).any()  # the visible part lies inside the amodal mask
        assert a["occlude_rate"] == pytest.approx(1 - visible.sum() / amodal.sum(), abs=1e-3)
    for im in data["images"]:
        rates = [a["occlude_rate"] for a in anns.get(im["id"], [])]
        if im["occluded_version"]:
            assert max(rates) > 0.1  # something is really hidden
        else:
            assert max(rates) == 0.0  # the unoccluded copy: visible == amodal
    # same seed, same data (the generator is a function of its seed)
    again = make_synthetic_amodal_dataset(tmp_path / "e", 6, height=96, width=96, seed=3)
    assert json.loads(again.read_text())["annotations"] == data["annotations"]


def test_synthesize_from_a_modal_coco_dataset(tmp_path: Path) -> None:
    """Any modal instance dataset (polygons or RLE) becomes amodal training data."""
    from zoo.io.images import save_png

    rng = np.random.default_rng(1)
    (tmp_path / "imgs").mkdir()
    images, annotations = [], []
    for k in range(3):
        img = rng.integers(0, 255, (80, 100, 3)).astype(np.uint8)
        save_png(tmp_path / "imgs" / f"{k}.png", img)
        images.append({"id": k + 1, "file_name": f"{k}.png", "height": 80, "width": 100})
        x0 = 10 + 10 * k
        poly = [x0, 10, x0 + 40, 10, x0 + 40, 50, x0, 50]  # a polygon instance
        annotations.append(
            {
                "id": len(annotations) + 1,
                "image_id": k + 1,
                "category_id": 1,
                "segmentation": [poly],
                "bbox": [x0, 10, 40, 40],
                "iscrowd": 0,
            }
        )
        m = np.zeros((80, 100), bool)
        m[55:75, 60:90] = True  # an RLE instance
        annotations.append(
            {
                "id": len(annotations) + 1,
                "image_id": k + 1,
                "category_id": 2,
                "segmentation": encode_rle(m),
                "bbox": [60, 55, 30, 20],
                "iscrowd": 0,
            }
        )
    coco = {
        "images": images,
        "annotations": annotations,
        "categories": [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}],
    }
    out = synthesize_from_coco(coco, tmp_path / "imgs", tmp_path / "out", seed=0, min_area=100)
    data = json.loads(out.read_text())
    occluded = [im for im in data["images"] if im["occluded_version"]]
    assert occluded, "no occluded version was produced"
    assert {im["source_image_id"] for im in data["images"]} == {1, 2, 3}
    rates = [
        a["occlude_rate"]
        for a in data["annotations"]
        if a["image_id"] in {im["id"] for im in occluded} and not a["synthetic_occluder"]
    ]
    assert max(rates) >= 0.15
    with pytest.raises(InputError, match="missing"):
        synthesize_from_coco(coco, tmp_path / "nowhere", tmp_path / "out2")


def test_occlusion_pair_needs_donors() -> None:
    with pytest.raises(InputError):
        occlusion_pair(_scene_with_square(), [], np.random.default_rng(0))
