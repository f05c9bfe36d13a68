"""How every ``zoo`` command talks to people: two consoles, JSON and report printing.

Reports go to stdout (``--json``: the whole report as JSON), everything else (progress,
notes, warnings, errors) to stderr, so ``zoo ... | jq`` and pipes stay clean. Output fits
80 columns in a pipe: tables wrap long text cells and print in parts rather than cut
a number. Imports rich only.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

__all__ = [
    "console",
    "err_console",
    "fmt",
    "print_json",
    "print_notes",
    "print_report",
    "print_table",
]

console = Console()
err_console = Console(stderr=True)


def print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, default=str) + "\n")


def fmt(v: Any) -> str:
    """A report value for people: 4-decimal floats, short lists, no Python reprs."""
    if isinstance(v, float):
        return f"{v:.4f}"
    if isinstance(v, (list, tuple)):
        items = [fmt(x) for x in v[:12]]
        return ", ".join(items) + (f", ... ({len(v)} in all)" if len(v) > 12 else "")
    if isinstance(v, dict):
        return ", ".join(f"{k} {fmt(x)}" for k, x in v.items() if not isinstance(x, dict))
    return str(v)


def print_report(report: dict[str, Any]) -> None:
    """The human view of a command's report (``--json`` prints all of it)."""
    report = dict(report)
    table = report.pop("table", None)
    if table:
        print_table(str(table.get("title", "")), table["columns"], table["rows"])
    for k, v in report.items():
        if k == "files" and isinstance(v, list):
            where = f" to {os.path.commonpath([str(Path(f).parent) for f in v])}" if v else ""
            console.print(f"files: {len(v)} written{where}", highlight=False)
        elif isinstance(v, dict) and any(isinstance(x, dict) for x in v.values()):
            if not table:
                for sub, x in v.items():
                    console.print(f"{k} {sub}: {escape(fmt(x))}", highlight=False)
        else:
            console.print(f"{k}: {escape(fmt(v))}", highlight=False)


def _column_groups(widths: list[int], keys: int, width: int) -> list[list[int]]:
    """Split the columns after the first ``keys`` into groups that fit ``width`` when each
    group is printed with the key columns again (as pandas wraps a wide frame)."""
    cost = [w + 3 for w in widths]  # one space either side and a rule
    room = width - 1 - sum(cost[:keys])
    groups: list[list[int]] = [[]]
    used = 0
    for i in range(keys, len(widths)):
        if groups[-1] and used + cost[i] > room:
            groups.append([])
            used = 0
        groups[-1].append(i)
        used += cost[i]
    return groups


def print_table(title: str, columns: list[Any], rows: list[list[Any]]) -> None:
    """A report table. Too wide for the console (80 columns in a pipe), it is printed in
    parts that repeat the leading text columns (model, sequence...) so that no number is
    cut ("0.42…") or folded over two lines."""
    header = [str(c) for c in columns]
    cells = [[fmt(v) for v in row] for row in rows]
    widths = [
        max([len(h), *(len(r[i]) for r in cells if i < len(r))]) for i, h in enumerate(header)
    ]
    text_cols = 0
    while text_cols < min(2, len(header) - 1) and all(
        not isinstance(r[text_cols], (int, float)) for r in rows if text_cols < len(r)
    ):
        text_cols += 1
    keys = max(1, text_cols) if len(header) > 1 else 0
    fits = sum(w + 3 for w in widths) + 1 <= console.width
    groups = (
        [list(range(keys, len(header)))] if fits else _column_groups(widths, keys, console.width)
    )
    for n, group in enumerate(groups):
        part = title if n == 0 else "(continued)"
        t = Table(title=escape(part), title_justify="left")
        for i in [*range(keys), *group]:
            t.add_column(header[i], no_wrap=i >= keys)
        for r in cells:
            t.add_row(*[escape(r[i]) if i < len(r) else "" for i in [*range(keys), *group]])
        console.print(t)


def print_notes(notes: list[str], *, kind: str = "note") -> None:
    """Lines the user should see once (clipped boxes, test mode...), on stderr."""
    for n in dict.fromkeys(notes):
        err_console.print(f"[yellow]{kind}:[/] {escape(n)}", highlight=False, soft_wrap=True)
