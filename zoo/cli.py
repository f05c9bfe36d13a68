"""The ``zoo`` command line.

Start-up must stay cheap: ``zoo list``, ``zoo info`` and ``zoo --help`` never import torch
(the registry holds only specs and ``"module:Class"`` strings). Every user error is a
:class:`zoo.errors.ZooError`, printed as one line on stderr with exit code 2.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from zoo import __version__
from zoo.cli_common import (
    EXTRA,
    BackendOpt,
    CkptOpt,
    DeviceOpt,
    JsonOpt,
    SeedOpt,
    WeightsOpt,
    _checkpoint_arg,
    _human_size,
    _print_json,
    _print_report,
    _registry,
    console,
    err_console,
)
from zoo.errors import InputError, ZooError, cli_surface
from zoo.model_rows import _human_params, _options_rows, _size_cell, _variant_row

app = typer.Typer(
    name="zoo",
    help=(
        "sam-zoo: the Segment-Anything research family behind one registry.\n\n"
        "Examples:\n\n"
        "  zoo list '*sam2*'                      # what is available\n\n"
        "  zoo info sam2:tiny                      # model card, weights, licence\n\n"
        "  zoo run sam2:tiny --image photo.jpg --boxes '10,10,200,200' --out masks/\n\n"
        "Set ZOO_OFFLINE=1 to forbid the network; ZOO_HOME moves the cache (~/.cache/zoo)."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
cache_app = typer.Typer(help="Inspect and manage downloaded checkpoints.", no_args_is_help=True)
app.add_typer(cache_app, name="cache")


# --------------------------------------------------------------------------- list / info


@app.command("list")
def list_cmd(
    pattern: Annotated[
        str | None, typer.Argument(help="Wildcard, e.g. '*sam2*' or 'sam2:t*'.")
    ] = None,
    task: Annotated[str | None, typer.Option(help="Only models implementing this task.")] = None,
    wide: Annotated[
        bool, typer.Option("--wide", help="Also show licence and weights source.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """List every registered model variant (family:tag).

    Columns: name, task, params, size (all files), cached (every file present).
    --wide adds licence and source; --json prints everything.
    """
    from zoo.specs import Task

    if task is not None and task not in {t.value for t in Task}:
        raise InputError(f"unknown task {task!r}; choose one of {', '.join(t.value for t in Task)}")
    reg = _registry()
    rows = [_variant_row(reg, v) for v in reg.list_models(pattern, task)]
    if as_json:
        _print_json(rows)
        return
    if not rows:
        err_console.print(f"no model matches {pattern!r}" + (f" with task {task}" if task else ""))
        return
    table = Table(box=None, pad_edge=False, header_style="bold")
    cols = ["name", "task", "params", "size", "cached"] + (["licence", "source"] if wide else [])
    for col in cols:
        justify = "right" if col in ("params", "size") else "left"
        table.add_column(col, no_wrap=col != "source", justify=justify)  # type: ignore[arg-type]
    for r in rows:
        cached = {True: "[green]yes[/]", False: "no", None: "-"}[r["cached"]]
        name = r["name"] + (" *" if r["default"] else "") + (" (local)" if r["local"] else "")
        cells = [name, ",".join(r["tasks"]), _human_params(r["params"]), _size_cell(r), cached]
        if wide:
            src = r["weights"] or "-"
            if "://" in src:
                src = src.split("@")[0]
            cells += [r["license"] or "?", src]
        table.add_row(*cells)
    console.print(table)
    err_console.print("[dim]* default tag of its family; `zoo info NAME` for details[/]")
    if reg.warnings or any(p.error for p in reg.plugins):
        err_console.print("[yellow]some plugins had problems; run `zoo plugins` for details[/]")


def _print_options(options: list[dict[str, Any]]) -> None:
    """Options as a definition list that reads well at 80 columns and in a pipe:
    ``--flag TYPE (commands; default: X)`` then the help, wrapped and indented."""
    import textwrap

    width = max(40, min(console.width, 100))
    console.print("[bold]options[/] (family-specific; `zoo info NAME --json` lists every field)")
    for o in options:
        flag = o["option"] + ("" if o["type"] == "bool" else f" {o['type'].upper()}")
        meta = ", ".join(o["commands"])
        if o["default"] not in (None, False):
            meta += f"; default {o['default']}"
        if o["aliases"]:
            meta += f"; also {', '.join(o['aliases'])}"
        console.print(f"  [cyan]{escape(flag)}[/]  [dim]({escape(meta)})[/]", highlight=False)
        for line in textwrap.wrap(o["help"], width - 6):
            console.print(f"      {escape(line)}", highlight=False)


@app.command("info")
def info_cmd(
    name: Annotated[str, typer.Argument(help="Model name, e.g. sam2:tiny.")],
    as_json: JsonOpt = False,
) -> None:
    """Show a model's card: paper, licence, upstream code, weights, tasks, reported metrics."""
    from zoo.cards import load_card

    reg = _registry()
    fam, variant = reg.resolve_name(name)
    card_path = (variant.card if variant and variant.card else None) or fam.card
    card = load_card(card_path) if card_path else None
    row = _variant_row(reg, variant) if variant else {"name": fam.name, "files": {}}
    options = _options_rows(fam)
    if as_json:
        _print_json(
            {
                **row,
                "options": options,
                "card": card.model_dump(mode="json", exclude={"body"}) if card else None,
            }
        )
        return
    from rich.markdown import Markdown
    from rich.panel import Panel

    lines = [f"[bold]{escape(row['name'])}[/]  tasks: {', '.join(t.value for t in fam.tasks)}"]
    if variant is not None:
        if variant.description:
            lines.append(escape(variant.description))
        lines.append(f"params:  {_human_params(variant.params)}")
        files = row["files"]
        for key, f in files.items():
            label = f"file {key}" if len(files) > 1 or key != "model" else "weights"
            if not f["published"]:
                note = f" ({escape(f['note'])})" if f["note"] else ""
                lines.append(f"{label}: not published{note}; use --checkpoint")
                continue
            extra = f"  (same file as {f['same_as']})" if f["same_as"] else ""
            extra += "  (fetched only when needed)" if f["optional"] else ""
            lines += [
                f"{label}: {escape(f['uri'] or '?')}{extra}",
                f"  sha256: {f['sha256'] or 'unknown (not published)'}",
                f"  size:   {_human_size(f['size'], 'unknown (not published)')}",
            ]
        if files:
            lines.append(f"cached:  {'yes' if row.get('cached') else 'no'}")
        elif fam.requires_weights:
            note = f" ({escape(fam.weights_note)})" if fam.weights_note else ""
            lines.append(f"weights: none registered{note}; use --checkpoint PATH")
        else:
            lines.append("weights: none needed (no learned parameters)")
        if variant.local:
            lines.append(f"trained here: {escape(variant.source)}")
    if card:
        z = card.zoo
        lines.append(f"licence: {escape(card.license_label)}")
        if z.paper:
            lines.append(
                f"paper:   {z.paper.title}"
                + (f" (arXiv {z.paper.arxiv})" if z.paper.arxiv else "")
                + (f", {z.paper.venue}" if z.paper.venue else "")
            )
        if z.upstream:
            lines.append(
                f"code:    {z.upstream.repo}"
                + (f" @ {z.upstream.commit[:12]}" if z.upstream.commit else "")
                + (f" ({z.upstream.license})" if z.upstream.license else "")
            )
    lines.append(f"plugin:  {fam.source}")
    console.print(Panel("\n".join(lines), title="zoo info", expand=False))
    if options:
        _print_options(options)
    if card and card.zoo.reported_metrics:
        t = Table(
            title="metrics reported by the authors (not re-measured by sam-zoo)",
            title_justify="left",
        )
        for col in ("variant", "dataset", "metric", "value", "baseline", "note"):
            t.add_column(col)
        for m in card.zoo.reported_metrics:
            base = (
                ""
                if m.baseline is None
                else f"{m.baseline:g}" + (f" ({m.baseline_name})" if m.baseline_name else "")
            )
            t.add_row(
                m.variant or "-", m.dataset, m.metric, f"{m.value:g}", base, m.setting or m.source
            )
        console.print(t)
    if card and card.body.strip():
        console.print(Markdown(card.body))


