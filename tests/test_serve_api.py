"""`zoo serve` through FastAPI's test client: every endpoint, every bad input, the cache.

The real model is `sam2:tiny` with random weights at `image_size` 128 (one load for the
module); the per-task endpoints are driven by small fake models implementing the task
interfaces with real result objects, so their routes are tested now; the real families
of those tasks are exercised in `test_serve_families.py` (skipped until they load).
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import struct
import subprocess
import sys
import zlib
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
from zoo.results import (
    AmodalInstance,
    AmodalResult,
    Provenance,
    RGBDResult,
    SegmentationResult,
    ShadowInstance,
    ShadowResult,
    TaskResult,
    VideoFrameResult,
)
from zoo.serve import ServeConfig, create_app
from zoo.serve.cache import LRUCache
from zoo.specs import Task
from zoo.testing import synthetic_image

BASE = "http://127.0.0.1"
H, W = 120, 160
TOKEN = "t0ken-for-tests-only-0123456789"


# ---------------------------------------------------------------------------- helpers


def png_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def jpeg_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="JPEG", quality=95)
    return buf.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that *declares* width x height but holds no pixel data (a decompression bomb's
    header): Pillow reads the size without decoding anything."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 16)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def assert_error(resp: Any, status: int, code: str, *needles: str) -> dict[str, Any]:
    """The one error shape, a one-line message, no internals."""
    assert resp.status_code == status, (resp.status_code, resp.text)
    body = resp.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message"}, body
    assert body["error"]["code"] == code, body
    msg = body["error"]["message"]
    assert "\n" not in msg and "Traceback" not in msg and msg.strip(), msg
    for n in needles:
        assert n.lower() in msg.lower(), (n, msg)
    return body


def upload(client: TestClient, data: bytes, name: str = "img.png", **headers: str) -> Any:
    return client.post(
        "/v1/images", files={"file": (name, data, "application/octet-stream")}, headers=headers
    )


def masks_of(payload: dict[str, Any]) -> np.ndarray:
    return np.stack([decode_rle(a["segmentation"]).astype(bool) for a in payload["annotations"]])


def prov(task: Task) -> Provenance:
    return Provenance(model="fake", weights="random", task=task)


# ---------------------------------------------------------------------------- fakes


class FakePromptable:
    """A promptable model with an 'encoder' we can count: box prompts -> box masks."""

    tasks = (Task.PROMPTABLE,)
    weights = "random"
    image_state_attrs = ("_pixels", "_fingerprint")

    def __init__(self) -> None:
        self.encoder_calls = 0
        self._pixels: np.ndarray | None = None
        self._fingerprint: str | None = None

    def set_image(self, image: np.ndarray) -> None:
        self.encoder_calls += 1
        self._pixels = np.array(image)
        self._fingerprint = str(hash(self._pixels.tobytes()))

    def image_state(self) -> dict[str, Any] | None:
        return {"_pixels": self._pixels, "_fingerprint": self._fingerprint}

    def restore_image_state(self, state: dict[str, Any]) -> None:
        self._pixels, self._fingerprint = state["_pixels"], state["_fingerprint"]

    def segment(self, image: Any, prompts: Any, *, multimask: bool = False) -> SegmentationResult:
        from zoo.prompts import as_prompts

        assert image is None and self._pixels is not None
        h, w = self._pixels.shape[:2]
        p = as_prompts(prompts)
        masks = np.zeros((len(p), h, w), bool)
        for i, o in enumerate(p.objects):
            if o.box is not None:
                x1, y1, x2, y2 = (round(v) for v in o.box)
                masks[i, y1:y2, x1:x2] = True
            for x, y in o.points or []:
                masks[
                    i, max(0, round(y) - 3) : round(y) + 3, max(0, round(x) - 3) : round(x) + 3
                ] = True
        # the score tells which image the model had: the red channel at the origin
        scores = np.full(len(p), float(self._pixels[0, 0, 0]) / 255.0, np.float32)
        return SegmentationResult(
            masks=masks,
            scores=scores,
            image_size=(h, w),
            provenance=prov(Task.PROMPTABLE),
            prompts=p,
        )

    def segment_everything(self, image: Any, *, grid: int = 2) -> SegmentationResult:
        arr = np.asarray(image)
        h, w = arr.shape[:2]
        masks = np.zeros((grid * grid, h, w), bool)
        for i in range(grid):
            for j in range(grid):
                masks[
                    i * grid + j,
                    i * h // grid : (i + 1) * h // grid,
                    j * w // grid : (j + 1) * w // grid,
                ] = True
        return SegmentationResult(
            masks=masks,
            scores=np.linspace(1, 0.5, grid * grid).astype(np.float32),
            image_size=(h, w),
            provenance=prov(Task.PROMPTABLE),
        )


class Exploding(FakePromptable):
    def segment(self, image: Any, prompts: Any, *, multimask: bool = False) -> SegmentationResult:
        raise RuntimeError("secret internal detail /home/someone/model.py")


class FakeAmodal:
    tasks = (Task.AMODAL,)
    weights = "random"

    def segment_amodal(self, image: Any, boxes: Any, *, scores: Any = None) -> AmodalResult:
        arr = np.asarray(image)
        h, w = arr.shape[:2]
        out = []
        for b in np.asarray(boxes, dtype=float):
            m = np.zeros((h, w), bool)
            m[int(b[1]) : int(b[3]), int(b[0]) : int(b[2])] = True
            out.append(AmodalInstance(amodal_mask=m, visible_mask=m, score=0.9, box=tuple(b)))
        return AmodalResult(instances=out, image_size=(h, w), provenance=prov(Task.AMODAL))


class FakeShadow:
    tasks = (Task.SHADOW,)
    weights = "random"

    def segment_shadows(self, image: Any, instances: Any) -> ShadowResult:
        arr = np.asarray(image)
        h, w = arr.shape[:2]
        out = []
        for i, inst in enumerate(instances):

            def mask(p: Any) -> np.ndarray | None:
                if p is None or p.box is None:
                    return None
                m = np.zeros((h, w), bool)
                x1, y1, x2, y2 = (int(v) for v in p.box)
                m[y1:y2, x1:x2] = True
                return m

            out.append(
                ShadowInstance(
                    association_id=i + 1,
                    object_mask=mask(inst.object),
                    shadow_mask=mask(inst.shadow),
                    object_score=0.8,
                    shadow_score=0.7,
                )
            )
        return ShadowResult(instances=out, image_size=(h, w), provenance=prov(Task.SHADOW))


class FakeRGBD:
    tasks = (Task.RGBD,)
    weights = "random"

    def segment_rgbd(
        self, image: Any, depth: Any, intrinsics: Any = None, vocabulary: Any = None
    ) -> RGBDResult:
        from zoo.errors import InputError

        arr, d = np.asarray(image), np.asarray(depth)
        if d.shape[:2] != arr.shape[:2]:
            raise InputError(f"depth is {d.shape[1]}x{d.shape[0]} but the image is larger")
        near = d > 0
        near &= d < np.median(d[near])
        return RGBDResult(
            masks=near[None],
            labels=[(vocabulary or ["thing"])[0]],
            scores=np.array([0.5]),
            image_size=arr.shape[:2],
            provenance=prov(Task.RGBD),
            extra={"intrinsics": list(intrinsics) if intrinsics else None},
        )


class FakeVideo:
    tasks = (Task.VIDEO,)
    weights = "random"

    def track(
        self, frames: Any, prompts: Any, *, prompt_frame: int = 0, fail_at: int = -1
    ) -> Iterator[VideoFrameResult]:
        from zoo.errors import InputError
        from zoo.io.frames import open_frames
        from zoo.prompts import as_prompts

        source = open_frames(frames)
        p = as_prompts(prompts)
        h, w = source.size
        for i, _frame in source:
            if i == fail_at:
                raise InputError(f"frame {i} is unreadable")
            m = np.zeros((h, w), bool)
            if i >= prompt_frame:
                x1, y1, x2, y2 = (int(v) for v in p.objects[0].box)
                m[y1 + i : y2 + i, x1:x2] = True
            yield VideoFrameResult(
                frame_index=i,
                frame_name=f"{i:05d}",
                masks={1: m},
                scores={1: 0.5},
                image_size=(h, w),
                provenance=prov(Task.VIDEO),
            )


FAKES = {
    "fake-prompt": FakePromptable,
    "fake-amodal": FakeAmodal,
    "fake-shadow": FakeShadow,
    "fake-rgbd": FakeRGBD,
    "fake-video": FakeVideo,
    "fake-bug": Exploding,
}


def fake_app(**config: Any) -> tuple[Any, dict[str, Any]]:
    models = {k: cls() for k, cls in FAKES.items()}
    cfg = ServeConfig(weights="random", device="cpu", **config)
    return create_app(cfg, models=models), models


@pytest.fixture
def fakes() -> Iterator[tuple[TestClient, dict[str, Any]]]:
    app, models = fake_app()
    with TestClient(app, base_url=BASE) as client:
        yield client, models


@pytest.fixture(scope="module")
def sam2_app() -> Iterator[Any]:
    """One lazily loading server for the module: sam2 at image_size 128, random weights."""
    app = create_app(
        ServeConfig(weights="random", device="cpu", model_options={"image_size": "128"})
    )
    yield app
    app.state.service.close()


@pytest.fixture
def sam2(sam2_app: Any) -> TestClient:
    return TestClient(sam2_app, base_url=BASE)


@pytest.fixture(scope="module")
def image() -> np.ndarray:
    return synthetic_image(H, W)


# ---------------------------------------------------------------------------- basics


def test_health_models_card_and_docs(sam2: TestClient) -> None:
    health = sam2.get("/healthz").json()
    assert health["status"] == "ok" and "cache" in health
    rows = {r["name"]: r for r in sam2.get("/v1/models").json()}
    row = rows["sam2:tiny"]
    # the same row as `zoo list --json`, plus what the server knows
    for key in ("family", "tag", "tasks", "params", "license", "files", "cached"):
        assert key in row
    # sam2 has segment_everything, so the server offers "everything" for it too
    assert row["serve"]["endpoints"] == ["/v1/segment", "/v1/everything"]
    assert row["serve"]["test_mode"] is True
    card = sam2.get("/v1/models/sam2").json()
    assert card["name"] == "sam2:tiny" and card["card"]["license"]
    assert any(o["option"] == "--image-size" for o in card["options"])
    assert_error(sam2.get("/v1/models/sam9"), 404, "unknown_model", "sam9")
    assert_error(sam2.get("/v1/nothing"), 404, "not_found")
    assert_error(sam2.delete("/v1/models"), 405, "method_not_allowed")
    spec = sam2.get("/openapi.json").json()
    for path in (
        "/v1/images",
        "/v1/segment",
        "/v1/everything",
        "/v1/amodal",
        "/v1/shadows",
        "/v1/rgbd",
        "/v1/depth",
        "/v1/videos",
        "/v1/videos/{video_id}/track",
    ):
        assert path in spec["paths"], path
    assert "HTTPBearer" in spec["components"]["securitySchemes"]  # /docs can send the token
    docs = sam2.get("/docs").text
    assert "/docs-static/swagger-ui-bundle.js" in docs  # served here: no CDN needed
    assert sam2.get("/docs-static/swagger-ui-bundle.js").status_code == 200
    page = sam2.get("/")
    assert (
        page.status_code == 200 and "default-src 'self'" in page.headers["content-security-policy"]
    )
    for asset in ("/static/app.js", "/static/rle.js", "/static/style.css"):
        got = sam2.get(asset)
        assert got.status_code == 200 and got.headers["x-content-type-options"] == "nosniff"
        assert "default-src 'self'" in got.headers["content-security-policy"]


# ---------------------------------------------------------------------------- uploads


def test_upload_sniffs_content_and_ids_pixels(sam2: TestClient, image: np.ndarray) -> None:
    first = upload(sam2, png_bytes(image), "photo.jpg")  # the name lies: content decides
    assert first.status_code == 200, first.text
    info = first.json()
    assert (info["width"], info["height"]) == (W, H) and info["name"] == "photo.jpg"
    assert len(info["image_id"]) == 64
    # the same pixels in another container (lossless) are the same image
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="BMP")
    again = upload(sam2, buf.getvalue(), "x.bin").json()
    assert again["image_id"] == info["image_id"] and again["cached"] is True
    # a client file name is only a label, never a path
    odd = upload(sam2, png_bytes(image), "../../etc/passwd").json()
    assert odd["name"] == "passwd"


def test_upload_bad_inputs(image: np.ndarray) -> None:
    app = create_app(ServeConfig(max_upload_mb=0.05, max_pixels=100_000))
    with TestClient(app, base_url=BASE) as c:
        assert_error(upload(c, b"GIF? no, text"), 415, "unsupported_media_type", "content")
        assert_error(upload(c, b"%PDF-1.4 not an image"), 415, "unsupported_media_type")
        assert_error(upload(c, b""), 400, "empty_upload")
        jpeg = jpeg_bytes(image)
        assert_error(upload(c, jpeg[: len(jpeg) // 2]), 400, "bad_image", "truncated")
        assert_error(
            upload(c, png_header_only(30000, 30000)), 413, "too_many_pixels", "--max-pixels"
        )
        assert_error(upload(c, png_header_only(400, 300)), 413, "too_many_pixels", "400x300")
        big = np.random.default_rng(0).integers(0, 255, (200, 200, 3), dtype=np.uint8)
        assert_error(upload(c, png_bytes(big)), 413, "too_large", "--max-upload-mb")
        assert_error(c.post("/v1/images", data={}), 400, "bad_request", "'file'")
        assert_error(
            c.post("/v1/images", files={"file": ("a.png", png_bytes(image))}, data={"path": "x"}),
            400,
            "bad_request",
        )
        # no client path without --allow-paths
        assert_error(c.post("/v1/images", data={"path": "/etc/hostname"}), 403, "paths_forbidden")
        # a streamed body without Content-Length is counted as it arrives
        payload = (
            b'--zz\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\n'
            b"Content-Type: image/png\r\n\r\n" + png_bytes(big) + b"\r\n--zz--\r\n"
        )

        def chunks() -> Iterator[bytes]:
            for i in range(0, len(payload), 8192):
                yield payload[i : i + 8192]

        resp = c.post(
            "/v1/images",
            content=chunks(),
            headers={"content-type": "multipart/form-data; boundary=zz"},
        )
        assert "content-length" not in {k.lower() for k in resp.request.headers}
        assert_error(resp, 413, "too_large", "--max-upload-mb")


def test_allow_paths_only_inside(tmp_path: Path, image: np.ndarray) -> None:
    root = tmp_path / "allowed"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "a.png").write_bytes(png_bytes(image))
    outside = tmp_path / "secret.png"
    outside.write_bytes(png_bytes(image))
    (root / "link.png").symlink_to(outside)
    app = create_app(ServeConfig(allow_paths=root))
    with TestClient(app, base_url=BASE) as c:
        ok = c.post("/v1/images", data={"path": "sub/a.png"})
        assert ok.status_code == 200 and ok.json()["width"] == W
        assert c.post("/v1/images", data={"path": str(root / "sub" / "a.png")}).status_code == 200
        assert_error(c.post("/v1/images", data={"path": "../secret.png"}), 403, "path_outside")
        assert_error(c.post("/v1/images", data={"path": str(outside)}), 403, "path_outside")
        assert_error(c.post("/v1/images", data={"path": "link.png"}), 403, "path_outside")
        assert_error(c.post("/v1/images", data={"path": "sub/none.png"}), 404, "no_such_file")
        assert_error(c.post("/v1/images", data={"path": "sub"}), 404, "no_such_file")


# ---------------------------------------------------------------------------- segment


def test_segment_equals_the_python_api_and_caches_the_embedding(
    sam2: TestClient, sam2_app: Any, image: np.ndarray
) -> None:
    iid = upload(sam2, png_bytes(image)).json()["image_id"]
    other = image.copy()
    other[:10] = 255 - other[:10]
    oid = upload(sam2, png_bytes(other)).json()["image_id"]
    prompts = [{"points": [[60, 40], [100, 80]], "labels": [1, 0]}, {"box": [10, 10, 90, 70]}]
    first = sam2.post("/v1/segment", json={"model": "sam2", "image_id": iid, "prompts": prompts})
    assert first.status_code == 200, first.text
    body = first.json()
    assert (
        body["model"] == "sam2:tiny" and body["test_mode"] is True and body["weights"] == "random"
    )
    assert [a["test_mode"] for a in body["annotations"]] == [True, True]

    model = sam2_app.state.service.pool.get("sam2").model
    calls: list[int] = []
    real = model.run_graph

    def counting(name: str, *inputs: Any) -> Any:
        if name == "encoder":  # the image encoder stage (zoo_sam2.graphs)
            calls.append(1)
        return real(name, *inputs)

    model.run_graph = counting
    try:
        # same answer as the Python API on the same pixels and prompts (embedded afresh)
        model._fingerprint = None
        direct = model.segment(image, prompts)
        assert len(calls) == 1
        calls.clear()
        sam2_app.state.service.pool.get("sam2").current_image = None  # the model moved on
        again = sam2.post(
            "/v1/segment", json={"model": "sam2:tiny", "image_id": iid, "prompts": prompts}
        ).json()
        np.testing.assert_array_equal(masks_of(again), direct.masks)
        np.testing.assert_allclose(again["scores"], direct.scores, rtol=0, atol=1e-6)
        assert again["embedding"] == "cached" and calls == []  # restored, not re-encoded
        click = sam2.post(
            "/v1/segment",
            json={
                "model": "sam2:tiny",
                "image_id": iid,
                "prompts": [{"points": [[30, 30]], "labels": [1]}],
            },
        ).json()
        assert click["embedding"] == "current" and calls == []
        # another image: the encoder runs once; back to the first: restored from the cache
        b = sam2.post(
            "/v1/segment", json={"model": "sam2", "image_id": oid, "prompts": prompts}
        ).json()
        assert b["embedding"] == "computed" and len(calls) == 1
        a = sam2.post(
            "/v1/segment", json={"model": "sam2", "image_id": iid, "prompts": prompts}
        ).json()
        assert a["embedding"] == "cached" and len(calls) == 1
        np.testing.assert_array_equal(masks_of(a), direct.masks)
        b2 = sam2.post(
            "/v1/segment", json={"model": "sam2", "image_id": oid, "prompts": prompts}
        ).json()
        assert b2["embedding"] == "cached" and len(calls) == 1
        np.testing.assert_array_equal(masks_of(b2), masks_of(b))
    finally:
        model.run_graph = real

    # the response echoes the prompts as parsed; overlay and lossless on request
    full = sam2.post(
        "/v1/segment",
        json={
            "model": "sam2",
            "image_id": iid,
            "prompts": prompts,
            "overlay": True,
            "lossless": True,
            "multimask": True,
        },
    ).json()
    assert full["prompts"] == prompts
    png = Image.open(io.BytesIO(base64.b64decode(full["overlay_png"])))
    assert png.size == (W, H)
    restored = TaskResult.from_dict(full["result"])
    assert isinstance(restored, SegmentationResult)
    np.testing.assert_array_equal(restored.masks, masks_of(full))


def test_segment_bad_inputs(sam2: TestClient, image: np.ndarray, fakes: Any) -> None:
    iid = upload(sam2, png_bytes(image)).json()["image_id"]

    def seg(**body: Any) -> Any:
        return sam2.post("/v1/segment", json={"model": "sam2", "image_id": iid, **body})

    assert_error(seg(model="sam9", prompts=[{"box": [1, 1, 9, 9]}]), 404, "unknown_model", "sam9")
    assert_error(seg(image_id="0" * 64, prompts=[{"box": [1, 1, 9, 9]}]), 404, "unknown_image")
    assert_error(seg(prompts=[{"box": [50, 10, 20, 40]}]), 400, "bad_input", "x2<=x1")
    assert_error(seg(prompts=[{"points": [[500, 10]], "labels": [1]}]), 400, "bad_input", "outside")
    assert_error(seg(prompts=[{"points": [[5, 10]], "labels": [1, 0]}]), 400, "bad_input", "labels")
    assert_error(seg(prompts=[{"points": [[5, 10]], "labels": [3]}]), 400, "bad_input", "labels")
    clicked = seg(prompts=[{"points": [[5, 10]]}])  # clicks without labels: foreground
    assert clicked.status_code == 200 and clicked.json()["prompts"][0]["labels"] == [1]
    # one prompt grammar: the {"boxes": [...]} form Python takes works over HTTP too
    both = seg(prompts={"boxes": [[1, 1, 30, 30], [40, 40, 90, 90]]})
    assert both.status_code == 200, both.text
    assert [p["box"] for p in both.json()["prompts"]] == [[1, 1, 30, 30], [40, 40, 90, 90]]
    assert seg(prompts=[{"box": [150, 100, 200, 200]}]).status_code == 200  # clipped
    assert_error(seg(prompts=[{"box": [300, 300, 400, 400]}]), 400, "bad_input", "entirely outside")
    assert_error(seg(prompts=[{}]), 400, "bad_input", "empty prompt")
    assert_error(seg(prompts=[]), 422, "invalid_request", "prompts")
    assert_error(seg(prompts=[{"box": [1, 2, 3]}]), 422, "invalid_request", "box")
    assert_error(seg(prompts=[{"bx": [1, 2, 3, 4]}]), 422, "invalid_request", "bx")
    assert_error(seg(prompts="box"), 422, "invalid_request")
    assert_error(seg(prompts=[{"mask": {"size": [2, 2], "counts": "??"}}]), 400, "bad_input")
    assert_error(
        sam2.post("/v1/segment", json={"model": "sam2", "prompts": [{"box": [1, 1, 5, 5]}]}),
        422,
        "invalid_request",
        "image_id",
    )
    assert_error(
        sam2.post(
            "/v1/segment", content=b"{not json", headers={"content-type": "application/json"}
        ),
        422,
        "invalid_request",
    )
    # JSON only: a form post (what a cross-site page could send without a preflight) is refused
    assert_error(sam2.post("/v1/segment", data={"model": "sam2"}), 422, "invalid_request")
    # a model of another task
    client, _ = fakes
    fid = upload(client, png_bytes(image)).json()["image_id"]
    resp = client.post(
        "/v1/segment",
        json={"model": "fake-amodal", "image_id": fid, "prompts": [{"box": [1, 1, 5, 5]}]},
    )
    assert_error(resp, 400, "unsupported_task", "amodal")


def test_a_bug_is_a_generic_500_without_internals(image: np.ndarray) -> None:
    app, _ = fake_app()
    with TestClient(app, base_url=BASE, raise_server_exceptions=False) as c:
        iid = upload(c, png_bytes(image)).json()["image_id"]
        resp = c.post(
            "/v1/segment",
            json={"model": "fake-bug", "image_id": iid, "prompts": [{"box": [1, 1, 5, 5]}]},
        )
        assert_error(resp, 500, "internal", "server log")
        assert "secret" not in resp.text and "model.py" not in resp.text


def test_lru_evicts_images_and_their_embeddings(image: np.ndarray) -> None:
    app, models = fake_app(max_images=2)
    with TestClient(app, base_url=BASE) as c:
        ids = []
        for k in range(3):
            img = image.copy()
            img[0, 0] = (k * 50, 0, 0)
            ids.append(upload(c, png_bytes(img)).json()["image_id"])
            r = c.post(
                "/v1/segment",
                json={
                    "model": "fake-prompt",
                    "image_id": ids[-1],
                    "prompts": [{"box": [1, 1, 9, 9]}],
                },
            )
            assert r.json()["scores"][0] == pytest.approx(k * 50 / 255)
        assert_error(
            c.post(
                "/v1/segment",
                json={
                    "model": "fake-prompt",
                    "image_id": ids[0],
                    "prompts": [{"box": [1, 1, 9, 9]}],
                },
            ),
            404,
            "unknown_image",
            "evicted",
        )
        stats = c.get("/healthz").json()["cache"]
        assert stats["kinds"]["image"]["items"] == 2
        assert stats["kinds"]["embedding:fake-prompt"]["items"] == 2
        assert stats["evictions"] >= 2  # the image and its embedding
        # the other two are still served from the cache, without the encoder
        before = models["fake-prompt"].encoder_calls
        for iid in ids[1:]:
            r = c.post(
                "/v1/segment",
                json={"model": "fake-prompt", "image_id": iid, "prompts": [{"box": [1, 1, 9, 9]}]},
            ).json()
            assert r["embedding"] in ("cached", "current")
        assert models["fake-prompt"].encoder_calls == before


def test_cache_bounds_bytes_and_counts() -> None:
    evicted: list[tuple[str, Any]] = []
    cache = LRUCache(
        1000, {"image": 3, "embedding": 2}, on_evict=lambda k, key, v: evicted.append((k, key))
    )
    for i in range(3):
        cache.put("image", i, np.zeros(100, np.uint8))
        cache.put("embedding:m", i, np.zeros(200, np.uint8))
    # two embeddings at most; 3 images (300 B) + 2 embeddings (400 B) fit in 1000 B
    assert ("embedding:m", 0) in evicted and ("image", 0) not in evicted
    cache.put("image", 9, np.zeros(500, np.uint8))  # over the byte budget: oldest go first
    assert cache.stats()["bytes"] <= 1000
    assert ("image", 0) in evicted
    with pytest.raises(Exception, match="max-cache-mb"):
        cache.put("image", 10, np.zeros(2000, np.uint8))
    # an image's embeddings leave with it
    cache = LRUCache(10_000, {"image": 1})
    cache.put("image", "a", np.zeros(10, np.uint8))
    cache.put("embedding:m", "a", np.zeros(10, np.uint8))
    cache.put("image", "b", np.zeros(10, np.uint8))
    assert cache.get("embedding:m", "a") is None and cache.get("image", "b") is not None


def test_concurrent_clicks_on_one_image(sam2_app: Any, image: np.ndarray) -> None:
    """Eight clicks at once on one image (and two on another): each answer is the one the
    Python API gives for its prompt, and the encoder ran once per image."""
    import httpx

    svc = sam2_app.state.service
    model = svc.pool.get("sam2").model
    img2 = image[::-1].copy()
    clicks = [[[10 + 17 * k, 20 + 9 * k]] for k in range(8)]
    expected = [model.segment(image, {"points": c, "labels": [1]}) for c in clicks]
    expected2 = model.segment(img2, {"points": clicks[0], "labels": [1]})
    svc.cache.clear()
    svc.pool.get("sam2").current_image = None
    before = svc.counters["embeddings_computed"]

    async def run() -> list[Any]:
        transport = httpx.ASGITransport(app=sam2_app)
        async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
            ids = []
            for img in (image, img2):
                r = await client.post("/v1/images", files={"file": ("i.png", png_bytes(img))})
                ids.append(r.json()["image_id"])
            reqs = [
                client.post(
                    "/v1/segment",
                    json={
                        "model": "sam2",
                        "image_id": ids[0],
                        "prompts": [{"points": c, "labels": [1]}],
                    },
                )
                for c in clicks
            ]
            reqs += [
                client.post(
                    "/v1/segment",
                    json={
                        "model": "sam2:tiny",
                        "image_id": ids[1],
                        "prompts": [{"points": clicks[0], "labels": [1]}],
                    },
                )
                for _ in range(2)
            ]
            return await asyncio.gather(*reqs)

    answers = asyncio.run(run())
    assert all(a.status_code == 200 for a in answers), [a.text for a in answers]
    for ans, exp in zip(answers[:8], expected, strict=True):
        np.testing.assert_array_equal(masks_of(ans.json())[0], exp.masks[0])
        assert ans.json()["scores"][0] == pytest.approx(float(exp.scores[0]), abs=1e-6)
    for ans in answers[8:]:
        np.testing.assert_array_equal(masks_of(ans.json())[0], expected2.masks[0])
    assert svc.counters["embeddings_computed"] - before == 2


def test_lazy_load_happens_once_under_concurrency(
    image: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ten first requests at once load the model once (the pool's per-name load lock)."""
    from concurrent.futures import ThreadPoolExecutor

    import zoo.loading

    loads: list[str] = []

    def fake_load(family: Any, variant: Any, **kw: Any) -> Any:
        loads.append(variant.name)
        assert kw["weights"] == "random" and kw["image_size"] == 64 and kw["progress"] is False
        model = FakePromptable()
        model.family = family  # type: ignore[attr-defined]
        return model

    monkeypatch.setattr(zoo.loading, "load_resolved", fake_load)
    app = create_app(ServeConfig(weights="random", model_options={"image_size": "64"}))
    with TestClient(app, base_url=BASE) as c:
        iid = upload(c, png_bytes(image)).json()["image_id"]
        with ThreadPoolExecutor(10) as pool:
            codes = list(
                pool.map(
                    lambda _: (
                        c.post(
                            "/v1/segment",
                            json={
                                "model": "sam2",
                                "image_id": iid,
                                "prompts": [{"box": [1, 1, 9, 9]}],
                            },
                        ).status_code
                    ),
                    range(10),
                )
            )
    assert codes == [200] * 10 and loads == ["sam2:tiny"]


