"""The ``zoo batch`` command (added to the app by :func:`zoo.cli.create_app`).

Importing this module costs typer only: the engine loads when the command runs, so
``zoo --help`` and ``zoo list`` stay free of torch and ray.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from zoo.cli.console import err_console, print_json, print_notes, print_report
from zoo.cli.params import command, flags
from zoo.options import LoadOptions

__all__ = ["register"]

HELP = """Run a model over many images or videos: a folder, a glob, a list, a manifest or COCO.

Examples:

  zoo batch sam2:tiny --input photos/ --boxes '10,10,200,200' --out out/

  zoo batch sam2:tiny --input manifest.jsonl --out out/ --format coco,parquet,png

  zoo batch sam2:tiny --input instances.json --images val2017/ --out out/   # COCO boxes

  zoo batch sameo-amodal --input photos/ --detections dets.json --out amodal/

  zoo batch sam2:tiny --input photos/ --everything --out out/ --engine ray --workers 4

Outputs: items/ (one record per item), results.json + images.json (COCO, loadRes-able),
results.jsonl, results.parquet/, masks/, overlays/, run.json, errors.jsonl. Re-running the
same command (or --resume) skips finished items. Exit code: 0 all items done, 3 some items
failed (listed in errors.jsonl), 2 bad command or input (nothing written).
Task and family options (e.g. --everything, --image-size) are listed by `zoo info NAME`.
"""


def batch_cmd(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Model, e.g. sam2:tiny (see `zoo list`).")],
    input: Annotated[
        str | None,
        typer.Option(
            "--input",
            help="Folder, glob, .txt list, .jsonl/.parquet manifest, "
            "COCO .json, or an s3:// gs:// https:// URI.",
        ),
    ] = None,
    out: Annotated[Path | None, typer.Option(help="Output folder.")] = None,
    boxes: Annotated[
        str | None, typer.Option(help='Boxes for every item "x1,y1,x2,y2;...".')
    ] = None,
    points: Annotated[str | None, typer.Option(help='Clicks for every item "x,y;x,y".')] = None,
    labels: Annotated[str | None, typer.Option(help='Click labels "1,0" (default 1).')] = None,
    prompts: Annotated[
        Path | None, typer.Option(help="Prompts JSON file used for every item.")
    ] = None,
    detections: Annotated[
        Path | None,
        typer.Option(help="COCO results JSON (detector boxes per image_id) as prompts."),
    ] = None,
    images: Annotated[
        Path | None, typer.Option(help="Image folder of a COCO --input (default: its folder).")
    ] = None,
    score_thr: Annotated[
        float | None, typer.Option(help="Drop COCO/detection boxes scoring below this.")
    ] = None,
    task: Annotated[
        str | None, typer.Option(help="Task to run when the family has several.")
    ] = None,
    engine: Annotated[str, typer.Option(help="local (default) or ray.")] = "local",
    workers: Annotated[
        int,
        typer.Option(help="Model processes (local: CPU share or one GPU each; ray: actors)."),
    ] = 1,
    address: Annotated[
        str | None, typer.Option(help="Ray cluster: auto or ray://host:10001 (default: local).")
    ] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Require an earlier run in --out and finish it.")
    ] = False,
    format: Annotated[
        str, typer.Option(help="Comma list of coco, jsonl, parquet, png, overlay.")
    ] = "coco",
    max_pixels: Annotated[
        int, typer.Option(help="Refuse (as a failed item) images larger than this.")
    ] = 100_000_000,
    no_progress: Annotated[bool, typer.Option("--no-progress", help="No progress bar.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    **kwargs: Any,
) -> None:
    from zoo.batch.api import EngineOptions, SourceOptions, fixed_prompts, prepare
    from zoo.errors import InputError
    from zoo.options import parse_extras, validate
    from zoo.registry import get_registry
    from zoo.running import choose_task
    from zoo.tasks.spec import RunInputs

    given = {k: kwargs.pop(k) for k in list(kwargs) if k in LoadOptions.model_fields}
    load = validate(
        LoadOptions,
        {k: v for k, v in given.items() if v is not None},
        command="batch",
        where=f"zoo batch {name}",
    )
    if input is None:
        raise InputError("`zoo batch` needs --input SRC (a folder, glob, list or manifest)")
    if out is None:
        raise InputError("`zoo batch` needs --out DIR for its outputs")
    raw = parse_extras(list(ctx.args))
    reg = get_registry()
    fam, _ = reg.resolve_name(name)
    spec = choose_task(reg, fam, RunInputs(boxes=boxes, points=points, prompts=None), raw, task)
    fixed = fixed_prompts(spec, boxes=boxes, points=points, labels=labels, prompts_file=prompts)
    run = prepare(
        name,
        input,
        out=out,
        formats=format,
        load=load,
        options=raw,
        task=task,
        fixed=fixed,
        source=SourceOptions(detections, images, score_thr, max_pixels),
        engine=EngineOptions(engine, workers, address),
        resume=resume,
        progress=not (no_progress or as_json),
        console=err_console,
    )
    for _ in run:
        pass
    report: dict[str, Any] = dict(run.report)
    if load.random and not as_json:
        print_notes(["--weights random is the test mode; outputs are not real predictions"])
    if as_json:
        print_json(report)
    else:
        print_report(report)
    if run.exit_code:
        err_console.print(
            f"[yellow]{report.get('failed_total', report['failed'])} item(s) failed; "
            f"reasons in {Path(str(out)) / 'errors.jsonl'} (exit code {run.exit_code})[/]"
        )
        raise typer.Exit(run.exit_code)


def register(app: typer.Typer) -> None:
    """Add ``batch`` to ``app``."""
    app.command(
        "batch",
        help=HELP,
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    )(command(batch_cmd, flags(LoadOptions, "batch", panel="Loading")))
