"""Tests for zoo.weights against a real loopback HTTP server (no internet needed).

The server below serves bytes from dicts, honours ``Range``, counts requests, can drop the
connection mid-body, and emulates the two endpoints the resolver talks to besides plain
URLs: Google Drive's ``/download?id=...`` and the Hugging Face ``/{repo}/resolve/{rev}/{file}``
(HEAD with ``X-Repo-Commit``/``ETag``/``X-Linked-*`` headers, then GET).
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import pickle
import re
import socket
import subprocess
import sys
import threading
import time
import types
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

import zoo.weights as weights
from zoo.errors import ChecksumError, InputError, OfflineError, PluginError, WeightsError
from zoo.weights import (
    WeightSpec,
    cache_dir,
    is_cached,
    list_cache,
    load_state_dict,
    remove_from_cache,
    resolve,
    resolve_file,
    safe_torch_load,
    sha256_file,
    verify_cache,
)

REPO_ROOT = Path(__file__).resolve().parents[1]


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# ---------------------------------------------------------------------------------------
# Loopback server
# ---------------------------------------------------------------------------------------


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]


@dataclass
class FakeServer:
    """State shared with the handler threads; tests mutate it directly."""

    base: str = ""
    files: dict[str, bytes] = field(default_factory=dict)
    gdrive: dict[str, bytes] = field(default_factory=dict)
    gdrive_html: set[str] = field(default_factory=set)
    hf: dict[tuple[str, str, str], tuple[bytes, str]] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)
    # path -> per-response byte limits, consumed in order (connection dropped after that many)
    drops: dict[str, list[int]] = field(default_factory=dict)
    no_range: set[str] = field(default_factory=set)
    chunk_delay: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, path: str) -> str:
        return self.base + path

    def add_hf(self, repo: str, revision: str, filename: str, data: bytes) -> str:
        """Serve ``data`` at ``revision`` and at its (fake) commit hash; return the commit."""
        commit = hashlib.sha1(f"{repo}@{revision}".encode()).hexdigest()
        self.hf[(repo, revision, filename)] = (data, commit)
        self.hf[(repo, commit, filename)] = (data, commit)
        return commit

    def requests(self, method: str | None = None, contains: str = "") -> list[Seen]:
        with self.lock:
            return [
                s
                for s in self.seen
                if (method is None or s.method == method) and contains in s.path
            ]

    def reset_log(self) -> None:
        with self.lock:
            self.seen.clear()


def _make_handler(state: FakeServer) -> type[BaseHTTPRequestHandler]:
    hf_route = re.compile(r"/(?P<repo>[^/]+/[^/]+)/resolve/(?P<rev>[^/]+)/(?P<file>.+)")

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # keep pytest output clean
            pass

        def do_HEAD(self) -> None:
            self._handle(body=False)

        def do_GET(self) -> None:
            self._handle(body=True)

        def _handle(self, body: bool) -> None:
            with state.lock:
                state.seen.append(Seen(self.command, self.path, dict(self.headers.items())))
            split = urllib.parse.urlsplit(self.path)
            extra: dict[str, str] = {}
            content_type = "application/octet-stream"
            key = split.path
            if split.path == "/download":
                query = urllib.parse.parse_qs(split.query)
                file_id = query.get("id", [""])[0]
                if query.get("confirm") != ["t"] or query.get("export") != ["download"]:
                    return self._error(400)
                if file_id not in state.gdrive:
                    return self._error(404)
                data = state.gdrive[file_id]
                if file_id in state.gdrive_html:
                    content_type = "text/html; charset=utf-8"
            elif match := hf_route.fullmatch(split.path):
                repo = match["repo"]
                rev = urllib.parse.unquote(match["rev"])
                name = urllib.parse.unquote(match["file"])
                entry = state.hf.get((repo, rev, name))
                if entry is None:
                    known = any(r == repo for r, _, _ in state.hf)
                    code = "EntryNotFound" if known else "RepoNotFound"
                    return self._error(404, {"X-Error-Code": code})
                data, commit = entry
                digest = _sha(data)
                extra = {
                    "X-Repo-Commit": commit,
                    "ETag": f'"{digest}"',
                    "X-Linked-Etag": f'"{digest}"',
                    "X-Linked-Size": str(len(data)),
                }
            elif split.path in state.files:
                data = state.files[split.path]
                extra = {"ETag": f'"{_sha(data)}"'}
            else:
                return self._error(404)

            start = 0
            status = 200
            range_header = self.headers.get("Range")
            if_range = self.headers.get("If-Range")
            if if_range and if_range != extra.get("ETag"):
                range_header = None  # RFC 9110: the resource changed, send all of it
            if range_header and key not in state.no_range:
                m = re.fullmatch(r"bytes=(\d+)-(\d*)", range_header.strip())
                if m:
                    start = int(m.group(1))
                    end = int(m.group(2)) if m.group(2) else len(data) - 1
                    if start >= len(data):
                        return self._error(416, {"Content-Range": f"bytes */{len(data)}"})
                    status = 206
                    extra["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
                    data = data[start : end + 1]
                    start = 0
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Accept-Ranges", "bytes")
            for name_, value in extra.items():
                self.send_header(name_, value)
            self.end_headers()
            if not body:
                return
            limit = None
            if self.command == "GET":
                with state.lock:
                    plan = state.drops.get(key)
                    if plan:
                        limit = plan.pop(0)
            self._send_body(data if limit is None else data[:limit], drop=limit is not None)

        def _send_body(self, data: bytes, drop: bool) -> None:
            try:
                view = memoryview(data)
                for offset in range(0, len(data), 64 * 1024):
                    self.wfile.write(view[offset : offset + 64 * 1024])
                    if state.chunk_delay:
                        time.sleep(state.chunk_delay)
                self.wfile.flush()
                if drop:
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

        def _error(self, code: int, headers: dict[str, str] | None = None) -> None:
            self.send_response(code)
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.send_header("Content-Length", "0")
            self.end_headers()

    return Handler


@pytest.fixture
def server() -> Iterator[FakeServer]:
    state = FakeServer()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(state))
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    state.base = f"http://127.0.0.1:{httpd.server_address[1]}"
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture(autouse=True)
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own ZOO_HOME / HF_HOME and no offline flags or proxies."""
    monkeypatch.setenv("ZOO_HOME", str(tmp_path / "zoo"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    for var in (
        "HF_HUB_CACHE",
        "HUGGINGFACE_HUB_CACHE",
        "HF_HUB_OFFLINE",
        "TRANSFORMERS_OFFLINE",
        "ZOO_OFFLINE",
        "HF_ENDPOINT",
        "ZOO_GDRIVE_ENDPOINT",
        "HF_TOKEN",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    monkeypatch.setattr(weights, "RETRY_BACKOFF_S", 0.0)
    monkeypatch.setattr(weights, "_SCHEME_REGISTRY", {})
    return tmp_path


@pytest.fixture
def hf_server(server: FakeServer, monkeypatch: pytest.MonkeyPatch) -> FakeServer:
    monkeypatch.setenv("HF_ENDPOINT", server.base)
    return server


def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Belt and braces for offline tests: any urllib call fails the test."""

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("network access in offline mode")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)


# ---------------------------------------------------------------------------------------
# https:// blob store
# ---------------------------------------------------------------------------------------


def test_https_download_verified_into_blob_store(server: FakeServer) -> None:
    data = os.urandom(300_000)
    server.files["/w/sam.pt"] = data
    uri = server.url("/w/sam.pt")
    seen: list[tuple[int, int | None]] = []

    info = resolve_file(uri, _sha(data), len(data), progress=lambda d, t: seen.append((d, t)))

    assert info.path == cache_dir() / "blobs" / f"sha256-{_sha(data)}"
    assert info.path.read_bytes() == data
    assert (info.sha256, info.size, info.cached) == (_sha(data), len(data), False)
    assert seen[-1] == (len(data), len(data))
    assert not list((cache_dir() / "blobs" / "incomplete").glob("*.part"))
    index = json.loads((cache_dir() / "index.json").read_text())
    assert index["entries"][uri]["blob"] == info.path.name
    assert index["entries"][uri]["sha256"] == _sha(data)
    assert index["entries"][uri]["size"] == len(data)
    assert "fetched_at" in index["entries"][uri]


def test_cache_hit_makes_no_second_request(
    server: FakeServer, caplog: pytest.LogCaptureFixture
) -> None:
    data = b"checkpoint bytes" * 1000
    server.files["/a.pt"] = data
    uri = server.url("/a.pt")

    with caplog.at_level(logging.WARNING, logger="zoo.weights"):
        first = resolve(uri, progress=False)  # no sha256 known yet: computed and logged
    assert f"sha256 of {uri}: {_sha(data)} (record it in registry.yaml)" in caplog.text

    second = resolve(uri, progress=False)  # by URI through index.json
    third = resolve(uri, _sha(data), progress=False)  # by content address
    assert first == second == third
    assert len(server.requests("GET")) == 1
    assert is_cached(uri) and is_cached(uri, _sha(data))


def test_sha_mismatch_deletes_and_names_both_hashes(server: FakeServer) -> None:
    data = b"the real bytes" * 100
    server.files["/bad.pt"] = data
    uri = server.url("/bad.pt")
    wrong = "0" * 64

    with pytest.raises(ChecksumError) as info:
        resolve(uri, wrong, progress=False)

    message = str(info.value)
    assert uri in message and wrong in message and _sha(data) in message
    blobs = cache_dir() / "blobs"
    assert not list(blobs.glob("sha256-*"))
    assert not list((blobs / "incomplete").glob("*.part"))
    assert not is_cached(uri, wrong)


def test_size_mismatch_is_caught_from_content_length(server: FakeServer) -> None:
    server.files["/s.pt"] = b"x" * 1000
    with pytest.raises(ChecksumError, match="expected 999"):
        resolve(server.url("/s.pt"), size=999, progress=False)
    assert not list((cache_dir() / "blobs").glob("sha256-*"))


def test_interrupted_download_keeps_no_blob_and_retry_resumes_with_range(
    server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(weights, "DOWNLOAD_ATTEMPTS", 2)
    data = os.urandom(200_000)
    server.files["/big.pt"] = data
    server.drops["/big.pt"] = [50_000, 30_000]  # both attempts of the first resolve die
    uri = server.url("/big.pt")

    with pytest.raises(WeightsError, match="interrupted after 80000 of 200000 bytes"):
        resolve(uri, _sha(data), progress=False)
    assert not (cache_dir() / "blobs" / f"sha256-{_sha(data)}").exists()
    part = cache_dir() / "blobs" / "incomplete" / f"{_sha(data)}.part"
    assert part.stat().st_size == 80_000
    # the second attempt inside the first call already resumed
    assert server.requests("GET")[1].headers.get("Range") == "bytes=50000-"

    server.reset_log()
    path = resolve(uri, _sha(data), progress=False)

    gets = server.requests("GET")
    assert len(gets) == 1 and gets[0].headers.get("Range") == "bytes=80000-"
    assert path.read_bytes() == data
    assert not part.exists()


def test_resume_happens_automatically_within_one_call(server: FakeServer) -> None:
    data = os.urandom(150_000)
    server.files["/r.pt"] = data
    server.drops["/r.pt"] = [70_000]
    path = resolve(server.url("/r.pt"), _sha(data), progress=False)
    gets = server.requests("GET")
    assert [g.headers.get("Range") for g in gets] == [None, "bytes=70000-"]
    assert sha256_file(path) == _sha(data)


def test_upstream_change_between_attempts_restarts_via_if_range(
    server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(weights, "DOWNLOAD_ATTEMPTS", 1)
    old, new = os.urandom(100_000), os.urandom(100_000)
    server.files["/moving.pt"] = old
    server.drops["/moving.pt"] = [30_000]
    uri = server.url("/moving.pt")
    with pytest.raises(WeightsError, match="interrupted"):
        resolve(uri, progress=False)
    server.files["/moving.pt"] = new  # upstream replaced the file meanwhile

    path = resolve(uri, progress=False)

    last = server.requests("GET")[-1]
    assert last.headers.get("Range") == "bytes=30000-"
    assert last.headers.get("If-Range") == f'"{_sha(old)}"'
    assert path.read_bytes() == new  # not old[:30000] + new[30000:]


def test_server_without_range_support_restarts_cleanly(
    server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(weights, "DOWNLOAD_ATTEMPTS", 1)
    data = os.urandom(120_000)
    server.files["/nr.pt"] = data
    server.drops["/nr.pt"] = [40_000]
    server.no_range.add("/nr.pt")
    uri = server.url("/nr.pt")
    with pytest.raises(WeightsError, match="interrupted"):
        resolve(uri, progress=False)

    path = resolve(uri, progress=False)  # server answers the Range request with 200

    assert server.requests("GET")[-1].headers.get("Range") == "bytes=40000-"
    assert path.read_bytes() == data
    assert path.name == f"sha256-{_sha(data)}"


def test_concurrent_threads_download_once(server: FakeServer) -> None:
    data = os.urandom(1_000_000)
    server.files["/c.pt"] = data
    server.chunk_delay = 0.01  # ~0.16 s per download: the threads overlap
    uri = server.url("/c.pt")
    barrier = threading.Barrier(4)
    results: list[Path] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            barrier.wait()
            results.append(resolve(uri, _sha(data), progress=False))
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)

    assert not errors
    assert len(results) == 4 and len(set(results)) == 1
    assert len(server.requests("GET")) == 1
    assert results[0].read_bytes() == data


def test_concurrent_processes_download_once(server: FakeServer) -> None:
    data = os.urandom(1_000_000)
    server.files["/p.pt"] = data
    server.chunk_delay = 0.05  # ~0.8 s per download, longer than interpreter start-up skew
    uri = server.url("/p.pt")
    code = (
        "import sys; from zoo.weights import resolve; "
        "print(resolve(sys.argv[1], sys.argv[2], progress=False))"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, uri, _sha(data)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=60) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    paths = {out.strip() for out, _ in outs}
    assert paths == {str(cache_dir() / "blobs" / f"sha256-{_sha(data)}")}
    assert len(server.requests("GET")) == 1


def test_offline_cached_returns_without_any_request(
    server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = b"offline ok" * 10
    server.files["/o.pt"] = data
    uri = server.url("/o.pt")
    online = resolve(uri, progress=False)
    server.reset_log()
    monkeypatch.setenv("ZOO_OFFLINE", "1")
    _no_network(monkeypatch)

    assert resolve(uri, progress=False) == online
    assert resolve(uri, _sha(data), progress=False) == online
    assert server.requests() == []


def test_offline_missing_names_file_source_and_fix(
    server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.files["/sam2_tiny.pt"] = b"never fetched"
    uri = server.url("/sam2_tiny.pt")
    monkeypatch.setenv("ZOO_OFFLINE", "1")
    _no_network(monkeypatch)

    with pytest.raises(OfflineError) as info:
        resolve(uri, "1" * 64, progress=False, name="sam2:tiny")

    message = str(info.value)
    assert "\n" not in message
    assert "sam2_tiny.pt" in message and uri in message
    assert "zoo pull sam2:tiny" in message and "--checkpoint PATH" in message
    assert "ZOO_OFFLINE=1" in message
    assert server.requests() == []


def test_offline_flag_argument_overrides_env(server: FakeServer) -> None:
    server.files["/f.pt"] = b"abc"
    with pytest.raises(OfflineError):
        resolve(server.url("/f.pt"), progress=False, offline=True)
    assert server.requests() == []


def test_http_error_is_a_weights_error(server: FakeServer) -> None:
    with pytest.raises(WeightsError, match="HTTP 404"):
        resolve(server.url("/missing.pt"), progress=False)


def test_unreachable_host_is_a_weights_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(weights, "DOWNLOAD_ATTEMPTS", 1)
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(WeightsError, match="cannot download"):
        resolve(f"http://127.0.0.1:{port}/x.pt", progress=False)


# ---------------------------------------------------------------------------------------
# gdrive://
# ---------------------------------------------------------------------------------------


def test_gdrive_downloads_through_configurable_endpoint(
    server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = os.urandom(10_000)
    server.gdrive["1AbC_d-E"] = data
    monkeypatch.setenv("ZOO_GDRIVE_ENDPOINT", server.base)

    path = resolve("gdrive://1AbC_d-E", _sha(data), progress=False)

    assert path.read_bytes() == data
    (get,) = server.requests("GET")
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(get.path).query)
    assert query == {"id": ["1AbC_d-E"], "export": ["download"], "confirm": ["t"]}
    assert resolve("gdrive://1AbC_d-E", progress=False) == path  # index hit
    assert len(server.requests("GET")) == 1


def test_gdrive_html_page_is_reported(server: FakeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    server.gdrive["quota"] = b"<html>Too many users</html>"
    server.gdrive_html.add("quota")
    monkeypatch.setenv("ZOO_GDRIVE_ENDPOINT", server.base)
    with pytest.raises(WeightsError, match="web page instead of the file"):
        resolve("gdrive://quota", progress=False)
    assert not list((cache_dir() / "blobs").glob("sha256-*"))


# ---------------------------------------------------------------------------------------
# hf://
# ---------------------------------------------------------------------------------------


def test_hf_download_verify_and_cache_layout(hf_server: FakeServer, tmp_path: Path) -> None:
    data = os.urandom(50_000)
    hf_server.add_hf("facebook/sam2-tiny", "main", "ckpt/sam2_tiny.pt", data)
    uri = "hf://facebook/sam2-tiny/ckpt/sam2_tiny.pt"
    seen: list[int] = []

    info = resolve_file(uri, _sha(data), len(data), progress=lambda d, t: seen.append(d))

    assert info.path.read_bytes() == data
    assert str(info.path).startswith(str(tmp_path / "hf" / "hub"))
    assert info.path.name == "sam2_tiny.pt" and not info.cached
    assert seen and seen[-1] == len(data)
    assert hf_server.requests("HEAD", "/resolve/main/ckpt/sam2_tiny.pt")
    assert is_cached(uri)
    assert any(e.uri == uri and e.source == "hf" for e in list_cache())


def test_hf_revision_pinning(hf_server: FakeServer) -> None:
    v1, v2 = b"weights v1" * 100, b"weights v2" * 100
    c1 = hf_server.add_hf("org/model", "v1", "model.pt", v1)
    hf_server.add_hf("org/model", "v2", "model.pt", v2)

    p1 = resolve("hf://org/model/model.pt@v1", _sha(v1), progress=False)
    p2 = resolve("hf://org/model/model.pt@v2", _sha(v2), progress=False)
    p_commit = resolve(f"hf://org/model/model.pt@{c1}", _sha(v1), progress=False)

    assert p1 != p2
    assert p1.read_bytes() == v1 and p2.read_bytes() == v2
    assert p_commit.read_bytes() == v1 and c1 in str(p_commit)
    with pytest.raises(ChecksumError):
        resolve("hf://org/model/model.pt@v2", _sha(v1), progress=False)


def test_hf_second_resolve_with_sha_needs_no_network(
    hf_server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = b"pinned" * 500
    hf_server.add_hf("org/m", "main", "w.safetensors", data)
    uri = "hf://org/m/w.safetensors"
    first = resolve(uri, _sha(data), progress=False)
    hf_server.reset_log()

    assert resolve(uri, _sha(data), progress=False) == first
    assert hf_server.requests() == []


def test_hf_offline_cached_and_missing(
    hf_server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = b"hf offline" * 100
    hf_server.add_hf("org/repo", "main", "a/b/c.pt", data)
    uri = "hf://org/repo/a/b/c.pt"
    online = resolve(uri, progress=False)
    hf_server.reset_log()

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert resolve(uri, progress=False) == online  # no sha: not an index hit; HF cache lookup
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setenv("ZOO_OFFLINE", "1")
    assert resolve(uri, _sha(data), progress=False) == online
    with pytest.raises(OfflineError) as info:
        resolve("hf://org/repo/other.pt", progress=False, name="sam2:tiny")
    assert hf_server.requests() == []
    message = str(info.value)
    assert "\n" not in message
    assert "other.pt" in message and "hf://org/repo/other.pt" in message
    assert "zoo pull sam2:tiny" in message and "--checkpoint PATH" in message
    assert "HF_ENDPOINT" in message


def test_hf_missing_file_and_repo(hf_server: FakeServer) -> None:
    hf_server.add_hf("org/repo", "main", "exists.pt", b"x")
    with pytest.raises(WeightsError, match="not found"):
        resolve("hf://org/repo/nope.pt", progress=False)
    with pytest.raises(WeightsError, match="not found"):
        resolve("hf://nobody/none/x.pt", progress=False)


def test_hf_checksum_mismatch_deletes_from_hf_cache(hf_server: FakeServer) -> None:
    hf_server.add_hf("org/repo", "main", "w.pt", b"upstream changed")
    uri = "hf://org/repo/w.pt"
    with pytest.raises(ChecksumError, match="expected " + "a" * 64):
        resolve(uri, "a" * 64, progress=False)
    assert not is_cached(uri)


def test_hf_uri_parsing() -> None:
    ref = weights.parse_hf_uri("hf://org/repo/dir/sub/file.pt@refs/pr/1")
    assert (ref.repo_id, ref.filename, ref.revision) == ("org/repo", "dir/sub/file.pt", "refs/pr/1")
    ref = weights.parse_hf_uri("hf://datasets/org/data/x.bin")
    assert (ref.repo_type, ref.repo_id, ref.revision) == ("dataset", "org/data", "main")
    for bad in ("hf://org/repo", "hf://org/repo/file@", "hf://org//file"):
        with pytest.raises(WeightsError, match="hf://org/repo/path"):
            weights.parse_hf_uri(bad)


# ---------------------------------------------------------------------------------------
# ms://
# ---------------------------------------------------------------------------------------


def _fake_modelscope(
    monkeypatch: pytest.MonkeyPatch, root: Path, files: dict[str, bytes]
) -> list[dict[str, Any]]:
    """Install a minimal ``modelscope`` into sys.modules; record every call."""
    calls: list[dict[str, Any]] = []

    def model_file_download(
        model_id: str,
        file_path: str,
        revision: str | None = None,
        cache_dir: str | None = None,
        local_files_only: bool = False,
    ) -> str:
        calls.append({"fn": "file", "model_id": model_id, "path": file_path, "rev": revision})
        target = root / model_id / file_path
        if not target.exists():
            if local_files_only:
                raise ValueError("not in the local cache")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(files[file_path])
        return str(target)

    def snapshot_download(
        model_id: str,
        revision: str | None = None,
        cache_dir: str | None = None,
        allow_patterns: list[str] | None = None,
        local_files_only: bool = False,
    ) -> str:
        calls.append({"fn": "snapshot", "model_id": model_id, "patterns": allow_patterns})
        import fnmatch

        for rel, data in files.items():
            if allow_patterns and not any(fnmatch.fnmatch(rel, p) for p in allow_patterns):
                continue
            target = root / model_id / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        return str(root / model_id)

    pkg = types.ModuleType("modelscope")
    hub = types.ModuleType("modelscope.hub")
    fd = types.ModuleType("modelscope.hub.file_download")
    sd = types.ModuleType("modelscope.hub.snapshot_download")
    fd.model_file_download = model_file_download  # type: ignore[attr-defined]
    sd.snapshot_download = snapshot_download  # type: ignore[attr-defined]
    for name, mod in [
        ("modelscope", pkg),
        ("modelscope.hub", hub),
        ("modelscope.hub.file_download", fd),
        ("modelscope.hub.snapshot_download", sd),
    ]:
        monkeypatch.setitem(sys.modules, name, mod)
    return calls


def test_ms_without_modelscope_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "modelscope", None)
    with pytest.raises(WeightsError, match="pip install modelscope"):
        resolve("ms://org/model/w.pt", progress=False)


def test_ms_file_and_pattern(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ckpt = os.urandom(4096)
    calls = _fake_modelscope(
        monkeypatch, tmp_path / "ms", {"sam_b.pt": ckpt, "README.md": b"# card", "cfg.yaml": b""}
    )

    path = resolve("ms://org/model/sam_b.pt@v1.0", _sha(ckpt), progress=False)
    assert path.read_bytes() == ckpt
    assert calls[-1] == {"fn": "file", "model_id": "org/model", "path": "sam_b.pt", "rev": "v1.0"}

    with caplog.at_level(logging.INFO, logger="zoo.weights"):
        info = resolve_file("ms://org/model", pattern="*.pt", progress=False)
    assert info.path.name == "sam_b.pt"
    assert (info.sha256, info.size) == (_sha(ckpt), len(ckpt))
    assert calls[-1]["patterns"] == ["*.pt"]
    assert "sam_b.pt" in caplog.text and _sha(ckpt) in caplog.text

    with pytest.raises(WeightsError, match="match"):
        resolve("ms://org/model", pattern="*", progress=False)  # README, cfg, ckpt
    with pytest.raises(WeightsError, match="pattern"):
        resolve("ms://org/model", progress=False)

    monkeypatch.setenv("ZOO_OFFLINE", "1")
    assert resolve("ms://org/model/sam_b.pt@v1.0", _sha(ckpt), progress=False) == path
    with pytest.raises(OfflineError, match=r"missing\.pt"):
        resolve("ms://org/model/missing.pt", progress=False)


# ---------------------------------------------------------------------------------------
# Local paths, plugins, unknown schemes
# ---------------------------------------------------------------------------------------


def test_local_path_and_file_uri(tmp_path: Path) -> None:
    f = tmp_path / "my weights.pt"
    f.write_bytes(b"local")
    assert resolve(str(f), _sha(b"local")) == f
    assert resolve(f.as_uri()) == f
    with pytest.raises(ChecksumError):
        resolve(str(f), "b" * 64)
    assert f.exists()  # a user's file is never deleted


def test_missing_local_path_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "nope" / "sam.pt"
    with pytest.raises(WeightsError, match=re.escape(str(missing))):
        resolve(str(missing))
    with pytest.raises(WeightsError, match=re.escape(str(missing))):
        resolve(missing.as_uri())


def test_unknown_scheme_lists_supported() -> None:
    with pytest.raises(WeightsError) as info:
        resolve("s3://bucket/key.pt")
    message = str(info.value)
    for scheme in ("hf://", "ms://", "https://", "gdrive://", "file://"):
        assert scheme in message
    assert "s3://" in message


def test_registered_scheme_is_used_and_verified(tmp_path: Path) -> None:
    target = tmp_path / "mirror.pt"
    target.write_bytes(b"mirror")
    calls: list[tuple[str, str | None]] = []

    def s3(uri: str, sha: str | None) -> Path:
        calls.append((uri, sha))
        return target

    weights.register_scheme("s3", s3)
    assert resolve("s3://bucket/mirror.pt", _sha(b"mirror")) == target
    assert calls == [("s3://bucket/mirror.pt", _sha(b"mirror"))]
    assert "s3://" in weights.supported_schemes()
    with pytest.raises(ChecksumError):
        resolve("s3://bucket/mirror.pt", "c" * 64)
    with pytest.raises(PluginError, match="built-in"):
        weights.register_scheme("https", s3)


def test_weight_spec_validates_and_resolves(tmp_path: Path) -> None:
    f = tmp_path / "w.pt"
    f.write_bytes(b"spec")
    spec = WeightSpec(uri=str(f), sha256="SHA256:" + _sha(b"spec").upper(), size=4)
    assert spec.sha256 == _sha(b"spec")
    assert spec.resolve() == f
    assert WeightSpec(uri="hf://org/repo/x/y.pt@v1").display_name == "y.pt"
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        WeightSpec(uri="hf://org/repo")
    with pytest.raises(ValidationError):
        WeightSpec(uri="https://x/y.pt", sha256="not-a-hash")
    with pytest.raises(ValidationError):
        WeightSpec(uri="https://x/y.pt", size=-1)


def test_import_is_light() -> None:
    code = (
        "import sys, zoo.weights; "
        "heavy = [m for m in ('torch', 'huggingface_hub', 'modelscope', 'rich') "
        "if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "[]"


# ---------------------------------------------------------------------------------------
# Cache management
# ---------------------------------------------------------------------------------------


def test_list_verify_remove(server: FakeServer) -> None:
    a, b = b"alpha" * 1000, b"beta" * 1000
    server.files["/a.pt"], server.files["/b.pt"] = a, b
    pa = resolve(server.url("/a.pt"), _sha(a), progress=False)
    pb = resolve(server.url("/b.pt"), progress=False)
    orphan = cache_dir() / "blobs" / f"sha256-{'e' * 64}"
    orphan.write_bytes(b"orphan")

    entries = {e.uri: e for e in list_cache()}
    assert entries[server.url("/a.pt")].path == pa and entries[server.url("/b.pt")].present
    assert entries[None].path == orphan  # unindexed blob is listed too

    pb.write_bytes(b"bit rot")
    results = {e.uri: (ok, msg) for e, ok, msg in verify_cache()}
    assert results[server.url("/a.pt")] == (True, "ok")
    assert (
        results[server.url("/b.pt")][0] is False and "mismatch" in results[server.url("/b.pt")][1]
    )
    assert results[None][0] is False

    assert remove_from_cache(_sha(a)[:10]) == [pa]
    assert not pa.exists() and not is_cached(server.url("/a.pt"))
    assert remove_from_cache(server.url("/b.pt")) == [pb]
    assert remove_from_cache("ffff") == []
    with pytest.raises(InputError):
        remove_from_cache("")
    assert [e.uri for e in list_cache()] == [None]


def test_ambiguous_sha_prefix_is_refused() -> None:
    blobs = cache_dir() / "blobs"
    blobs.mkdir(parents=True)
    (blobs / f"sha256-abcd{'1' * 60}").write_bytes(b"1")
    (blobs / f"sha256-abcd{'2' * 60}").write_bytes(b"2")
    with pytest.raises(InputError, match="ambiguous"):
        remove_from_cache("abcd")
    assert len(remove_from_cache("abcd1")) == 1


def test_corrupt_index_is_tolerated(server: FakeServer) -> None:
    data = b"index" * 10
    server.files["/i.pt"] = data
    path = resolve(server.url("/i.pt"), _sha(data), progress=False)
    (cache_dir() / "index.json").write_text("{not json")
    assert resolve(server.url("/i.pt"), _sha(data), progress=False) == path
    assert len(server.requests("GET")) == 1


# ---------------------------------------------------------------------------------------
# Safe loading
# ---------------------------------------------------------------------------------------


class _CodePayload:
    """Unpickling this calls ``open(marker, "w")``: a visible side effect if code runs."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (str(self.marker), "w"))


def test_pickle_with_code_is_refused_and_not_run(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    # Positive control: the payload really does run under plain pickle.
    control = tmp_path / "control"
    pickle.loads(pickle.dumps(_CodePayload(control), protocol=2)).close()
    assert control.exists()

    marker = tmp_path / "pwned"
    raw = tmp_path / "evil.pkl"
    raw.write_bytes(pickle.dumps({"model": _CodePayload(marker)}, protocol=2))
    zipped = tmp_path / "evil.pt"
    torch.save({"model": _CodePayload(marker)}, zipped)

    for path in (raw, zipped):
        with pytest.raises(WeightsError, match="refusing to unpickle") as info:
            safe_torch_load(path)
        assert str(path) in str(info.value) and "safetensors" in str(info.value)
        with pytest.raises(WeightsError, match="refusing"):
            load_state_dict(path)
    assert not marker.exists()


def test_truncated_and_garbage_checkpoints_are_corrupt(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    good = tmp_path / "good.pt"
    torch.save({"model": {"w": torch.zeros(1000)}}, good)
    truncated = tmp_path / "trunc.pt"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"definitely not a checkpoint")

    for path in (truncated, garbage):
        with pytest.raises(WeightsError, match="corrupt") as info:
            safe_torch_load(path)
        assert str(path) in str(info.value) and "zoo pull" in str(info.value)


def test_safetensors_roundtrip_keeps_fp16_subnormals(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    from safetensors.torch import save_file

    sub = torch.tensor([5.9604645e-08, 6.0e-05, -1.2e-07, 0.0], dtype=torch.float16)
    assert sub[0].item() != 0.0 and sub[0].abs() < torch.finfo(torch.float16).tiny
    sd = {"enc.w": sub, "enc.b": torch.arange(6, dtype=torch.bfloat16).reshape(2, 3)}
    st = tmp_path / "w.safetensors"
    save_file(sd, str(st))
    blob_like = tmp_path / "sha256-blob"  # the blob store has no extensions: sniffed by header
    blob_like.write_bytes(st.read_bytes())

    for path in (st, blob_like):
        loaded = load_state_dict(path)
        assert set(loaded) == set(sd)
        for k, v in sd.items():
            assert loaded[k].dtype == v.dtype
            assert torch.equal(loaded[k].view(torch.int16), v.view(torch.int16))


def test_load_state_dict_unwrapping(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    sd = {"w": torch.tensor([5.9604645e-08], dtype=torch.float16), "b": torch.ones(2)}

    def saved(obj: Any, name: str) -> Path:
        path = tmp_path / name
        torch.save(obj, path)
        return path

    for obj, key in [
        ({"model": sd, "epoch": 3}, "model"),
        ({"state_dict": sd, "optimizer": {"lr": 0.1}}, "model"),
        ({"ema": sd, "model": {"other": torch.zeros(1)}}, "ema"),
        (sd, "model"),
    ]:
        loaded = load_state_dict(saved(obj, "c.pt"), key=key)
        assert set(loaded) == {"w", "b"}
        assert loaded["w"].dtype == torch.float16
        assert loaded["w"].view(torch.int16).item() == sd["w"].view(torch.int16).item() == 1

    with pytest.raises(WeightsError, match="no state dict"):
        load_state_dict(saved({"epoch": 3, "cfg": {"a": 1}}, "n.pt"))
    with pytest.raises(WeightsError, match="not a state dict"):
        load_state_dict(saved([torch.zeros(1)], "l.pt"))


def test_safe_torch_load_missing_file(tmp_path: Path) -> None:
    with pytest.raises(WeightsError, match="not found"):
        safe_torch_load(tmp_path / "absent.pt")


def test_download_then_load_end_to_end(server: FakeServer) -> None:
    torch = pytest.importorskip("torch")
    buf = io.BytesIO()
    torch.save({"model": {"w": torch.full((4,), 0.5)}}, buf)
    data = buf.getvalue()
    server.files["/e2e.pt"] = data
    path = resolve(server.url("/e2e.pt"), _sha(data), len(data), progress=False)
    assert torch.equal(load_state_dict(path)["w"], torch.full((4,), 0.5))
