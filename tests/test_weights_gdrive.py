"""gdrive://: Drive's direct-download endpoint through the https store."""

from __future__ import annotations

import os
import urllib.parse

import pytest

from tests import weights_loopback as loopback
from tests.weights_loopback import FakeServer, sha
from zoo.errors import WeightsError
from zoo.weights import cache_dir, resolve

# Fixtures from the loopback helpers, bound here so that pytest finds them.
isolated_env = loopback.isolated_env
server = loopback.server


def test_gdrive_downloads_through_configurable_endpoint(
    server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = os.urandom(10_000)
    server.gdrive["1AbC_d-E"] = data
    monkeypatch.setenv("ZOO_GDRIVE_ENDPOINT", server.base)

    path = resolve("gdrive://1AbC_d-E", sha(data), progress=False)

    assert path.read_bytes() == data
    (get,) = server.requests("GET")
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(get.path).query)
    assert query == {"id": ["1AbC_d-E"], "export": ["download"], "confirm": ["t"]}
    assert resolve("gdrive://1AbC_d-E", progress=False) == path  # index hit
    assert len(server.requests("GET")) == 1


def test_gdrive_html_page_is_reported(server: FakeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    server.gdrive["quota"] = b"<html>Too many users</html>"
    server.gdrive_html.add("quota")
    monkeypatch.setenv("ZOO_GDRIVE_ENDPOINT", server.base)
    with pytest.raises(WeightsError, match="web page instead of the file"):
        resolve("gdrive://quota", progress=False)
    assert not list((cache_dir() / "blobs").glob("sha256-*"))
