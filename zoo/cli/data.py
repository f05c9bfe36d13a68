"""``zoo data``: small synthetic datasets to try ``zoo eval`` and ``zoo train`` from nothing.

Every kind is registered through ``zoo_register_datasets`` (the core's ``coco``; plugins
add theirs: ``soba``, ``amodal``, ``davis``, ``rgbd``...). Outputs are labelled synthetic:
their numbers say nothing about real data.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from zoo.errors import InputError

from .console import console, print_json, print_report

#: Bounds on what one command may write.
MAX_IMAGES = 1000


def _registry() -> Any:
    from zoo.registry import get_registry

    return get_registry()


def kinds_cmd(
    as_json: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")] = False,
) -> None:
    """List the dataset kinds `zoo data make` can write."""
    rows = [
        {"kind": k, "help": h, "plugin": s} for k, (_, h, s) in sorted(_registry().datasets.items())
    ]
    if as_json:
        print_json(rows)
        return
    for r in rows:
        console.print(f"[cyan]{escape(r['kind'])}[/]  {escape(r['help'])}", highlight=False)


def make_cmd(
    kind: Annotated[str, typer.Argument(help="What to write (see `zoo data kinds`).")],
    out: Annotated[Path, typer.Argument(help="A new or empty folder to write it into.")],
    images: Annotated[
        int, typer.Option(help=f"How many images (or videos, frames) to make, 1-{MAX_IMAGES}.")
    ] = 8,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed, the same files.")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")] = False,
) -> None:
    """Write a small synthetic dataset (clearly synthetic: for trying things, not benchmarks).

    Examples:

      zoo data make coco coco/

      zoo data make soba soba/ --images 4

      zoo data kinds
    """
    from zoo.context import check_out_dir
    from zoo.io.atomic import atomic_output_dir
    from zoo.specs import import_string

    reg = _registry()
    if kind not in reg.datasets:
        known = ", ".join(sorted(reg.datasets)) or "none"
        raise InputError(f"unknown dataset kind {kind!r}; zoo data make knows {known}")
    if not 1 <= images <= MAX_IMAGES:
        raise InputError(f"--images must be between 1 and {MAX_IMAGES}, got {images}")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise InputError(f"{out} exists and is not an empty folder; choose a new folder")
    check_out_dir(out)
    ref = reg.datasets[kind][0]
    fn = import_string(ref)
    with atomic_output_dir(out) as tmp:
        summary = dict(fn(Path(tmp), images=images, seed=seed) or {})
    if isinstance(summary.get("try"), str):  # written into a temporary folder: say the real one
        summary["try"] = summary["try"].replace("{out}", str(out))
    report = {"kind": kind, "out": str(out), "synthetic": True, **summary}
    if as_json:
        print_json(report)
    else:
        print_report(report)


def register(app: typer.Typer) -> None:
    """Add ``zoo data`` to ``app``."""
    data = typer.Typer(help="Small synthetic datasets to try eval and train.", no_args_is_help=True)
    data.command("make")(make_cmd)
    data.command("kinds")(kinds_cmd)
    app.add_typer(data, name="data")