# --------------------------------------------------------------------------- pull / cache


@app.command("pull")
def pull_cmd(
    name: Annotated[str, typer.Argument(help="Model name, e.g. sam2:tiny.")],
    as_json: JsonOpt = False,
) -> None:
    """Download every file of a model into the cache, verifying each sha256."""
    from zoo import weights
    from zoo.loading import resolve_files

    reg = _registry()
    fam, variant = reg.resolve_name(name)
    label = variant.name if variant else fam.name
    if variant is not None and not variant.checkpoints and not fam.requires_weights:
        if as_json:
            _print_json({"name": label, "files": {}})
        else:
            console.print(f"[green]ok[/] {label} has no learned weights: nothing to download")
        return
    with weights.without_checkpoint_option():  # `zoo pull` has no --checkpoint to suggest
        paths = resolve_files(variant, fam, label, progress=not as_json, include_optional=True)
    rows: dict[str, dict[str, Any]] = {}
    for key, path in paths.items():
        rows[key] = {
            "path": str(path),
            "size": path.stat().st_size,
            "sha256": weights.sha256_file(path),
        }
    if as_json:
        _print_json({"name": label, "files": rows})
        return
    for key, r in rows.items():
        what = f"{label} ({key})" if len(rows) > 1 else label
        console.print(
            f"[green]ok[/] {escape(what)}: {escape(r['path'])} ({_human_size(r['size'])}, "
            f"sha256 {r['sha256'][:16]}...)"
        )