# ---------------------------------------------------------------------------- security


def test_token_rule() -> None:
    from zoo.errors import InputError

    with pytest.raises(InputError, match="without a token"):
        create_app(ServeConfig(host="0.0.0.0"))
    with pytest.raises(InputError, match="at least 16"):
        create_app(ServeConfig(host="0.0.0.0", token="short"))
    app = create_app(ServeConfig(host="0.0.0.0", token=TOKEN))
    # with a token, other host names are fine (a reverse proxy, a LAN name)
    with TestClient(app, base_url="http://seg.example.org") as c:
        assert_error(c.get("/v1/models"), 401, "unauthorized", "Bearer")
        assert c.get("/v1/models").headers["www-authenticate"] == "Bearer"
        assert_error(
            c.get("/v1/models", headers={"Authorization": "Bearer nope"}), 401, "unauthorized"
        )
        assert_error(c.get("/v1/models", headers={"Authorization": TOKEN}), 401, "unauthorized")
        # rejected before the body is read: an anonymous upload costs nothing
        assert_error(upload(c, b"x" * 1000), 401, "unauthorized")
        ok = c.get("/v1/models", headers={"Authorization": f"Bearer {TOKEN}"})
        assert ok.status_code == 200
        proxied = c.get(
            "/v1/models",
            headers={"Authorization": f"Bearer {TOKEN}", "X-Forwarded-For": "203.0.113.9"},
        )
        assert proxied.status_code == 200  # with a token, a proxy in front is fine
        # the page, its assets and the health check need no token (they reveal nothing)
        assert c.get("/").status_code == 200 and c.get("/healthz").status_code == 200


