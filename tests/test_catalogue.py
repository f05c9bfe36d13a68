"""The catalogue as data: registry.yaml + cards/ at the top of the repository, catalogues
shipped by plugins, user catalogues that add variants or mirror files with no code."""

from __future__ import annotations

import json
import sys
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


def test_cards_agree_with_the_catalogue_and_stay_inside_the_repository() -> None:
    """Each built-in card names its family and tasks as registry.yaml and the plugin do, and
    points at nothing outside the repository (the wheel ships cards/ without ../shared)."""
    from zoo.cards import load_card
    from zoo.registry import get_registry
    from zoo.registry.catalogue import builtin_catalogue, read_catalogue

    cat = read_catalogue(builtin_catalogue(), "built-in")
    reg = get_registry()
    assert {p.stem for p in (REPO / "cards").glob("*.md")} == set(cat.families)
    for name, entry in cat.families.items():
        card = load_card(cat.card_path(name) or "")
        assert card.zoo.family == name and card.zoo.tasks == entry.tasks, name
        assert set(reg.families[name].tasks) == set(entry.tasks), name
        assert "../" not in (REPO / "cards" / f"{name}.md").read_text(), name
    assert not list(REPO.glob("plugins/*/*/card.md")), "cards live in cards/, not in plugins"


ACME_PLUGIN = """\
from pathlib import Path

from zoo.hookspecs import hookimpl
from zoo.specs import FamilySpec, VariantSpec, WeightsSpec

ZOO_PLUGIN_API = 3
HERE = Path(__file__).parent


@hookimpl
def zoo_register_families(register):
    register(FamilySpec(name="acme-sam", tasks=["promptable"], loader="zoo_fake:FakeModel",
                        requires_weights=False))
    register(FamilySpec(name="acme-old", tasks=["promptable"], loader="zoo_fake:FakeModel",
                        requires_weights=False, default_tag="v1",
                        card=str(HERE / "cards" / "acme-old.md"),
                        variants=[VariantSpec(family="acme-old", tag="v1")]))


@hookimpl
def zoo_register_catalogs(register):
    register(HERE / "registry.yaml")


@hookimpl
def zoo_register_variants(register):
    register(VariantSpec(family="acme-sam", tag="py", config={"threshold": 30}))
    # a catalogued name with other weights: refused, the built-in entry is kept
    register(VariantSpec(family="sam2", tag="tiny", checkpoints={"model": WeightsSpec(
        uri="https://example.org/other.pt", sha256="b" * 64)}))
"""

ACME_CATALOGUE = """\
schema: 1
families:
  acme-sam:
    description: ACME's SAM
    license: MIT
    default_tag: v1
    card: cards/acme-sam.md
    tasks: [promptable]
    variants:
      v1:
        config: {threshold: 100}
        results:
        - {dataset: ACME, split: test, metric: mIoU, value: 0.5, source: ACME README}
  sam2:
    variants:
      tiny:
        files: {model: {uri: 'https://example.org/sam2.pt', sha256: '%s'}}
""" % ("c" * 64)


def _card(family: str, extra: str = "") -> str:
    return (
        f"---\nlicense: mit\nzoo:\n  family: {family}\n  tasks: [promptable]\n{extra}---\n"
        f"# {family}\n"
    )


def test_third_party_ships_its_catalogue_and_cards_through_the_core_hook(
    fake_family: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A distribution registers its own registry.yaml + cards with zoo_register_catalogs,
    as the core does; zoo_register_variants keeps working; neither takes a built-in name."""
    from tests.conftest import make_distribution

    site = tmp_path / "site"
    pkg = site / "acme_catalogue"
    (pkg / "cards").mkdir(parents=True)
    (pkg / "__init__.py").write_text(ACME_PLUGIN)
    (pkg / "registry.yaml").write_text(ACME_CATALOGUE)
    (pkg / "cards" / "acme-sam.md").write_text(_card("acme-sam"))
    old_metrics = "  reported_metrics:\n  - {dataset: OLD, metric: AP, value: 1.5}\n"
    (pkg / "cards" / "acme-old.md").write_text(_card("acme-old", old_metrics))
    make_distribution(site, "acme-zoo", "acme_catalogue", "acme-zoo")
    monkeypatch.syspath_prepend(str(site))
    try:
        _check_acme(pkg)
    finally:
        sys.modules.pop("acme_catalogue", None)


def _check_acme(pkg: Path) -> None:
    from zoo.cards import family_card
    from zoo.registry import reset_registry

    rows = {r["name"]: r for r in json.loads(run_zoo("list", "acme-*", "--json").stdout)}
    assert rows["acme-sam:v1"]["origin"] == "acme-zoo" and rows["acme-sam:v1"]["default"]
    assert rows["acme-sam:py"]["origin"] == "acme-zoo"
    info = json.loads(run_zoo("info", "acme-sam", "--json").stdout)
    assert info["card"]["zoo"]["family"] == "acme-sam" and "path" not in info["card"]
    reset_registry()
    card = family_card("acme-sam")
    assert card.path == str(pkg / "cards" / "acme-sam.md")
    assert info["results"] == [
        {
            "variant": "v1",
            "dataset": "ACME",
            "split": "test",
            "metric": "mIoU",
            "value": 0.5,
            "source": "ACME README",
        }
    ]
    # a card that still keeps its numbers (no catalogue entry) is shown as before
    old = json.loads(run_zoo("info", "acme-old", "--json").stdout)
    assert [(r["dataset"], r["value"]) for r in old["results"]] == [("OLD", 1.5)]

    tiny = json.loads(run_zoo("list", "sam2:tiny", "--json").stdout)[0]
    assert tiny["origin"] == "built-in" and tiny["sha256"].startswith("7402e0d8")
    warnings = json.loads(run_zoo("plugins", "--json").stdout)["warnings"]
    assert any("sam2:tiny" in w and "acme-zoo" in w for w in warnings), warnings
    # the plugin's own file: checked as it was merged, the refused entry named by line
    proc = run_zoo("registry", "check", str(pkg / "registry.yaml"))
    assert proc.returncode == 2
    assert f"{pkg / 'registry.yaml'}:16:" in proc.stderr and "already registered" in proc.stderr
    assert run_zoo("registry", "check", str(builtin_path())).returncode == 0


def builtin_path() -> Path:
    from zoo.registry.catalogue import builtin_catalogue

    return builtin_catalogue()
