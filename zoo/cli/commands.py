"""``zoo run``, ``zoo eval`` and ``zoo train``: read the flags, hand off to the core.

The shared flags (``--device``, ``--weights``...) are generated from
:class:`~zoo.options.LoadOptions`; task and family options (``--detections``,
``--pathways``...) arrive as extra arguments and are checked against their declarations
by :mod:`zoo.running`, :mod:`zoo.evaluating` and :mod:`zoo.training.command` before any
work starts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from zoo.options import LoadOptions, parse_extras, validate

from .console import print_json, print_notes, print_report
from .params import command, flags

EXTRA = {"allow_extra_args": True, "ignore_unknown_options": True}
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]

RUN_HELP = """Run a model on an image or a video and write masks, COCO JSON and an overlay.

The task follows from the flags (or --task): boxes/clicks (promptable), --everything,
--detections (amodal), --objects/--shadows (shadow), --depth (rgbd), --video (video).
Task and family options (e.g. --pathways for sam2long-video) are listed by
`zoo info NAME`. Without --out the outputs go to zoo-runs/<model>/<input>/.

Examples:

  zoo run sam2:tiny --image photo.jpg --boxes "370,170,447,340;505,140,585,340" --out masks/

  zoo run sam2:tiny --image photo.jpg --points "475,260;545,160" --labels "1,0"

  zoo run sam2:tiny --image photo.jpg --everything --points-per-side 16

  zoo run sameo-amodal --image photo.jpg --detections dets.json --out amodal/

  zoo run opseg-shadow --image shadow.jpg --objects "10,10,90,90" --shadows "80,60,160,120"

  zoo run sam2long-video --video video/ --boxes "1:10,20,200,240;2:300,40,420,200" \\
      --points "1:120,80" --out tracks/      # ID:x,y ties a click to object ID

Boxes are x1,y1,x2,y2 pixels (';' between boxes; a box crossing the image edge is
clipped), clicks x,y (--labels 1 foreground, 0 background; default all 1).
Add --weights random to try without downloading anything (test mode).
"""

EVAL_HELP = """Evaluate a model on a dataset with its protocol and print the metric table.

