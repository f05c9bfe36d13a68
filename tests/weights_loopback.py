"""Loopback stand-ins for the hubs, shared by the ``test_weights_*`` modules and ``zoo pull`` tests.

No hub is reachable here, so a real HTTP server on 127.0.0.1 serves bytes from dicts,
honours ``Range``, counts requests, can drop the connection mid-body, and emulates the
endpoints the resolver talks to besides plain URLs: Google Drive's ``/download?id=...``,
the Hugging Face ``/{repo}/resolve/{rev}/{file}`` (HEAD with ``X-Repo-Commit``/``ETag``/
``X-Linked-*`` headers, then GET), and ModelScope's model API ``/api/v1/models/{org}/{model}``
(what the ``ms://`` resolver asks before handing a download to the modelscope client).
:func:`silent_server` is a hub that accepts connections and never answers; a closed port
(:func:`closed_port`) is one that refuses them.

Test modules bind the fixtures they use at module level (``server = loopback.server``).
"""

from __future__ import annotations

import hashlib
import re
import socket
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

import zoo.weights.hf
import zoo.weights.http
import zoo.weights.ms
import zoo.weights.schemes

REPO_ROOT = Path(__file__).resolve().parents[1]


def sha(data: bytes) -> str:
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
    #: ModelScope model ids the stand-in knows (``org/model``); others answer 404
    ms_models: set[str] = field(default_factory=set)
    #: HTTP status every ModelScope request gets instead (503: a busy site)
    ms_status: int | None = None
    # repo -> the one token the Hub accepts for it (a gated repository: 401 without a token,
    # 403 with another); ``gated_codes`` False drops the X-Error-Code headers (a bare 401/403)
    gated: dict[str, str] = field(default_factory=dict)
    gated_codes: bool = True
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
    ms_route = re.compile(r"/api/v1/models/(?P<model>[^/]+/[^/]+)")

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
            elif match := ms_route.fullmatch(split.path):
                if state.ms_status is not None:
                    return self._error(state.ms_status)
                if match["model"] not in state.ms_models:
                    return self._error(404)
                data = b'{"Code": 200, "Data": {}}'
                content_type = "application/json"
            elif match := hf_route.fullmatch(split.path):
                repo = match["repo"]
                if repo in state.gated:
                    refused = self._gate(repo, state.gated[repo])
                    if refused:
                        return
                rev = urllib.parse.unquote(match["rev"])
                name = urllib.parse.unquote(match["file"])
                entry = state.hf.get((repo, rev, name))
                if entry is None:
                    known = any(r == repo for r, _, _ in state.hf)
                    code = "EntryNotFound" if known else "RepoNotFound"
                    return self._error(404, {"X-Error-Code": code})
                data, commit = entry
                digest = sha(data)
                extra = {
                    "X-Repo-Commit": commit,
                    "ETag": f'"{digest}"',
                    "X-Linked-Etag": f'"{digest}"',
                    "X-Linked-Size": str(len(data)),
                }
            elif split.path in state.files:
                data = state.files[split.path]
                extra = {"ETag": f'"{sha(data)}"'}
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

        def _gate(self, repo: str, token: str) -> bool:
            """Answer as the Hub does for a gated repo; True when the request was refused."""
            auth = self.headers.get("Authorization")
            if auth == f"Bearer {token}":
                return False
            if auth is None:
                code, text = 401, f"Access to model {repo} is restricted. Please log in."
            else:
                code = 403
                text = (
                    f"Access to model {repo} is restricted and you are not in the authorized list."
                )
            headers = {"X-Error-Message": text}
            if state.gated_codes:
                headers["X-Error-Code"] = "GatedRepo"
            self._error(code, headers)
            return True

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
        "ZOO_HUB_TIMEOUT",
        "MODELSCOPE_ENDPOINT",
        "MODELSCOPE_DOMAIN",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("MODELSCOPE_CACHE", str(tmp_path / "modelscope"))
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    # The knobs live where they are read: zoo.weights.http / .hf / .schemes.
    monkeypatch.setattr(zoo.weights.http, "RETRY_BACKOFF_S", 0.0)
    monkeypatch.setattr(zoo.weights.hf, "HUB_RETRY_PAUSE_S", 0.0)
    monkeypatch.setattr(zoo.weights.ms, "MS_RETRY_PAUSE_S", 0.0)
    monkeypatch.setattr(zoo.weights.schemes, "_TABLE", {})  # plugin schemes do not leak
    # huggingface_hub fixed its login file's path at import: a developer's stored token
    # must not reach the loopback hub (gated-repo tests count on "no token sent")
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(tmp_path / "hf" / "token"))
    return tmp_path


@pytest.fixture
def hf_server(server: FakeServer, monkeypatch: pytest.MonkeyPatch) -> FakeServer:
    monkeypatch.setenv("HF_ENDPOINT", server.base)
    return server


@pytest.fixture
def ms_server(server: FakeServer, monkeypatch: pytest.MonkeyPatch) -> FakeServer:
    """The stand-in answers as ModelScope (``MODELSCOPE_ENDPOINT``)."""
    monkeypatch.setenv("MODELSCOPE_ENDPOINT", server.base)
    return server


def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Belt and braces for offline tests: any urllib call fails the test."""

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("network access in offline mode")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)


def closed_port() -> int:
    """A loopback port nobody listens on (connections are refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A server that accepts connections and never answers; yields its base URL."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.settimeout(0.1)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            held.append(conn)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(2)
        for conn in held:
            conn.close()
        listener.close()
