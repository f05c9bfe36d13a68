"""The ``zoo`` command line.

Start-up must stay cheap: ``zoo list``, ``zoo info`` and ``zoo --help`` never import torch
(the registry holds only specs and ``"module:Class"`` strings). Every user error is a
:class:`zoo.errors.ZooError`, printed as one line on stderr with exit code 2.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from zoo import __version__
from zoo.errors import InputError, ZooError, cli_surface

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

console = Console()
err_console = Console(stderr=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
EXTRA = {"allow_extra_args": True, "ignore_unknown_options": True}


def _print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, default=str) + "\n")


def _registry() -> Any:
    from zoo.registry import get_registry

    return get_registry()


def _human_size(n: int | None) -> str:
    if n is None:
        return "?"
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} GB"


def _human_params(n: int | None) -> str:
    if not n:
        return "?"
    return f"{n / 1e6:.1f}M"


def _is_cached(v: Any) -> bool | None:
    if v.weights is None:
        return None
    from zoo import weights

    try:
        return bool(weights.is_cached(v.weights.uri, v.weights.sha256))
    except Exception:
        return None


def _variant_row(reg: Any, v: Any) -> dict[str, Any]:
    fam = reg.families[v.family]
    w = v.weights
    return {
        "name": v.name,
        "family": v.family,
        "tag": v.tag,
        "default": v.tag == fam.default_tag,
        "tasks": [t.value for t in fam.tasks],
        "params": v.params,
        "size": w.size if w else None,
        "license": (w.license if w and w.license else None) or fam.license,
        "weights": w.uri if w else None,
        "sha256": w.sha256 if w else None,
        "plugin": fam.source,
        "cached": _is_cached(v),
        "aliases": v.aliases,
    }


# --------------------------------------------------------------------------- list / info


@app.command("list")
def list_cmd(
    pattern: Annotated[
        str | None, typer.Argument(help="Wildcard, e.g. '*sam2*' or 'sam2:t*'.")
    ] = None,
    task: Annotated[str | None, typer.Option(help="Only models implementing this task.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """List every registered model variant (family:tag)."""
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
    table = Table(title="sam-zoo models", title_justify="left")
    for col in ("name", "tasks", "params", "size", "licence", "weights", "cached"):
        table.add_column(col, no_wrap=col in ("name", "cached"))
    for r in rows:
        src = r["weights"] or "-"
        if "://" in src:
            src = src.split("@")[0]
        cached = {True: "[green]yes[/]", False: "no", None: "-"}[r["cached"]]
        name = r["name"] + (" [dim](default)[/]" if r["default"] else "")
        table.add_row(
            name,
            ",".join(r["tasks"]),
            _human_params(r["params"]),
            _human_size(r["size"]),
            r["license"] or "?",
            src,
            cached,
        )
    console.print(table)
    if reg.warnings or any(p.error for p in reg.plugins):
        err_console.print("[yellow]some plugins had problems; run `zoo plugins` for details[/]")


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
    row = _variant_row(reg, variant) if variant else {"name": fam.name}
    if as_json:
        _print_json(
            {
                **row,
                "options": fam.options,
                "card": card.model_dump(mode="json", exclude={"body"}) if card else None,
            }
        )
        return
    from rich.markdown import Markdown
    from rich.panel import Panel

    lines = [f"[bold]{row['name']}[/]  tasks: {', '.join(t.value for t in fam.tasks)}"]
    if variant and variant.weights:
        w = variant.weights
        lines += [
            f"weights: {w.uri}",
            f"sha256:  {w.sha256 or 'unknown (printed on first download)'}",
            f"size:    {_human_size(w.size)}   params: {_human_params(variant.params)}",
            f"cached:  {'yes' if row.get('cached') else 'no'}",
        ]
    elif variant is not None:
        lines.append("weights: none registered (use --checkpoint PATH)")
    if card:
        z = card.zoo
        lines.append(f"licence: {card.license}")
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
    if fam.options:
        t = Table(title="options for zoo run/eval/train", title_justify="left")
        t.add_column("option")
        t.add_column("meaning")
        for k, v in fam.options.items():
            t.add_row("--" + k.replace("_", "-"), escape(v))
        console.print(t)
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
    """Download a model's checkpoint into the cache, verifying its sha256."""
    from zoo import weights
    from zoo.model import resolve_weights

    reg = _registry()
    fam, variant = reg.resolve_name(name)
    with weights.without_checkpoint_option():  # `zoo pull` has no --checkpoint to suggest
        path = resolve_weights(
            variant,
            name=variant.name if variant else fam.name,
            progress=not as_json,
            note=fam.weights_note,
        )
    size = path.stat().st_size
    sha = weights.sha256_file(path)
    if as_json:
        _print_json({"name": name, "path": str(path), "size": size, "sha256": sha})
    else:
        console.print(f"[green]ok[/] {name}: {path} ({_human_size(size)}, sha256 {sha[:16]}...)")


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

    key = target
    try:
        _, variant = _registry().resolve_name(target)
        if variant is not None and variant.weights is not None:
            key = variant.weights.uri
    except UnknownModelError:
        pass
    removed = weights.remove_from_cache(key)
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
    from zoo.model import RANDOM
    from zoo.runners import RunContext, parse_extras, run_promptable
    from zoo.specs import Task, import_string

    reg = _registry()
    fam, variant = reg.resolve_name(name)
    if options.get("weights") not in (None, RANDOM, "pretrained"):
        raise InputError(
            f"--weights takes 'random' or 'pretrained', got {options['weights']!r}; "
            "use --checkpoint PATH for a file"
        )
    ref = {"run": fam.runner, "eval": fam.evaluator, "train": fam.trainer}[command]
    if ref is None and command == "run" and Task.PROMPTABLE in fam.tasks:
        fn: Any = run_promptable
    elif ref is None:
        raise InputError(
            f"`zoo {command}` is not available for {fam.name} (it has no {command} command)"
        )
    else:
        fn = import_string(ref)
    rc = RunContext(
        name=name,
        family=fam,
        variant=variant,
        command=command,
        options=options,
        extras=parse_extras(list(ctx.args)),
        as_json=as_json,
        console=err_console,
    )
    report = fn(rc)
    if options.get("weights") == RANDOM and not as_json:
        err_console.print(
            "[yellow]note: weights=random is the test mode; outputs are not real predictions[/]"
        )
    if as_json:
        _print_json(report)
    elif report:
        _print_report(report)


