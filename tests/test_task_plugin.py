"""A third party adds a new *task* and a family for it (tests/plugins/acme_tasks.py) and
gets ``zoo run``, ``zoo batch``, an HTTP route and the conformance kit with no edit to
``zoo/``: the proof that the task is the unit."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.conftest import TEST_PLUGINS, assert_user_error, make_distribution, run_zoo


@pytest.fixture
def acme(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    from zoo.registry import reset_registry

    site = tmp_path / "site"
    site.mkdir()
    for f in ("acme_tasks.py", "acme_tasks.md"):
        shutil.copy(TEST_PLUGINS / f, site / f)
    make_distribution(site, "acme-tasks", "acme_tasks", "acme-tasks")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(site), *sys.path]))
    reset_registry()
    yield site
    sys.modules.pop("acme_tasks", None)
    reset_registry()


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    folder = tmp_path / "photos"
    folder.mkdir()
    for i, level in enumerate((50, 200)):
        img = np.full((40, 60, 3), 10, np.uint8)
        img[:10, :20] = level
        Image.fromarray(img).save(folder / f"p{i}.png")
    return folder


def test_new_task_is_registered_and_listed(acme: Path) -> None:
    from zoo.registry import get_registry

    reg = get_registry()
    assert "acme-bright-area" in reg.tasks and reg.tasks["acme-bright-area"].source == "acme-tasks"
    info = json.loads(run_zoo("info", "acme-counter", "--json").stdout)
    assert info["tasks"] == ["acme-bright-area"]
    assert any(o["option"] == "--level" for o in info["options"])
    listed = json.loads(run_zoo("list", "--task", "acme-bright-area", "--json").stdout)
    assert [r["name"] for r in listed] == ["acme-counter:v1"]


def test_zoo_run_on_the_new_task(acme: Path, photos: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = run_zoo(
        "run",
        "acme-counter",
        "--image",
        str(photos / "p1.png"),
        "--level",
        "150",
        "--out",
        str(out),
        "--json",
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["task"] == "acme-bright-area" and report["bright_pixels"] == 200
    run = json.loads((out / "run.json").read_text())
    assert run["bright_pixels"] == 200 and run["task"] == "acme-bright-area"
    assert (out / "overlay.png").exists() and (out / "results.json").exists()
    bad = run_zoo(
        "run",
        "acme-counter",
        "--image",
        str(photos / "p1.png"),
        "--level",
        "300",
        "--out",
        str(tmp_path / "bad"),
    )
    assert_user_error(bad, "--level", "maximum 255")
    assert not (tmp_path / "bad").exists()


def test_zoo_batch_on_the_new_task(acme: Path, photos: Path, tmp_path: Path) -> None:
    out = tmp_path / "batch"
    proc = run_zoo(
        "batch",
        "acme-counter",
        "--input",
        str(photos),
        "--level",
        "100",
        "--out",
        str(out),
        "--format",
        "coco,jsonl",
        "--json",
    )
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(x) for x in (out / "results.jsonl").read_text().splitlines()]
    counts = sorted(r["results"][0]["count"] for r in lines)
    assert counts == [0, 200]

    import zoo

    results = list(zoo.batch("acme-counter", [str(photos / "p1.png")], level=100))
    assert results[0].ok and results[0].result.count == 200


def test_http_route_for_the_new_task(acme: Path, photos: Path) -> None:
    from fastapi.testclient import TestClient

    from zoo.serve import ServeConfig, create_app

    with TestClient(create_app(ServeConfig()), base_url="http://127.0.0.1") as client:
        schema = client.get("/openapi.json").json()
        assert "/v1/acme-bright-area" in schema["paths"]
        body = schema["paths"]["/v1/acme-bright-area"]["post"]["requestBody"]
        assert "BrightAreaRequest" in json.dumps(body)  # a typed body, not a dict
        with open(photos / "p1.png", "rb") as fh:
            image_id = client.post("/v1/images", files={"file": fh}).json()["image_id"]
        ans = client.post(
            "/v1/acme-bright-area",
            json={"model": "acme-counter", "image_id": image_id, "options": {"level": 150}},
        )
        assert ans.status_code == 200, ans.text
        assert ans.json()["bright_pixels"] == 200 and ans.json()["task"] == "acme-bright-area"
        bad = client.post(
            "/v1/acme-bright-area",
            json={"model": "acme-counter", "image_id": image_id, "options": {"levle": 1}},
        )
        assert bad.status_code == 400 and "did you mean level" in bad.json()["error"]["message"]
        models = {m["name"]: m for m in client.get("/v1/models").json()}
        assert models["acme-counter:v1"]["serve"]["endpoints"] == ["/v1/acme-bright-area"]


def test_conformance_kit_on_the_new_task(acme: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--pyargs",
            "zoo.testing.conformance",
            "--zoo-family",
            "acme-counter",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=acme,
        env={**os.environ, "ZOO_PLUGINS": "acme-tasks"},
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert " passed" in proc.stdout and "failed" not in proc.stdout
