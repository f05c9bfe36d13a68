"""The scheme table: built-ins through the zoo_register_resolvers hook, plugin schemes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import zoo.weights as weights
import zoo.weights.builtin
from tests import weights_loopback as loopback
from tests.conftest import run_zoo
from tests.test_registry import make_distribution
from tests.weights_loopback import REPO_ROOT, sha
from zoo.errors import ChecksumError, PluginError, WeightsError
from zoo.hookspecs import hookimpl
from zoo.registry import build_registry, reset_registry
from zoo.weights import ResolvedFile, ResolveRequest, resolve, resolve_file

# Fixtures from the loopback helpers, bound here so that pytest finds them.
isolated_env = loopback.isolated_env


def test_unknown_scheme_lists_supported() -> None:
    with pytest.raises(WeightsError) as info:
        resolve("s3://bucket/key.pt")
    message = str(info.value)
    for scheme in ("hf://", "ms://", "https://", "gdrive://", "file://"):
        assert scheme in message
    assert "s3://" in message


def test_registered_scheme_is_used_and_verified(tmp_path: Path) -> None:
    target = tmp_path / "mirror.pt"
    target.write_bytes(b"mirror")
    calls: list[tuple[str, str | None]] = []

    def s3(uri: str, sha: str | None) -> Path:
        calls.append((uri, sha))
        return target

    weights.register_scheme("s3", s3)
    assert resolve("s3://bucket/mirror.pt", sha(b"mirror")) == target
    assert calls == [("s3://bucket/mirror.pt", sha(b"mirror"))]
    assert "s3://" in weights.supported_schemes()
    with pytest.raises(ChecksumError):
        resolve("s3://bucket/mirror.pt", "c" * 64)
    with pytest.raises(PluginError, match="built-in"):
        weights.register_scheme("https", s3)


# ------------------------------------------------------------------ built-ins are a plugin

BUILTINS = ["hf", "ms", "https", "http", "gdrive", "file"]

HIJACKER = """
from pathlib import Path

from zoo.hookspecs import hookimpl


@hookimpl
def zoo_register_resolvers(register):
    register("https", lambda uri, sha256: Path("/tmp/not-what-you-asked-for"))
    register("evilmirror", lambda request: Path(__file__))
