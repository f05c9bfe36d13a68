"""Shared fixtures for the core tests."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from zoo.testing.cli import assert_user_error, run_cli

__all__ = ["assert_user_error", "make_distribution", "run_zoo", "run_zoo_subprocess"]

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
#: Test-only plugins (``tests/plugins``), installed per session as distributions.
TEST_PLUGINS = Path(__file__).resolve().parent / "plugins"


def make_distribution(
    root: Path, name: str, module: str, ep_name: str, source: str | None = None
) -> None:
    """A minimal installed distribution in ``root``: ``module.py`` (from ``source`` when
    given) and a ``.dist-info`` whose ``entry_points.txt`` registers it as a zoo plugin."""
    if source is not None:
        (root / f"{module}.py").write_text(source)
    dist = root / f"{name.replace('-', '_')}-0.1.0.dist-info"
    dist.mkdir(exist_ok=True)
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1.0\n")
    (dist / "entry_points.txt").write_text(f"[zoo.plugins]\n{ep_name} = {module}\n")
    top = module.split(".")[0]
    files = (
        [f"{top}.py"]
        if (root / f"{top}.py").exists()
        else [p.relative_to(root).as_posix() for p in (root / top).rglob("*.py")]
    )
    (dist / "RECORD").write_text("".join(f"{f},,\n" for f in files))


@pytest.fixture(scope="session")
def fake_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A site folder holding the ``zoo-fake`` family's distribution (see tests/plugins)."""
    import shutil

    site = tmp_path_factory.mktemp("fake_site")
    for f in ("zoo_fake.py", "zoo_fake.md"):
        shutil.copy(TEST_PLUGINS / f, site / f)
    make_distribution(site, "zoo-fake", "zoo_fake", "zoo-fake")
    return site


@pytest.fixture
def fake_family(fake_site: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The ``zoo-fake`` family registered (in this process and in subprocesses): a numpy
    model doing every built-in task in milliseconds, for core tests."""
    from zoo.registry import reset_registry

    monkeypatch.syspath_prepend(str(fake_site))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(fake_site), *sys.path]))
    reset_registry()
    yield "zoo-fake"
    sys.modules.pop("zoo_fake", None)
    reset_registry()


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
