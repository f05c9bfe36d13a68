"""Report tables at 80 columns (a pipe): wide tables print in parts, no number is cut."""

from __future__ import annotations

import pytest

from zoo.cli import console as console_module
from zoo.cli.console import print_report

COLUMNS = ["model", "sequence", "J&F-Mean", "J-Mean", "J-Recall", "J-Decay", "F-Mean",
           "F-Recall", "F-Decay"]  # fmt: skip


def _report(rows: list[list[object]]) -> dict[str, object]:
    return {"table": {"title": "DAVIS 2017", "columns": COLUMNS, "rows": rows}, "protocol": "x"}


def test_a_davis_table_keeps_every_number_whole_at_80_columns(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(console_module.console, "width", 80)
    rows: list[list[object]] = [
        ["sam2long", "global", 0.4279, 0.4101, 0.5, 0.0123, 0.4457, 0.5, -0.0201],
        ["sam2", "bike-packing/2", 0.1111, 0.2222, 0.3333, 0.4444, 0.5555, 0.6666, -0.7777],
    ]
    print_report(_report(rows))
    out = capsys.readouterr().out
    assert all(len(line) <= 80 for line in out.splitlines())
    assert "…" not in out
    for value in ("0.4279", "-0.0201", "0.6666", "-0.7777", "bike-packing/2"):
        assert value in out  # whole, on one line
    for name in COLUMNS:
        assert name in out
    assert "(continued)" in out  # 9 columns do not fit in one part
    # every part repeats the model and sequence columns
    assert out.count("bike-packing/2") == 2


def test_a_narrow_table_is_one_part(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(console_module.console, "width", 80)
    print_report({"table": {"title": "t", "columns": ["model", "AP"], "rows": [["a", 0.5]]}})
    out = capsys.readouterr().out
    assert "(continued)" not in out and "0.5000" in out