@cache_app.command("ls")
def cache_ls(as_json: JsonOpt = False) -> None:
    """List cached checkpoints with their sizes."""
    from zoo import weights

    entries = weights.list_cache()
    rows: list[dict[str, Any]] = [
        {
            "uri": e.uri,
            "path": str(e.path),
            "size": e.size,
            "sha256": e.sha256,
            "present": e.present,
        }
        for e in entries
    ]
    if as_json:
        _print_json({"cache_dir": str(weights.cache_dir()), "entries": rows})
        return
    table = Table(title=f"cache: {weights.cache_dir()}", title_justify="left")
    for col in ("uri", "size", "sha256", "present"):
        table.add_column(col)
    total = 0
    for r in rows:
        total += r["size"] or 0
        table.add_row(
            r["uri"],
            _human_size(r["size"]),
            (r["sha256"] or "?")[:16],
            "yes" if r["present"] else "[red]missing[/]",
        )
    console.print(table)
    console.print(f"{len(rows)} entries, {_human_size(total)}")


@cache_app.command("rm")
def cache_rm(
    target: Annotated[str, typer.Argument(help="A model name, a URI, or a sha256 prefix.")],
    as_json: JsonOpt = False,
) -> None:
    """Remove cached files (by model name, URI or sha256 prefix)."""
    from zoo import weights
    from zoo.errors import UnknownModelError

    keys = [target]
    try:
        _, variant = _registry().resolve_name(target)
        if variant is not None and variant.checkpoints:
            keys = [w.uri for w in variant.checkpoints.values() if w.uri]
    except UnknownModelError:
        pass
    removed = [p for key in keys for p in weights.remove_from_cache(key)]
    if not removed:
        raise InputError(f"nothing in the cache matches {target!r}; see `zoo cache ls`")
    if as_json:
        _print_json({"removed": [str(p) for p in removed]})
    else:
        for p in removed:
            console.print(f"removed {p}")