def test_token_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZOO_SERVE_TOKEN", TOKEN)
    cfg = ServeConfig(host="0.0.0.0").check()
    assert cfg.token == TOKEN and cfg.url(8000).endswith(f"/#token={TOKEN}")


def test_loopback_guards_and_cors() -> None:
    app = create_app(ServeConfig())
    with TestClient(app, base_url=BASE) as c:
        assert c.get("/v1/models").headers.get("access-control-allow-origin") is None
        # DNS rebinding: a foreign Host name reaching a token-less loopback server
        assert_error(c.get("/v1/models", headers={"Host": "evil.example"}), 403, "bad_host")
        # a page on another site posting to the API
        resp = c.post(
            "/v1/images", files={"file": ("a", b"x")}, headers={"Origin": "https://evil.example"}
        )
        assert_error(resp, 403, "cross_origin", "--cors-origin")
        # behind a reverse proxy the server is not local any more: it needs a token
        for header in ("X-Forwarded-For", "X-Real-IP", "Forwarded"):
            assert_error(c.get("/", headers={header: "203.0.113.9"}), 403, "proxy_needs_token")
        same = c.get("/v1/models", headers={"Origin": "http://127.0.0.1"})
        assert same.status_code == 200
    app = create_app(ServeConfig(cors_origins=["https://app.example.org"]))
    with TestClient(app, base_url=BASE) as c:
        pre = c.options(
            "/v1/segment",
            headers={
                "Origin": "https://app.example.org",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type",
            },
        )
        assert pre.status_code == 200
        assert pre.headers["access-control-allow-origin"] == "https://app.example.org"
        ok = c.get("/v1/models", headers={"Origin": "https://app.example.org"})
        assert ok.status_code == 200
        assert ok.headers["access-control-allow-origin"] == "https://app.example.org"
    from zoo.errors import InputError

    with pytest.raises(InputError, match="wildcard"):
        create_app(ServeConfig(cors_origins=["*"]))