def _print_report(report: dict[str, Any]) -> None:
    table = report.pop("table", None)
    if table:
        t = Table(title=table.get("title", ""), title_justify="left")
        for c in table["columns"]:
            t.add_column(str(c))
        for row in table["rows"]:
            t.add_row(*[f"{v:.4f}" if isinstance(v, float) else str(v) for v in row])
        console.print(t)
    for k, v in report.items():
        if k == "files" and isinstance(v, list):
            console.print(f"files: {len(v)} written" + (f" to {Path(v[0]).parent}" if v else ""))
        else:
            console.print(f"{k}: {v}")


DeviceOpt = Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")]
WeightsOpt = Annotated[
    str | None,
    typer.Option(
        help="'random': the architecture at random init (TEST MODE, labelled in every output)."
    ),
]
CkptOpt = Annotated[
    Path | None, typer.Option(help="Load custom/fine-tuned weights into this family.")
]


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
    format: Annotated[str, typer.Option(help="Comma list of png, coco, json.")] = "png,coco",
    device: DeviceOpt = "auto",
    dtype: Annotated[str | None, typer.Option(help="float32, bfloat16 or float16.")] = None,
    checkpoint: CkptOpt = None,
    weights: WeightsOpt = None,
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
        checkpoint=checkpoint,
        weights=weights,
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
        checkpoint=checkpoint,
        weights=weights,
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
    as_json: JsonOpt = False,
) -> None:
    """Train or adapt a family (families that train; options: `zoo info NAME`)."""
    opts = dict(
        annotations=annotations,
        images=images,
        out=out,
        device=device,
        checkpoint=checkpoint,
        weights=weights,
    )
    _dispatch("train", name, ctx, opts, as_json)


