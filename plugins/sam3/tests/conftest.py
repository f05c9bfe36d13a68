"""Shared fixtures of the sam3 plugin's tests: the test-size model and the fixture photo."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

# the helpers beside the tests (sam3_fixtures, sam3_meta_layout) import as plain modules
sys.path.insert(0, str(Path(__file__).parent))

from sam3_fixtures import photo


@pytest.fixture(scope="session")
def tiny():  # type: ignore[no-untyped-def]
    """``sam3`` at its test size with random weights (seed 0), built once per session."""
    import zoo

    return zoo.load("sam3", weights="random", arch="tiny", device="cpu")


@pytest.fixture(scope="session")
def groceries() -> np.ndarray:
    """The groceries photo at half size (400 x 267): the API tests' input."""
    from PIL import Image

    return np.asarray(Image.fromarray(photo("groceries.jpg")).resize((400, 267), Image.BILINEAR))
