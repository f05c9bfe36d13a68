"""``zoo run`` for every task: from what the user typed to files on disk, one path.

1. resolve the name, pick the task (``--task``, else the one the flags point at, else the
   family's first), check the family's and the task's options (one-line errors);
2. build the task's inputs from the flags (:meth:`TaskSpec.from_cli`: the image, the one
   prompt grammar, detections...) and check ``--out``, all before the model loads;
3. load the model (:func:`zoo.loading.load_resolved`), call the task, write its outputs
   atomically (:meth:`TaskSpec.save`) and return the report the CLI prints.

A family that still points ``FamilySpec.runner`` at its own function gets that function
(an escape hatch, with a :class:`~zoo.context.RunContext` holding the family's and the
task's options); a runner that returns ``None`` hands the run back to the task, so a family
can keep a runner for one mode of its own (``--render-only``) and nothing else. Nothing
else differs per family.

An image task's method that takes ``progress=`` gets a :class:`zoo.progress.StageBars`
(a bar per slow stage, lines said before the slow part); the notes a model puts in
``result.extra["notes"]`` are shown once, like the task's.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from zoo.context import RunContext, check_out_dir
from zoo.errors import InputError
from zoo.options import LoadOptions, Options, validate_many
from zoo.specs import FamilySpec, VariantSpec, import_string
from zoo.tasks.spec import RunInputs, TaskSpec

__all__ = [
    "check_other_tasks",
    "choose_task",
    "default_out",
    "run_model",
    "split_family_options",
]

#: Where ``zoo run`` writes when no ``--out`` is given: ``zoo-runs/<model>/<input>[-N]``.
DEFAULT_RUNS = "zoo-runs"
#: At most this many numbered folders per input before we ask for --out.
MAX_NUMBERED = 999


def choose_task(
    registry: Any,
    family: FamilySpec,
    run: RunInputs,
    raw: Mapping[str, Any],
    task: str | None = None,
) -> TaskSpec:
    """``--task`` when given; else the family's task that the flags point at (``--video``
    -> video, ``--objects`` -> shadow, ``--everything`` -> everything, ``--text`` ->
    concept, ``--video --text`` -> concept-video); else its first for the medium given."""
    tasks = [t for t in registry.tasks_of(family) if t.route is not None or t.media]
    runnable = [t for t in tasks if t.name != "adapt"]
    names = ", ".join(t.name for t in runnable) or "none"
    if task is not None:
        for t in runnable:
            if t.name == task:
                return t
        raise InputError(f"{family.name} does not run task {task!r}; it runs {names}")
    if not runnable:
        raise InputError(
            f"`zoo run` has nothing to run for {family.name} (its tasks: "
            f"{', '.join(family.tasks)}); see `zoo info {family.name}`"
        )
    wanted = [t for t in runnable if t.wants(run, raw)]
    media = "video" if run.video is not None else "image" if run.image is not None else None
    if wanted:
        # the task whose inputs the user gave: one for the medium given (--image or --video),
        # then one whose own options were given (beats one that only matched a shared prompt
        # flag), then the one the most given flags point at; the family's order breaks ties
        def score(t: TaskSpec) -> tuple[bool, bool, int]:
            given = sum(getattr(run, s, None) is not None or s in raw for s in t.signals)
            given += sum(t.options.lookup(k) is not None for k in raw if k not in t.signals)
            own = t.claims(run, raw)
            return (media is None or t.media == media, own, given)

        return max(wanted, key=score)  # max keeps the first of equals
    if media is not None:
        same = [t for t in runnable if t.media == media]
        if same:
            return same[0]
    return runnable[0]


def check_other_tasks(
    registry: Any, family: FamilySpec, spec: TaskSpec, raw: Mapping[str, Any], command: str
) -> None:
    """A flag that belongs to another task of the family (``--points-per-side`` without
    ``--everything``) is refused naming that task and the flag that picks it."""
    from zoo.options import flag

    for key in raw:
        if family.options.lookup(key) is not None or spec.options.lookup(key) is not None:
            continue
        for other in registry.tasks_of(family):
            name = other.options.lookup(key)
            if other is spec or name is None or not other.options.applies(name, command):
                continue
            picks = [s for s in other.signals if other.options.lookup(s) is not None]
            how = f"add {flag(picks[0])}" if picks else f"add --task {other.name}"
            raise InputError(f"{flag(key)} applies to the {other.name} task; {how}")


def split_family_options(
    family: FamilySpec, values: Options
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(loader keywords the user set, other options the user set) of a family's options."""
    loaders = set(type(values).loader_names())
    given = values.given()
    return (
        {k: v for k, v in given.items() if k in loaders},
        {k: v for k, v in given.items() if k not in loaders},
    )


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "run"


