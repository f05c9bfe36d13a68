"""How every ``zoo`` command talks to people: two consoles, JSON and report printing.

Reports go to stdout (``--json``: the whole report as JSON), everything else (progress,
notes, warnings, errors) to stderr, so ``zoo ... | jq`` and pipes stay clean. Output fits
80 columns in a pipe: tables wrap long cells instead of cutting them. Imports rich only.
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

__all__ = ["console", "err_console", "fmt", "print_json", "print_notes", "print_report"]

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
        t = Table(title=table.get("title", ""), title_justify="left")
        for c in table["columns"]:
            t.add_column(str(c))
        for row in table["rows"]:
            t.add_row(*[escape(fmt(v)) for v in row])
        console.print(t)
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


def print_notes(notes: list[str], *, kind: str = "note") -> None:
    """Lines the user should see once (clipped boxes, test mode...), on stderr."""
    for n in dict.fromkeys(notes):
        err_console.print(f"[yellow]{kind}:[/] {escape(n)}", highlight=False, soft_wrap=True)
