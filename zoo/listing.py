"""What ``zoo list``, ``zoo info`` and the server's ``/v1/models`` say about a model: one
row per variant, one row per option, so the terminal and the API agree. Registry specs
only: never imports torch, typer or rich.
"""

from __future__ import annotations

from typing import Any

__all__ = ["human_params", "human_size", "options_rows", "size_cell", "variant_row"]


def human_size(n: int | None, unknown: str = "?") -> str:
    if n is None:
        return unknown
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} GB"


def human_params(n: int | None) -> str:
    if n is None:
        return "?"
    if n == 0:
        return "0"
    return f"{n / 1e6:.1f}M"


def _is_cached(v: Any) -> bool | None:
    """True when *every* file of the variant is in a cache; None when it has none."""
    if not v.checkpoints or v.unpublished or v.unavailable:
        return None
    from zoo import weights

    try:
        return all(
            bool(weights.is_cached(w.uri, w.sha256, pattern=w.pattern))
            for w in v.checkpoints.values()
            if w.uri
        )
    except Exception:
        return None


def variant_row(reg: Any, v: Any) -> dict[str, Any]:
    fam = reg.families[v.family]
    w = v.weights
    return {
        "name": v.name,
        "family": v.family,
        "tag": v.tag,
        "default": v.tag == fam.default_tag,
        "local": v.local,
        "tasks": [str(t) for t in fam.tasks],
        "params": v.params,
        "size": v.total_size,
        "license": (w.license if w and w.license else None) or fam.license,
        "weights": w.uri if w else None,
        "sha256": w.sha256 if w else None,
        "files": {
            k: {
                "uri": f.uri,
                "sha256": f.sha256,
                "size": f.size,
                "same_as": f.same_as,
                "optional": f.optional,
                "published": f.published,
                "note": f.note,
            }
            for k, f in v.checkpoints.items()
        },
        "plugin": fam.source,
        "cached": _is_cached(v),
        "aliases": v.aliases,
        "requires_weights": fam.requires_weights,
        "unavailable": v.unavailable,
        "installed": True,
        "origin": v.source or fam.source,
    }


def size_cell(r: dict[str, Any]) -> str:
    if r.get("unavailable"):
        return "-"
    if not r["files"]:
        return "-" if not r["requires_weights"] else "none"
    if not all(f["published"] for f in r["files"].values()):
        return "unpubl."
    return human_size(r["size"], "unknown")


def options_rows(reg: Any, fam: Any) -> list[dict[str, Any]]:
    """Every option ``zoo info`` lists for a family: its own, then its tasks' (run/batch/
    serve), its core evaluator's and its trainer's config (the typed declarations)."""
    from zoo.specs import import_string

    rows: list[dict[str, Any]] = []
    # the commands each name is already listed for: a set declaring a name again for other
    # commands (eval's --score-thr beside the amodal task's run one, the trainer's
    # --image-size beside the loader's) gets its own row; one it would shadow gets none
    listed: dict[str, set[str]] = {}

    def add(r: dict[str, Any]) -> None:
        cmds = set(r["commands"])
        if cmds <= listed.get(r["name"], set()):
            return
        listed.setdefault(r["name"], set()).update(cmds)
        rows.append(r)

    for r in fam.options.describe():
        add(r)
    sets = []
    for spec in reg.tasks_of(fam):
        sets.append(spec.options)
        if fam.evaluator is None and spec.eval_options is not None:
            sets.append(spec.eval_options)
    for s in sets:
        for r in s.describe():
            add(r)
    if fam.train_config:
        from zoo.training.config import TrainConfig

        try:
            cls = import_string(fam.train_config)
        except Exception:  # a plugin mid-migration must not break zoo info
            cls = None
        if cls is not None:
            base = set(TrainConfig.model_fields)
            for r in cls.describe("train"):
                if r["name"] not in base:
                    add(r)
    return rows
