"""One prompt grammar and one box rule for every surface (issue: boxes at the edge, glued
digits): typed flags, ``--prompts`` files, batch manifests, HTTP bodies and Python."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.conftest import assert_user_error, run_zoo
from zoo.errors import InputError
from zoo.prompts import Prompts, as_prompts, parse_boxes, parse_labels, parse_points


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    """An 800x534 photo (the README's photo.jpg size) with a bright square."""
    img = np.full((534, 800, 3), 30, np.uint8)
    img[400:534, 700:800] = 220
    p = tmp_path / "photo.png"
    Image.fromarray(img).save(p)
    return p


def _run(photo: Path, out: Path, *args: str) -> object:
    return run_zoo("run", "zoo-fake", "--image", str(photo), "--out", str(out), *args)


def test_box_crossing_the_edge_is_clipped_and_said_once(
    fake_family: str, photo: Path, tmp_path: Path
) -> None:
    out = tmp_path / "o"
    proc = _run(photo, out, "--boxes", "700,400,801,535;10,10,50,50")
    assert proc.returncode == 0, proc.stderr  # type: ignore[attr-defined]
    err = proc.stderr  # type: ignore[attr-defined]
    assert err.count("clipped") == 1 and "1 box was clipped to the 800x534 image" in err
    result = json.loads((out / "run.json").read_text())
    assert result["task"] == "promptable"
    masks = json.loads((out / "results.json").read_text())
    assert masks[0]["bbox"] == [700.0, 400.0, 100.0, 134.0]  # the clipped box's bright area


def test_box_entirely_outside_or_inverted_is_refused(
    fake_family: str, photo: Path, tmp_path: Path
) -> None:
    out = tmp_path / "o"
    assert_user_error(_run(photo, out, "--boxes", "900,600,950,650"), "entirely outside", "800x534")  # type: ignore[arg-type]
    assert_user_error(_run(photo, out, "--boxes", "50,10,10,40"), "x2<=x1")  # type: ignore[arg-type]
    assert not out.exists()


def test_spaces_separate_numbers_and_never_glue_digits(
    fake_family: str, photo: Path, tmp_path: Path
) -> None:
    assert parse_boxes("370 170 447 340") == [[370, 170, 447, 340]]
    assert parse_boxes(" 370, 170 ,447,340 ; 1 2 3 4") == [[370, 170, 447, 340], [1, 2, 3, 4]]
    assert parse_points("10 20; 30 40") == [[10, 20], [30, 40]]
    assert parse_labels("1 0 1") == [1, 0, 1]
    with pytest.raises(InputError, match="5 numbers"):
        parse_boxes("1 0,20,300,400")
    a, b = tmp_path / "a", tmp_path / "b"
    assert _run(photo, a, "--boxes", "370 170 447 340").returncode == 0  # type: ignore[attr-defined]
    assert _run(photo, b, "--boxes", "370,170,447,340").returncode == 0  # type: ignore[attr-defined]
    assert (a / "results.json").read_text() == (b / "results.json").read_text()
    assert_user_error(_run(photo, tmp_path / "c", "--boxes", "1 0,20,300,400"), "5 numbers")  # type: ignore[arg-type]


def test_points_without_labels_are_foreground_clicks(
    fake_family: str, photo: Path, tmp_path: Path
) -> None:
    out = tmp_path / "o"
    proc = _run(photo, out, "--points", "750,450;20,20", "--format", "json")
    assert proc.returncode == 0, proc.stderr  # type: ignore[attr-defined]
    result = json.loads((out / "result.json").read_text())
    assert "labels" in json.dumps(result) and as_prompts({"points": [[1, 2]]}).objects[
        0
    ].labels == [1]


def test_one_grammar_in_python_files_and_json() -> None:
    forms = [
        {"boxes": [[1, 2, 30, 40]]},
        [{"box": [1, 2, 30, 40]}],
        {"objects": [{"box": [1, 2, 30, 40]}]},
        Prompts.build(boxes=[[1, 2, 30, 40]]),
    ]
    parsed = [as_prompts(f).to_json() for f in forms]
    assert all(p == parsed[0] for p in parsed)
    clipped, notes = as_prompts({"boxes": [[-5, 2, 30, 40]]}).fit(20, 20)
    assert clipped.objects[0].box == (0.0, 2.0, 20.0, 20.0) and notes


def test_amodal_boxes_and_detections_follow_one_rule(
    fake_family: str, photo: Path, tmp_path: Path
) -> None:
    """Typed boxes and detector boxes crossing the edge are both clipped (SAMEO's --boxes
    used to refuse what --detections accepted)."""
    boxed = tmp_path / "boxes"
    proc = run_zoo(
        "run",
        "zoo-fake",
        "--task",
        "amodal",
        "--image",
        str(photo),
        "--boxes",
        "700,400,900,600",
        "--out",
        str(boxed),
    )
    assert proc.returncode == 0 and "clipped" in proc.stderr, proc.stderr
    dets = tmp_path / "dets.json"
    dets.write_text(json.dumps([{"image_id": 1, "bbox": [700, 400, 200, 200], "score": 0.9}]))
    detected = tmp_path / "dets"
    proc = run_zoo(
        "run",
        "zoo-fake",
        "--image",
        str(photo),
        "--detections",
        str(dets),
        "--out",
        str(detected),
    )
    assert proc.returncode == 0 and "clipped" in proc.stderr, proc.stderr
    a = json.loads((boxed / "results.json").read_text())[0]["bbox"]
    b = json.loads((detected / "results.json").read_text())[0]["bbox"]
    assert a == b == [700.0, 400.0, 100.0, 134.0]
