"""The ``concept`` task's inputs and outputs: concept prompts, ConceptResult, ConceptFrameResult.

Results here are built by hand (no model), so every expected value is written down in the
test: categories, COCO entries, what the drawing puts where, and the lossless wire form.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from zoo.errors import InputError
from zoo.io.overlay import distinct_colors, draw_boxes
from zoo.prompts import ConceptPrompts, as_concept_prompts
from zoo.results import ConceptFrameResult, ConceptResult, Provenance, TaskResult
from zoo.specs import Task

H, W = 40, 60


def _prov(weights: str = "random") -> Provenance:
    return Provenance(model="fake:concept", weights=weights, task=Task.CONCEPT)


def _result(**over: object) -> ConceptResult:
    masks = np.zeros((3, H, W), bool)
    masks[0, 5:15, 5:20] = True  # a "dog"
    masks[1, 20:35, 30:55] = True  # a "red car"
    masks[2, 2:10, 40:50] = True  # another "dog"
    fields: dict[str, object] = {
        "concepts": ["dog", "red car"],
        "masks": masks,
        "boxes": np.array([[5, 5, 20, 15], [30, 20, 55, 35], [40, 2, 50, 10]], np.float32),
        "scores": np.array([0.9, 0.7, 0.55], np.float32),
        "concept_ids": np.array([0, 1, 0], np.int64),
        "presence": np.array([0.95, 0.8], np.float32),
        "image_size": (H, W),
        "provenance": _prov(),
        "prompts": as_concept_prompts("dog;red car", [{"box": [30, 20, 55, 35], "concept": 1}]),
        "threshold": 0.5,
    }
    fields.update(over)
    return ConceptResult(**fields)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- prompts


def test_concept_text_forms() -> None:
    assert as_concept_prompts("dog; red  car").concepts == ["dog", "red car"]
    assert as_concept_prompts(["dog", "red car"]).concepts == ["dog", "red car"]
    p = as_concept_prompts({"concepts": ["a"], "exemplars": [{"box": [0, 0, 2, 2]}]})
    assert p.exemplars[0].concept == 0 and p.exemplars[0].label == 1
    assert as_concept_prompts(p) is p


def test_exemplars_resolve_to_concept_indices() -> None:
    p = as_concept_prompts(
        ["dog", "red car"],
        [
            {"box": [0, 0, 5, 5], "concept": "red car"},
            {"box": [1, 1, 6, 6], "concept": 0, "label": 0},
        ],
    )
    assert [e.concept for e in p.exemplars] == [1, 0]
    assert [e.label for e in p.exemplars_of(0)] == [0]
    only_boxes = as_concept_prompts(None, [{"box": [0, 0, 5, 5]}])
    assert only_boxes.concepts == ["visual"]  # the text SAM 3 pairs with exemplars alone
    back = as_concept_prompts(p.to_json())
    assert back == p


@pytest.mark.parametrize(
    ("concepts", "exemplars", "needle"),
    [
        (None, None, "nothing to find"),
        ("   ", None, "concept text is empty"),
        ("dog;;cat", None, "concept 1 is empty"),
        ("dog;dog", None, "given twice"),
        (7, None, "must be a text or a list"),
        (["dog", 3], None, "concept 1 is a int"),
        (["a", "b"], [{"box": [0, 0, 5, 5]}], "does not say which of the 2 concepts"),
        ("a", [{"box": [0, 0, 5, 5], "concept": "b"}], "not among the concepts"),
        ("a", [{"box": [0, 0, 5, 5], "concept": 3}], "index 3"),
        ("a", [{"box": [5, 0, 1, 5]}], r"x2<=x1"),
        ("a", [{"box": [0, 0, 5, 5], "label": 2}], "label must be 1"),
        ("a", [{"box": [0, 0, 5]}], "exemplar 0"),
        ("a", [{"box": [0, 0, 5, 5], "colour": "red"}], "exemplar 0"),
        ("a", "box", "must be a list"),
        (None, [{"box": [0, 0, 5, 5], "concept": "dog"}], "no concepts were given"),
    ],
)
def test_bad_concept_prompts_are_one_line_input_errors(
    concepts: object, exemplars: object, needle: str
) -> None:
    with pytest.raises(InputError, match=needle) as info:
        as_concept_prompts(concepts, exemplars)
    assert "\n" not in str(info.value)


def test_exemplar_crossing_the_edge_is_clipped_and_one_outside_refused() -> None:
    p = as_concept_prompts("dog", [{"box": [0, 0, 60, 40]}])
    same, notes = p.fit(H, W)
    assert same is p and notes == []
    clipped, notes = p.fit(H, 50)
    assert clipped.exemplars[0].box == (0.0, 0.0, 50.0, 40.0)
    assert notes == ["1 exemplar box was clipped to the 50x40 image"]
    far = as_concept_prompts("dog", [{"box": [60, 0, 90, 20]}])
    with pytest.raises(InputError, match="entirely outside the 50x40 image"):
        far.fit(H, 50)


def test_concept_lists_are_bounded() -> None:
    with pytest.raises(InputError, match="33 concepts in one call; at most 32"):
        as_concept_prompts([f"thing {i}" for i in range(33)])
    with pytest.raises(InputError, match="65 exemplars in one call; at most 64"):
        as_concept_prompts("dog", [{"box": [0, 0, 5, 5]}] * 65)
    with pytest.raises(InputError, match="201 characters long; at most 200"):
        as_concept_prompts("a" * 201)


def test_concept_is_a_task_with_find() -> None:
    from zoo.tasks import get_task

    assert Task("concept") is Task.CONCEPT
    assert get_task("concept").method == "find"
    assert get_task("concept-video").method == "track_concepts"


# --------------------------------------------------------------------------- ConceptResult


def test_instances_and_selection() -> None:
    r = _result()
    assert len(r) == 3
    inst = r.instances
    assert [i.concept for i in inst] == ["dog", "red car", "dog"]
    assert inst[1].box == (30.0, 20.0, 55.0, 35.0) and inst[1].score == pytest.approx(0.7)
    assert r.of("dog").tolist() == [0, 2] and r.of(1).tolist() == [1]


def test_coco_categories_follow_concept_order(tmp_path: Path) -> None:
    from pycocotools.coco import COCO

    r = _result()
    coco = r.to_coco(image_id=4)
    assert [c["category_id"] for c in coco] == [1, 2, 1]
    assert [c["concept"] for c in coco] == ["dog", "red car", "dog"]
    assert coco[1]["pred_bbox"] == [30.0, 20.0, 25.0, 15.0]
    assert coco[0]["bbox"] == [5.0, 5.0, 15.0, 10.0]  # the mask's box
    assert all(c["test_mode"] for c in coco)
    r.save(tmp_path / "out", image=np.zeros((H, W, 3), np.uint8), image_id=4)
    run = json.loads((tmp_path / "out" / "run.json").read_text())
    assert run["task"] == "concept"
    assert run["categories"] == [{"id": 1, "name": "dog"}, {"id": 2, "name": "red car"}]
    assert [c["instances"] for c in run["concepts"]] == [2, 1]
    assert run["concepts"][1]["presence"] == pytest.approx(0.8)
    assert run["threshold"] == 0.5
    assert run["prompts"]["exemplars"][0]["concept"] == 1
    gt = COCO()
    gt.dataset = {"images": run["images"], "annotations": [], "categories": run["categories"]}
    gt.createIndex()
    res = json.loads((tmp_path / "out" / "results.json").read_text())
    assert len(gt.loadRes(res).getAnnIds()) == 3
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == [
        "mask_000.png",
        "mask_001.png",
        "mask_002.png",
        "overlay.png",
        "results.json",
        "run.json",
    ]


def test_draw_colours_by_concept_and_labels_boxes() -> None:
    small = _result(prompts=None)
    r = small.model_copy(  # 4x larger, so captions leave most of each box visible
        update={
            "masks": np.kron(small.masks, np.ones((1, 4, 4), bool)),
            "boxes": small.boxes * 4,
            "image_size": (4 * H, 4 * W),
        }
    )
    img = np.zeros((4 * H, 4 * W, 3), np.uint8)
    out = r.draw(img)
    palette = distinct_colors(2)
    assert not np.array_equal(palette[0], palette[1])
    # inside a mask, away from contour, box and caption: half its concept's colour
    np.testing.assert_allclose(out[50, 50], np.rint(0.5 * palette[0].astype(float)), atol=1)
    np.testing.assert_allclose(out[30, 180], np.rint(0.5 * palette[0].astype(float)), atol=1)
    np.testing.assert_allclose(out[120, 200], np.rint(0.5 * palette[1].astype(float)), atol=1)
    # box outlines in their concept's colour (bottom edges: captions sit at the top)
    assert (out[59, 20:80] == palette[0]).all(axis=1).sum() > 30
    assert (out[139, 120:220] == palette[1]).all(axis=1).sum() > 50
    # a caption strip of the car's colour above its box (y1 = 80)
    assert (out[70:80, 120:150] == palette[1]).all(axis=2).mean() > 0.3
    without = r.model_copy(update={"boxes": np.zeros((3, 4), np.float32)})
    assert not (without.draw(img)[70:80, 120:150] == palette[1]).all(axis=2).any()


def test_draw_marks_exemplars_dashed() -> None:
    r = _result(
        masks=np.zeros((0, H, W), bool),
        boxes=np.zeros((0, 4), np.float32),
        scores=np.zeros(0, np.float32),
        concept_ids=np.zeros(0, np.int64),
    )
    out = r.draw(np.zeros((H, W, 3), np.uint8))
    green = (out == np.array([0, 200, 60], np.uint8)).all(axis=2)
    row = green[35, 31:54]  # the exemplar's bottom edge: dashed, so on and off
    assert row.any() and not row.all()


def test_overlay_of_a_test_run_has_a_banner() -> None:
    r = _result()
    img = np.full((H, W, 3), 255, np.uint8)
    assert not np.array_equal(r.overlay(img), r.draw(img))
    real = _result(provenance=_prov("hf://org/repo/w.safetensors"))
    np.testing.assert_array_equal(real.overlay(img), real.draw(img))


def test_round_trip_is_lossless() -> None:
    r = _result()
    payload = json.loads(json.dumps(r.to_dict()))
    back = TaskResult.from_dict(payload)
    assert isinstance(back, ConceptResult)
    assert back.to_dict() == r.to_dict()
    np.testing.assert_array_equal(back.masks, r.masks)
    assert back.boxes.dtype == np.float32 and back.concept_ids.dtype == np.int64
    assert back.prompts == r.prompts and back.concepts == r.concepts
    empty = _result(
        masks=np.zeros((0, H, W), bool),
        boxes=np.zeros((0, 4), np.float32),
        scores=np.zeros(0, np.float32),
        concept_ids=np.zeros(0, np.int64),
    )
    again = TaskResult.from_dict(json.loads(json.dumps(empty.to_dict())))
    assert isinstance(again, ConceptResult) and len(again) == 0
    assert empty.to_coco() == []


@pytest.mark.parametrize(
    ("over", "needle"),
    [
        ({"boxes": np.zeros((2, 4), np.float32)}, "boxes must have shape"),
        ({"scores": np.zeros(2, np.float32)}, "scores and concept_ids"),
        ({"concept_ids": np.array([0, 2, 0])}, "concept_ids must index"),
        ({"presence": np.zeros(3, np.float32)}, "presence must have one score"),
        ({"concepts": []}, "at least one concept"),
        ({"masks": np.zeros((3, H, W), np.uint8)}, "masks must be bool"),
    ],
)
def test_inconsistent_results_are_refused(over: dict, needle: str) -> None:
    with pytest.raises(ValidationError, match=needle):
        _result(**over)


# --------------------------------------------------------------------------- video frames


def _frame() -> ConceptFrameResult:
    m1 = np.zeros((H, W), bool)
    m1[5:15, 5:20] = True
    m2 = np.zeros((H, W), bool)
    m2[20:30, 30:40] = True
    return ConceptFrameResult(
        frame_index=3,
        frame_name="00003",
        concepts=["dog", "car"],
        masks={2: m1, 5: m2},
        scores={2: 0.8, 5: 0.6},
        boxes={2: (5.0, 5.0, 20.0, 15.0), 5: (30.0, 20.0, 40.0, 30.0)},
        concept_ids={2: 0, 5: 1},
        image_size=(H, W),
        provenance=_prov(),
    )


def test_concept_frame_coco_and_round_trip() -> None:
    f = _frame()
    coco = f.to_coco(image_id=9)
    assert [(c["object_id"], c["category_id"], c["concept"]) for c in coco] == [
        (2, 1, "dog"),
        (5, 2, "car"),
    ]
    assert coco[1]["pred_bbox"] == [30.0, 20.0, 10.0, 10.0]
    assert f.run_record()["categories"][1] == {"id": 2, "name": "car"}
    back = TaskResult.from_dict(json.loads(json.dumps(f.to_dict())))
    assert isinstance(back, ConceptFrameResult) and back.to_dict() == f.to_dict()
    assert f.label_map()[25, 35] == 5
    out = f.draw(np.zeros((H, W, 3), np.uint8))
    assert out.shape == (H, W, 3) and out.any()


def test_concept_frame_refuses_a_track_without_concept() -> None:
    f = _frame()
    with pytest.raises(ValidationError, match="object 5 has no concept"):
        ConceptFrameResult(**{**dict(f), "concept_ids": {2: 0}})


def test_draw_boxes_checks_labels() -> None:
    img = np.zeros((20, 20, 3), np.uint8)
    with pytest.raises(InputError, match="2 boxes but 1 labels"):
        draw_boxes(img, [[0, 0, 5, 5], [1, 1, 6, 6]], labels=["a"])
    out = draw_boxes(img, [[2, 2, 12, 12]], colors=[[255, 0, 0]])
    assert (out[12, 2:13] == [255, 0, 0]).all()


def test_concept_prompts_need_resolved_exemplars() -> None:
    with pytest.raises(ValidationError, match="not tied"):
        ConceptPrompts(concepts=["a"], exemplars=[{"box": (0, 0, 1, 1), "concept": None}])
