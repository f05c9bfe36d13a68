"""hf://: files in the Hugging Face cache via a loopback hub (HF_ENDPOINT)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

import zoo.weights as weights
from tests import weights_loopback as loopback
from tests.weights_loopback import REPO_ROOT, FakeServer, closed_port, sha
from zoo.errors import ChecksumError, InputError, OfflineError, WeightsError, cli_surface
from zoo.weights import is_cached, list_cache, resolve, resolve_file
from zoo.weights.env import hf_cache_dir

# Fixtures from the loopback helpers, bound here so that pytest finds them.
isolated_env = loopback.isolated_env
server = loopback.server
hf_server = loopback.hf_server
silent_server = loopback.silent_server


def test_hf_download_verify_and_cache_layout(hf_server: FakeServer, tmp_path: Path) -> None:
    data = os.urandom(50_000)
    hf_server.add_hf("facebook/sam2-tiny", "main", "ckpt/sam2_tiny.pt", data)
    uri = "hf://facebook/sam2-tiny/ckpt/sam2_tiny.pt"
    seen: list[int] = []

    info = resolve_file(uri, sha(data), len(data), progress=lambda d, t: seen.append(d))

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

    p1 = resolve("hf://org/model/model.pt@v1", sha(v1), progress=False)
    p2 = resolve("hf://org/model/model.pt@v2", sha(v2), progress=False)
    p_commit = resolve(f"hf://org/model/model.pt@{c1}", sha(v1), progress=False)

    assert p1 != p2
    assert p1.read_bytes() == v1 and p2.read_bytes() == v2
    assert p_commit.read_bytes() == v1 and c1 in str(p_commit)
    with pytest.raises(ChecksumError):
        resolve("hf://org/model/model.pt@v2", sha(v1), progress=False)


def test_hf_second_resolve_with_sha_needs_no_network(
    hf_server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = b"pinned" * 500
    hf_server.add_hf("org/m", "main", "w.safetensors", data)
    uri = "hf://org/m/w.safetensors"
    first = resolve(uri, sha(data), progress=False)
    hf_server.reset_log()

    assert resolve(uri, sha(data), progress=False) == first
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
    assert resolve(uri, sha(data), progress=False) == online
    with cli_surface(), pytest.raises(OfflineError) as info:  # as `zoo run` phrases it
        resolve("hf://org/repo/other.pt", progress=False, name="sam2:tiny")
    with pytest.raises(OfflineError) as in_python:
        resolve("hf://org/repo/other.pt", progress=False, name="sam2:tiny")
    assert hf_server.requests() == []
    message = str(info.value)
    assert "\n" not in message
    assert "other.pt" in message and "hf://org/repo/other.pt" in message
    assert "zoo pull sam2:tiny" in message and "--checkpoint PATH" in message
    # Offline, only what works offline: copy both caches or pass a file. A mirror
    # (HF_ENDPOINT) cannot help, so it is not suggested (issue 11, item 5).
    assert "HF_ENDPOINT" not in message
    assert f"copy {weights.cache_dir()} and {hf_cache_dir()} here" in message
    assert "checkpoint=PATH" in str(in_python.value)
    assert "--checkpoint" not in str(in_python.value)


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


# ------------------------------------------------------------------ an unreachable Hub


def test_unreachable_hub_fails_fast_says_where_and_how_to_go_offline(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """huggingface_hub alone retries a closed port for ~24 s in silence (issue 11, item 5)."""
    port = closed_port()
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    start = time.monotonic()
    with pytest.raises(WeightsError) as info:
        resolve("hf://org/repo/ckpt/w.pt@v1", name="sam2:tiny")  # progress=True: announced
    elapsed = time.monotonic() - start

    assert elapsed < 8, elapsed
    notes = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("note:")]
    assert notes == [f"note: connecting to 127.0.0.1:{port} for org/repo/ckpt/w.pt"]
    message = str(info.value)
    assert "\n" not in message
    assert f"cannot reach the Hugging Face Hub at http://127.0.0.1:{port}" in message
    assert "w.pt is not cached" in message and "hf://org/repo/ckpt/w.pt@v1" in message
    assert "2 tries" in message
    assert "HF_ENDPOINT" in message  # online, a mirror helps...
    assert "ZOO_OFFLINE=1" in message  # ...and this is how to stop trying
    assert "checkpoint=PATH" in message and "zoo pull sam2:tiny" in message
    assert "ZOO_HUB_TIMEOUT" not in message  # refused, not slow: waiting longer cannot help
    assert not is_cached("hf://org/repo/ckpt/w.pt@v1")


def test_silent_hub_is_bounded_by_zoo_hub_timeout(silent_server: str, tmp_path: Path) -> None:
    """A hub that accepts and never answers: ~397 s before, 2 tries of ZOO_HUB_TIMEOUT now."""
    code = (
        "from zoo.weights import resolve\n"
        "try:\n"
        "    resolve('hf://org/repo/w.pt', progress=False)\n"
        "except Exception as exc:\n"
        "    print(type(exc).__name__, exc)\n"
    )
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO_ROOT),
        "HF_ENDPOINT": silent_server,
        "ZOO_HUB_TIMEOUT": "0.5",
        "HF_HUB_DISABLE_TELEMETRY": "1",  # else huggingface_hub's agent lookup adds up to 3 s
    }
    start = time.monotonic()
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    elapsed = time.monotonic() - start
    assert out.stdout.startswith("WeightsError cannot reach the Hugging Face Hub"), out
    assert "2 tries of 0.5s" in out.stdout and "ZOO_OFFLINE=1" in out.stdout
    assert "raise ZOO_HUB_TIMEOUT (now 0.5s)" in out.stdout
    assert elapsed < 20, elapsed


def test_bad_zoo_hub_timeout_is_a_one_line_input_error(
    hf_server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ZOO_HUB_TIMEOUT", "soon")
    with pytest.raises(InputError, match="ZOO_HUB_TIMEOUT='soon'"):
        resolve("hf://org/repo/w.pt", progress=False)
    assert hf_server.requests() == []


def test_reachable_hub_downloads_after_one_announcement(
    hf_server: FakeServer, capsys: pytest.CaptureFixture[str]
) -> None:
    data = b"announced" * 100
    hf_server.add_hf("org/repo", "main", "w.pt", data)
    first = resolve("hf://org/repo/w.pt", sha(data), name="sam2:tiny")
    again = resolve("hf://org/repo/w.pt", sha(data), name="sam2:tiny")  # cached: no note
    assert first == again and first.read_bytes() == data
    err = capsys.readouterr().err
    host = hf_server.base.split("://", 1)[1]
    assert err.count("note:") == 1 and f"note: connecting to {host} for org/repo/w.pt" in err


# ------------------------------------------------------------------ gated repositories


def _auth(seen: loopback.Seen) -> str | None:
    return next((v for k, v in seen.headers.items() if k.lower() == "authorization"), None)


def _gated(hf_server: FakeServer, repo: str = "org/gated") -> tuple[str, bytes]:
    data = b"licensed weights" * 200
    hf_server.add_hf(repo, "main", "model.safetensors", data)
    hf_server.gated[repo] = "hf_granted"
    return f"hf://{repo}/model.safetensors", data


def test_gated_repo_without_token_is_one_line_with_licence_page_and_alternative(
    hf_server: FakeServer,
) -> None:
    uri, _ = _gated(hf_server)
    with pytest.raises(WeightsError) as in_python:
        resolve(uri, progress=False, name="acme:base")
    with cli_surface(), pytest.raises(WeightsError) as on_cli:
        resolve(uri, progress=False, name="acme:base")
    for info, fix in ((in_python, "checkpoint=PATH"), (on_cli, "--checkpoint PATH")):
        message = str(info.value)
        assert "\n" not in message
        assert "org/gated" in message and "HTTP 401, no token sent" in message
        assert "https://huggingface.co/org/gated" in message  # the form is on the Hub
        assert "HF_TOKEN" in message and fix in message
    # the probe is refused; nothing was downloaded and no GET was tried
    assert hf_server.requests("HEAD", "/org/gated/resolve/")
    assert not hf_server.requests("GET", "/org/gated/resolve/")


def test_gated_repo_with_a_token_not_granted_says_so(
    hf_server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    uri, _ = _gated(hf_server)
    monkeypatch.setenv("HF_TOKEN", "hf_someone_else")
    with pytest.raises(WeightsError) as info:
        resolve(uri, progress=False)
    message = str(info.value)
    assert "HTTP 403 with your token: it has not been granted access" in message
    assert "https://huggingface.co/org/gated" in message and "\n" not in message
    seen = hf_server.requests("HEAD", "/org/gated/resolve/")
    assert seen and _auth(seen[0]) == "Bearer hf_someone_else"


def test_gated_repo_downloads_with_hf_token(
    hf_server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    uri, data = _gated(hf_server)
    monkeypatch.setenv("HF_TOKEN", "hf_granted")
    path = resolve(uri, sha(data), len(data), progress=False)
    assert path.read_bytes() == data
    gets = hf_server.requests("GET", "/org/gated/resolve/")
    assert gets and all(_auth(g) == "Bearer hf_granted" for g in gets)


def test_gated_repo_downloads_with_the_stored_login(
    hf_server: FakeServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """`hf auth login` stores the token in a file; the resolver sends it like HF_TOKEN."""
    from huggingface_hub import constants

    token_file = tmp_path / "hf-login" / "token"
    token_file.parent.mkdir()
    token_file.write_text("hf_granted\n")
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(token_file))
    uri, data = _gated(hf_server)
    assert resolve(uri, sha(data), progress=False).read_bytes() == data
    assert _auth(hf_server.requests("GET", "/org/gated/resolve/")[0]) == "Bearer hf_granted"


@pytest.mark.parametrize(("token", "status"), [(None, 401), ("hf_wrong", 403)])
def test_bare_401_403_without_error_codes_read_the_same(
    hf_server: FakeServer, monkeypatch: pytest.MonkeyPatch, token: str | None, status: int
) -> None:
    """A proxy or mirror may answer a plain 401/403: still one line with the way out."""
    uri, _ = _gated(hf_server)
    hf_server.gated_codes = False
    if token:
        monkeypatch.setenv("HF_TOKEN", token)
    with pytest.raises(WeightsError) as info:
        resolve(uri, progress=False)
    message = str(info.value)
    assert f"HTTP {status}" in message and "may be gated or private" in message
    assert "https://huggingface.co/org/gated" in message and "\n" not in message


def test_gated_message_from_zoo_pull_offers_no_checkpoint(hf_server: FakeServer) -> None:
    """`zoo pull` has no --checkpoint option, so the message does not suggest one."""
    from zoo.weights.messages import without_checkpoint_option

    uri, _ = _gated(hf_server)
    with without_checkpoint_option(), pytest.raises(WeightsError) as info:
        resolve(uri, progress=False)
    assert "checkpoint" not in str(info.value).lower().replace("hf://", "")
    assert "https://huggingface.co/org/gated" in str(info.value)
