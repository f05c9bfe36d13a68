"""file:// URIs and plain paths: verified, never deleted."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests import weights_loopback as loopback
from tests.weights_loopback import sha
from zoo.errors import ChecksumError, WeightsError
from zoo.weights import resolve

# Fixtures from the loopback helpers, bound here so that pytest finds them.
isolated_env = loopback.isolated_env


def test_local_path_and_file_uri(tmp_path: Path) -> None:
    f = tmp_path / "my weights.pt"
    f.write_bytes(b"local")
    assert resolve(str(f), sha(b"local")) == f
    assert resolve(f.as_uri()) == f
    with pytest.raises(ChecksumError):
        resolve(str(f), "b" * 64)
    assert f.exists()  # a user's file is never deleted


def test_missing_local_path_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "nope" / "sam.pt"
    with pytest.raises(WeightsError, match=re.escape(str(missing))):
        resolve(str(missing))
    with pytest.raises(WeightsError, match=re.escape(str(missing))):
        resolve(missing.as_uri())
