"""The ``zoo export`` command (registered on the main app by :mod:`zoo.cli`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from zoo.cli_common import (
    EXTRA,
    CkptOpt,
    JsonOpt,
    SeedOpt,
    WeightsOpt,
    _checkpoint_arg,
    _print_json,
    _print_report,
    _registry,
    err_console,
)
from zoo.errors import InputError


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
    checkpoint: CkptOpt = None,
    weights: WeightsOpt = None,
    seed: SeedOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Export a model's image encoder and prompt decoder (dynamic number of prompts).

    Writes DIR/encoder.onnx, DIR/decoder.onnx and DIR/zoo-export.json (inputs, sizes,
    pre/post-processing, weights sha256). Loader options (e.g. --image-size) apply as in
    `zoo run`. Needs the onnx extra: pip install 'sam-zoo\\[onnx]'.
    """
    import time

    from zoo.export.onnx import check_export_options, check_exportable, require_onnx
    from zoo.loading import RANDOM
    from zoo.runners import RunContext, check_out_dir, parse_extras, parse_options
    from zoo.specs import import_string

    if weights not in (None, RANDOM, "pretrained"):
        raise InputError(
            f"--weights takes 'random' or 'pretrained', got {weights!r}; "
            "use --checkpoint PATH for a file"
        )
    opset_n, dtype_name = check_export_options(format, opset, dtype)
    if out is None:
        raise InputError("`zoo export` needs --out DIR for the exported graphs")
    check_out_dir(out)
    fam, variant = _registry().resolve_name(name)
    given: set[str] = set()
    values = parse_options(fam, "export", parse_extras(list(ctx.args)), given=given)
    check_exportable(import_string(fam.loader), fam.name)
    require_onnx()
    rc = RunContext(
        name=variant.name if variant else fam.name,
        family=fam,
        variant=variant,
        command="export",
        options=dict(
            device="cpu", checkpoint=_checkpoint_arg(checkpoint), weights=weights, seed=seed
        ),
        values=values,
        as_json=as_json,
        console=err_console,
        explicit=given,
    )
    from zoo.export.onnx import export_onnx

    t0 = time.perf_counter()
    model = rc.load_model()
    config = {**(variant.config if variant else {}), **rc.model_options()}
    for k in ("max_batch", "test_mode"):  # not part of the graphs
        config.pop(k, None)
    from zoo.progress import showing_progress

    with showing_progress(err_console, enabled=not as_json):
        desc = export_onnx(model, out, opset=opset_n, dtype=dtype_name, config=config)
    report = {
        "model": model.name,
        "weights": model.weights,
        "format": "onnx",
        "opset": opset_n,
        "dtype": dtype_name,
        "graphs": {k: g["file"] for k, g in desc["graphs"].items()},
        "seconds": round(time.perf_counter() - t0, 1),
        "files": [str(out / g["file"]) for g in desc["graphs"].values()]
        + [str(out / "zoo-export.json")],
    }
    if str(weights or "") == RANDOM and not as_json:
        err_console.print(
            "[yellow]note: --weights random is the test mode; the graphs hold random weights[/]"
        )
    if as_json:
        _print_json(report)
    else:
        _print_report(report)


def register(app: typer.Typer) -> None:
    """Add the command(s) to the ``zoo`` app (called by :mod:`zoo.cli`)."""
    app.command("export", context_settings=EXTRA)(export_cmd)