Each family follows its reference protocol (DAVIS J&F, COCO mask AP, SOBA's SOAP...) and
says which; `zoo info NAME` lists its options.

Examples:

  zoo eval sam2:tiny --annotations coco/annotations.json --images coco/images --out eval/

  zoo eval sam2long-video --dataset davis/ --weights random

  zoo eval sameo-amodal --annotations amodal/annotations.json --images amodal/images \\
      --gt-boxes --checkpoint decoder.pt
"""

TRAIN_HELP = """Train or adapt a family (families that train; options: `zoo info NAME`).

Examples:

  zoo train sameo-amodal --annotations amodal/annotations.json --images amodal/images \\
      --name mine --epochs 2

  zoo train opseg-shadow --annotations soba/annotations.json --images soba/images --name s1
"""


def _load_options(kwargs: dict[str, Any], where: str) -> LoadOptions:
    """The generated ``--device``... flags, validated by :class:`LoadOptions` (one line)."""
    given = {k: kwargs.pop(k) for k in list(kwargs) if k in LoadOptions.model_fields}
    return validate(
        LoadOptions, {k: v for k, v in given.items() if v is not None}, command="run", where=where
    )


def _finish(report: Any, load: LoadOptions, as_json: bool) -> None:
    from .console import err_console

    if load.random and not as_json:
        err_console.print(
            "[yellow]note: --weights random is the test mode; outputs are not real predictions[/]"
        )
    if as_json:
        print_json(report)
    elif report:
        print_report(report)


def run_cmd(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Model, e.g. sam2:tiny (see `zoo list`).")],
    image: Annotated[Path | None, typer.Option(help="Input image.")] = None,
    video: Annotated[
        Path | None, typer.Option(help="Frame folder or video file (video task).")
    ] = None,
    depth: Annotated[Path | None, typer.Option(help="Depth map (rgbd task).")] = None,
    boxes: Annotated[
        str | None, typer.Option(help='Boxes "x1,y1,x2,y2;x1,y1,x2,y2" (pixels).')
    ] = None,
    points: Annotated[
        str | None, typer.Option(help='Clicks "x,y;x,y" (pixels; video: "ID:x,y").')
    ] = None,
    labels: Annotated[
        str | None, typer.Option(help='Click labels "1,0": 1 foreground (default), 0 background.')
    ] = None,
    prompts: Annotated[
        Path | None,
        typer.Option(help='JSON: [{"box": [..]}, {"points": [[x,y]], "labels": [1]}].'),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(help="Output folder (written atomically; default zoo-runs/...)."),
    ] = None,
    format: Annotated[
        str,
        typer.Option(
            help="Comma list: png (a PNG per mask), coco (results.json, COCO results), "
            "json (result.json, lossless), overlay."
        ),
    ] = "png,coco,overlay",
    task: Annotated[
        str | None, typer.Option(help="The task to run when the family has several.")
    ] = None,
    as_json: JsonOpt = False,
    **kwargs: Any,
) -> None:
    from zoo.running import run_model
    from zoo.tasks.spec import RunInputs

    load = _load_options(kwargs, f"zoo run {name}")
    run = RunInputs(
        image=None if image is None else str(image),
        video=None if video is None else str(video),
        depth=None if depth is None else str(depth),
        boxes=boxes,
        points=points,
        labels=labels,
        prompts=None if prompts is None else str(prompts),
    )
    notes: list[str] = []
    from .console import err_console

    report = run_model(
        name,
        run,
        out=out,
        formats=format,
        load=load,
        raw=parse_extras(list(ctx.args)),
        task=task,
        as_json=as_json,
        console=err_console,
        notes=notes,
    )
    if not as_json:
        print_notes(notes)
    elif notes:
        report["notes"] = notes
    _finish(report, load, as_json)


def eval_cmd(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Model to evaluate.")],
    dataset: Annotated[
        Path | None, typer.Option(help="Dataset folder (layout depends on the family).")
    ] = None,
    annotations: Annotated[Path | None, typer.Option(help="COCO-style annotation JSON.")] = None,
    images: Annotated[Path | None, typer.Option(help="Image folder for --annotations.")] = None,
    compare: Annotated[
        str | None, typer.Option(help="Another model to evaluate side by side.")
    ] = None,
    out: Annotated[Path | None, typer.Option(help="Write predictions and metrics here.")] = None,
    as_json: JsonOpt = False,
    **kwargs: Any,
) -> None:
    from zoo.evaluating import evaluate_model

    from .console import err_console

    load = _load_options(kwargs, f"zoo eval {name}")
    shared = {
        "dataset": dataset,
        "annotations": annotations,
        "images": images,
        "compare": compare,
        "out": out,
    }
    report = evaluate_model(
        name,
        shared,
        load=load,
        raw=parse_extras(list(ctx.args)),
        as_json=as_json,
        console=err_console,
    )
    _finish(report, load, as_json)


def train_cmd(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Family to train or adapt.")],
    annotations: Annotated[
        Path | None, typer.Option(help="COCO-style training annotations.")
    ] = None,
    images: Annotated[Path | None, typer.Option(help="Training image folder.")] = None,
    out: Annotated[Path | None, typer.Option(help="Checkpoint folder.")] = None,
    as_json: JsonOpt = False,
    **kwargs: Any,
) -> None:
    from zoo.training.command import train_family

    from .console import err_console

    load = _load_options(kwargs, f"zoo train {name}")
    shared = {"annotations": annotations, "images": images, "out": out}
    report = train_family(
        name,
        shared,
        load=load,
        raw=parse_extras(list(ctx.args)),
        as_json=as_json,
        console=err_console,
    )
    _finish(report, load, as_json)


def register(app: typer.Typer) -> None:
    """Add run, eval and train to ``app``."""
    load = "Loading"
    app.command("run", context_settings=EXTRA, help=RUN_HELP)(
        command(run_cmd, flags(LoadOptions, "run", panel=load))
    )
    app.command("eval", context_settings=EXTRA, help=EVAL_HELP)(
        command(eval_cmd, flags(LoadOptions, "eval", panel=load))
    )
    app.command("train", context_settings=EXTRA, help=TRAIN_HELP)(
        command(train_cmd, flags(LoadOptions, "train", panel=load))
    )
