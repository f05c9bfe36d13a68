"""`zoo cache ls` lists what `zoo doctor` counts (checkpoints, ONNX exports, models trained
here) and `zoo cache rm` removes each kind."""

from __future__ import annotations

import json
import os
from pathlib import Path

from tests.conftest import assert_user_error, run_zoo


def _fill(home: Path) -> None:
    blob = home / "blobs" / ("sha256-" + "b" * 64)
    blob.parent.mkdir(parents=True)
    blob.write_bytes(b"w" * 100)
    onnx = home / "onnx" / "sam2" / "tiny" / "k1"
    onnx.mkdir(parents=True)
    (onnx / "encoder.onnx").write_bytes(b"o" * 300)
    trained = home / "local" / "sameo-amodal" / "mine"
    trained.mkdir(parents=True)
    (trained / "decoder.safetensors").write_bytes(b"t" * 50)


def test_ls_lists_every_kind_and_doctor_counts_the_same() -> None:
    home = Path(os.environ["ZOO_HOME"])
    _fill(home)
    listing = json.loads(run_zoo("cache", "ls", "--json").stdout)
    kinds = {e["kind"]: e for e in listing["entries"]}
    assert set(kinds) == {"checkpoint", "onnx", "trained"}
    assert kinds["onnx"]["name"] == "sam2:tiny#k1" and kinds["onnx"]["size"] == 300
    assert kinds["trained"]["name"] == "sameo-amodal:mine" and kinds["trained"]["size"] == 50
    doctor = json.loads(run_zoo("doctor", "--json", "--timeout", "0.1").stdout)
    assert doctor["cache_bytes"] == listing["total"] == 450
    only = json.loads(run_zoo("cache", "ls", "--kind", "onnx", "--json").stdout)["entries"]
    assert [e["kind"] for e in only] == ["onnx"]
    assert_user_error(run_zoo("cache", "ls", "--kind", "gpu"), "--kind", "onnx")


def test_rm_removes_exports_and_trained_models() -> None:
    home = Path(os.environ["ZOO_HOME"])
    _fill(home)
    assert run_zoo("cache", "rm", "onnx:sam2:tiny").returncode == 0
    assert not (home / "onnx" / "sam2" / "tiny" / "k1").exists()
    assert run_zoo("cache", "rm", "trained:sameo-amodal:mine").returncode == 0
    assert not (home / "local" / "sameo-amodal" / "mine").exists()
    assert_user_error(run_zoo("cache", "rm", "onnx:nothing"), "nothing in the cache")
