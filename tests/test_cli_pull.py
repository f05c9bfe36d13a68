"""`zoo pull`, `zoo cache` and the quickstart flow against a loopback stand-in for the hub.

No hub is reachable here, so a local HTTP server speaks the Hugging Face file protocol
(``HF_ENDPOINT`` points at it) and serves a checkpoint we make from random weights.
"""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest
import torch

from tests import weights_loopback as loopback
from tests.conftest import assert_user_error, run_zoo
from tests.test_registry import make_distribution
from tests.weights_loopback import FakeServer
from zoo.registry import reset_registry

# Loopback hub fixtures, bound here so that pytest finds them.
server = loopback.server

REPO = "acme/sam2-mirror"
REV = "0123456789abcdef0123456789abcdef01234567"

MIRROR_PLUGIN = f"""
from zoo.hookspecs import hookimpl
from zoo.specs import VariantSpec, WeightsSpec

SHA = open(__file__.replace(".py", ".sha")).read().strip()
SIZE = int(open(__file__.replace(".py", ".size")).read())


@hookimpl
def zoo_register_variants(register):
    register(VariantSpec(family="sam2", tag="mirror", config={{"size": "tiny"}},
                         weights=WeightsSpec(uri="hf://{REPO}/model.pt@{REV}", sha256=SHA,
                                             size=SIZE)))
"""


@pytest.fixture
def hub(server: FakeServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A mirror variant ``sam2:mirror`` served by the loopback hub, plus its bytes."""
    import hashlib

    torch.manual_seed(0)
    from zoo_sam2.build import build_sam2_model

    buf = io.BytesIO()
    torch.save({"model": build_sam2_model("tiny").state_dict()}, buf)
    data = buf.getvalue()
    server.add_hf(REPO, REV, "model.pt", data)
    site = tmp_path / "site"
    site.mkdir()
    make_distribution(site, "acme-mirror", MIRROR_PLUGIN, "acme-mirror", "acme_mirror")
    (site / "acme_mirror.sha").write_text(hashlib.sha256(data).hexdigest())
    (site / "acme_mirror.size").write_text(str(len(data)))
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("HF_ENDPOINT", server.base)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.delenv("ZOO_OFFLINE", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    reset_registry()
    yield server, data
    sys.modules.pop("acme_mirror", None)
    reset_registry()


def test_pull_cache_run_offline_verify_rm(hub, tmp_path: Path) -> None:
    hub_server, data = hub
    pulled = run_zoo("pull", "sam2:mirror", "--json")
    assert pulled.returncode == 0, pulled.stderr
    info = json.loads(pulled.stdout)
    assert info["size"] == len(data)
    assert Path(info["path"]).read_bytes() == data

    listing = json.loads(run_zoo("list", "sam2:mirror", "--json").stdout)
    assert listing[0]["cached"] is True

    cache = json.loads(run_zoo("cache", "ls", "--json").stdout)
    assert any(e["uri"] and REPO in e["uri"] for e in cache["entries"])

    # The quickstart job, now offline: the cached checkpoint is enough.
    gets = len(hub_server.requests("GET"))
    out = tmp_path / "out"
    proc = run_zoo(
        "run",
        "sam2:mirror",
        "--image",
        "example:grace-hopper",
        "--boxes",
        "60,40,460,590;150,90,360,330",
        "--out",
        str(out),
        "--device",
        "cpu",
        env={"ZOO_OFFLINE": "1"},
    )
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in out.iterdir()) == [
        "mask_000.png",
        "mask_001.png",
        "overlay.png",
        "results.json",
    ]
    res = json.loads((out / "results.json").read_text())
    assert res["provenance"]["weights"].startswith(f"hf://{REPO}")
    assert len(hub_server.requests("GET")) == gets  # no network while offline

    verify = run_zoo("cache", "verify", "--json")
    assert verify.returncode == 0 and all(r["ok"] for r in json.loads(verify.stdout))
    Path(info["path"]).resolve().write_bytes(b"bit rot")
    bad = run_zoo("cache", "verify", "--json")
    assert bad.returncode == 1 and not all(r["ok"] for r in json.loads(bad.stdout))

    removed = run_zoo("cache", "rm", "sam2:mirror", "--json")
    assert removed.returncode == 0, removed.stderr
    assert json.loads(run_zoo("list", "sam2:mirror", "--json").stdout)[0]["cached"] is False
    assert_user_error(run_zoo("cache", "rm", "sam2:mirror"), "nothing in the cache")


def test_pull_with_wrong_bytes_is_refused_and_nothing_kept(hub) -> None:
    hub_server, _ = hub
    tiny = "facebook/sam2.1-hiera-tiny"
    hub_server.add_hf(
        tiny,
        "de431c4043854a71d8101e17995dfe596bf101a5",
        "sam2.1_hiera_tiny.pt",
        b"not the published checkpoint",
    )
    proc = run_zoo("pull", "sam2:tiny")
    assert_user_error(proc, "mismatch", "deleted")
    assert json.loads(run_zoo("list", "sam2:tiny", "--json").stdout)[0]["cached"] is False


def test_unreachable_hub_is_one_line_naming_file_source_and_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens on port 9
    monkeypatch.delenv("ZOO_OFFLINE", raising=False)
    out = tmp_path / "out"
    proc = run_zoo(
        "run",
        "sam2:tiny",
        "--image",
        "example:grace-hopper",
        "--boxes",
        "60,40,460,590",
        "--out",
        str(out),
    )
    assert_user_error(proc, "cannot reach", "sam2.1_hiera_tiny.pt", "hf://facebook", "--checkpoint")
    assert not out.exists() or not any(out.iterdir())
