"""https:// and http:// into the blob store: verify, resume, lock, offline, unreachable."""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import zoo.weights.http
from tests import weights_loopback as loopback
from tests.weights_loopback import REPO_ROOT, FakeServer, no_network, sha
from zoo.errors import ChecksumError, OfflineError, WeightsError, cli_surface
from zoo.weights import cache_dir, is_cached, resolve, resolve_file, sha256_file

# Fixtures from the loopback helpers, bound here so that pytest finds them.
isolated_env = loopback.isolated_env
server = loopback.server
silent_server = loopback.silent_server


def test_https_download_verified_into_blob_store(server: FakeServer) -> None:
    data = os.urandom(300_000)
    server.files["/w/sam.pt"] = data
    uri = server.url("/w/sam.pt")
    seen: list[tuple[int, int | None]] = []

    info = resolve_file(uri, sha(data), len(data), progress=lambda d, t: seen.append((d, t)))

    assert info.path == cache_dir() / "blobs" / f"sha256-{sha(data)}"
    assert info.path.read_bytes() == data
    assert (info.sha256, info.size, info.cached) == (sha(data), len(data), False)
    assert seen[-1] == (len(data), len(data))
    assert not list((cache_dir() / "blobs" / "incomplete").glob("*.part"))
    index = json.loads((cache_dir() / "index.json").read_text())
    assert index["entries"][uri]["blob"] == info.path.name
    assert index["entries"][uri]["sha256"] == sha(data)
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
    assert f"sha256 of {uri}: {sha(data)} (record it in registry.yaml)" in caplog.text

    second = resolve(uri, progress=False)  # by URI through index.json
    third = resolve(uri, sha(data), progress=False)  # by content address
    assert first == second == third
    assert len(server.requests("GET")) == 1
    assert is_cached(uri) and is_cached(uri, sha(data))


def test_sha_mismatch_deletes_and_names_both_hashes(server: FakeServer) -> None:
    data = b"the real bytes" * 100
    server.files["/bad.pt"] = data
    uri = server.url("/bad.pt")
    wrong = "0" * 64

    with pytest.raises(ChecksumError) as info:
        resolve(uri, wrong, progress=False)

    message = str(info.value)
    assert uri in message and wrong in message and sha(data) in message
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
    monkeypatch.setattr(zoo.weights.http, "DOWNLOAD_ATTEMPTS", 2)
    data = os.urandom(200_000)
    server.files["/big.pt"] = data
    server.drops["/big.pt"] = [50_000, 30_000]  # both attempts of the first resolve die
    uri = server.url("/big.pt")

    with pytest.raises(WeightsError, match="interrupted after 80000 of 200000 bytes"):
        resolve(uri, sha(data), progress=False)
    assert not (cache_dir() / "blobs" / f"sha256-{sha(data)}").exists()
    part = cache_dir() / "blobs" / "incomplete" / f"{sha(data)}.part"
    assert part.stat().st_size == 80_000
    # the second attempt inside the first call already resumed
    assert server.requests("GET")[1].headers.get("Range") == "bytes=50000-"

    server.reset_log()
    path = resolve(uri, sha(data), progress=False)

    gets = server.requests("GET")
    assert len(gets) == 1 and gets[0].headers.get("Range") == "bytes=80000-"
    assert path.read_bytes() == data
    assert not part.exists()


def test_resume_happens_automatically_within_one_call(server: FakeServer) -> None:
    data = os.urandom(150_000)
    server.files["/r.pt"] = data
    server.drops["/r.pt"] = [70_000]
    path = resolve(server.url("/r.pt"), sha(data), progress=False)
    gets = server.requests("GET")
    assert [g.headers.get("Range") for g in gets] == [None, "bytes=70000-"]
    assert sha256_file(path) == sha(data)


