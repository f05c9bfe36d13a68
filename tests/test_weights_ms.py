"""ms://: ModelScope files and patterns, with a stand-in modelscope module."""

from __future__ import annotations

import logging
import os
import sys
import types
from pathlib import Path
from typing import Any

import pytest

from tests import weights_loopback as loopback
from tests.weights_loopback import FakeServer, closed_port, sha
from zoo.errors import OfflineError, WeightsError, cli_surface
from zoo.weights import resolve, resolve_file

# Fixtures from the loopback helpers, bound here so that pytest finds them.
isolated_env = loopback.isolated_env
server = loopback.server
ms_server = loopback.ms_server
silent_server = loopback.silent_server


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
    with pytest.raises(WeightsError, match=r"pip install (--python \S+ )?.modelscope"):
        resolve("ms://org/model/w.pt", progress=False)


def test_ms_file_and_pattern(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    ms_server: FakeServer,
) -> None:
    ms_server.ms_models.add("org/model")
    ckpt = os.urandom(4096)
    calls = _fake_modelscope(
        monkeypatch, tmp_path / "ms", {"sam_b.pt": ckpt, "README.md": b"# card", "cfg.yaml": b""}
    )

    path = resolve("ms://org/model/sam_b.pt@v1.0", sha(ckpt), progress=False)
    assert path.read_bytes() == ckpt
    assert calls[-1] == {"fn": "file", "model_id": "org/model", "path": "sam_b.pt", "rev": "v1.0"}

    with caplog.at_level(logging.INFO, logger="zoo.weights"):
        info = resolve_file("ms://org/model", pattern="*.pt", progress=False)
    assert info.path.name == "sam_b.pt"
    assert (info.sha256, info.size) == (sha(ckpt), len(ckpt))
    assert calls[-1]["patterns"] == ["*.pt"]
    assert "sam_b.pt" in caplog.text and sha(ckpt) in caplog.text

    with pytest.raises(WeightsError, match="match"):
        resolve("ms://org/model", pattern="*", progress=False)  # README, cfg, ckpt
    with pytest.raises(WeightsError, match="pattern"):
        resolve("ms://org/model", progress=False)

    monkeypatch.setenv("ZOO_OFFLINE", "1")
    assert resolve("ms://org/model/sam_b.pt@v1.0", sha(ckpt), progress=False) == path
    with pytest.raises(OfflineError, match=r"missing\.pt"):
        resolve("ms://org/model/missing.pt", progress=False)


# ------------------------------------------------------------------ ModelScope failures
#
# Issue 21 item 7: ModelScope fails like the Hugging Face Hub: one "connecting to" line,
# ZOO_HUB_TIMEOUT-bounded tries (the modelscope client alone retried a closed port for
# 114 s, one WARNING line per retry), and one error line with the Hub's fixes.


def _opseg_load(**env: str) -> str:
    """``zoo.load("opseg-shadow:base-plus")`` as the CLI phrases it; the error message."""
    import zoo

    pytest.importorskip("zoo_opseg", reason="the opseg-shadow plugin is not installed")
    with cli_surface(), pytest.raises(WeightsError) as info:
        zoo.load("opseg-shadow:base-plus", device="cpu")
    return str(info.value)


