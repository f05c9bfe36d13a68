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


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run ``zoo`` in-process like the console script: (exit code, stdout, stderr)."""
    from zoo.cli import main

    capsys.readouterr()
    try:
        main([str(a) for a in args])
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0) if not isinstance(exc.code, str) else 1
    out, err = capsys.readouterr()
    return code, out, err


def assert_user_error(result: tuple[int, str, str], *needles: str) -> None:
    code, out, err = result
    assert code == 2, (code, out, err)
    text = err.strip()
    assert "Traceback" not in text, text
    assert len(text.splitlines()) == 1, text
    for n in needles:
        assert n.lower() in text.lower(), (n, text)


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Any:
    return lambda *args: run_cli(capsys, *args)


@pytest.fixture
def user_error() -> Any:
    return assert_user_error
