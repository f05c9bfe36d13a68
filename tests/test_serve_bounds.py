"""A hostile or careless client cannot hold the server: points per object are bounded (and
the bound is in the OpenAPI schema), every request has a time budget, and SIGTERM stops the
server promptly even while a model call is in progress."""

from __future__ import annotations

import io
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
from PIL import Image

BASE = "http://127.0.0.1"


def _png() -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.full((60, 80, 3), 200, np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def _client(fake_family: str, **config: object):  # type: ignore[no-untyped-def]
    from fastapi.testclient import TestClient

    from zoo.serve import ServeConfig, create_app

    return TestClient(create_app(ServeConfig(weights="random", **config)), base_url=BASE)


def test_points_per_object_are_bounded_and_documented(fake_family: str) -> None:
    from zoo.prompts import MAX_POINTS

    with _client(fake_family) as c:
        schema = c.get("/openapi.json").json()
        points = schema["components"]["schemas"]["ObjectPromptJSON"]["properties"]["points"]
        assert f"at most {MAX_POINTS}" in str(points) and str(MAX_POINTS) in str(points)
        iid = c.post("/v1/images", files={"file": ("a.png", _png())}).json()["image_id"]
        many = [[1.0 + i % 70, 1.0 + i % 50] for i in range(MAX_POINTS + 1)]
        r = c.post(
            "/v1/segment",
            json={"model": "zoo-fake", "image_id": iid, "prompts": [{"points": many}]},
        )
        assert r.status_code == 422 and "points" in r.text
        r = c.post(
            "/v1/segment",
            json={"model": "zoo-fake", "image_id": iid, "prompts": {"points": many}},
        )
        assert r.status_code in (400, 422) and str(MAX_POINTS) in r.text


def test_each_request_has_a_time_budget(fake_family: str) -> None:
    with _client(fake_family, request_timeout=0.3) as c:
        iid = c.post("/v1/images", files={"file": ("a.png", _png())}).json()["image_id"]
        t0 = time.perf_counter()
        r = c.post(
            "/v1/segment",
            json={
                "model": "zoo-fake",
                "image_id": iid,
                "prompts": [{"box": [1, 1, 20, 20]}],
                "options": {"delay": 2.0},
            },
        )
        assert r.status_code == 503 and r.json()["error"]["code"] == "timeout"
        assert time.perf_counter() - t0 < 1.8
        assert "--request-timeout" in r.json()["error"]["message"]


def test_sigterm_stops_the_server_during_a_long_call(fake_family: str, tmp_path: Path) -> None:
    import httpx

    proc = subprocess.Popen(
        [sys.executable, "-m", "zoo", "serve", "zoo-fake", "--port", "0", "--weights", "random"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ},
    )
    try:
        url = None
        deadline = time.time() + 120
        assert proc.stdout is not None
        lines = []
        while time.time() < deadline and url is None:
            line = proc.stdout.readline()
            lines.append(line)
            m = re.search(r"listening on (http://\S+)", line)
            url = m.group(1).rstrip("/") if m else None
        assert url, "".join(lines)
        iid = httpx.post(f"{url}/v1/images", files={"file": ("a.png", _png())}).json()["image_id"]
        body = {
            "model": "zoo-fake",
            "image_id": iid,
            "prompts": [{"box": [1, 1, 20, 20]}],
            "options": {"delay": 300.0},
        }
        threading.Thread(
            target=lambda: httpx.post(f"{url}/v1/segment", json=body, timeout=600), daemon=True
        ).start()
        time.sleep(1.0)  # the call is in progress now
        t0 = time.perf_counter()
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
        assert time.perf_counter() - t0 < 30, "shutdown waited for the model call"
        assert "stopped" in out and "Traceback" not in out
    finally:
        if proc.poll() is None:
            proc.kill()