def test_upstream_change_between_attempts_restarts_via_if_range(
    server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(zoo.weights.http, "DOWNLOAD_ATTEMPTS", 1)
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
    assert last.headers.get("If-Range") == f'"{sha(old)}"'
    assert path.read_bytes() == new  # not old[:30000] + new[30000:]


def test_server_without_range_support_restarts_cleanly(
    server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(zoo.weights.http, "DOWNLOAD_ATTEMPTS", 1)
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
    assert path.name == f"sha256-{sha(data)}"


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
            results.append(resolve(uri, sha(data), progress=False))
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
            [sys.executable, "-c", code, uri, sha(data)],
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
    assert paths == {str(cache_dir() / "blobs" / f"sha256-{sha(data)}")}
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
    no_network(monkeypatch)

    assert resolve(uri, progress=False) == online
    assert resolve(uri, sha(data), progress=False) == online
    assert server.requests() == []


def test_offline_missing_names_file_source_and_fix(
    server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.files["/sam2_tiny.pt"] = b"never fetched"
    uri = server.url("/sam2_tiny.pt")
    monkeypatch.setenv("ZOO_OFFLINE", "1")
    no_network(monkeypatch)

    with cli_surface(), pytest.raises(OfflineError) as info:  # as `zoo run` phrases it
        resolve(uri, "1" * 64, progress=False, name="sam2:tiny")
    with pytest.raises(OfflineError) as in_python:
        resolve(uri, "1" * 64, progress=False, name="sam2:tiny")

    message = str(info.value)
    assert "\n" not in message
    assert "sam2_tiny.pt" in message and uri in message
    assert "zoo pull sam2:tiny" in message and "--checkpoint PATH" in message
    assert "ZOO_OFFLINE=1" in message
    assert server.requests() == []
    # Python callers are told the keyword, not the CLI option.
    assert "checkpoint=PATH" in str(in_python.value)
    assert "--checkpoint" not in str(in_python.value)


def test_offline_flag_argument_overrides_env(server: FakeServer) -> None:
    server.files["/f.pt"] = b"abc"
    with pytest.raises(OfflineError):
        resolve(server.url("/f.pt"), progress=False, offline=True)
    assert server.requests() == []


def test_http_error_is_a_weights_error(server: FakeServer) -> None:
    with pytest.raises(WeightsError, match="HTTP 404"):
        resolve(server.url("/missing.pt"), progress=False)


def test_unreachable_host_is_a_weights_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(zoo.weights.http, "DOWNLOAD_ATTEMPTS", 1)
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(WeightsError, match="cannot download"):
        resolve(f"http://127.0.0.1:{port}/x.pt", progress=False)


def test_silent_server_is_given_up_after_two_tries_of_zoo_hub_timeout(
    silent_server: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Before: 3 tries of ZOO_HTTP_TIMEOUT (30 s) = 93 s of silence."""
    monkeypatch.setenv("ZOO_HUB_TIMEOUT", "0.3")
    uri = f"{silent_server}/ckpt/w.pt"
    start = time.monotonic()
    with pytest.raises(WeightsError) as info:
        resolve(uri, name="sam2:tiny")  # progress=True: announced once
    elapsed = time.monotonic() - start

    assert elapsed < 5, elapsed
    host = silent_server.split("://", 1)[1]
    err = capsys.readouterr().err
    assert [ln for ln in err.splitlines() if ln.strip()] == [
        f"note: connecting to {host} for w.pt"
    ]  # and no per-retry warnings
    message = str(info.value)
    assert message.startswith(f"cannot download w.pt: no answer from {host}")
    assert "2 tries of 0.3s" in message and f"(source: {uri})" in message
    assert "ZOO_OFFLINE=1" in message and "checkpoint=PATH" in message
    assert "HF_ENDPOINT" not in message  # not a Hub: no mirror to suggest
    assert "raise ZOO_HUB_TIMEOUT (now 0.3s)" in message  # it timed out: maybe just slow


def test_slow_body_gets_the_stall_allowance_not_the_connect_timeout(
    server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ZOO_HUB_TIMEOUT bounds connecting; a started download may stall ZOO_HTTP_TIMEOUT."""
    monkeypatch.setenv("ZOO_HUB_TIMEOUT", "0.2")
    monkeypatch.setenv("ZOO_HTTP_TIMEOUT", "10")
    data = os.urandom(3 * 64 * 1024)
    server.files["/slow.pt"] = data
    server.chunk_delay = 0.5  # each 64 KiB chunk after a pause longer than the connect timeout
    path = resolve(server.url("/slow.pt"), sha(data), progress=False)
    assert path.read_bytes() == data
    assert len(server.requests("GET")) == 1  # no resume was needed
