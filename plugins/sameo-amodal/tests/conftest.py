"""Fixtures of the sameo-amodal tests: an isolated ZOO_HOME, one CPU thread, small data."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from zoo.testing.cli import assert_user_error, run_cli


@pytest.fixture(autouse=True)
def _isolated(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    """Own cache per test (trained variants must not leak into ~/.cache); one torch thread,
    because the test machine's cores are shared and oversubscription makes torch far slower."""
    from zoo.registry import reset_registry

    home = tmp_path_factory.mktemp("zoo_home")
    monkeypatch.setenv("ZOO_HOME", str(home))
    monkeypatch.setenv("ZOO_OFFLINE", "1")
    torch = sys.modules.get("torch")  # tests that never touch torch should not import it
    threads = torch.get_num_threads() if torch is not None else None
    if torch is not None:
        torch.set_num_threads(1)
    reset_registry()
    yield
    if torch is not None and threads is not None:
        torch.set_num_threads(threads)
    reset_registry()


run_zoo = run_cli  # shared with the core suite: zoo.testing.cli


@pytest.fixture(scope="session")
def shapes_data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Small synthetic COCO-amodal sets (128 px): train (paired), held-out (occluded only)."""
    from zoo_sameo.occlusion import make_synthetic_amodal_dataset

    root = tmp_path_factory.mktemp("shapes")
    train = make_synthetic_amodal_dataset(root / "train", 32, height=128, width=128, seed=101)
    val = make_synthetic_amodal_dataset(
        root / "val", 12, height=128, width=128, seed=301, pairs=False
    )
    return {
        "train": train,
        "train_images": root / "train" / "images",
        "val": val,
        "val_images": root / "val" / "images",
    }


def env_home() -> Path:
    return Path(os.environ["ZOO_HOME"])


@pytest.fixture
def zoo_cli() -> Any:
    """``zoo_cli(*args)`` runs the CLI in-process (see :func:`run_zoo`)."""
    return run_zoo


@pytest.fixture
def user_error() -> Any:
    """``user_error(proc, *needles)``: exit 2, one line, no traceback."""
    return assert_user_error
