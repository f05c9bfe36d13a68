"""``zoo batch --engine ray`` on a local 2-CPU cluster gives the local engine's results."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import zoo

ray = pytest.importorskip(
    "ray", reason="the ray extra is not installed (pip install 'sam-zoo[ray]')"
)

SIZE = 128


@pytest.fixture(scope="session")
def ray_cluster():
    """One local cluster for the session, offline, no dashboard."""
    started = not ray.is_initialized()
    if started:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    yield
    if started:
        ray.shutdown()


def _photos() -> list[Path]:
    root = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures" / "images"
    if not root.is_dir():
        pytest.skip(f"{root} is absent (shared fixtures are not in this checkout)")
    return sorted(root.glob("*.jpg"))


def _merged(out: Path) -> list[tuple]:
    anns = json.loads((out / "results.json").read_text())
    return sorted((a["image_id"], a["segmentation"]["counts"], a["score"]) for a in anns)


def test_ray_engine_equals_local(tmp_path: Path, ray_cluster) -> None:
    photos = _photos()
    manifest = tmp_path / "m.jsonl"
    manifest.write_text(
        "".join(
            json.dumps({"image": str(p), "boxes": [[10, 10, 300, 200], [50, 60, 250, 400]]}) + "\n"
            for p in photos * 2
        )
    )
    common = dict(weights="random", device="cpu", image_size=SIZE, formats="coco,parquet")
    local = list(zoo.batch("sam2:tiny", str(manifest), out=tmp_path / "local", **common))
    remote = list(
        zoo.batch(
            "sam2:tiny", str(manifest), out=tmp_path / "ray", engine="ray", workers=2, **common
        )
    )
    assert sorted(r.key for r in remote) == [r.key for r in local] == list(range(1, 7))
    assert all(r.ok for r in remote)
    assert _merged(tmp_path / "ray") == _merged(tmp_path / "local")
    # the Python API hands back the results themselves, rebuilt from the wire format
    by_key = {r.key: r for r in remote}
    for r in local:
        assert (by_key[r.key].result.masks == r.result.masks).all()
    run = json.loads((tmp_path / "ray" / "run.json").read_text())
    assert run["engine"]["name"] == "ray" and run["counts"]["done"] == 6
    assert not (tmp_path / "ray" / ".zoo-batch" / "ray-items").exists()
