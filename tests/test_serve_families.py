"""The per-task endpoints of `zoo serve` with the real families (random weights, CPU).

Each test serves a real family's model and checks that the HTTP answer equals the task
method called directly (`segment_amodal`, `segment_shadows`, `segment_rgbd`, `track`,
`segment_everything`). A family whose plugin is not registered here (mid-migration to the
core contracts) or that lacks the method yet is skipped, saying so; once it lands the test
runs as is. Models load with the family's own conformance kwargs (its cheapest settings).
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("fastapi", reason="zoo serve needs the serve extra (sam-zoo[serve])")
pytest.importorskip("httpx", reason="FastAPI's TestClient needs httpx (test extra)")

from fastapi.testclient import TestClient
from PIL import Image

from zoo.io.masks import decode_rle
from zoo.serve import ServeConfig, create_app
from zoo.testing import synthetic_image

BASE = "http://127.0.0.1"


def load_or_skip(name: str, method: str) -> Any:
    """The model, loaded as the conformance kit does; skip if its family is not here yet."""
    import zoo
    from zoo.registry import get_registry

    reg = get_registry()
    family = name.split(":")[0]
    if family not in reg.families:
        errors = [p.error for p in reg.plugins if p.error and family in (p.name or "")]
        why = f" (its plugin failed: {errors[0].splitlines()[0]})" if errors else ""
        pytest.skip(f"{family} is not registered in this checkout{why}; re-run once it lands")
    fam = reg.families[family]
    loader = fam.loader
    from zoo.specs import import_string

    if not callable(getattr(import_string(loader), method, None)):
        pytest.skip(f"{loader} has no {method} yet")
    return zoo.load(name, weights="random", device="cpu", **dict(fam.conformance))


def png(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture
def serve() -> Iterator[Any]:
    """``serve(name, model)`` -> a test client of a server holding that model."""
    apps: list[Any] = []

    def make(name: str, model: Any) -> TestClient:
        app = create_app(ServeConfig(weights="random", device="cpu"), models={name: model})
        apps.append(app)
        return TestClient(app, base_url=BASE)

    yield make
    for app in apps:
        app.state.service.close()


def masks(payload: dict[str, Any]) -> list[np.ndarray]:
    return [decode_rle(a["segmentation"]).astype(bool) for a in payload["annotations"]]


def test_amodal_endpoint_equals_segment_amodal(serve: Any) -> None:
    model = load_or_skip("sameo-amodal", "segment_amodal")
    client = serve("sameo-amodal", model)
    image = synthetic_image(240, 320)
    iid = client.post("/v1/images", files={"file": ("i.png", png(image))}).json()["image_id"]
    boxes = [[40, 40, 170, 130], [180, 110, 300, 220]]
    r = client.post("/v1/amodal", json={"model": "sameo-amodal", "image_id": iid, "boxes": boxes})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["task"] == "amodal" and body["test_mode"] is True
    direct = model.segment_amodal(image, np.asarray(boxes, dtype=float))
    expected = direct.to_coco(1)
    assert len(body["annotations"]) == len(expected) == 2
    for got, want in zip(masks(body), expected, strict=True):
        np.testing.assert_array_equal(got, decode_rle(want["segmentation"]).astype(bool))
    assert [a["score"] for a in body["annotations"]] == pytest.approx(
        [a["score"] for a in expected], abs=1e-5
    )
    bad = client.post("/v1/amodal", json={"model": "sameo-amodal", "image_id": iid,
                                          "boxes": [[10, 10, 5, 5]]})  # fmt: skip
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "bad_input"


def test_shadow_endpoint_equals_segment_shadows(serve: Any) -> None:
    model = load_or_skip("opseg-shadow", "segment_shadows")
    client = serve("opseg-shadow", model)
    image = synthetic_image(240, 320)
    iid = client.post("/v1/images", files={"file": ("i.png", png(image))}).json()["image_id"]
    instances = [{"object": {"box": [50, 50, 160, 120]}, "shadow": {"box": [150, 110, 260, 170]}}]
    r = client.post(
        "/v1/shadows", json={"model": "opseg-shadow", "image_id": iid, "instances": instances}
    )
    assert r.status_code == 200, r.text
    from zoo.prompts import as_shadow_prompts

    direct = model.segment_shadows(image, as_shadow_prompts(instances)).to_coco(1)
    assert sorted(a["category_id"] for a in r.json()["annotations"]) == [1, 2]
    for got, want in zip(masks(r.json()), direct, strict=True):
        np.testing.assert_array_equal(got, decode_rle(want["segmentation"]).astype(bool))


def test_everything_endpoint_equals_segment_everything(serve: Any) -> None:
    model = load_or_skip("sam2:tiny", "segment_everything")
    client = serve("sam2:tiny", model)
    image = synthetic_image(240, 320)
    iid = client.post("/v1/images", files={"file": ("i.png", png(image))}).json()["image_id"]
    r = client.post("/v1/everything", json={"model": "sam2:tiny", "image_id": iid})
    assert r.status_code == 200, r.text
    direct = model.segment_everything(image).to_coco(1)
    assert len(r.json()["annotations"]) == len(direct)
    for got, want in zip(masks(r.json()), direct, strict=True):
        np.testing.assert_array_equal(got, decode_rle(want["segmentation"]).astype(bool))


@pytest.mark.slow
def test_rgbd_endpoint_equals_segment_rgbd(serve: Any, shared: Path) -> None:
    model = load_or_skip("depth-sam", "segment_rgbd")
    client = serve("depth-sam", model)
    frame = shared / "fixtures" / "rgbd" / "scannet_scene0000_00_1660"
    color = (frame / "color.jpg").read_bytes()
    depth = (frame / "depth.png").read_bytes()
    iid = client.post("/v1/images", files={"file": ("color.jpg", color)}).json()["image_id"]
    d = client.post("/v1/depth", files={"file": ("depth.png", depth)})
    assert d.status_code == 200, d.text
    from zoo.io.depth import load_intrinsics
    from zoo.io.images import load_image

    k = load_intrinsics(frame / "intrinsic_depth.txt")
    r = client.post(
        "/v1/rgbd",
        json={"model": "depth-sam", "image_id": iid, "depth_id": d.json()["depth_id"],
              "intrinsics": list(k)},
    )  # fmt: skip
    assert r.status_code == 200, r.text
    depth_arr = np.array(Image.open(frame / "depth.png"))
    direct = model.segment_rgbd(load_image(frame / "color.jpg"), depth_arr, k).to_coco(1)
    assert len(r.json()["annotations"]) == len(direct)
    for got, want in zip(masks(r.json()), direct, strict=True):
        np.testing.assert_array_equal(got, decode_rle(want["segmentation"]).astype(bool))


@pytest.mark.slow
def test_video_session_equals_track(serve: Any, shared: Path) -> None:
    model = load_or_skip("sam2long-video", "track")
    client = serve("sam2long-video", model)
    folder = shared / "fixtures" / "video" / "bedroom"
    names = sorted(folder.glob("*.jpg"))[:3]
    up = client.post("/v1/videos", files=[("frames", (p.name, p.read_bytes())) for p in names])
    assert up.status_code == 200, up.text
    prompts = [{"box": [300, 150, 600, 400]}]
    with client.stream(
        "POST",
        f"/v1/videos/{up.json()['video_id']}/track",
        json={"model": "sam2long-video", "prompts": prompts},
    ) as resp:
        assert resp.status_code == 200
        text = "".join(resp.iter_text())
    events = [
        (b.split("\n")[0].removeprefix("event: "), json.loads(b.split("\n")[1][6:]))
        for b in text.strip().split("\n\n")
    ]
    assert [e for e, _ in events] == ["frame"] * 3 + ["done"]
    from zoo.io.images import load_image

    frames = [load_image(p) for p in names]
    for (_, got), want in zip(events, model.track(frames, prompts), strict=False):
        exp = want.to_coco(1)
        assert [decode_rle(a["segmentation"]).sum() for a in got["annotations"]] == [
            decode_rle(a["segmentation"]).sum() for a in exp
        ]


@pytest.mark.parametrize("name", ["efficientsam", "sameo-amodal"])  # sam2: test_serve_api
def test_image_state_snapshots_replace_the_encoder(name: str) -> None:
    """What the server's embedding cache relies on: after another image was set, restoring
    an image's snapshot gives the same masks as embedding it again, with no encoder pass."""
    from zoo.specs import Task

    model = load_or_skip(name, "set_image")
    if not getattr(model, "image_state_attrs", ()):
        pytest.skip(f"{name} declares no image_state_attrs (no cached embeddings in zoo serve)")
    a, b = synthetic_image(120, 160, seed=1), synthetic_image(120, 160, seed=2)[::-1].copy()
    boxes = [[20.0, 20.0, 90.0, 80.0]]

    def run() -> Any:
        if Task.AMODAL in model.tasks:
            return model.segment_amodal(None, np.asarray(boxes))
        return model.segment(None, {"boxes": boxes})

    model.set_image(a)
    snap = model.image_state()
    first = run().to_coco(1)
    model.set_image(b)
    other = run().to_coco(1)  # the model now answers for b ...
    assert [x["segmentation"] for x in other] != [x["segmentation"] for x in first]
    model.restore_image_state(snap)  # ... and for a again, without seeing a's pixels
    again = run().to_coco(1)
    assert [x["segmentation"] for x in again] == [x["segmentation"] for x in first]
    assert [x["score"] for x in again] == pytest.approx([x["score"] for x in first], abs=1e-6)
