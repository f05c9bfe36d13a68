"""``zoo list``, ``zoo info``, ``zoo pull`` and ``zoo cache``: what is registered, what it
is, and its files. Registry specs only: these commands never import torch."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from zoo.errors import InputError
from zoo.listing import human_params, human_size, options_rows, size_cell, variant_row

from .console import console, err_console, print_json

if TYPE_CHECKING:
    from zoo.registry.catalog import Registry
    from zoo.registry.catalogue import LoadedCatalogue

JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


def _registry() -> Any:
    from zoo.registry import get_registry

    return get_registry()


def list_cmd(
    pattern: Annotated[
        str | None, typer.Argument(help="Wildcard, e.g. '*sam2*' or 'sam2:t*'.")
    ] = None,
    task: Annotated[str | None, typer.Option(help="Only models doing this task.")] = None,
    wide: Annotated[
        bool, typer.Option("--wide", help="Also show licence and where each variant comes from.")
    ] = False,
    all_: Annotated[
        bool,
        typer.Option("--all", help="Also list catalogued families whose plugin is not installed."),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """List every registered model variant (family:tag).

    Columns: name, task, params, size (all files), cached (every file present).
    --wide adds licence and origin (built-in, a plugin, a user catalogue file);
    --all adds families that are catalogued but not installed; --json prints everything.

    Examples:

      zoo list

      zoo list '*sam2*' --wide

      zoo list --task amodal --json
    """
    reg = _registry()
    if task is not None and task not in reg.tasks:
        raise InputError(f"unknown task {task!r}; choose one of {', '.join(sorted(reg.tasks))}")
    rows = [variant_row(reg, v) for v in reg.list_models(pattern, task)]
    if all_:
        rows += uninstalled_rows(reg, pattern, task)
    if as_json:
        print_json(rows)
        return
    if not rows:
        err_console.print(f"no model matches {pattern!r}" + (f" with task {task}" if task else ""))
        return
    table = Table(box=None, pad_edge=False, header_style="bold")
    cols = ["name", "task", "params", "size", "cached"]
    for col in cols:
        justify = "right" if col in ("params", "size") else "left"
        table.add_column(
            col,
            justify=justify,  # type: ignore[arg-type]
            no_wrap=col in ("name", "params", "size", "cached"),
            overflow="fold",
            min_width=None,
        )
    for r in rows:
        if not r.get("installed", True):
            cached = "[yellow]not inst.[/]"
        elif r["unavailable"]:
            cached = "[red]unavail.[/]"
        else:
            cached = {True: "[green]yes[/]", False: "no", None: "-"}[r["cached"]]
        name = r["name"] + (" *" if r["default"] else "") + (" (local)" if r["local"] else "")
        cells = [name, ",".join(r["tasks"]), human_params(r["params"]), size_cell(r), cached]
        table.add_row(*cells)
        if wide:  # a second line per variant: wraps nothing, whatever the width or pipe
            table.add_row(
                f"  [dim]licence[/] {escape(r['license'] or '?')}",
                f"[dim]from[/] {escape(r.get('origin') or '?')}",
                "",
                "",
                "",
            )
    console.print(table)
    err_console.print("[dim]* default tag of its family; `zoo info NAME` for details[/]")
    unavailable = [r for r in rows if r["unavailable"]]
    for r in unavailable:
        err_console.print(f"[yellow]{r['name']} is unavailable:[/] {escape(r['unavailable'])}")
    for family in sorted({r["family"] for r in rows if not r.get("installed", True)}):
        err_console.print(
            f"[yellow]{family} is not installed:[/] {escape(str(reg.install_hint(family)))}",
            highlight=False,
        )
    if reg.warnings or any(p.error for p in reg.plugins):
        err_console.print("[yellow]some plugins had problems; run `zoo plugins` for details[/]")


def uninstalled_rows(reg: Any, pattern: str | None, task: str | None) -> list[dict[str, Any]]:
    """``zoo list --all``: the catalogued variants of families no installed plugin provides."""
    import fnmatch

    rows = []
    for family, (entry, cat) in sorted(reg.uninstalled.items()):
        if task and task not in entry.tasks:
            continue
        for v in cat.variants(family):
            names = [v.name, family, *v.aliases]
            if pattern and not any(fnmatch.fnmatchcase(n, pattern) or pattern in n for n in names):
                continue
            rows.append(
                {
                    "name": v.name,
                    "family": family,
                    "tag": v.tag,
                    "default": v.tag == entry.default_tag,
                    "local": False,
                    "tasks": list(entry.tasks),
                    "params": v.params,
                    "size": v.total_size,
                    "license": entry.license,
                    "files": {k: {"published": f.published} for k, f in v.checkpoints.items()},
                    "requires_weights": True,
                    "cached": None,
                    "unavailable": None,
                    "installed": False,
                    "install": reg.install_hint(family),
                    "origin": v.source,
                }
            )
    return rows


def _print_options(options: list[dict[str, Any]]) -> None:
    """Options as a definition list that reads well at 80 columns and in a pipe:
    ``--flag TYPE (commands; default: X)`` then the help, wrapped and indented."""
    width = max(40, min(console.width, 100))
    console.print("[bold]options[/] (`zoo info NAME --json` lists every field)")
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


def _wrapped(label: str, text: str, width: int) -> list[str]:
    """``label: text`` wrapped under itself, so long URIs and licences stay readable."""
    pad = " " * (len(label) + 2)
    lines = textwrap.wrap(text, max(20, width - len(pad)), break_on_hyphens=False) or [""]
    return [f"{label}: {lines[0]}", *[pad + ln for ln in lines[1:]]]


def info_cmd(
    name: Annotated[str, typer.Argument(help="Model name, e.g. sam2:tiny.")],
    as_json: JsonOpt = False,
) -> None:
    """Show a model's card: paper, licence, upstream code, weights, tasks, options, metrics.

    Examples:

      zoo info sam2:tiny

      zoo info sameo-amodal --json
    """
    from zoo.cards import load_card

    reg = _registry()
    fam, variant = reg.resolve_name(name)
    card_path = (variant.card if variant and variant.card else None) or fam.card
    card = load_card(card_path) if card_path else None
    row = variant_row(reg, variant) if variant else {"name": fam.name, "files": {}}
    options = options_rows(reg, fam)
    tasks = [t.name for t in reg.tasks_of(fam)]
    results = reg.reported_results(fam.name, variant)
    if not results and card is not None:  # a card from before the catalogue kept numbers
        results = [m.model_dump(exclude_none=True) for m in card.zoo.reported_metrics]
    if as_json:
        print_json(
            {
                **row,
                "tasks": tasks,
                "options": options,
                "results": results,
                "card": card.model_dump(mode="json", exclude={"body"}) if card else None,
            }
        )
        return
    from rich.markdown import Markdown

    width = max(40, min(console.width, 100))
    lines = [f"{row['name']}  tasks: {', '.join(tasks)}"]
    if variant is not None:
        if variant.description:
            lines += textwrap.wrap(variant.description, width)
        lines.append(f"params:  {human_params(variant.params)}")
        if variant.unavailable:
            lines += _wrapped("unavailable", variant.unavailable, width)
        files = row["files"]
        for key, f in files.items():
            label = f"file {key}" if len(files) > 1 or key != "model" else "weights"
            if not f["published"]:
                note = f" ({f['note']})" if f["note"] else ""
                lines += _wrapped(label, f"not published{note}; use --checkpoint", width)
                continue
            extra = f"  (same file as {f['same_as']})" if f["same_as"] else ""
            extra += "  (fetched only when needed)" if f["optional"] else ""
            lines += _wrapped(label, f"{f['uri'] or '?'}{extra}", width)
            lines += [
                f"  sha256: {f['sha256'] or 'unknown (not published)'}",
                f"  size:   {human_size(f['size'], 'unknown (not published)')}",
            ]
        if files:
            lines.append(f"cached:  {'yes' if row.get('cached') else 'no'}")
        elif fam.requires_weights:
            note = f" ({fam.weights_note})" if fam.weights_note else ""
            lines += _wrapped("weights", f"none registered{note}; use --checkpoint PATH", width)
        else:
            lines.append("weights: none needed (no learned parameters)")
        if variant.local:
            lines.append(f"trained here: {variant.source}")
    if card:
        z = card.zoo
        lines += _wrapped("licence", str(card.license_label), width)
        if z.paper:
            paper = (
                f"{z.paper.title}"
                + (f" (arXiv {z.paper.arxiv})" if z.paper.arxiv else "")
                + (f", {z.paper.venue}" if z.paper.venue else "")
            )
            lines += _wrapped("paper", paper, width)
        if z.upstream:
            code = (
                f"{z.upstream.repo}"
                + (f" @ {z.upstream.commit[:12]}" if z.upstream.commit else "")
                + (f" ({z.upstream.license})" if z.upstream.license else "")
            )
            lines += _wrapped("code", code, width)
    lines.append(f"plugin:  {fam.source}")
    for ln in lines:
        console.print(escape(ln), highlight=False, soft_wrap=True)
    if options:
        _print_options(options)
    if results:
        t = Table(
            title="results reported for these weights (not re-measured by sam-zoo)",
            title_justify="left",
        )
        for col in ("variant", "dataset", "metric", "value", "baseline", "source"):
            t.add_column(col, overflow="fold")
        for m in results:
            base = ""
            if m.get("baseline") is not None:
                base = f"{m['baseline']:g}" + (
                    f" ({m['baseline_name']})" if m.get("baseline_name") else ""
                )
            dataset = m["dataset"] + (f" {m['split']}" if m.get("split") else "")
            t.add_row(
                m.get("variant") or "-",
                dataset,
                m["metric"],
                f"{m['value']:g}",
                base,
                m.get("source", ""),
            )
        console.print(t)
    if card and card.body.strip():
        console.print(Markdown(card.body))


def pull_cmd(
    name: Annotated[str, typer.Argument(help="Model name, e.g. sam2:tiny.")],
    as_json: JsonOpt = False,
) -> None:
    """Download every file of a model into the cache, verifying each sha256.

    Example:

      zoo pull sam2:tiny
    """
    from zoo import weights
    from zoo.loading import resolve_files

    reg = _registry()
    fam, variant = reg.resolve_name(name)
    label = variant.name if variant else fam.name
    if variant is not None and variant.unavailable:
        raise InputError(f"{label} cannot be pulled: {variant.unavailable}")
    if variant is not None and not variant.checkpoints and not fam.requires_weights:
        if as_json:
            print_json({"name": label, "files": {}})
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
        print_json({"name": label, "files": rows})
        return
    for key, r in rows.items():
        what = f"{label} ({key})" if len(rows) > 1 else label
        console.print(
            f"[green]ok[/] {escape(what)}: {escape(r['path'])} ({human_size(r['size'])}, "
            f"sha256 {r['sha256'][:16]}...)"
        )


def cache_ls(
    kind: Annotated[
        str | None, typer.Option(help="Only checkpoint, onnx or trained items.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """List what sam-zoo keeps on disk: checkpoints, ONNX exports, models trained here.

    Examples:

      zoo cache ls

      zoo cache ls --kind onnx --json
    """
    from zoo import weights
    from zoo.weights.usage import KINDS, cache_items

    if kind is not None and kind not in KINDS:
        raise InputError(f"unknown --kind {kind!r}; use {', '.join(KINDS)}")
    items = cache_items((kind,) if kind else KINDS)
    rows: list[dict[str, Any]] = [
        {
            "kind": i.kind,
            "name": i.name,
            "path": str(i.path),
            "size": i.size,
            "sha256": i.sha256,
            "uri": i.uri,
            "present": i.present,
        }
        for i in items
    ]
    total = sum(r["size"] for r in rows)
    if as_json:
        print_json({"cache_dir": str(weights.cache_dir()), "total": total, "entries": rows})
        return
    table = Table(title=f"cache: {weights.cache_dir()}", title_justify="left", box=None)
    for col in ("kind", "name", "size", "present"):
        table.add_column(col, overflow="fold", no_wrap=col in ("kind", "size"))
    for r in rows:
        table.add_row(
            r["kind"],
            escape(r["name"]),
            human_size(r["size"]),
            "yes" if r["present"] else "[red]missing[/]",
        )
    console.print(table)
    console.print(f"{len(rows)} entries, {human_size(total)}")


def cache_rm(
    target: Annotated[
        str,
        typer.Argument(
            help="A model name, URI or sha256 prefix (checkpoints), onnx:NAME (its exports) "
            "or trained:FAMILY:NAME (a model trained here)."
        ),
    ],
    as_json: JsonOpt = False,
) -> None:
    """Remove cached files: checkpoints, ONNX exports or models trained here.

    Examples:

      zoo cache rm sam2:tiny

      zoo cache rm onnx:sam2:tiny

      zoo cache rm trained:sameo-amodal:mine
    """
    from zoo.errors import UnknownModelError
    from zoo.weights.usage import remove_items

    keys = [target]
    if not target.startswith(("onnx:", "trained:")):
        try:
            _, variant = _registry().resolve_name(target)
            if variant is not None and variant.checkpoints:
                keys = [w.uri for w in variant.checkpoints.values() if w.uri]
        except UnknownModelError:
            pass
    removed = []
    for key in keys:
        try:
            removed += remove_items(key)
        except InputError:
            if len(keys) == 1:
                raise
    if not removed:
        raise InputError(f"nothing in the cache matches {target!r}; see `zoo cache ls`")
    if as_json:
        print_json({"removed": [str(p) for p in removed]})
    else:
        for p in removed:
            console.print(f"removed {p}")


def cache_verify(as_json: JsonOpt = False) -> None:
    """Re-hash every cached file and report mismatches (exit 1 if any)."""
    from zoo import weights

    results = weights.verify_cache()
    rows: list[dict[str, Any]] = [
        {"uri": e.uri, "ok": ok, "message": msg} for e, ok, msg in results
    ]
    if as_json:
        print_json(rows)
    else:
        for r in rows:
            mark = "[green]ok[/]" if r["ok"] else "[red]BAD[/]"
            console.print(f"{mark} {r['uri']} {r['message']}")
        console.print(f"{sum(r['ok'] for r in rows)}/{len(rows)} verified")
    if not all(r["ok"] for r in rows):
        raise typer.Exit(1)


def registry_check(
    path: Annotated[str, typer.Argument(help="A catalogue file (registry.yaml format).")],
    as_json: JsonOpt = False,
) -> None:
    """Check a catalogue file: schema, lines, and how it would merge with what is registered.

    Example:

      zoo registry check ~/.cache/zoo/registry.yaml
    """
    from zoo.registry.catalogue import read_catalogue
    from zoo.registry.discovery import merge_user_variant

    p = Path(path).expanduser()
    if not p.is_file():
        raise InputError(f"{p} is not a file; give the path of a registry.yaml to check")
    reg = _registry()
    registered = next((c for c in reg.catalogues if _same_file(c.path, p)), None)
    if registered is not None:  # the core's or a plugin's: report how it did merge
        _report_check(p, registered, _merge_problems(reg, registered), as_json)
        return
    cat = read_catalogue(p, str(p))
    problems = list(cat.errors)
    scratch = type(reg)(
        families=dict(reg.families),
        variants=dict(reg.variants),
        aliases=dict(reg.aliases),
        uninstalled=dict(reg.uninstalled),
    )
    variants = 0
    for name in cat.families:
        if name not in reg.families:
            hint = reg.install_hint(name)
            problems.append(
                f"{cat.where('families', name)}: family {name} is not registered"
                + (f" (it needs {hint})" if hint else "")
            )
            continue
        for v in cat.variants(name):
            variants += 1
            why = merge_user_variant(scratch, v)
            if why:
                problems.append(f"{cat.where('families', name, 'variants', v.tag)}: {why}")
    _report_check(p, cat, problems, as_json, variants)


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return False


def _merge_problems(reg: Registry, cat: LoadedCatalogue) -> list[str]:
    """What the registry refused from a catalogue it read (its own lines, then merges)."""
    prefix = f"catalogue {cat.path}"
    return [w.removeprefix("catalogue ") for w in reg.warnings if w.startswith(prefix)]


def _report_check(
    p: Path,
    cat: LoadedCatalogue,
    problems: list[str],
    as_json: bool,
    variants: int | None = None,
) -> None:
    if variants is None:
        variants = sum(len(entry.variants) for entry in cat.families.values())
    if as_json:
        print_json(
            {
                "file": str(p),
                "families": len(cat.families),
                "variants": variants,
                "problems": problems,
            }
        )
    else:
        for msg in problems:
            err_console.print(f"[red]error:[/] {escape(msg)}", highlight=False, soft_wrap=True)
        state = "[green]ok[/]" if not problems else f"[red]{len(problems)} problem(s)[/]"
        console.print(
            f"{escape(str(p))}: {len(cat.families)} families, {variants} variants: {state}"
        )
    if problems:
        raise typer.Exit(2)


def register(app: typer.Typer) -> None:
    """Add the catalogue commands to ``app``."""
    app.command("list")(list_cmd)
    app.command("info")(info_cmd)
    app.command("pull")(pull_cmd)
    cache = typer.Typer(help="Inspect and manage downloaded checkpoints.", no_args_is_help=True)
    cache.command("ls")(cache_ls)
    cache.command("rm")(cache_rm)
    cache.command("verify")(cache_verify)
    app.add_typer(cache, name="cache")
    registry = typer.Typer(
        help="Catalogue files: which weights exist, where they come from.", no_args_is_help=True
    )
    registry.command("check")(registry_check)
    app.add_typer(registry, name="registry")