def test_only_named_models(monkeypatch: pytest.MonkeyPatch) -> None:
    app = create_app(ServeConfig(models=["sam2:tiny"], only_named=True))
    with TestClient(app, base_url=BASE) as c:
        names = [r["name"] for r in c.get("/v1/models").json()]
        assert names == ["sam2:tiny"]
        assert_error(c.get("/v1/models/sam2:large"), 404, "unknown_model", "not served here")


def test_cli_refuses_unsafe_or_unknown_settings() -> None:
    from zoo.testing.cli import assert_user_error, run_cli

    assert_user_error(run_cli("serve", "--host", "0.0.0.0"), "without a token", "--token")
    assert_user_error(run_cli("serve", "--host", "0.0.0.0", "--token", "abc"), "at least 16")
    assert_user_error(run_cli("serve", "--port", "70000"), "port")
    assert_user_error(run_cli("serve", "--max-images", "0"), "--max-images")
    assert_user_error(run_cli("serve", "--weights", "best"), "--weights")
    assert_user_error(run_cli("serve", "--allow-paths", "/nonexistent-dir"), "--allow-paths")
    assert_user_error(run_cli("serve", "--only"), "--only needs model names")
    assert_user_error(run_cli("serve", "sam2:tiny", "--bogus-option", "3"), "--bogus-option")


