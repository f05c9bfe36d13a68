"""The public surface of zoo.weights: WeightSpec, re-exported names, a cheap import."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests import weights_loopback as loopback
from tests.weights_loopback import REPO_ROOT, sha
from zoo.weights import WeightSpec

# Fixtures from the loopback helpers, bound here so that pytest finds them.
isolated_env = loopback.isolated_env


def test_weight_spec_validates_and_resolves(tmp_path: Path) -> None:
    f = tmp_path / "w.pt"
    f.write_bytes(b"spec")
    spec = WeightSpec(uri=str(f), sha256="SHA256:" + sha(b"spec").upper(), size=4)
    assert spec.sha256 == sha(b"spec")
    assert spec.resolve() == f
    assert WeightSpec(uri="hf://org/repo/x/y.pt@v1").display_name == "y.pt"
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        WeightSpec(uri="hf://org/repo")
    with pytest.raises(ValidationError):
        WeightSpec(uri="https://x/y.pt", sha256="not-a-hash")
    with pytest.raises(ValidationError):
        WeightSpec(uri="https://x/y.pt", size=-1)


def test_import_is_light() -> None:
    code = (
        "import sys, zoo.weights; "
        "heavy = [m for m in ('torch', 'huggingface_hub', 'modelscope', 'rich') "
        "if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "[]"


#: ``zoo.weights.__all__`` before the package split, plus names other code imports from it.
NAMES_IN_USE = [
    "CacheEntry",
    "ProgressCallback",
    "ResolvedFile",
    "SchemeResolver",
    "WeightSpec",
    "cache_dir",
    "is_cached",
    "is_offline",
    "list_cache",
    "load_state_dict",
    "register_scheme",
    "remove_from_cache",
    "resolve",
    "resolve_file",
    "safe_torch_load",
    "sha256_file",
    "supported_schemes",
    "unregister_scheme",
    "verify_cache",
    # used by the conformance kit, plugins and their tests
    "check_uri",
    "parse_hf_uri",
]


def test_every_name_in_use_is_still_exported() -> None:
    import zoo.weights as weights

    missing = [n for n in NAMES_IN_USE if not hasattr(weights, n)]
    assert missing == []
    assert set(NAMES_IN_USE) <= set(weights.__all__)
    assert all(hasattr(weights, n) for n in weights.__all__)
    # The submodule ``resolving`` is not named ``resolve``: the function is not shadowed.
    assert callable(weights.resolve) and weights.resolve.__name__ == "resolve"


def test_modules_stay_small() -> None:
    """One job per module (issue 10, item 6: no module over ~600 lines)."""
    package = REPO_ROOT / "zoo" / "weights"
    sizes = {p.name: len(p.read_text().splitlines()) for p in package.glob("*.py")}
    assert len(sizes) >= 10
    assert {name: n for name, n in sizes.items() if n > 400} == {}