@cache_app.command("verify")
def cache_verify(as_json: JsonOpt = False) -> None:
    """Re-hash every cached file and report mismatches (exit 1 if any)."""
    from zoo import weights

    results = weights.verify_cache()
    rows: list[dict[str, Any]] = [
        {"uri": e.uri, "ok": ok, "message": msg} for e, ok, msg in results
    ]
    if as_json:
        _print_json(rows)
    else:
        for r in rows:
            mark = "[green]ok[/]" if r["ok"] else "[red]BAD[/]"
            console.print(f"{mark} {r['uri']} {r['message']}")
        console.print(f"{sum(r['ok'] for r in rows)}/{len(rows)} verified")
    if not all(r["ok"] for r in rows):
        raise typer.Exit(1)


# --------------------------------------------------------------------------- run / eval / train


def _dispatch(
    command: str, name: str, ctx: typer.Context, options: dict[str, Any], as_json: bool
) -> None:
    """Resolve the name once, check every option, then hand off to the family's runner."""
    from zoo.loading import RANDOM
    from zoo.runners import RunContext, parse_extras, parse_options, run_promptable
    from zoo.specs import Task, import_string

    reg = _registry()
    fam, variant = reg.resolve_name(name)
    if options.get("weights") not in (None, RANDOM, "pretrained"):
        raise InputError(
            f"--weights takes 'random' or 'pretrained', got {options['weights']!r}; "
            "use --checkpoint PATH for a file"
        )
    ref = {"run": fam.runner, "eval": fam.evaluator, "train": fam.trainer}[command]
    core = ref is None and command in ("run", "eval") and Task.PROMPTABLE in fam.tasks
    if core and command == "run":
        fn: Any = run_promptable
    elif core:
        from zoo.evaluation import evaluate_promptable

        fn = evaluate_promptable
    elif ref is None:
        raise InputError(
            f"`zoo {command}` is not available for {fam.name} (it has no {command} command)"
        )
    else:
        fn = import_string(ref)
    given: set[str] = set()
    values = parse_options(
        fam, command, parse_extras(list(ctx.args)), core_runner=core, given=given
    )
    rc = RunContext(
        name=variant.name if variant else fam.name,
        family=fam,
        variant=variant,
        command=command,
        options=options,
        values=values,
        as_json=as_json,
        console=err_console,
        explicit=given,
    )
    report = fn(rc)
    if str(options.get("weights") or "") == RANDOM and not as_json:
        err_console.print(
            "[yellow]note: --weights random is the test mode; outputs are not real predictions[/]"
        )
    if as_json:
        _print_json(report)
    elif report:
        _print_report(report)


@app.command("run", context_settings=EXTRA)
def run_cmd(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Model, e.g. sam2:tiny (see `zoo list`).")],
    image: Annotated[Path | None, typer.Option(help="Input image.")] = None,
    video: Annotated[
        Path | None, typer.Option(help="Frame folder or video file (video models).")
    ] = None,
    depth: Annotated[Path | None, typer.Option(help="Depth map (rgbd models).")] = None,
    boxes: Annotated[
        str | None, typer.Option(help='Boxes "x1,y1,x2,y2;x1,y1,x2,y2" (pixels).')
    ] = None,
    points: Annotated[
        str | None, typer.Option(help='Clicks "x,y;x,y" (pixels); needs --labels.')
    ] = None,
    labels: Annotated[
        str | None, typer.Option(help='Click labels "1,0": 1 foreground, 0 background.')
    ] = None,
    prompts: Annotated[
        Path | None, typer.Option(help='JSON: [{"box": [..]}, {"points": [[x,y]], "labels": [1]}].')
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Output folder (created; written atomically).")
    ] = None,
    format: Annotated[
        str,
        typer.Option(
            help="Comma list: png (a PNG per mask), coco (results.json, COCO results), "
            "json (result.json, lossless), overlay."
        ),
    ] = "png,coco,overlay",
    device: DeviceOpt = "auto",
    dtype: Annotated[str | None, typer.Option(help="float32, bfloat16 or float16.")] = None,
    checkpoint: CkptOpt = None,
    weights: WeightsOpt = None,
    seed: SeedOpt = None,
    backend: BackendOpt = "torch",
    as_json: JsonOpt = False,
) -> None:
    """Run a model on an image/video and write masks, a COCO RLE JSON and an overlay.

    Family-specific options (e.g. --pathways for sam2long-video) are listed by `zoo info NAME`.
    """
    opts = dict(
        image=image,
        video=video,
        depth=depth,
        boxes=boxes,
        points=points,
        labels=labels,
        prompts=prompts,
        out=out,
        format=format,
        device=device,
        dtype=dtype,
        checkpoint=_checkpoint_arg(checkpoint),
        weights=weights,
        seed=seed,
        backend=backend,
    )
    _dispatch("run", name, ctx, opts, as_json)


