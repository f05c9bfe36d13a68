"""``zoo eval``: pick the evaluator, check its options, run it, write what it reports.

The evaluator is the family's own (``FamilySpec.evaluator``: its protocol, e.g. DAVIS J&F
for video, SOBA's metrics for shadows) or, for families without one, the core evaluator of
their first task that has one (box-prompted COCO mask metrics for ``promptable``). It gets
a :class:`~zoo.context.RunContext` and returns an :class:`~zoo.reports.EvalReport`, which
the core writes into ``--out`` (``metrics.json`` with protocol and provenance, plus the
evaluator's files) and prints. A plain ``dict`` (plugin API 2) is printed as it is.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from zoo.errors import InputError
from zoo.options import LoadOptions, Options
from zoo.reports import EvalReport
from zoo.specs import import_string

__all__ = ["evaluate_model"]


def evaluate_model(
    name: str,
    shared: dict[str, Any],
    *,
    load: LoadOptions | None = None,
    raw: Mapping[str, Any] | None = None,
    as_json: bool = False,
    console: Any = None,
) -> dict[str, Any]:
    """Run ``zoo eval NAME``; ``shared`` holds dataset/annotations/images/compare/out."""
    from zoo.registry import get_registry
    from zoo.running import make_context

    reg = get_registry()
    fam, variant = reg.resolve_name(name)
    label = variant.name if variant else fam.name
    ref = fam.evaluator
    extra: list[type[Options]] = []
    if ref is None:
        for spec in reg.tasks_of(fam):
            if spec.evaluator is not None:
                ref = spec.evaluator
                extra = [spec.eval_options] if spec.eval_options is not None else []
                break
    if ref is None:
        raise InputError(f"`zoo eval` is not available for {fam.name} (it has no evaluator)")
    # the family's tasks' options (run-only) are known too, so `--frame` to eval is "applies
    # to zoo run", not "unknown option"; none of them applies to eval, so none is accepted
    extra += [t.options for t in reg.tasks_of(fam) if t.options not in extra]
    ctx = make_context(
        fam,
        variant,
        label,
        "eval",
        dict(raw or {}),
        shared,
        load or LoadOptions(),
        as_json,
        console,
        extra,
    )
    out = ctx.out_dir() if shared.get("out") is not None else None
    report = import_string(ref)(ctx)
    if not isinstance(report, EvalReport):
        return report  # type: ignore[no-any-return]
    printed: dict[str, Any] = report.to_dict() if as_json else report.shown()
    if out is not None:
        files = report.write(Path(out))
        printed["files"] = [str(f) for f in files]
    if console is not None and not as_json:
        for note in report.notes:
            console.print(f"[yellow]note:[/] {note}", highlight=False)
    return printed
