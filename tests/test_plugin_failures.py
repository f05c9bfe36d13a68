"""A plugin that failed to load is named, not hidden: asking for its family says which
plugin provides it and why it failed (here: a user's file shadows its module), and variants
that borrow its files are listed as unavailable with the reason."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import assert_user_error, make_distribution, run_zoo

SHADE = """
from pathlib import Path
from zoo.hookspecs import hookimpl
from zoo.specs import FamilySpec, VariantSpec, WeightsSpec

ZOO_PLUGIN_API = 3

@hookimpl
def zoo_register_families(register):
    register(FamilySpec(name="shade", tasks=["promptable"], loader="zoo_shade.plugin:X",
                        default_tag="v1", variants=[VariantSpec(family="shade", tag="v1",
                        weights=WeightsSpec(uri="https://example.org/shade.pt", size=10))]))
"""

BORROWER = """
from zoo.hookspecs import hookimpl
from zoo.specs import FamilySpec, VariantSpec

ZOO_PLUGIN_API = 3

@hookimpl
def zoo_register_families(register):
    register(FamilySpec(name="shade-video", tasks=["video"], loader="borrower:X",
                        default_tag="v1", variants=[VariantSpec(family="shade-video", tag="v1",
                        weights_from="shade:v1")]))
"""


@pytest.fixture
def shadowed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    from zoo.registry import reset_registry

    site = tmp_path / "site"
    (site / "zoo_shade").mkdir(parents=True)
    (site / "zoo_shade" / "__init__.py").write_text("")
    (site / "zoo_shade" / "plugin.py").write_text(SHADE)
    make_distribution(site, "zoo-shade", "zoo_shade.plugin", "shade")
    make_distribution(site, "borrower", "borrower", "borrower", BORROWER)
    work = tmp_path / "work"
    work.mkdir()
    (work / "zoo_shade.py").write_text("print('my own script')\n")  # the user's file
    monkeypatch.chdir(work)
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.syspath_prepend(str(work))  # as `python` run from that folder has it
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(work), str(site), *sys.path]))
    for m in ("zoo_shade", "zoo_shade.plugin"):
        sys.modules.pop(m, None)
    reset_registry()
    yield work
    for m in ("zoo_shade", "zoo_shade.plugin", "borrower"):
        sys.modules.pop(m, None)
    reset_registry()


def test_failed_plugin_is_named_with_the_reason(shadowed: Path, tmp_path: Path) -> None:
    proc = run_zoo("run", "shade:v1", "--image", "x.png", "--boxes", "1,1,5,5")
    assert_user_error(proc, "shade comes from the plugin shade", "failed to load", "shadows")
    assert str(shadowed / "zoo_shade.py") in proc.stderr
    import zoo
    from zoo.errors import UnknownModelError

    with pytest.raises(UnknownModelError, match=r"zoo_shade\.py shadows"):
        zoo.load("shade:v1")


def test_borrowing_variant_is_unavailable_not_cached(shadowed: Path) -> None:
    rows = {r["name"]: r for r in json.loads(run_zoo("list", "--json").stdout)}
    row = rows["shade-video:v1"]
    assert row["cached"] is None and "shade:v1" in row["unavailable"]
    assert "failed to load" in row["unavailable"]
    text = run_zoo("list", "shade*")
    assert "unavail" in text.stdout and "shade-video:v1 is unavailable" in text.stderr
    proc = run_zoo("pull", "shade-video")
    assert_user_error(proc, "cannot be pulled", "failed to load")