# --------------------------------------------------------------------------- plugins / doctor


@app.command("plugins")
def plugins_cmd(as_json: JsonOpt = False) -> None:
    """Installed plugins: distribution, version, hooks, and load errors."""
    reg = _registry()
    rows = [
        {
            "name": p.name,
            "distribution": p.distribution,
            "version": p.version,
            "module": p.module,
            "builtin": p.builtin,
            "hooks": p.hooks,
            "error": p.error,
            "families": sorted(
                f.name for f in reg.families.values() if f.source in (p.distribution, p.name)
            ),
        }
        for p in reg.plugins
    ]
    if as_json:
        _print_json({"plugins": rows, "warnings": reg.warnings})
        return
    table = Table(title="zoo plugins", title_justify="left")
    for col in ("plugin", "distribution", "version", "families", "hooks", "status"):
        table.add_column(col)
    for r in rows:
        status = f"[red]failed: {r['error']}[/]" if r["error"] else "[green]ok[/]"
        table.add_row(
            r["name"],
            r["distribution"] or "?",
            r["version"] or "?",
            ", ".join(r["families"]) or "-",
            ", ".join(h.replace("zoo_register_", "") for h in r["hooks"]),
            status,
        )
    console.print(table)
    for w in reg.warnings:
        err_console.print(f"[yellow]warning:[/] {w}")


def _hub_reachable(url: str, timeout: float) -> str:
    import urllib.error
    import urllib.request

    try:
        req = urllib.request.Request(url, method="HEAD")
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return f"reachable (HTTP {resp.status})"
    except urllib.error.HTTPError as exc:
        return f"reachable (HTTP {exc.code})"
    except Exception as exc:
        reason = getattr(exc, "reason", exc)
        return f"unreachable ({type(exc).__name__}: {reason})"


@app.command("doctor")
def doctor_cmd(
    as_json: JsonOpt = False,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for each hub.")] = 2.0,
) -> None:
    """Check the environment: python, torch, CUDA, cache, offline switches, plugins, hubs."""
    import platform

    from zoo import weights

    info: dict[str, Any] = {
        "zoo": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
    try:
        import torch

        info["torch"] = torch.__version__
        info["cuda_available"] = torch.cuda.is_available()
        info["cuda_devices"] = [
            torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())
        ]
    except Exception as exc:
        info["torch"] = f"not importable: {exc}"
    cdir = weights.cache_dir()
    total = sum(p.stat().st_size for p in cdir.rglob("*") if p.is_file()) if cdir.exists() else 0
    info["cache_dir"] = str(cdir)
    info["cache_bytes"] = total
    info["offline"] = {
        k: os.environ.get(k)
        for k in ("ZOO_OFFLINE", "HF_HUB_OFFLINE", "HF_ENDPOINT", "ZOO_PLUGINS")
    }
    reg = _registry()
    info["plugins_failed"] = {p.name: p.error for p in reg.plugins if p.error}
    info["plugins_ok"] = [p.name for p in reg.plugins if not p.error]
    offline = os.environ.get("ZOO_OFFLINE", "") not in ("", "0")
    hubs = {
        "huggingface": (os.environ.get("HF_ENDPOINT") or "https://huggingface.co").rstrip("/"),
        "modelscope": "https://www.modelscope.cn",
    }
    info["hubs"] = {
        k: ("skipped (ZOO_OFFLINE=1)" if offline else _hub_reachable(u, timeout))
        for k, u in hubs.items()
    }
    if as_json:
        _print_json(info)
        return
    t = Table(title="zoo doctor", title_justify="left", show_header=False)
    t.add_column("check")
    t.add_column("result")
    for k, v in info.items():
        if k == "cache_bytes":
            v = _human_size(v)
        if isinstance(v, dict):
            v = ", ".join(f"{a}={b}" for a, b in v.items()) or "none"
        if isinstance(v, list):
            v = ", ".join(map(str, v)) or "none"
        style = "red" if k == "plugins_failed" and info["plugins_failed"] else ""
        t.add_row(k, f"[{style}]{v}[/]" if style else str(v))
    console.print(t)


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
