"""Prompt schemas and model cards: what users type, and what `zoo info` shows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from zoo.cards import load_card, parse_card
from zoo.errors import InputError
from zoo.prompts import ObjectPrompt, Prompts, ShadowPrompt, as_prompts, as_shadow_prompts

REPO = Path(__file__).resolve().parents[1]


def test_boxes_are_objects_and_points_one_object() -> None:
    p = Prompts.build(boxes=[[0, 0, 10, 10], [5, 5, 20, 20]])
    assert len(p) == 2 and p.boxes is not None and p.boxes.shape == (2, 4)
    p = Prompts.build(points=[[1, 2], [3, 4]], labels=[1, 0])
    assert len(p) == 1 and p.objects[0].labels == [1, 0] and p.boxes is None
    p = Prompts.build(boxes=[[0, 0, 10, 10]], points=[[1, 2]], labels=[1])
    assert len(p) == 1 and p.objects[0].box == (0, 0, 10, 10) and p.objects[0].points == [(1, 2)]


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"boxes": [[0, 0, 10]]}, "4 numbers"),
        ({"boxes": [[10, 0, 5, 10]]}, "x2<=x1"),
        ({"boxes": [[0, float("nan"), 5, 10]]}, "non-finite"),
        ({"points": [[1, 2]], "labels": [1, 1]}, "1 points but 2 labels"),
        ({"points": [[1, 2]], "labels": [3]}, "labels must be 1"),
        ({"labels": [1]}, "without points"),
        ({}, "empty prompt"),
        ({"boxes": [[0, 0, 5, 5], [1, 1, 6, 6]], "points": [[1, 1]], "labels": [1]}, "ambiguous"),
    ],
)
def test_bad_prompts_name_the_problem(kwargs: dict, needle: str) -> None:
    with pytest.raises(InputError, match=needle.replace("(", r"\(")):
        Prompts.build(**kwargs)


def test_prompts_json_forms_and_errors() -> None:
    p = Prompts.from_json([{"box": [0, 0, 4, 4]}, {"points": [[1, 1]], "labels": [1]}])
    assert len(p) == 2
    assert len(Prompts.from_json({"objects": [{"box": [0, 0, 4, 4]}]})) == 1
    with pytest.raises(InputError, match="must be a list"):
        Prompts.from_json("nope")
    with pytest.raises(InputError, match=r"entry 0 \(colour\): Extra inputs"):
        Prompts.from_json([{"box": [0, 0, 4, 4], "colour": "red"}])
    assert len(as_prompts({"boxes": np.array([[0, 0, 3, 3]])})) == 1
    assert len(as_prompts(ObjectPrompt(box=(0, 0, 2, 2)))) == 1


def test_check_inside_reports_image_size() -> None:
    p = Prompts.build(boxes=[[0, 0, 50, 50]])
    p.check_inside(60, 60)
    p.check_inside(30, 40)  # crossing the edge is fine: fit() clips it
    assert p.fit(30, 40)[0].objects[0].box == (0.0, 0.0, 40.0, 30.0)
    with pytest.raises(InputError, match="entirely outside the 40x30 image"):
        Prompts.build(boxes=[[45, 0, 50, 50]]).check_inside(30, 40)
    with pytest.raises(InputError, match="point"):
        Prompts.build(points=[[100, 5]], labels=[1]).check_inside(30, 40)


def test_shadow_prompts() -> None:
    got = as_shadow_prompts([{"object": {"box": [0, 0, 5, 5]}}, {"shadow": {"box": [1, 1, 3, 3]}}])
    assert isinstance(got[0], ShadowPrompt) and got[1].object is None
    with pytest.raises(InputError, match="object prompt, a shadow prompt"):
        as_shadow_prompts([{}])
    with pytest.raises(InputError, match="empty prompt"):
        as_shadow_prompts([])


def test_every_card_in_repo_validates() -> None:
    from zoo.registry import BUILTIN_PLUGINS

    cards = sorted(REPO.glob("cards/*.md"))
    assert len(cards) == len(BUILTIN_PLUGINS)  # one card per built-in family
    for path in cards:
        card = load_card(path)
        assert card.zoo.family == path.stem  # cards/<family>.md
        assert card.license


def test_card_errors_are_one_line_input_errors() -> None:
    with pytest.raises(InputError, match="must start with"):
        parse_card("# no front matter")
    with pytest.raises(InputError, match="zoo"):
        parse_card("---\nlicense: mit\n---\nbody")
    with pytest.raises(InputError, match="tasks"):
        parse_card("---\nlicense: mit\nzoo: {family: x, tasks: []}\n---\n")