"""


def test_builtin_schemes_fill_lazily_through_the_hook(monkeypatch: pytest.MonkeyPatch) -> None:
    """No registry built: the first resolve fills the table by calling the same hook."""
    import zoo.weights.builtin
    import zoo.weights.schemes as schemes

    calls: list[str] = []
    original = zoo.weights.builtin.zoo_register_resolvers

    @hookimpl
    def spy(register: Any) -> None:
        calls.append("called")
        original(register)

    monkeypatch.setattr(zoo.weights.builtin, "zoo_register_resolvers", spy)
    assert schemes._TABLE == {}  # the fixture emptied it
    assert weights.supported_schemes() == [f"{s}://" for s in BUILTINS]
    assert calls == ["called"]  # pluggy called the built-in plugin's hook implementation
    assert all(
        schemes._TABLE[s].builtin and schemes._TABLE[s].source == schemes.BUILTIN_PLUGIN
        for s in BUILTINS
    )
    weights.supported_schemes()
    assert calls == ["called"]  # filled once


def test_resolve_needs_no_registry(tmp_path: Path) -> None:
    f = tmp_path / "w.pt"
    f.write_bytes(b"local")
    code = (
        "import sys; from zoo.weights import resolve; "
        f"print(resolve({str(f)!r}), resolve({f.as_uri()!r}), 'zoo.registry' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.split() == [str(f), str(f), "False"]


def test_registry_registers_builtin_resolvers_as_a_plugin_first() -> None:
    reg = build_registry()
    assert reg.pm is not None
    assert reg.pm.get_plugin("builtin-resolvers") is zoo.weights.builtin
    first = reg.plugins[0]
    assert (first.name, first.distribution, first.builtin) == ("builtin-resolvers", "sam-zoo", True)
    assert first.hooks == ["zoo_register_resolvers"]
    assert set(BUILTINS) <= set(reg.resolvers)
    impls = reg.pm.hook.zoo_register_resolvers.get_hookimpls()
    assert impls[0].plugin_name == "builtin-resolvers"  # registered before any entry point

    listed = json.loads(run_zoo("plugins", "--json").stdout)["plugins"]
    core = next(p for p in listed if p["name"] == "builtin-resolvers")
    assert core["builtin"] is True and core["hooks"] == ["zoo_register_resolvers"]


def test_plugin_cannot_take_over_a_builtin_scheme(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = tmp_path / "site"
    site.mkdir()
    make_distribution(site, "hijack-zoo", HIJACKER, "hijack", "hijack_zoo")
    monkeypatch.syspath_prepend(str(site))
    try:
        reg = build_registry()
        refused = [w for w in reg.warnings if "https://" in w]
        assert len(refused) == 1 and "built-in" in refused[0] and "hijack-zoo" in refused[0]
        assert reg.resolvers["https"] is zoo.weights.builtin.resolve_http
        # The plugin is not broken: its own scheme works, https:// stays built-in.
        assert not next(p for p in reg.plugins if p.name == "hijack").error
        assert resolve("evilmirror://x", progress=False) == site / "hijack_zoo.py"
        import zoo.weights.schemes as schemes

        assert schemes.lookup("https") is not None and schemes.lookup("https").builtin  # type: ignore[union-attr]
        warnings = json.loads(run_zoo("plugins", "--json").stdout)["warnings"]
        assert any("https://" in w and "built-in" in w for w in warnings)
    finally:
        sys.modules.pop("hijack_zoo", None)
        reset_registry()


# ------------------------------------------------------------------ the request form


def test_request_style_resolver_gets_every_argument(tmp_path: Path) -> None:
    target = tmp_path / "mirror.pt"
    target.write_bytes(b"mirror")
    seen: list[ResolveRequest] = []

    def mirror(request: ResolveRequest) -> Path:
        seen.append(request)
        return target

    weights.register_scheme("mirror", mirror)
    got = resolve_file(
        "mirror://bucket/mirror.pt",
        "SHA256:" + sha(b"mirror").upper(),
        6,
        progress=False,
        name="sam2:tiny",
        offline=True,
        filename="mirror.pt",
    )
    assert (got.path, got.sha256, got.size, got.source) == (target, sha(b"mirror"), 6, "mirror")
    (request,) = seen
    assert request == ResolveRequest(
        uri="mirror://bucket/mirror.pt",
        sha256=sha(b"mirror"),  # normalised before the resolver sees it
        size=6,
        progress=False,
        name="sam2:tiny",
        offline=True,
        filename="mirror.pt",
    )
    with pytest.raises(ChecksumError, match="size mismatch"):
        resolve("mirror://bucket/mirror.pt", size=7)  # the core checks what a plugin returns
    assert target.exists()  # ...and never deletes a plugin's file


def test_request_style_resolver_may_return_resolved_file(tmp_path: Path) -> None:
    target = tmp_path / "m.pt"
    target.write_bytes(b"m")

    def fn(request: ResolveRequest) -> ResolvedFile:
        return ResolvedFile(target, request.uri, None, 1, True, "custom")

    weights.register_scheme("custom", fn)
    got = resolve_file("custom://m", sha(b"m"))
    assert got.path == target and got.cached and got.sha256 == sha(b"m")
    with pytest.raises(ChecksumError):
        resolve("custom://m", "d" * 64)


def test_resolver_signature_is_checked_at_registration() -> None:
    with pytest.raises(PluginError, match="no positional argument"):
        weights.register_scheme("broken", lambda: None)
    with pytest.raises(PluginError, match="not callable"):
        weights.register_scheme("broken", "not a function")  # type: ignore[arg-type]
    assert "broken://" not in weights.supported_schemes()
