"""The rows that describe a model variant and a family's options, shared by ``zoo list``/
``zoo info`` (:mod:`zoo.cli`) and the server's ``/v1/models`` (:mod:`zoo.serve.pool`), so
both say the same. Registry specs only: never imports torch.
"""

from __future__ import annotations

from typing import Any

from zoo.cli_common import _human_size


def _human_params(n: int | None) -> str:
    if n is None:
        return "?"
    if n == 0:
        return "0"
    return f"{n / 1e6:.1f}M"


def _is_cached(v: Any) -> bool | None:
    """True when *every* file of the variant is in a cache; None when it has none."""
    if not v.checkpoints or v.unpublished:
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


def _variant_row(reg: Any, v: Any) -> dict[str, Any]:
    fam = reg.families[v.family]
    w = v.weights
    return {
        "name": v.name,
        "family": v.family,
        "tag": v.tag,
        "default": v.tag == fam.default_tag,
        "local": v.local,
        "tasks": [t.value for t in fam.tasks],
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
    }


def _size_cell(r: dict[str, Any]) -> str:
    if not r["files"]:
        return "-" if not r["requires_weights"] else "none"
    if not all(f["published"] for f in r["files"].values()):
        return "unpubl."
    return _human_size(r["size"], "unknown")


def _options_rows(fam: Any) -> list[dict[str, Any]]:
    from zoo.runners import declared_options

    opts = declared_options(fam, "run", core_runner=fam.runner is None)
    seen = {o.name for o in opts}
    opts += [o for o in fam.options if o.name not in seen]
    return [
        {
            "option": o.flag,
            "type": o.type if o.type != "choice" else "|".join(o.choices or ()),
            "default": o.default,
            "commands": list(o.commands),
            "help": o.help,
            "aliases": ["--" + a.replace("_", "-") for a in o.aliases],
        }
        for o in opts
    ]
