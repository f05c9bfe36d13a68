"""Typed options: one pydantic declaration per option set, from which the CLI flags,
``zoo info``, ``/v1/models`` and the checks come; the same one-line errors everywhere."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

import numpy as np
import pytest
from PIL import Image

from tests.conftest import assert_user_error, run_zoo
from zoo.errors import InputError
from zoo.options import LoadOptions, Options, OptionSpec, option, options_class, validate


class Demo(Options):
    size: int = option(256, help="side", ge=64, le=1024, multiple_of=16, loader=True)
    mode: Literal["a", "b"] = option("a", help="which")
    ratio: float | None = option(None, help="a ratio", ge=0.0, le=1.0, aliases=("r",))
    ids: list[int] | None = option(None, help="some ids", commands=("eval",))


@pytest.mark.parametrize(
    ("raw", "needle"),
    [
        ({"sise": "128"}, "did you mean --size"),
        ({"size": "big"}, "--size: 'big' is not an integer"),
        ({"size": "100"}, "is not a multiple of 16"),
        ({"size": "2048"}, "is above the maximum 1024"),
        ({"mode": "c"}, "is not one of a, b"),
        ({"ratio": "-1"}, "is below the minimum 0"),
        ({"ids": "1,2"}, "--ids applies to zoo eval, not `zoo run x`"),
        ({"size": True}, "--size needs a value"),
    ],
)
def test_one_line_errors(raw: dict[str, object], needle: str) -> None:
    from zoo.errors import cli_surface

    with cli_surface(), pytest.raises(InputError) as info:
        validate(Demo, raw, command="run", where="zoo run x")
    msg = str(info.value)
    assert needle in msg and "\n" not in msg
    with pytest.raises(InputError) as info:  # Python and HTTP name options as written there
        validate(Demo, raw, command="run", where="zoo run x")
    assert needle.replace("--", "") in str(info.value).replace("--", "")


def test_casts_aliases_lists_and_defaults() -> None:
    d = validate(Demo, {"size": "512", "r": "0.5"}, command="run", where="x")
    assert (d.size, d.ratio, d.mode) == (512, 0.5, "a") and d.given() == {"size": 512, "ratio": 0.5}
    e = validate(Demo, {"ids": "1, 2;3"}, command="eval", where="x")
    assert e.ids == [1, 2, 3]
    rows = {r["option"]: r for r in Demo.describe()}
    assert rows["--mode"]["type"] == "a|b" and rows["--size"]["bounds"]["le"] == 1024
    assert rows["--ratio"]["aliases"] == ["--r"] and rows["--size"]["loader"] is True


def test_legacy_optionspec_lists_become_the_same_class() -> None:
    cls = options_class(
        [
            OptionSpec(name="pathways", type="int", default=3, minimum=1, model=True, help="P"),
            OptionSpec(name="kind", type="choice", choices=("x", "y"), default="x", help="k"),
        ]
    )
    assert cls.legacy and cls.loader_names() == ["pathways"]
    with pytest.raises(InputError, match="below the minimum 1"):
        validate(cls, {"pathways": "0"}, command="run", where="x")
    assert OptionSpec(name="n", type="int", help="n").cast("7") == 7


def test_load_options_one_declaration(fake_family: str, tmp_path: Path) -> None:
    """LoadOptions validates zoo.load, zoo run and zoo batch alike; loader keywords are checked
    against the family's declaration (a typo is refused with the closest name)."""
    import zoo

    with pytest.raises(InputError, match="unknown device 'tpu'"):
        zoo.load("zoo-fake", device="tpu")
    with pytest.raises(InputError, match="did you mean threshold"):
        zoo.load("zoo-fake", treshold=3)
    with pytest.raises(InputError, match="threshold: 300 is above the maximum 255"):
        zoo.load("zoo-fake", threshold=300)
    assert zoo.load("zoo-fake", threshold="50").threshold == 50  # cast like the CLI
    assert (
        validate(LoadOptions, {"backend": "ort"}, command="run", where="x").backend == "onnxruntime"
    )
    img = tmp_path / "i.png"
    Image.fromarray(np.zeros((20, 20, 3), np.uint8)).save(img)
    proc = run_zoo(
        "run",
        "zoo-fake",
        "--image",
        str(img),
        "--boxes",
        "1,1,5,5",
        "--treshold",
        "3",
        "--out",
        str(tmp_path / "o"),
    )
    assert_user_error(proc, "unknown option --treshold", "did you mean --threshold")
    proc = run_zoo(
        "batch",
        "zoo-fake",
        "--input",
        str(img),
        "--boxes",
        "1,1,5,5",
        "--weights",
        "randm",
        "--out",
        str(tmp_path / "b"),
    )
    assert_user_error(proc, "--weights", "random")
    assert not (tmp_path / "o").exists() and not (tmp_path / "b").exists()


def test_info_and_models_list_the_same_options(fake_family: str) -> None:
    info = json.loads(run_zoo("info", "zoo-fake", "--json").stdout)
    flags = {o["option"] for o in info["options"]}
    # the family's own, and those of the tasks it does (amodal's --detections...)
    assert {"--threshold", "--grow", "--detections", "--objects", "--multimask"} <= flags
    help_text = run_zoo("run", "--help").stdout
    assert "--device" in help_text and "--weights" in help_text and "Examples" in help_text
