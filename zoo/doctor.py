"""``zoo plugins`` and ``zoo doctor``: what is installed and whether the environment works
(registered on the main app by :mod:`zoo.cli`)."""

from __future__ import annotations

import os
from typing import Annotated, Any

import typer
from rich.table import Table

from zoo import __version__
from zoo.cli.console import console, err_console, print_json
from zoo.listing import human_size

JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


def _registry() -> Any:
    from zoo.registry import get_registry

    return get_registry()


def plugins_cmd(as_json: JsonOpt = False) -> None:
    """Installed plugins: distribution, version, plugin API, what they add, load errors.

    Example:

      zoo plugins --json
    """
    from zoo.registry import PLUGIN_API

    reg = _registry()
    rows = [
        {
            "name": p.name,
            "distribution": p.distribution,
            "version": p.version,
            "module": p.module,
            "builtin": p.builtin,
            "api": p.api,
            "api_declared": p.api_declared,
            "deprecations": list(p.deprecations),
            "hooks": p.hooks,
            "error": p.error,
            "families": sorted(f.name for f in reg.families.values() if p.owns(f.source)),
            "tasks": sorted(t.name for t in reg.tasks.values() if p.owns(t.source))
            if p.distribution != "sam-zoo" or p.name.endswith("tasks")
            else [],
        }
        for p in reg.plugins
    ]
    if as_json:
        print_json({"plugin_api": PLUGIN_API, "plugins": rows, "warnings": reg.warnings})
        return
    table = Table(
        title=f"zoo plugins (this sam-zoo speaks plugin API {PLUGIN_API})",
        title_justify="left",
        box=None,
        pad_edge=False,
        header_style="bold",
    )
    for col in ("plugin", "version", "API", "adds", "status"):
        table.add_column(col, overflow="fold")
    for r in rows:
        if r["error"]:
            status = f"[red]failed: {r['error']}[/]"
        elif r["deprecations"]:
            status = "[yellow]ok, deprecated API[/]"
        else:
            status = "[green]ok[/]"
        adds = ", ".join(r["families"] + [f"task {t}" for t in r["tasks"]]) or ", ".join(
            h.replace("zoo_register_", "") for h in r["hooks"]
        )
        api = "?" if r["api"] is None else f"{r['api']}" + ("" if r["api_declared"] else "*")
        table.add_row(r["name"], r["version"] or "?", api, adds or "-", status)
    console.print(table)
    if any(not r["api_declared"] and r["api"] for r in rows):
        err_console.print("[dim]* declares no ZOO_PLUGIN_API: taken as 2[/]")
    for r in rows:
        for d in r["deprecations"]:
            err_console.print(f"[yellow]note:[/] plugin {r['name']}: {d}", highlight=False)
    for w in reg.warnings:
        err_console.print(f"[yellow]warning:[/] {w}", highlight=False)


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
    from zoo.weights.usage import cache_items

    items = cache_items()  # what `zoo cache ls` lists, so the two totals agree
    info["cache_dir"] = str(weights.cache_dir())
    info["cache_bytes"] = sum(i.size for i in items)
    info["cache_items"] = {
        kind: sum(1 for i in items if i.kind == kind) for kind in ("checkpoint", "onnx", "trained")
    }
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
        print_json(info)
        return
    t = Table(title="zoo doctor", title_justify="left", show_header=False)
    t.add_column("check")
    t.add_column("result")
    for k, v in info.items():
        if k == "cache_bytes":
            v = human_size(v)
        if isinstance(v, dict):
            v = ", ".join(f"{a}={b}" for a, b in v.items()) or "none"
        if isinstance(v, list):
            v = ", ".join(map(str, v)) or "none"
        style = "red" if k == "plugins_failed" and info["plugins_failed"] else ""
        t.add_row(k, f"[{style}]{v}[/]" if style else str(v))
    console.print(t)


def register(app: typer.Typer) -> None:
    """Add the command(s) to the ``zoo`` app (called by :mod:`zoo.cli`)."""
    app.command("plugins")(plugins_cmd)
    app.command("doctor")(doctor_cmd)
