"""The synthetic SOBA generator (zoo_opseg.synthetic) and the SOBA reader (zoo_opseg.soba)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from zoo_opseg.soba import load_soba, mask_box
from zoo_opseg.synthetic import shadow_scene, soba_dict, write_soba_dataset

from zoo.errors import InputError


def test_scene_shadows_are_darker_sheared_and_attached() -> None:
    scene = shadow_scene(240, 320, seed=3)
    img = scene.image.astype(float).mean(axis=2)
    any_obj = np.any(scene.object_masks, axis=0)
    ground = ~any_obj & ~np.any(scene.shadow_masks, axis=0)
    for obj, sha in zip(scene.object_masks, scene.shadow_masks, strict=True):
        assert sha.sum() > 40 and not (sha & any_obj).any()  # visible shadow only
        assert img[sha].mean() < 0.8 * img[ground].mean()  # darker than the lit ground
        # the shadow starts where the object stands: its nearest pixel touches the base row
        base = np.flatnonzero(obj.any(axis=1))[-1]
        rows = np.flatnonzero(sha.any(axis=1))
        assert abs(rows[0] - base) <= 3
        # sheared: not just a vertical copy (its horizontal centre moved)
        cx = lambda m: np.flatnonzero(m.any(axis=0)).mean()  # noqa: E731
        assert abs(cx(sha) - cx(obj)) > 2
    again = shadow_scene(240, 320, seed=3)
    np.testing.assert_array_equal(scene.image, again.image)


def test_scene_rejects_impossible_requests() -> None:
    with pytest.raises(InputError, match="32x32"):
        shadow_scene(16, 16)
    with pytest.raises(InputError, match="non-overlapping"):
        shadow_scene(64, 64, n_objects=40)


def test_written_dataset_is_soba_format_and_reads_back(tmp_path: Path) -> None:
    ann = write_soba_dataset(tmp_path, n_images=3, height=120, width=160, seed=5)
    data = json.loads(ann.read_text())
    assert {c["id"]: c["name"] for c in data["categories"]} == {1: "Object", 2: "Shadow"}
    assert data["association"][0]["id"] == 1
    cats = [a["category_id"] for a in data["annotations"]]
    assert cats.count(1) == cats.count(2) == len(data["association_anno"])
    ds = load_soba(ann, tmp_path / "images")
    assert ds.count()["pairs"] == len(data["association_anno"]) and not ds.warnings
    for im in ds.images:
        for pair in im.pairs:
            o, s = im.decode(pair.object), im.decode(pair.shadow)
            a = im.decode(pair.association_ann)
            assert o is not None and s is not None and a is not None
            np.testing.assert_array_equal(a, o | s)  # association mask = union of the pair


def test_polygons_and_order_linked_association_anno(tmp_path: Path) -> None:
    """The released SOBA files use polygons and association_anno without an association key."""
    scene = shadow_scene(100, 140, n_objects=2, seed=1)
    d = soba_dict([scene], ["a.png"])
    d["annotations"][0]["segmentation"] = [[10, 10, 30, 10, 30, 40, 10, 40]]  # polygon object
    for a in d["association_anno"]:
        del a["association"]
    p = tmp_path / "soba.json"
    p.write_text(json.dumps(d))
    ds = load_soba(p, None)
    pairs = ds.images[0].pairs
    assert [pr.association for pr in pairs] == [1, 2]
    assert [pr.association_ann["id"] for pr in pairs] == [1, 2]  # type: ignore[index]
    m = ds.images[0].decode(pairs[0].object)
    assert m is not None
    assert mask_box(m) == (10.0, 10.0, 31.0, 41.0) or mask_box(m) == (10.0, 10.0, 30.0, 40.0)


def test_missing_association_is_a_one_line_input_error(edit_soba, soba_set) -> None:
    def drop(d: dict) -> None:
        del d["annotations"][3]["association"]

    with pytest.raises(InputError) as info:
        load_soba(edit_soba(drop), soba_set[1])
    msg = str(info.value)
    assert "association" in msg and "\n" not in msg


def test_one_sided_pairs_are_kept_and_warned(edit_soba, soba_set) -> None:
    def orphan(d: dict) -> None:  # drop the first object: its shadow has no caster
        first = next(a for a in d["annotations"] if a["category_id"] == 1)
        d["annotations"].remove(first)

    ds = load_soba(edit_soba(orphan), soba_set[1])
    assert any("shadows have no object" in w for w in ds.warnings)
    counts = ds.count()
    assert counts["shadows"] == counts["objects"] + 1 == counts["pairs"] + 1


def test_reader_errors(tmp_path: Path, soba_set) -> None:
    with pytest.raises(InputError, match="does not exist"):
        load_soba(tmp_path / "nope.json", soba_set[1])
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(InputError, match="not valid JSON"):
        load_soba(bad, soba_set[1])
    bad.write_text(json.dumps({"images": []}))
    with pytest.raises(InputError, match="'images' and 'annotations'"):
        load_soba(bad, soba_set[1])
    with pytest.raises(InputError, match="missing from"):
        load_soba(soba_set[0], tmp_path)  # wrong image folder


def test_find_split_in_a_soba_release_folder(tmp_path: Path) -> None:
    from zoo_opseg.soba import find_split

    (tmp_path / "annotations").mkdir()
    for name in ("SOBA_train.json", "SOBA_val.json", "SOBA_challenge.json"):
        (tmp_path / "annotations" / name).write_text("{}")
    assert find_split(tmp_path, "test") == (tmp_path / "annotations" / "SOBA_val.json", tmp_path)
    assert find_split(tmp_path, "challenge")[0].name == "SOBA_challenge.json"
    with pytest.raises(InputError, match="--annotations"):
        find_split(tmp_path / "annotations" / "nothing", "test")
