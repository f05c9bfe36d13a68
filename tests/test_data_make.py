"""`zoo data make KIND DIR`: every registered kind writes a small synthetic dataset that the
documented `zoo eval`/`zoo train` commands read, atomically, from nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import assert_user_error, run_zoo


def test_coco_kind_writes_a_loadable_dataset(tmp_path: Path) -> None:
    from zoo.data.coco import CocoDataset

    out = tmp_path / "coco"
    proc = run_zoo("data", "make", "coco", str(out), "--images", "3", "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["synthetic"] is True and report["images"] == 3
    assert str(out) in report["try"] and "{out}" not in report["try"]
    ds = CocoDataset(out / "annotations.json", out / "images", require_masks="masks")
    assert len(list(ds)) == 3 and ds.num_instances == report["instances"] > 0
    again = tmp_path / "again"
    run_zoo("data", "make", "coco", str(again), "--images", "3")
    assert (again / "annotations.json").read_bytes() == (out / "annotations.json").read_bytes()


def test_every_registered_kind_runs(tmp_path: Path) -> None:
    from zoo.registry import get_registry

    kinds = sorted(get_registry().datasets)
    assert "coco" in kinds
    for kind in kinds:
        out = tmp_path / kind
        proc = run_zoo("data", "make", kind, str(out), "--images", "2")
        assert proc.returncode == 0, (kind, proc.stderr)
        assert any(out.iterdir()), kind


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["nope"], "unknown dataset kind"),
        (["coco", "--images", "0"], "--images must be between 1"),
        (["coco", "--images", "100000"], "--images must be between 1"),
    ],
)
def test_bad_requests_are_one_line_and_write_nothing(
    tmp_path: Path, args: list[str], needle: str
) -> None:
    out = tmp_path / "x"
    kind, *rest = args
    assert_user_error(run_zoo("data", "make", kind, str(out), *rest), needle)
    assert not out.exists()
