"""zoo cache ls/rm/verify and the cached column: list_cache, remove_from_cache, verify_cache."""

from __future__ import annotations

import pytest

from tests import weights_loopback as loopback
from tests.weights_loopback import FakeServer, sha
from zoo.errors import InputError
from zoo.weights import cache_dir, is_cached, list_cache, remove_from_cache, resolve, verify_cache

# Fixtures from the loopback helpers, bound here so that pytest finds them.
isolated_env = loopback.isolated_env
server = loopback.server


def test_list_verify_remove(server: FakeServer) -> None:
    a, b = b"alpha" * 1000, b"beta" * 1000
    server.files["/a.pt"], server.files["/b.pt"] = a, b
    pa = resolve(server.url("/a.pt"), sha(a), progress=False)
    pb = resolve(server.url("/b.pt"), progress=False)
    orphan = cache_dir() / "blobs" / f"sha256-{'e' * 64}"
    orphan.write_bytes(b"orphan")

    entries = {e.uri: e for e in list_cache()}
    assert entries[server.url("/a.pt")].path == pa and entries[server.url("/b.pt")].present
    assert entries[None].path == orphan  # unindexed blob is listed too

    pb.write_bytes(b"bit rot")
    results = {e.uri: (ok, msg) for e, ok, msg in verify_cache()}
    assert results[server.url("/a.pt")] == (True, "ok")
    assert (
        results[server.url("/b.pt")][0] is False and "mismatch" in results[server.url("/b.pt")][1]
    )
    assert results[None][0] is False

    assert remove_from_cache(sha(a)[:10]) == [pa]
    assert not pa.exists() and not is_cached(server.url("/a.pt"))
    assert remove_from_cache(server.url("/b.pt")) == [pb]
    assert remove_from_cache("ffff") == []
    with pytest.raises(InputError):
        remove_from_cache("")
    assert [e.uri for e in list_cache()] == [None]


def test_ambiguous_sha_prefix_is_refused() -> None:
    blobs = cache_dir() / "blobs"
    blobs.mkdir(parents=True)
    (blobs / f"sha256-abcd{'1' * 60}").write_bytes(b"1")
    (blobs / f"sha256-abcd{'2' * 60}").write_bytes(b"2")
    with pytest.raises(InputError, match="ambiguous"):
        remove_from_cache("abcd")
    assert len(remove_from_cache("abcd1")) == 1


def test_corrupt_index_is_tolerated(server: FakeServer) -> None:
    data = b"index" * 10
    server.files["/i.pt"] = data
    path = resolve(server.url("/i.pt"), sha(data), progress=False)
    (cache_dir() / "index.json").write_text("{not json")
    assert resolve(server.url("/i.pt"), sha(data), progress=False) == path
    assert len(server.requests("GET")) == 1