def default_out(name: str, run: RunInputs) -> Path:
    """``zoo-runs/<model>/<input stem>``, numbered (``-2``, ``-3``...) when it exists."""
    source = run.image or run.video or run.depth or "run"
    base = Path(DEFAULT_RUNS) / _slug(name.replace(":", "-")) / _slug(Path(str(source)).stem)
    if not base.exists():
        return base
    for i in range(2, MAX_NUMBERED + 1):
        cand = base.with_name(f"{base.name}-{i}")
        if not cand.exists():
            return cand
    raise InputError(f"{base.parent} holds {MAX_NUMBERED} runs of this input; give --out DIR")


def run_model(
    name: str,
    run: RunInputs,
    *,
    out: str | Path | None = None,
    formats: str = "png,coco,overlay",
    load: LoadOptions | None = None,
    raw: Mapping[str, Any] | None = None,
    task: str | None = None,
    as_json: bool = False,
    console: Any = None,
    notes: list[str] | None = None,
) -> dict[str, Any]:
    """The generic ``zoo run`` (see the module docstring); returns the report.

    ``raw`` holds the family's and the task's options as typed (``{"detections": "d.json"}``);
    ``notes`` receives the lines to show the user once (clipped boxes...).
    """
    from zoo.registry import get_registry
    from zoo.results import check_formats

    load = load or LoadOptions()
    raw = dict(raw or {})
    reg = get_registry()
    fam, variant = reg.resolve_name(name)
    label = variant.name if variant else fam.name
    if fam.runner is not None and task is None:
        try:
            chosen: TaskSpec | None = choose_task(reg, fam, run, raw)
        except InputError:  # a runner for a family without a runnable task
            chosen = None
        report = _family_runner(
            fam, variant, label, run, out, formats, load, raw, as_json, console, chosen
        )
        if report is not None:
            return report
    spec = choose_task(reg, fam, run, raw, task)
    check_other_tasks(reg, fam, spec, raw, "run")
    fam_opts, task_opts = validate_many(
        [fam.options, spec.options],
        raw,
        command="run",
        where=f"zoo run {label}",
        info_hint=f"zoo info {fam.name}",
    )
    fmts = check_formats(formats)
    out_path = Path(out) if out is not None else default_out(label, run)
    check_out_dir(out_path)
    from zoo.concept_detector import ConceptDetector

    detector = ConceptDetector.from_options(task_opts, load)
    if detector is not None:  # its boxes take the path of a detections file
        from zoo.tasks.common import detector_inputs

        inputs = detector_inputs(spec, run, task_opts, detector)
    else:
        inputs = spec.from_cli(run, task_opts)
    loader, call = split_family_options(fam, fam_opts)
    from zoo.loading import load_resolved

    model = load_resolved(fam, variant, **load.load_kwargs(), progress=not as_json, **loader)
    if notes is not None:
        notes += inputs.notes
        if out is None:
            notes.append(f"no --out given: writing to {out_path}")
    stages = _stages(spec, model, as_json, console)
    call_kwargs = {**call, **spec.call_options(task_opts)}
    if stages is not None:
        call_kwargs["progress"] = stages
    results = spec.call(model, inputs, call_kwargs)  # lazy: runs as save() writes
    run_record = {
        "command": "run",
        "task": spec.name,
        "arguments": _arguments(run, raw, fmts),
        "load": {k: v for k, v in load.values().items() if v is not None},
        "options": _settings(fam_opts),
        "seed": model.context.seed if getattr(model, "context", None) is not None else None,
    }
    from zoo.progress import showing_progress

    progress = _frames_progress(spec, inputs, as_json, console)
    try:
        with showing_progress(console, enabled=not as_json):  # library work() draws bars
            kept, files = spec.save(
                results,
                out_path,
                inputs,
                fmts,
                run_record=run_record,
                progress=progress.advance if progress is not None else None,
            )
    finally:
        if progress is not None:
            progress.close()
    if notes is not None:
        shown = set(stages.notes) if stages is not None and stages.enabled else set()
        later = [*inputs.notes, *(stages.notes if stages is not None else [])]
        for r in kept:
            later += [str(n) for n in (getattr(r, "extra", None) or {}).get("notes") or []]
        notes += [n for n in dict.fromkeys(later) if n not in notes and n not in shown]
    return {
        "model": model.label,
        "weights": model.weights,
        "task": spec.name,
        **spec.report(kept, inputs),
        "out": str(out_path),
        "files": [str(f) for f in files],
    }


