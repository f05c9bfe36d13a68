"""``zoo train``: check the family's typed config, hand it to its trainer.

Plugin API 3: ``FamilySpec.train_config`` names a :class:`~zoo.training.config.TrainConfig`
subclass and ``FamilySpec.trainer`` a function ``train(config, *, progress, console)``
returning a report. Plugin API 2 trainers take a :class:`~zoo.context.RunContext`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from zoo.errors import InputError, PluginError
from zoo.options import LoadOptions, validate_many
from zoo.specs import import_string

__all__ = ["train_family"]


def train_family(
    name: str,
    shared: dict[str, Any],
    *,
    load: LoadOptions | None = None,
    raw: Mapping[str, Any] | None = None,
    as_json: bool = False,
    console: Any = None,
) -> dict[str, Any]:
    """Run ``zoo train NAME``; ``shared`` holds annotations/images/out."""
    from zoo.registry import get_registry
    from zoo.running import make_context

    reg = get_registry()
    fam, variant = reg.resolve_name(name)
    label = variant.name if variant else fam.name
    if fam.trainer is None:
        raise InputError(f"`zoo train` is not available for {fam.name} (it does not train)")
    load = load or LoadOptions()
    trainer = import_string(fam.trainer)
    if fam.train_config is None:  # plugin API 2: the trainer reads a RunContext
        ctx = make_context(
            fam, variant, label, "train", dict(raw or {}), shared, load, as_json, console
        )
        return trainer(ctx)  # type: ignore[no-any-return]
    cls = import_string(fam.train_config)
    given = {k: v for k, v in shared.items() if v is not None}
    for key in ("device", "weights", "seed"):
        value = getattr(load, key)
        if value is not None and key in cls.model_fields and (key != "device" or value != "auto"):
            given[key] = value
    if load.checkpoint is not None:
        given["checkpoint"] = load.checkpoint
    dup = sorted(set(given) & set(raw or {}))
    if dup:
        raise InputError(f"--{dup[0].replace('_', '-')} is given twice; give it once")
    # the family's own options are checked second, only so that a flag of another command
    # (`--max-images` of zoo eval) is named as such rather than as an unknown option
    config, misplaced = validate_many(
        [cls, fam.options],
        {**given, **dict(raw or {})},
        command="train",
        where=f"zoo train {label}",
        info_hint=f"zoo info {fam.name}",
    )
    if misplaced.given():
        raise PluginError(
            f"{fam.name} declares --{next(iter(misplaced.given())).replace('_', '-')} for "
            f"`zoo train` in its options, but its trainer takes {fam.train_config}, which has "
            "no such field; declare train options in the config only"
        )
    result = trainer(config, variant=variant, progress=not as_json, console=console)
    report = result.report() if hasattr(result, "report") else result
    return report  # type: ignore[no-any-return]
