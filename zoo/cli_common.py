"""What every ``zoo`` command shares: the consoles, the common options, report printing.

Kept apart from :mod:`zoo.cli` so that commands living with their feature
(:mod:`zoo.batch.cli`, :mod:`zoo.serve.cli`, :mod:`zoo.export.cli`, :mod:`zoo.doctor`)
use the same options and output without importing the app (no import cycle). Imports
typer and rich only: never torch.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

console = Console()
err_console = Console(stderr=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
EXTRA = {"allow_extra_args": True, "ignore_unknown_options": True}


def _print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, default=str) + "\n")


def _registry() -> Any:
    from zoo.registry import get_registry

    return get_registry()


def _human_size(n: int | None, unknown: str = "?") -> str:
    if n is None:
        return unknown
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} GB"


def _fmt(v: Any) -> str:
    """A report value for people: 4-decimal floats, short lists, no Python reprs."""
    if isinstance(v, float):
        return f"{v:.4f}"
    if isinstance(v, (list, tuple)):
        items = [_fmt(x) for x in v[:12]]
        return ", ".join(items) + (f", ... ({len(v)} in all)" if len(v) > 12 else "")
    if isinstance(v, dict):
        return ", ".join(f"{k} {_fmt(x)}" for k, x in v.items() if not isinstance(x, dict))
    return str(v)


def _print_report(report: dict[str, Any]) -> None:
    """The human view of a command's report (``--json`` prints all of it)."""
    table = report.pop("table", None)
    if table:
        t = Table(title=table.get("title", ""), title_justify="left")
        for c in table["columns"]:
            t.add_column(str(c))
        for row in table["rows"]:
            t.add_row(*[escape(_fmt(v)) for v in row])
        console.print(t)
    for k, v in report.items():
        if k == "files" and isinstance(v, list):
            console.print(f"files: {len(v)} written" + (f" to {Path(v[0]).parent}" if v else ""))
        elif isinstance(v, dict) and any(isinstance(x, dict) for x in v.values()):
            if not table:
                for sub, x in v.items():
                    console.print(f"{k} {sub}: {escape(_fmt(x))}", highlight=False)
        else:
            console.print(f"{k}: {escape(_fmt(v))}", highlight=False)


DeviceOpt = Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")]
WeightsOpt = Annotated[
    str | None,
    typer.Option(
        help="'random': the architecture at random init (TEST MODE, labelled in every output)."
    ),
]
CkptOpt = Annotated[
    str | None,
    typer.Option(
        help="Load custom/fine-tuned weights into this family: PATH replaces its main file, "
        "NAME=PATH a named one (see `zoo info`)."
    ),
]
SeedOpt = Annotated[
    int | None,
    typer.Option(help="Random seed (test-mode init, sampling); default 0 with --weights random."),
]
BackendOpt = Annotated[
    str,
    typer.Option(
        help="torch, or onnxruntime: run the exported encoder/decoder graphs (exported on "
        "first use, cached in $ZOO_HOME/onnx; needs sam-zoo\\[onnx])."
    ),
]


def _checkpoint_arg(value: str | None) -> Any:
    """``PATH`` or ``NAME=PATH`` (a named file of a multi-file variant)."""
    if value is None:
        return None
    key, eq, path = value.partition("=")
    if eq and key.replace("-", "_").isidentifier() and not Path(value).exists():
        return {key: path}
    return value
