"""The read-only commands people look at: list, info, plugins, doctor, --help."""

from __future__ import annotations

import json

from tests.conftest import run_zoo


def test_list_json_has_the_columns_users_filter_on() -> None:
    rows = json.loads(run_zoo("list", "sam2:*", "--json").stdout)
    tiny = next(r for r in rows if r["name"] == "sam2:tiny")
    assert tiny["default"] is True and tiny["tasks"] == ["promptable"]
    assert tiny["size"] == 156008466 and len(tiny["sha256"]) == 64
    assert tiny["license"] and tiny["weights"].startswith("hf://facebook/sam2.1-hiera-tiny/")
    assert tiny["cached"] is False
    assert all(r["family"] == "sam2" for r in rows)
    promptable = json.loads(run_zoo("list", "--task", "promptable", "--json").stdout)
    assert {"sam2:tiny"} <= {r["name"] for r in promptable}


def test_list_table_for_people() -> None:
    proc = run_zoo("list", "sam2")
    assert proc.returncode == 0
    assert "sam2:tiny" in proc.stdout and "sam2:tiny *" in proc.stdout


def test_info_shows_card_weights_and_reported_metrics() -> None:
    data = json.loads(run_zoo("info", "sam2:large", "--json").stdout)
    assert data["sha256"] == "2647878d5dfa5098f2f8649825738a9345572bae2d4350a2468587ece47dd318"
    assert data["card"]["zoo"]["upstream"]["commit"].startswith("2b90b9f")
    # reported numbers come from registry.yaml, each with its source; the card keeps none
    assert data["card"]["zoo"]["reported_metrics"] == []
    sav = [r for r in data["results"] if r["dataset"] == "SA-V"]
    assert [(r["variant"], r["split"], r["value"]) for r in sav] == [("large", "test", 79.5)]
    assert "facebookresearch/sam2 README" in sav[0]["source"]
    text = run_zoo("info", "sam2:large").stdout
    assert "not re-measured by sam-zoo" in text and "SA-V test" in text and "79.5" in text


def test_plugins_and_doctor_report_offline_environment() -> None:
    plugins = json.loads(run_zoo("plugins", "--json").stdout)
    sam2 = next(p for p in plugins["plugins"] if p["name"] == "sam2")
    assert sam2["distribution"] == "zoo-sam2" and sam2["error"] is None
    assert "zoo_register_families" in sam2["hooks"] and sam2["families"] == ["sam2"]
    doctor = json.loads(run_zoo("doctor", "--json", env={"ZOO_OFFLINE": "1"}).stdout)
    assert doctor["offline"]["ZOO_OFFLINE"] == "1"
    assert doctor["hubs"]["huggingface"].startswith("skipped")
    assert "torch" in doctor and "cache_dir" in doctor and "sam2" in doctor["plugins_ok"]


def test_help_teaches() -> None:
    out = run_zoo("--help").stdout
    for cmd in ("list", "info", "pull", "run", "eval", "train", "plugins", "doctor", "cache"):
        assert cmd in out
    run_help = run_zoo("run", "--help").stdout
    assert "--boxes" in run_help and "--weights" in run_help and "zoo info" in run_help
