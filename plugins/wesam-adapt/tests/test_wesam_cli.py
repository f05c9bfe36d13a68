"""The command line: bad input is one line and exit 2 before any model is built; the full
``zoo train -> zoo run -> zoo eval --compare`` flow runs in the slow suite."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from zoo_wesam.adapter import save_adapter

from zoo.weights import cache_dir


def _train(domain: dict[str, Any], *extra: str) -> list[str]:
    return [
        "train",
        "wesam-adapt",
        "--images",
        str(domain["images"]),
        "--annotations",
        str(domain["annotations"]),
        "--weights",
        "random",
        "--device",
        "cpu",
        *extra,
    ]


def _fake_variant(name: str, size: str, adapter_size: str) -> Path:
    """A registered adapted variant whose adapter belongs to ``adapter_size``."""
    folder = cache_dir() / "local" / "wesam-adapt" / name
    folder.mkdir(parents=True)
    save_adapter(
        folder / "adapter.safetensors",
        {"x.lora_a_q": torch.zeros(1, 1)},
        {
            "size": adapter_size,
            "scale": 1.0,
            "base_fingerprint": "0" * 32,
            "base_weights": {"kind": "random", "seed": 0},
        },
    )
    (folder / "variant.json").write_text(
        json.dumps(
            {
                "family": "wesam-adapt",
                "name": name,
                "size": size,
                "image_size": 256,
                "base_weights": {"kind": "random", "seed": 0},
                "prompt": "box",
                "steps": 1,
            }
        )
    )
    return folder


def test_point_prompt_needs_masks(cli: Any, user_error: Any, domain: dict[str, Any]) -> None:
    args = [
        "train",
        "wesam-adapt",
        "--images",
        str(domain["boxes_images"]),
        "--annotations",
        str(domain["boxes_annotations"]),
        "--weights",
        "random",
        "--name",
        "x",
    ]
    user_error(cli(*args, "--prompt", "point"), "no segmentation mask", "--prompt box")
    user_error(cli(*args, "--prompt", "coarse"), "no segmentation mask")


def test_bad_data_and_options(
    cli: Any, user_error: Any, domain: dict[str, Any], tmp_path: Path
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    base = [
        "train",
        "wesam-adapt",
        "--annotations",
        str(domain["annotations"]),
        "--weights",
        "random",
        "--name",
        "x",
    ]
    user_error(cli(*base, "--images", str(empty)), "contains no images")
    user_error(cli(*base, "--images", str(tmp_path / "nope")), "does not exist")
    coco = json.loads(Path(domain["annotations"]).read_text())
    coco["annotations"][0]["image_id"] = 999
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(coco))
    user_error(
        cli(
            *_train(domain, "--name", "x")[:4],
            "--annotations",
            str(bad),
            "--name",
            "x",
            "--weights",
            "random",
        ),
        "image id 999",
    )
    coco = json.loads(Path(domain["annotations"]).read_text())
    coco["images"][0]["file_name"] = "missing.png"
    bad.write_text(json.dumps(coco))
    user_error(
        cli(
            "train",
            "wesam-adapt",
            "--images",
            str(domain["images"]),
            "--annotations",
            str(bad),
            "--weights",
            "random",
            "--name",
            "x",
        ),
        "missing.png",
    )
    user_error(cli(*_train(domain, "--name", "x", "--prompt", "scribble")), "unknown --prompt")
    user_error(cli(*_train(domain)), "--name is required")
    user_error(cli(*_train(domain, "--name", "Bad Name")), "--name")
    user_error(cli(*_train(domain, "--name", "tiny")), "taken")
    user_error(cli(*_train(domain, "--name", "x", "--stepz", "3")), "unknown option --stepz")
    user_error(cli(*_train(domain, "--name", "x", "--base", "efficientsam:vitt")), "not a SAM 2.1")
    user_error(cli(*_train(domain, "--name", "x", "--steps", "many")), "--steps")
    user_error(cli(*_train(domain, "--name", "x", "--image-size", "100")), "multiple of 64")


def test_existing_name_and_adapted_base(cli: Any, user_error: Any, domain: dict[str, Any]) -> None:
    _fake_variant("taken", "tiny", "tiny")
    user_error(cli(*_train(domain, "--name", "taken")), "already exists", "--overwrite")
    args = _train(domain, "--name", "y")
    args[1] = "wesam-adapt:taken"
    user_error(cli(*args), "already adapted")


def test_adapter_base_mismatch(
    cli: Any, user_error: Any, domain: dict[str, Any], tmp_path: Path
) -> None:
    _fake_variant("mixed", "small", "tiny")
    out = tmp_path / "out"
    img = next(Path(domain["images"]).iterdir())
    user_error(
        cli(
            "run",
            "wesam-adapt:mixed",
            "--image",
            str(img),
            "--boxes",
            "10,10,50,50",
            "--weights",
            "random",
            "--device",
            "cpu",
            "--out",
            str(out),
        ),
        "trained on sam2:tiny but this base is sam2:small",
    )
    assert not out.exists() or not any(out.iterdir())


def test_eval_needs_masks(cli: Any, user_error: Any, domain: dict[str, Any]) -> None:
    user_error(
        cli(
            "eval",
            "wesam-adapt:tiny",
            "--images",
            str(domain["boxes_images"]),
            "--annotations",
            str(domain["boxes_annotations"]),
            "--weights",
            "random",
        ),
        "ground-truth masks",
    )


def test_local_variant_listed_and_info(cli: Any, domain: dict[str, Any]) -> None:
    _fake_variant("listed", "tiny", "tiny")
    code, out, err = cli("list", "wesam-adapt", "--json")
    assert code == 0, err
    names = {r["name"] for r in json.loads(out)}
    assert {"wesam-adapt:tiny", "wesam-adapt:large", "wesam-adapt:listed"} <= names
    code, out, err = cli("info", "wesam-adapt:tiny", "--json")
    assert code == 0, err
    info = json.loads(out)
    assert info["card"]["zoo"]["family"] == "wesam-adapt" and "prompt" in info["options"]


def test_corrupt_command(cli: Any, user_error: Any, domain: dict[str, Any], tmp_path: Path) -> None:
    code, out, err = cli(
        "corrupt",
        str(domain["clean_images"]),
        str(tmp_path / "c"),
        "--corruption",
        "frost,jpeg_compression",
        "--severity",
        "2",
        "--json",
    )
    assert code == 0, err
    report = json.loads(out)
    assert report["written"] == 6 and report["corruptions"] == ["frost", "jpeg_compression"]
    assert len(list((tmp_path / "c" / "frost").iterdir())) == 3
    user_error(
        cli("corrupt", str(domain["clean_images"]), str(tmp_path / "d"), "--severity", "9"),
        "severity",
    )
    user_error(
        cli("corrupt", str(domain["clean_images"]), str(tmp_path / "d"), "--corruption", "rain"),
        "unknown corruption",
    )
    assert not (tmp_path / "d").exists()


@pytest.mark.slow
def test_train_run_eval_end_to_end(cli: Any, domain: dict[str, Any], tmp_path: Path) -> None:
    """zoo train (box) -> variant -> zoo run -> zoo eval --compare source (the paper's layout)."""
    code, out, err = cli(
        *_train(
            domain,
            "--name",
            "e2e",
            "--steps",
            "2",
            "--image-size",
            "256",
            "--holdout",
            "0",
            "--max-instances",
            "2",
            "--json",
        )
    )
    assert code == 0, err
    report = json.loads(out)
    assert report["variant"] == "wesam-adapt:e2e" and report["steps"] == 2
    assert report["miou_before"] is not None and report["miou_after"] is not None
    folder = cache_dir() / "local" / "wesam-adapt" / "e2e"
    card = (folder / "card.md").read_text()
    assert "sam2:tiny" in card and "box" in card and "mIoU" in card
    img = sorted(Path(domain["images"]).iterdir())[0]
    code, out, err = cli(
        "run",
        "wesam-adapt:e2e",
        "--image",
        str(img),
        "--boxes",
        "10,10,60,60",
        "--weights",
        "random",
        "--device",
        "cpu",
        "--out",
        str(tmp_path / "m"),
        "--json",
    )
    assert code == 0, err
    assert json.loads(out)["masks"] == 1
    code, out, err = cli(
        "eval",
        "wesam-adapt:e2e",
        "--images",
        str(domain["images"]),
        "--annotations",
        str(domain["annotations"]),
        "--prompt",
        "box",
        "--compare",
        "source",
        "--weights",
        "random",
        "--device",
        "cpu",
        "--json",
    )
    assert code == 0, err
    ev = json.loads(out)
    rows = ev["table"]["rows"]
    assert rows[0][0] == "source sam2:tiny" and rows[1][0] == "wesam-adapt:e2e"
    # the eval's numbers are the ones training measured on the same (training) images
    assert rows[0][4] == pytest.approx(report["miou_before"], abs=1e-9)
    assert rows[1][4] == pytest.approx(report["miou_after"], abs=1e-9)
    assert all(np.isfinite(r[4]) and 0 <= r[4] <= 1 for r in rows)