def test_unreachable_modelscope_is_one_note_two_tries_and_the_hub_advice(
    monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    port = closed_port()
    monkeypatch.setenv("MODELSCOPE_ENDPOINT", f"http://127.0.0.1:{port}")
    calls = _fake_modelscope(monkeypatch, Path("/nonexistent"), {})
    message = _opseg_load()
    assert calls == []  # the client (and its two minutes of retries) never ran
    err = capfd.readouterr().err
    notes = [ln for ln in err.splitlines() if ln.startswith("note:")]
    assert notes == [f"note: connecting to 127.0.0.1:{port} for deyang2000/SAM2_Shadow/*.pt"]
    assert "WARNING" not in err
    assert "\n" not in message
    assert f"cannot reach ModelScope at http://127.0.0.1:{port}" in message
    assert "2 tries" in message and "not cached" in message
    assert "ms://deyang2000/SAM2_Shadow" in message
    # the same fixes as the Hub's: offline mode, a checkpoint, the copy, other source, test
    assert "ZOO_OFFLINE=1" in message and "--checkpoint PATH" in message
    assert "`zoo pull opseg-shadow:base-plus`" in message
    assert "use opseg-shadow:base-plus-gdrive (the same weights from Google Drive)" in message
    assert "--weights random" in message
    assert "ZOO_HUB_TIMEOUT" not in message  # refused, not slow


def test_silent_modelscope_is_bounded_by_zoo_hub_timeout(
    monkeypatch: pytest.MonkeyPatch, silent_server: str
) -> None:
    monkeypatch.setenv("MODELSCOPE_ENDPOINT", silent_server)
    monkeypatch.setenv("ZOO_HUB_TIMEOUT", "0.5")
    calls = _fake_modelscope(monkeypatch, Path("/nonexistent"), {})
    with pytest.raises(WeightsError) as info:
        resolve("ms://org/model/w.pt", progress=False, name="some:model")
    message = str(info.value)
    assert calls == [] and "2 tries of 0.5s" in message
    assert "raise ZOO_HUB_TIMEOUT (now 0.5s)" in message and "ZOO_OFFLINE=1" in message


def test_busy_modelscope_is_tried_twice_then_one_line(
    monkeypatch: pytest.MonkeyPatch, ms_server: FakeServer
) -> None:
    ms_server.ms_status = 503
    calls = _fake_modelscope(monkeypatch, Path("/nonexistent"), {})
    with pytest.raises(WeightsError, match="answered HTTP 503") as info:
        resolve("ms://org/model/w.pt", progress=False)
    assert "\n" not in str(info.value) and calls == []
    assert len(ms_server.requests("GET", "/api/v1/models/org/model")) == 2


def test_reachable_modelscope_downloads_after_one_announcement(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    ms_server: FakeServer,
    capfd: pytest.CaptureFixture[str],
) -> None:
    ms_server.ms_models.add("org/model")
    ckpt = os.urandom(2048)
    _fake_modelscope(monkeypatch, tmp_path / "ms", {"w.pt": ckpt})
    first = resolve("ms://org/model/w.pt", sha(ckpt), name="some:model")
    again = resolve("ms://org/model/w.pt", sha(ckpt), name="some:model")  # cached: silent
    assert first == again and first.read_bytes() == ckpt
    err = capfd.readouterr().err
    host = ms_server.base.split("://", 1)[1]
    assert [ln for ln in err.splitlines() if ln.startswith("note:")] == [
        f"note: connecting to {host} for org/model/w.pt"
    ]


def test_client_failure_after_the_probe_is_one_line_without_its_warnings(
    monkeypatch: pytest.MonkeyPatch, ms_server: FakeServer, capfd: pytest.CaptureFixture[str]
) -> None:
    """The site answered, then the download failed: the client's WARNING lines stay
    quiet and the error is the same unreachable line."""
    ms_server.ms_models.add("org/model")
    _fake_modelscope(monkeypatch, Path("/nonexistent"), {})
    client_log = logging.getLogger("modelscope_hub.download")
    handler = logging.StreamHandler(sys.stderr)
    client_log.addHandler(handler)

    def failing(*args: Any, **kwargs: Any) -> str:
        for delay in (0, 2, 4):
            client_log.warning("Download failed for w.pt (NetworkError), retrying in %ss", delay)
        raise ConnectionError("[E1020] Connection failed: Max retries exceeded")

    monkeypatch.setattr(sys.modules["modelscope.hub.file_download"], "model_file_download", failing)
    try:
        with pytest.raises(WeightsError) as info:
            resolve("ms://org/model/w.pt", progress=False, name="some:model")
    finally:
        client_log.removeHandler(handler)
    assert "retrying" not in capfd.readouterr().err
    message = str(info.value)
    assert "\n" not in message and "cannot reach ModelScope" in message
    assert "ZOO_OFFLINE=1" in message and "zoo pull some:model" in message


def test_offline_hints_name_runnable_commands_and_every_needed_file(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``zoo pull depth-sam:tiny (sam2)`` is not a command; and depth-sam needs its CLIP
    file too, which an offline user must bring along."""
    import zoo

    pytest.importorskip("zoo_depthsam", reason="the depth-sam plugin is not installed")
    monkeypatch.setenv("ZOO_OFFLINE", "1")
    with cli_surface(), pytest.raises(OfflineError) as info:
        zoo.load("depth-sam:tiny", device="cpu")
    message = str(info.value)
    assert "`zoo pull depth-sam:tiny`" in message and "(sam2)`" not in message
    assert "sam2.1_hiera_tiny.pt" in message and "open_clip_model.safetensors" in message
    assert "--checkpoint PATH --checkpoint clip=PATH" in message
    assert "--weights random" in message
    with pytest.raises(OfflineError) as py_info:  # the Python phrasing
        zoo.load("depth-sam:tiny", device="cpu")
    assert "checkpoint={'sam2': PATH, 'clip': PATH}" in str(py_info.value)
