"""The ``zoo export`` command (added to the app by :func:`zoo.cli.create_app`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from zoo.cli.console import err_console, print_json, print_notes, print_report
from zoo.cli.params import command, flags
from zoo.errors import InputError
from zoo.options import LoadOptions

EXTRA = {"allow_extra_args": True, "ignore_unknown_options": True}


def export_cmd(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Model to export, e.g. sam2:tiny.")],
    format: Annotated[str, typer.Option("--format", help="Export format: onnx.")] = "onnx",
    out: Annotated[
        Path | None, typer.Option(help="Folder for the graphs and zoo-export.json (atomic).")
    ] = None,
    opset: Annotated[
        int | None, typer.Option(help="ONNX opset (default 18; 18 to 21 here).")
    ] = None,
    dtype: Annotated[
        str, typer.Option(help="fp32, or fp16 weights/arithmetic with fp32 inputs/outputs.")
    ] = "fp32",
    as_json: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")] = False,
    **kwargs: Any,
) -> None:
    """Export a model's stages, e.g. image encoder and prompt decoder (dynamic number of prompts).

    Writes DIR/<stage>.onnx for each stage the family declares (encoder.onnx and
    decoder.onnx for most) and DIR/zoo-export.json (inputs, sizes,
    pre/post-processing, weights sha256). Loader options (e.g. --image-size) apply as in
    `zoo run`. Needs the onnx extra: pip install 'sam-zoo\\[onnx]'.

    Example:

      zoo export sam2:tiny --format onnx --weights random --image-size 512 --out onnx/
    """
    import time

    from zoo.context import check_out_dir
    from zoo.export.onnx import check_export_options, check_exportable, export_onnx, require_onnx
    from zoo.options import parse_extras, validate
    from zoo.registry import get_registry
    from zoo.running import make_context
    from zoo.specs import import_string

    given = {k: kwargs.pop(k) for k in list(kwargs) if k in LoadOptions.model_fields}
    load = validate(
        LoadOptions,
        {k: v for k, v in given.items() if v is not None},
        command="export",
        where=f"zoo export {name}",
    )
    opset_n, dtype_name = check_export_options(format, opset, dtype)
    if out is None:
        raise InputError("`zoo export` needs --out DIR for the exported graphs")
    check_out_dir(out)
    fam, variant = get_registry().resolve_name(name)
    label = variant.name if variant else fam.name
    load = load.model_copy(update={"device": "cpu"})
    rc = make_context(
        fam, variant, label, "export", parse_extras(list(ctx.args)), {}, load, as_json, err_console
    )
    check_exportable(import_string(fam.loader), fam.name)
    require_onnx()
    t0 = time.perf_counter()
    model = rc.load_model()
    config = {**(variant.config if variant else {}), **rc.model_options()}
    for k in ("max_batch", "test_mode"):  # not part of the graphs
        config.pop(k, None)
    from zoo.progress import showing_progress

    with showing_progress(err_console, enabled=not as_json):
        desc = export_onnx(model, out, opset=opset_n, dtype=dtype_name, config=config)
    report = {
        "model": model.label,
        "weights": model.weights,
        "format": "onnx",
        "opset": opset_n,
        "dtype": dtype_name,
        "graphs": {k: g["file"] for k, g in desc["graphs"].items()},
        "seconds": round(time.perf_counter() - t0, 1),
        "files": [str(out / g["file"]) for g in desc["graphs"].values()]
        + [str(out / "zoo-export.json")],
    }
    if load.random and not as_json:
        print_notes(["--weights random is the test mode; the graphs hold random weights"])
    if as_json:
        print_json(report)
    else:
        print_report(report)


def register(app: typer.Typer) -> None:
    """Add the command(s) to the ``zoo`` app (called by :func:`zoo.cli.create_app`)."""
    app.command("export", context_settings=EXTRA)(
        command(export_cmd, flags(LoadOptions, "export", only=("weights", "checkpoint", "seed")))
    )
