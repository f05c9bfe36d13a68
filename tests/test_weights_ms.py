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
from tests.weights_loopback import sha
from zoo.errors import OfflineError, WeightsError
from zoo.weights import resolve, resolve_file

# Fixtures from the loopback helpers, bound here so that pytest finds them.
isolated_env = loopback.isolated_env


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
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
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
