"""Paths and loaders shared by the sam3 tests (imported by conftest and the test modules)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[3]
SHARED = REPO.parent / "shared"
PHOTOS = SHARED / "fixtures" / "images"
PHOTO_NAMES = ("truck.jpg", "groceries.jpg", "dogs.jpg")
FRAMES = SHARED / "fixtures" / "video" / "bedroom"


def photo(name: str) -> np.ndarray:
    """A fixture photo as HxWx3 uint8; skips the test when ``../shared`` is absent."""
    from zoo.io.images import load_image

    path = PHOTOS / name
    if not path.is_file():
        pytest.skip(f"{path} is absent (the shared fixture photos are not checked out)")
    return load_image(path)
