"""Shared fixtures for the core tests."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from zoo.testing.cli import assert_user_error, run_cli

__all__ = ["assert_user_error", "run_zoo", "run_zoo_subprocess"]

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


@pytest.fixture(autouse=True)
def _isolated_zoo_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    """Every test gets its own empty cache: nothing leaks between tests or into ~/.cache."""
    home = tmp_path_factory.mktemp("zoo_home")
    monkeypatch.setenv("ZOO_HOME", str(home))
    monkeypatch.setenv("HF_HOME", str(home / "hf"))
    monkeypatch.setenv("MODELSCOPE_CACHE", str(home / "ms"))
    yield


@pytest.fixture
def shared() -> Path:
    if not SHARED.exists():
        pytest.skip(f"{SHARED} is absent (shared fixtures are not in this checkout)")
    return SHARED


@pytest.fixture
def fixture_image(shared: Path) -> Path:
    return shared / "fixtures" / "images" / "groceries.jpg"


def run_zoo_subprocess(
    *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the real CLI in a fresh interpreter, exactly as a user would."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "zoo", *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=600,
    )


# The in-process runner and the bad-input assertion are public: plugin suites use them too.
run_zoo = run_cli
