"""The ``zoo batch`` command (registered on the main app by :mod:`zoo.cli`).

Importing this module costs typer only: the engine loads when the command runs, so
``zoo --help`` and ``zoo list`` stay free of torch and ray.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from zoo.cli_common import BackendOpt

__all__ = ["register"]

HELP = """Run a model over many images or videos: a folder, a glob, a list, a manifest or COCO.

Examples:

  zoo batch sam2:tiny --input photos/ --boxes '10,10,200,200' --out out/

  zoo batch sam2:tiny --input manifest.jsonl --out out/ --format coco,parquet,png

  zoo batch sam2:tiny --input instances.json --images val2017/ --out out/   # COCO boxes

  zoo batch sam2:tiny --input photos/ --everything --out out/ --engine ray --workers 4

Outputs: items/ (one record per item), results.json + images.json (COCO, loadRes-able),
results.jsonl, results.parquet/, masks/, overlays/, run.json, errors.jsonl. Re-running the
same command (or --resume) skips finished items. Exit code: 0 all items done, 3 some items
failed (listed in errors.jsonl), 2 bad command or input (nothing written).
Family options (e.g. --image-size) are listed by `zoo info NAME`.
"""


def register(app: typer.Typer) -> None:
    """Add ``batch`` to ``app``."""

    @app.command(
        "batch",
        help=HELP,
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    )
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
        labels: Annotated[str | None, typer.Option(help='Click labels "1,0".')] = None,
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
        device: Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")] = "auto",
        dtype: Annotated[str | None, typer.Option(help="float32, bfloat16 or float16.")] = None,
        checkpoint: Annotated[
            str | None, typer.Option(help="Custom weights PATH or NAME=PATH.")
        ] = None,
        weights: Annotated[
            str | None, typer.Option(help="'random': TEST MODE (labelled in every output).")
        ] = None,
        seed: Annotated[int | None, typer.Option(help="Random seed (test-mode init).")] = None,
        backend: BackendOpt = "torch",
        no_progress: Annotated[
            bool, typer.Option("--no-progress", help="No progress bar.")
        ] = False,
        as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    ) -> None:
        from zoo import cli as zcli
        from zoo.batch.api import prepare
        from zoo.errors import InputError
        from zoo.loading import RANDOM
        from zoo.runners import parse_extras

        if input is None:
            raise InputError("`zoo batch` needs --input SRC (a folder, glob, list or manifest)")
        if out is None:
            raise InputError("`zoo batch` needs --out DIR for its outputs")
        if weights not in (None, RANDOM, "pretrained"):
            raise InputError(
                f"--weights takes 'random' or 'pretrained', got {weights!r}; "
                "use --checkpoint PATH for a file"
            )
        run = prepare(
            name,
            input,
            out=out,
            formats=format,
            task=task,
            options=parse_extras(list(ctx.args)),
            boxes=boxes,
            points=points,
            labels=labels,
            prompts_file=prompts,
            detections=detections,
            images_dir=images,
            score_thr=score_thr,
            max_pixels=max_pixels,
            device=device,
            weights=weights,
            checkpoint=zcli._checkpoint_arg(checkpoint),
            dtype=dtype,
            seed=seed,
            backend=backend,
            engine=engine,
            workers=workers,
            address=address,
            resume=resume,
            progress=not (no_progress or as_json),
            console=zcli.err_console,
        )
        for _ in run:
            pass
        report: dict[str, Any] = dict(run.report)
        if weights == RANDOM and not as_json:
            zcli.err_console.print(
                "[yellow]note: --weights random is the test mode; outputs are not real "
                "predictions[/]"
            )
        if as_json:
            zcli._print_json(report)
        else:
            zcli._print_report(report)
        if run.exit_code:
            zcli.err_console.print(
                f"[yellow]{report.get('failed_total', report['failed'])} item(s) failed; "
                f"reasons in {Path(str(out)) / 'errors.jsonl'} (exit code {run.exit_code})[/]"
            )
            raise typer.Exit(run.exit_code)