def _settings(values: Options) -> dict[str, Any]:
    """Every loader option's effective value (what built the model), for run.json."""
    return {
        n: (v if v is None or isinstance(v, (bool, int, float, str, list)) else str(v))
        for n in type(values).loader_names()
        for v in [getattr(values, n)]
    }


def _stages(spec: TaskSpec, model: Any, as_json: bool, console: Any) -> Any:
    """Stage bars for an image task's method that takes ``progress=`` (``None`` otherwise;
    video tasks get a bar over their frames instead)."""
    import inspect

    if spec.media == "video":
        return None
    try:
        params = inspect.signature(getattr(model, spec.method)).parameters
    except (AttributeError, TypeError, ValueError):
        return None
    if "progress" not in params:
        return None
    from zoo.progress import StageBars

    return StageBars(console, enabled=not as_json)


def _arguments(run: RunInputs, raw: Mapping[str, Any], formats: list[str]) -> dict[str, Any]:
    """What run.json records of the command (as batch's run.json does)."""
    args: dict[str, Any] = {k: str(v) for k, v in vars(run).items() if v is not None}
    args.update({k: (v if isinstance(v, (bool, int, float)) else str(v)) for k, v in raw.items()})
    args["format"] = ",".join(formats)
    return args  # not --out: the same command writes the same bytes wherever it writes


class _Frames:
    """A progress bar over a video's frames (video tasks stream frame by frame). Transient:
    a frame found bad half-way (decoded lazily) is still a one-line error, and the report
    says the frame rate."""

    def __init__(self, total: int, console: Any) -> None:
        from zoo.progress import progress_bar

        self.bar = progress_bar(unit="frames", console=console, info=False, transient=True)
        self.bar.start()
        self.task = self.bar.add_task("tracking", total=total)

    def advance(self, n: int = 1) -> None:
        self.bar.update(self.task, advance=n)

    def close(self) -> None:
        self.bar.stop()


def _frames_progress(spec: TaskSpec, inputs: Any, as_json: bool, console: Any) -> _Frames | None:
    if spec.media != "video" or as_json:
        return None
    try:
        total = len(inputs.frames)
    except TypeError:
        return None
    return _Frames(total, console)


def _family_runner(
    fam: FamilySpec,
    variant: VariantSpec | None,
    label: str,
    run: RunInputs,
    out: str | Path | None,
    formats: str,
    load: LoadOptions,
    raw: dict[str, Any],
    as_json: bool,
    console: Any,
    spec: TaskSpec | None,
) -> dict[str, Any] | None:
    """The escape hatch: a family's own ``runner(ctx)``; ``None`` hands the run back to
    ``spec`` (the context holds the task's options too, so either path takes them)."""
    ctx = make_context(
        fam,
        variant,
        label,
        "run",
        raw,
        {**vars(run), "out": out, "format": formats},
        load,
        as_json,
        console,
        extra_sets=[spec.options] if spec is not None else None,
    )
    assert fam.runner is not None
    return import_string(fam.runner)(ctx)  # type: ignore[no-any-return]


def make_context(
    fam: FamilySpec,
    variant: VariantSpec | None,
    label: str,
    command: str,
    raw: Mapping[str, Any],
    shared: dict[str, Any],
    load: LoadOptions,
    as_json: bool,
    console: Any,
    extra_sets: list[type[Options]] | None = None,
) -> RunContext:
    """A :class:`RunContext` with the family's options (and ``extra_sets``) checked."""
    sets = [fam.options, *(extra_sets or [])]
    checked = validate_many(
        sets, raw, command=command, where=f"zoo {command} {label}", info_hint=f"zoo info {fam.name}"
    )
    values: dict[str, Any] = {}
    explicit: set[str] = set()
    for inst, cls in zip(checked, sets, strict=True):
        for n in cls.names(command):
            values.setdefault(n, getattr(inst, n))
        explicit |= set(inst.model_fields_set)
    return RunContext(
        name=label,
        family=fam,
        variant=variant,
        command=command,
        options=shared,
        values=values,
        as_json=as_json,
        console=console,
        explicit=explicit,
        load=load,
        option_sets=checked,
    )
