"""Fixtures of the opseg-shadow tests: an isolated ``$ZOO_HOME``, synthetic SOBA data, and the
real CLI run in-process (:mod:`zoo.testing.cli`) so a user error is seen exactly as a user
sees it: exit code 2 and one line on stderr."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture
def zoo_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An empty ``$ZOO_HOME`` for one test (trained variants are registered from there)."""
    from zoo.registry import reset_registry

    home = tmp_path / "zoo_home"
    monkeypatch.setenv("ZOO_HOME", str(home))
    reset_registry()
    yield home
    reset_registry()


@pytest.fixture(scope="session")
def soba_set(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """8 synthetic SOBA-format scenes (192x256): ``(annotations.json, images folder)``."""
    from zoo_opseg.synthetic import write_soba_dataset

    root = tmp_path_factory.mktemp("soba")
    ann = write_soba_dataset(root, n_images=8, height=192, width=256, seed=0)
    return ann, root / "images"


@pytest.fixture
def edit_soba(
    tmp_path: Path, soba_set: tuple[Path, Path]
) -> Callable[[Callable[[dict[str, Any]], None]], Path]:
    """Write a modified copy of the synthetic annotations (for bad-input tests)."""

    def make(change: Callable[[dict[str, Any]], None]) -> Path:
        data = json.loads(soba_set[0].read_text())
        change(data)
        out = tmp_path / "edited.json"
        out.write_text(json.dumps(data))
        return out

    return make


@pytest.fixture
def cli() -> Callable[..., tuple[int, str, str]]:
    """``cli("run", ...)`` runs ``zoo run ...`` in this process (the core's
    :func:`zoo.testing.cli.run_cli`): ``(exit code, stdout, stderr)``."""
    from zoo.testing.cli import run_cli

    def run(*args: Any) -> tuple[int, str, str]:
        proc = run_cli(*[str(a) for a in args])
        return proc.returncode, proc.stdout, proc.stderr

    return run


@pytest.fixture
def user_error() -> Callable[..., None]:
    """``user_error(result, "needle", ...)``: exit 2, one stderr line naming the problem
    (the core's :func:`zoo.testing.cli.assert_user_error`)."""
    import subprocess

    from zoo.testing.cli import assert_user_error

    def check(result: tuple[int, str, str], *needles: str) -> None:
        code, out, err = result
        assert_user_error(subprocess.CompletedProcess(["zoo"], code, out, err), *needles)
        assert "Traceback" not in out

    return check
