"""The catalogue as data: registry.yaml + cards/ at the top of the repository, catalogues
shipped by plugins, user catalogues that add variants or mirror files with no code."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO, assert_user_error, run_zoo

SHA = "a" * 64


def _user_catalogue(path: Path, body: str) -> Path:
    path.write_text(body)
    return path


def test_builtin_catalogue_lists_every_builtin_family_and_validates() -> None:
    from zoo.registry.catalogue import builtin_catalogue, read_catalogue

    assert builtin_catalogue() == REPO / "registry.yaml"
    cat = read_catalogue(builtin_catalogue(), "built-in")
    assert cat.errors == []
    assert set(cat.families) >= {
        "sam2",
        "efficientsam",
        "sam2long-video",
        "sameo-amodal",
        "opseg-shadow",
        "depth-sam",
        "wesam-adapt",
    }
    for name, entry in cat.families.items():
        assert entry.plugin and entry.install and entry.default_tag in entry.variants, name
        card = cat.card_path(name)
        assert card and Path(card).is_file() and Path(card).parent == REPO / "cards", name
        for tag, v in entry.variants.items():
            for r in v.results:
                assert r.source, f"{name}:{tag}: say where {r.metric} comes from"


def test_cards_carry_no_hand_kept_metrics() -> None:
    """One source of truth: reported numbers live in registry.yaml only."""
    from zoo.cards import load_card

    for card in sorted((REPO / "cards").glob("*.md")):
        assert load_card(card).zoo.reported_metrics == [], (
            f"{card.name}: move numbers to registry.yaml"
        )


def test_info_shows_results_from_the_catalogue() -> None:
    info = json.loads(run_zoo("info", "sam2:tiny", "--json").stdout)
    assert info["origin"] == "built-in"
    assert any(r["dataset"].startswith("SA-V") and r["source"] for r in info["results"])


def test_not_installed_family_is_listed_with_its_install_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ZOO_PLUGINS", "sam2")
    rows = {r["name"]: r for r in json.loads(run_zoo("list", "--all", "--json").stdout)}
    assert rows["sam2:tiny"]["installed"] is True
    assert rows["sameo-amodal:vitt"]["installed"] is False
    assert "pip install" in rows["sameo-amodal:vitt"]["install"]
    listing = run_zoo("list", "--all")
    assert "not inst" in listing.stdout and "sameo-amodal is not installed" in listing.stderr
    proc = run_zoo("run", "sameo-amodal", "--image", "x.png", "--boxes", "1,1,5,5")
    assert_user_error(proc, "sameo-amodal", "not installed", "pip install")


def test_user_catalogue_adds_a_variant_and_mirrors_a_file(
    fake_family: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    weights = tmp_path / "fine.bin"
    weights.write_bytes(b"x" * 10)
    import hashlib

    sha = hashlib.sha256(weights.read_bytes()).hexdigest()
    cat = _user_catalogue(
        tmp_path / "mine.yaml",
        yaml.safe_dump(
            {
                "schema": 1,
                "families": {
                    "zoo-fake": {
                        "variants": {
                            "mine": {
                                "description": "my fine-tune",
                                "config": {"threshold": 50},
                                "files": {
                                    "model": {"uri": weights.as_uri(), "sha256": sha, "size": 10}
                                },
                            }
                        }
                    }
                },
            }
        ),
    )
    monkeypatch.setenv("ZOO_REGISTRY", str(cat))
    rows = {r["name"]: r for r in json.loads(run_zoo("list", "zoo-fake", "--json").stdout)}
    assert rows["zoo-fake:mine"]["origin"] == str(cat)
    assert rows["zoo-fake:v1"]["origin"] == "zoo-fake"
    import zoo
    from zoo.registry import reset_registry

    reset_registry()
    model = zoo.load("zoo-fake:mine")
    assert model.threshold == 50 and model.context.files()["model"] == weights.as_uri()
    assert run_zoo("registry", "check", str(cat)).returncode == 0


def test_bad_user_entries_are_refused_by_file_and_line(
    fake_family: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cat = _user_catalogue(
        tmp_path / "bad.yaml",
        "schema: 1\n"
        "families:\n"
        "  zoo-fake:\n"
        "    variants:\n"
        "      ok:\n"
        "        files: {model: {uri: 'https://example.org/a.pt', sha256: '" + SHA + "'}}\n"
        "      broken:\n"
        "        files: {model: {uri: 'no-scheme.pt'}}\n"
        "  nobody-has-this:\n"
        "    variants: {}\n",
    )
    monkeypatch.setenv("ZOO_REGISTRY", str(cat))
    names = [r["name"] for r in json.loads(run_zoo("list", "zoo-fake", "--json").stdout)]
    proc = run_zoo("registry", "check", str(cat))
    assert proc.returncode == 2
    assert f"{cat}:8:" in proc.stderr and "needs a scheme" in proc.stderr  # the uri line
    assert f"{cat}:9:" in proc.stderr and "nobody-has-this is not registered" in proc.stderr
    # an invalid family entry is refused whole; other catalogues and families still load
    assert "zoo-fake:v1" in names and "zoo-fake:broken" not in names
    plugins = json.loads(run_zoo("plugins", "--json").stdout)
    assert any("bad.yaml:" in w for w in plugins["warnings"])
