"""Fixtures of the wesam-adapt tests: an isolated ZOO_HOME, a synthetic shifted domain."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture(autouse=True)
def _isolated(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    """Own empty cache per test, only our plugins (others may be mid-edit), fresh registry."""
    from zoo.registry import reset_registry

    home = tmp_path_factory.mktemp("zoo_home")
    monkeypatch.setenv("ZOO_HOME", str(home))
    monkeypatch.setenv("ZOO_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("ZOO_PLUGINS", "sam2,wesam-adapt")
    reset_registry()
    yield
    reset_registry()


@pytest.fixture(scope="session")
def domain(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Shapes on textures (3 images, masks) and a COCO-C style noisy copy of them."""
    from zoo_wesam.corruptions import corrupt_folder
    from zoo_wesam.synthetic import make_shapes_dataset

    root = tmp_path_factory.mktemp("shapes")
    clean = make_shapes_dataset(root / "clean", 3, height=96, width=128, seed=0)
    corrupt_folder(clean["images"], root / "noisy", "gaussian_noise", 3, progress=False)
    boxes_only = make_shapes_dataset(
        root / "boxes", 2, height=96, width=128, seed=1, boxes_only=True
    )
    return {
        "clean_images": Path(clean["images"]),
        "images": root / "noisy",
        "annotations": Path(clean["annotations"]),
        "boxes_images": Path(boxes_only["images"]),
        "boxes_annotations": Path(boxes_only["annotations"]),
    }


@pytest.fixture
def cli() -> Any:
    """``zoo ARGS`` in this process (the core's runner): a ``CompletedProcess``."""
    from zoo.testing.cli import run_cli

    return lambda *args: run_cli(*[str(a) for a in args])


@pytest.fixture
def user_error() -> Any:
    """Exit 2 and one line on stderr naming the problem (the core's assertion)."""
    from zoo.testing.cli import assert_user_error

    return assert_user_error