@app.command("eval", context_settings=EXTRA)
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
    device: DeviceOpt = "auto",
    checkpoint: CkptOpt = None,
    weights: WeightsOpt = None,
    seed: SeedOpt = None,
    backend: BackendOpt = "torch",
    as_json: JsonOpt = False,
) -> None:
    """Evaluate a model on a dataset and print its metric table (options: `zoo info NAME`)."""
    opts = dict(
        dataset=dataset,
        annotations=annotations,
        images=images,
        compare=compare,
        out=out,
        device=device,
        checkpoint=_checkpoint_arg(checkpoint),
        weights=weights,
        seed=seed,
        backend=backend,
    )
    _dispatch("eval", name, ctx, opts, as_json)


@app.command("train", context_settings=EXTRA)
def train_cmd(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Family to train or adapt.")],
    annotations: Annotated[
        Path | None, typer.Option(help="COCO-style training annotations.")
    ] = None,
    images: Annotated[Path | None, typer.Option(help="Training image folder.")] = None,
    out: Annotated[Path | None, typer.Option(help="Checkpoint folder.")] = None,
    device: DeviceOpt = "auto",
    checkpoint: CkptOpt = None,
    weights: WeightsOpt = None,
    seed: SeedOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Train or adapt a family (families that train; options: `zoo info NAME`)."""
    opts = dict(
        annotations=annotations,
        images=images,
        out=out,
        device=device,
        checkpoint=_checkpoint_arg(checkpoint),
        weights=weights,
        seed=seed,
    )
    _dispatch("train", name, ctx, opts, as_json)


# Commands that live with their feature (typer only at import: no torch, no fastapi, no onnx)
from zoo.batch.cli import register as _register_batch  # noqa: E402
from zoo.doctor import register as _register_doctor  # noqa: E402
from zoo.export.cli import register as _register_export  # noqa: E402
from zoo.serve.cli import register as _register_serve  # noqa: E402

_register_serve(app)
_register_batch(app)
_register_export(app)
_register_doctor(app)


def _version_callback(value: bool) -> None:
    if value:
        console.print(f"sam-zoo {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_version_callback,
            is_eager=True,
            help="Print the version and exit.",
        ),
    ] = False,
) -> None:
    """sam-zoo command line."""


_PLUGIN_COMMANDS_ADDED = False


def _register_plugin_commands() -> None:
    """Let plugins add sub-commands (hook ``zoo_register_commands``), once per process."""
    global _PLUGIN_COMMANDS_ADDED
    if _PLUGIN_COMMANDS_ADDED:
        return
    _PLUGIN_COMMANDS_ADDED = True
    try:
        reg = _registry()
    except Exception:  # the registry itself failing is reported by `zoo doctor`
        return
    if reg.pm is not None:
        for impl in reg.pm.hook.zoo_register_commands.get_hookimpls():
            try:
                impl.function(app)
            except Exception as exc:
                reg.warnings.append(f"plugin {impl.plugin_name} failed to add commands: {exc}")


def main(argv: list[str] | None = None) -> None:
    """Console entry point: user errors become one line on stderr and exit code 2."""
    _register_plugin_commands()
    try:
        with cli_surface():
            app(args=argv, prog_name="zoo")
    except ZooError as exc:
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        err_console.print(f"[red]error:[/] {escape(msg)}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)


if __name__ == "__main__":
    main()
