"""The plugin API is versioned: a plugin states the version it targets (``ZOO_PLUGIN_API``),
``zoo plugins`` shows it, API 2 plugins (sam-zoo 0.1's README) keep working with one
deprecation line naming the plugin and the replacement, and API 1 plugins get one line
saying what to change: never a traceback, never an ``--out`` folder."""

from __future__ import annotations

import json
import os
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.conftest import assert_user_error, make_distribution, run_zoo
from tests.test_registry import CARD, THIRD_PARTY_PLUGIN

API1_PLUGIN = textwrap.dedent('''
    """Written to sam-zoo's first README: create(*, checkpoint, device)."""
    from pathlib import Path

    from zoo.hookspecs import hookimpl
    from zoo.model import ZooModel
    from zoo.specs import FamilySpec, Task, VariantSpec

    class OldModel(ZooModel):
        tasks = (Task.PROMPTABLE,)

        @classmethod
        def create(cls, *, checkpoint=None, device="cpu", **config):
            return cls()

        def segment(self, image=None, prompts=None, *, multimask=False):
            raise AssertionError("never reached")

    @hookimpl
    def zoo_register_families(register):
        register(FamilySpec(name="old-sam", tasks=[Task.PROMPTABLE], loader="old_zoo:OldModel",
                            card=str(Path(__file__).with_name("acme.md")), default_tag="v1",
                            requires_weights=False,
                            variants=[VariantSpec(family="old-sam", tag="v1")]))
''')


@pytest.fixture
def plugins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    from zoo.registry import reset_registry

    site = tmp_path / "site"
    site.mkdir()
    make_distribution(site, "acme-zoo", "acme_zoo", "acme", THIRD_PARTY_PLUGIN)
    make_distribution(site, "old-zoo", "old_zoo", "old", API1_PLUGIN)
    make_distribution(site, "future-zoo", "future_zoo", "future", "ZOO_PLUGIN_API = 9\n")
    (site / "acme.md").write_text(CARD)
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(site), *sys.path]))
    reset_registry()
    yield site
    for m in ("acme_zoo", "old_zoo", "future_zoo"):
        sys.modules.pop(m, None)
    reset_registry()


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    img = np.zeros((60, 80, 3), np.uint8)
    img[10:30, 10:40] = 255
    p = tmp_path / "img.png"
    Image.fromarray(img).save(p)
    return p


def test_zoo_plugins_shows_each_plugins_api(plugins: Path) -> None:
    from zoo.registry import PLUGIN_API

    rows = {p["name"]: p for p in json.loads(run_zoo("plugins", "--json").stdout)["plugins"]}
    assert rows["acme"]["api"] == 2 and rows["acme"]["api_declared"] is False
    assert any("OptionSpec" in d for d in rows["acme"]["deprecations"])
    assert rows["sam2"]["api"] == PLUGIN_API or rows["sam2"]["api"] == 2
    assert "newer than this sam-zoo" in rows["future"]["error"]
    text = run_zoo("plugins").stdout
    assert "API" in text or "api" in text


def test_api2_plugin_keeps_working_with_one_deprecation_line(
    plugins: Path, photo: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    proc = run_zoo(
        "run", "acme-bright", "--image", str(photo), "--boxes", "0,0,50,40", "--out", str(out)
    )
    assert proc.returncode == 0, proc.stderr
    notes = [ln for ln in proc.stderr.splitlines() if "deprecated plugin API 2" in ln]
    assert len(notes) == 1 and "acme" in notes[0] and "Writing a plugin" in notes[0]
    assert "Traceback" not in proc.stderr and (out / "results.json").exists()


def test_api1_plugin_gets_one_line_and_no_out_folder(
    plugins: Path, photo: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    proc = run_zoo(
        "run", "old-sam", "--image", str(photo), "--boxes", "0,0,50,40", "--out", str(out)
    )
    assert_user_error(proc, "old-sam", "plugin API 1", "create(cls, ctx, **config)")
    assert not out.exists()
    import zoo
    from zoo.errors import PluginError

    with pytest.raises(PluginError, match="plugin API 1"):
        zoo.load("old-sam")