def test_cli_without_serve_deps_never_imports_them() -> None:
    """`zoo list`, `--help` and `info` stay light: no FastAPI, uvicorn or torch imports."""
    code = (
        "import sys, zoo.cli; from zoo.cli import app; "
        "print(sorted(m for m in ('fastapi','uvicorn','starlette','torch') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


# ---------------------------------------------------------------------------- other tasks


def test_everything_endpoint(fakes: Any, image: np.ndarray, sam2: TestClient) -> None:
    client, _ = fakes
    iid = upload(client, png_bytes(image)).json()["image_id"]
    r = client.post(
        "/v1/everything", json={"model": "fake-prompt", "image_id": iid, "options": {"grid": 3}}
    )
    assert r.status_code == 200, r.text
    assert len(r.json()["annotations"]) == 9 and r.json()["task"] == "promptable"
    assert_error(
        client.post(
            "/v1/everything", json={"model": "fake-prompt", "image_id": iid, "options": {"grdi": 3}}
        ),
        400,
        "unknown_option",
        "grid",
    )
    assert_error(
        client.post(
            "/v1/everything",
            json={"model": "fake-prompt", "image_id": iid, "options": {"grid": "x"}},
        ),
        400,
        "bad_option",
    )
    rows = {r["name"]: r for r in client.get("/v1/models").json()}
    assert "/v1/everything" in rows["fake-prompt"]["serve"]["endpoints"]
    # sam2's real generator over a 4x4 grid, random weights: a 200 with its settings recorded
    sid = upload(sam2, png_bytes(image)).json()["image_id"]
    resp = sam2.post(
        "/v1/everything",
        json={"model": "sam2", "image_id": sid, "options": {"points_per_side": 4}},
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["task"] == "promptable"
    assert_error(
        sam2.post(
            "/v1/everything",
            json={"model": "sam2", "image_id": sid, "options": {"points_per_side": 0}},
        ),
        400,
        "bad_input",
        "points_per_side",
    )


def test_amodal_and_shadow_endpoints(fakes: Any, image: np.ndarray) -> None:
    client, _ = fakes
    iid = upload(client, png_bytes(image)).json()["image_id"]
    r = client.post(
        "/v1/amodal",
        json={
            "model": "fake-amodal",
            "image_id": iid,
            "boxes": [[10, 10, 50, 40]],
            "overlay": True,
            "lossless": True,
        },
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["task"] == "amodal" and body["annotations"][0]["area"] == 40 * 30
    assert isinstance(TaskResult.from_dict(body["result"]), AmodalResult)
    assert body["overlay_png"]
    assert_error(
        client.post(
            "/v1/amodal", json={"model": "fake-amodal", "image_id": iid, "boxes": [[10, 10, 50]]}
        ),
        422,
        "invalid_request",
    )
    assert_error(
        client.post(
            "/v1/amodal", json={"model": "fake-shadow", "image_id": iid, "boxes": [[1, 1, 5, 5]]}
        ),
        400,
        "unsupported_task",
    )
    s = client.post(
        "/v1/shadows",
        json={
            "model": "fake-shadow",
            "image_id": iid,
            "instances": [
                {"object": {"box": [10, 10, 40, 40]}, "shadow": {"box": [40, 30, 80, 50]}},
                {"shadow": {"box": [90, 10, 120, 30]}},
            ],
        },
    )
    assert s.status_code == 200, s.text
    cats = sorted(a["category_id"] for a in s.json()["annotations"])
    assert cats == [1, 2, 2]  # SOBA: 1 object, 2 shadow
    assert_error(
        client.post(
            "/v1/shadows", json={"model": "fake-shadow", "image_id": iid, "instances": [{}]}
        ),
        400,
        "bad_input",
        "instance 0",
    )
    assert_error(
        client.post(
            "/v1/shadows",
            json={
                "model": "fake-shadow",
                "image_id": iid,
                "instances": [{"object": {"box": [300, 10, 400, 40]}}],
            },
        ),
        400,
        "bad_input",
        "entirely outside",
    )


def test_rgbd_endpoint_and_depth_uploads(fakes: Any, image: np.ndarray) -> None:
    client, _ = fakes
    iid = upload(client, png_bytes(image)).json()["image_id"]
    depth = (np.linspace(500, 3000, H * W).reshape(H, W)).astype(np.uint16)
    buf = io.BytesIO()
    Image.fromarray(depth).save(buf, format="PNG")
    d = client.post("/v1/depth", files={"file": ("d.png", buf.getvalue())})
    assert d.status_code == 200, d.text
    did = d.json()["depth_id"]
    r = client.post(
        "/v1/rgbd",
        json={
            "model": "fake-rgbd",
            "image_id": iid,
            "depth_id": did,
            "intrinsics": [100, 100, 80, 60],
            "vocabulary": ["chair"],
            "lossless": True,
        },
    )
    assert r.status_code == 200, r.text
    assert r.json()["annotations"][0]["label"] == "chair"
    assert r.json()["result"]["extra"]["intrinsics"] == [100, 100, 80, 60]
    npy = io.BytesIO()
    np.save(npy, depth.astype(np.float32) / 1000)
    assert client.post("/v1/depth", files={"file": ("d.npy", npy.getvalue())}).status_code == 200
    pickled = io.BytesIO()
    np.save(pickled, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    assert_error(
        client.post("/v1/depth", files={"file": ("d.npy", pickled.getvalue())}), 400, "bad_depth"
    )
    assert_error(
        client.post("/v1/depth", files={"file": ("d.png", png_bytes(image))}),
        400,
        "bad_depth",
        "RGB",
    )
    assert_error(
        client.post("/v1/depth", files={"file": ("d.jpg", jpeg_bytes(image))}),
        415,
        "unsupported_media_type",
    )
    small = io.BytesIO()
    Image.fromarray(depth[:60, :80]).save(small, format="PNG")
    sid = client.post("/v1/depth", files={"file": ("s.png", small.getvalue())}).json()["depth_id"]
    assert_error(
        client.post("/v1/rgbd", json={"model": "fake-rgbd", "image_id": iid, "depth_id": sid}),
        400,
        "bad_input",
        "depth",
    )
    assert_error(
        client.post("/v1/rgbd", json={"model": "fake-rgbd", "image_id": iid, "depth_id": "nope"}),
        404,
        "unknown_depth",
    )


def sse_events(text: str) -> list[tuple[str, dict[str, Any]]]:
    events = []
    for block in text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        events.append((lines["event"], json.loads(lines["data"])))
    return events


def test_video_session_streams_frames(fakes: Any, image: np.ndarray) -> None:
    client, _ = fakes
    frames = [np.roll(image, k, axis=1) for k in range(4)]
    up = client.post(
        "/v1/videos",
        files=[("frames", (f"{k:05d}.png", png_bytes(f))) for k, f in enumerate(frames)],
    )
    assert up.status_code == 200, up.text
    vid = up.json()["video_id"]
    assert up.json()["frames"] == 4
    body = {"model": "fake-video", "prompts": [{"box": [10, 10, 40, 30]}], "prompt_frame": 1}
    with client.stream("POST", f"/v1/videos/{vid}/track", json=body) as resp:
        assert resp.status_code == 200 and resp.headers["content-type"].startswith(
            "text/event-stream"
        )
        text = "".join(resp.iter_text())
    events = sse_events(text)
    assert [e for e, _ in events] == ["frame"] * 4 + ["done"]
    assert [d["frame_index"] for _, d in events[:4]] == [0, 1, 2, 3]
    assert events[0][1]["annotations"][0]["area"] == 0  # before the prompt frame
    assert events[2][1]["annotations"][0]["object_id"] == 1
    assert events[-1][1] == {"done": True, "frames": 4}
    # bad inputs are plain 4xx before any streaming
    assert_error(
        client.post(f"/v1/videos/{vid}/track", json={**body, "prompt_frame": 9}),
        400,
        "bad_input",
        "outside",
    )
    assert_error(
        client.post(
            f"/v1/videos/{vid}/track", json={**body, "prompts": [{"box": [500, 1, 999, 9]}]}
        ),
        400,
        "bad_input",
        "entirely outside",
    )
    assert_error(client.post("/v1/videos/nope/track", json=body), 404, "unknown_video")
    assert_error(
        client.post(f"/v1/videos/{vid}/track", json={**body, "model": "fake-amodal"}),
        400,
        "unsupported_task",
    )
    assert_error(
        client.post(f"/v1/videos/{vid}/track", json={**body, "options": {"pathways": 3}}),
        400,
        "unknown_option",
    )
    # an error after frames went out arrives as one error event, and the model is free again
    with client.stream(
        "POST", f"/v1/videos/{vid}/track", json={**body, "options": {"fail_at": 2}}
    ) as resp:
        events = sse_events("".join(resp.iter_text()))
    assert [e for e, _ in events] == ["frame", "frame", "error"]
    assert events[-1][1]["error"]["code"] == "bad_input"
    with client.stream("POST", f"/v1/videos/{vid}/track", json=body) as resp:
        assert len(sse_events("".join(resp.iter_text()))) == 5
    # frames of different sizes, too many frames, a non-video file
    odd = [png_bytes(image), png_bytes(image[:50])]
    assert_error(
        client.post("/v1/videos", files=[("frames", ("a.png", d)) for d in odd]), 400, "bad_video"
    )
    assert_error(
        client.post("/v1/videos", files={"file": ("v.mp4", b"not a video at all")}),
        415,
        "unsupported_media_type",
    )
    assert_error(client.post("/v1/videos", data={}), 400, "bad_request")


def test_video_file_upload(fakes: Any, image: np.ndarray) -> None:
    av = pytest.importorskip("av", reason="video files need PyAV (the video extra)")
    client, _ = fakes
    buf = io.BytesIO()
    with av.open(buf, mode="w", format="mp4") as out:
        stream = out.add_stream("mpeg4", rate=5)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        for k in range(3):
            frame = av.VideoFrame.from_ndarray(np.roll(image, k, axis=0), format="rgb24")
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    up = client.post("/v1/videos", files={"file": ("clip.bin", buf.getvalue())})
    assert up.status_code == 200, up.text
    assert up.json()["frames"] == 3 and up.json()["width"] == W
    body = {"model": "fake-video", "prompts": [{"box": [10, 10, 40, 30]}]}
    with client.stream("POST", f"/v1/videos/{up.json()['video_id']}/track", json=body) as resp:
        events = sse_events("".join(resp.iter_text()))
    assert [e for e, _ in events] == ["frame"] * 3 + ["done"]
