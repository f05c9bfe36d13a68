"""Turning what a user asked (CLI flags or Python keywords) into a checked run.

:func:`prepare` is shared by ``zoo batch`` and :func:`zoo.batch.batch`: it resolves the
model name, casts the family's options for ``batch`` through the same parser as
``zoo run`` (so ``model=True`` options reach ``zoo.load`` and the rest reach the task
method), picks the task, checks the prompts, the input and the output folder, and
returns a :class:`~zoo.batch.runner.BatchRun` ready to iterate. Nothing is created before
it returns.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zoo.errors import InputError, hint
from zoo.specs import FamilySpec, Task

from .plan import Plan, check_batch_formats, read_detections
from .runner import BatchRun, check_out, default_workers_devices, threads_for

__all__ = ["BatchResult", "batch", "prepare"]


@dataclass
class BatchResult:
    """One item of :func:`batch`: its key and location, and its results or its error."""

    key: int
    uri: str
    ok: bool
    results: list[Any] | None = None
    error: str | None = None

    @property
    def result(self) -> Any:
        """The single result of an image item (``results[0]``); ``None`` if it failed."""
        return self.results[0] if self.results else None


def choose_task(fam: FamilySpec, task: str | None, everything: bool) -> Task:
    from .work import BATCH_TASKS

    runnable = [t for t in fam.tasks if t in BATCH_TASKS]
    if everything:
        if Task.PROMPTABLE not in fam.tasks:
            raise InputError(f"--everything needs a promptable family; {fam.name} is not one")
        return Task.PROMPTABLE
    if task is not None:
        try:
            wanted = Task(task)
        except ValueError:
            raise InputError(
                f"unknown --task {task!r}; choose one of {', '.join(t.value for t in BATCH_TASKS)}"
            ) from None
        if wanted not in runnable:
            raise InputError(
                f"{fam.name} does not run task {task!r} in batch; it runs "
                + (", ".join(t.value for t in runnable) or "none")
            )
        return wanted
    if not runnable:
        raise InputError(
            f"`zoo batch` runs promptable, amodal, shadow, rgbd and video families; {fam.name} "
            f"has {', '.join(t.value for t in fam.tasks)}"
        )
    return runnable[0]


def _fixed_prompts(
    task: Task, boxes: Any, points: Any, labels: Any, prompts_file: Any, prompts: Any
) -> Any:
    """One prompt set for every item (JSON-safe), checked now; ``None`` if none given."""
    from zoo.prompts import Prompts, as_prompts, as_shadow_prompts
    from zoo.runners import parse_boxes, parse_labels, parse_points

    given = [x is not None for x in (boxes or points or labels, prompts_file, prompts)]
    if sum(given) > 1:
        raise InputError("give prompts one way: --boxes/--points, --prompts FILE, or prompts=")
    if prompts_file is not None:
        path = Path(prompts_file)
        if not path.is_file():
            raise InputError(f"prompts file {path} does not exist")
        try:
            prompts = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise InputError(f"prompts file {path} is not valid JSON: {exc.msg}") from None
    if boxes or points or labels:
        b = parse_boxes(boxes) if isinstance(boxes, str) else boxes
        p = parse_points(points) if isinstance(points, str) else points
        lab = parse_labels(labels) if isinstance(labels, str) else labels
        if p is not None and lab is None:
            raise InputError(f'{len(p)} --points given without --labels; add --labels "1,..."')
        prompts = Prompts.build(boxes=b, points=p, labels=lab).to_json()
    if prompts is None:
        return None
    if task is Task.SHADOW:
        return [s.model_dump(mode="json") for s in as_shadow_prompts(prompts)]
    return as_prompts(prompts).to_json()


def _split_options(
    fam: FamilySpec, values: dict[str, Any], explicit: set[str]
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """(loader kwargs, core task options, task-method kwargs) of the parsed values.

    Loader options go to ``zoo.load`` only when the user set them (as ``zoo run`` does:
    the family's own default applies otherwise)."""
    from zoo.runners import TASK_OPTIONS

    core = {o.name for t in fam.tasks for o in TASK_OPTIONS.get(t, [])}
    model = {o.name for o in fam.options if o.model}
    own = {o.name for o in fam.options}
    loader = {k: v for k, v in values.items() if k in model and k in explicit}
    task_opts = {k: v for k, v in values.items() if k in core and k not in own}
    call = {k: v for k, v in values.items() if k in own and k not in model and v is not None}
    if "multimask" in own and "multimask" in values:  # a family that declares it itself
        task_opts["multimask"] = values["multimask"]
        call.pop("multimask", None)
    return loader, task_opts, call


def prepare(
    name: str,
    input: str | os.PathLike[str],
    *,
    out: str | os.PathLike[str] | None = None,
    formats: str | list[str] = "coco",
    task: str | None = None,
    options: dict[str, Any] | None = None,
    boxes: Any = None,
    points: Any = None,
    labels: Any = None,
    prompts_file: Any = None,
    prompts: Any = None,
    detections: str | os.PathLike[str] | None = None,
    images_dir: str | os.PathLike[str] | None = None,
    score_thr: float | None = None,
    max_pixels: int | None = None,
    device: str = "auto",
    weights: str | None = None,
    checkpoint: Any = None,
    dtype: str | None = None,
    seed: int | None = None,
    backend: str | None = None,
    engine: str = "local",
    workers: int = 1,
    address: str | None = None,
    resume: bool = False,
    progress: bool = False,
    console: Any = None,
    collect: bool = False,
) -> BatchRun:
    """Check everything and return the run (see the module docstring)."""
    from zoo.loading import check_backend
    from zoo.registry import get_registry
    from zoo.runners import parse_options

    from .decode import DEFAULT_MAX_PIXELS

    if engine not in ("local", "ray"):
        raise InputError(f"unknown --engine {engine!r}; use local or ray")
    if workers < 1:
        raise InputError(f"--workers must be at least 1, got {workers}")
    if address and engine != "ray":
        raise InputError("--address is for --engine ray; add --engine ray")
    fam, variant = get_registry().resolve_name(name)
    explicit: set[str] = set()
    values = parse_options(fam, "batch", dict(options or {}), core_runner=True, given=explicit)
    everything = bool(values.get("everything"))
    t = choose_task(fam, task, everything)
    loader, task_opts, call = _split_options(fam, values, explicit)
    fixed = _fixed_prompts(t, boxes, points, labels, prompts_file, prompts)
    if everything and (fixed is not None or detections is not None):
        raise InputError(
            "--everything takes no prompts; drop --boxes/--points/--prompts/--detections"
        )
    from zoo.everything import EVERYTHING_OPTION_NAMES

    settings = {
        k: task_opts[k]
        for k in EVERYTHING_OPTION_NAMES
        if k != "multimask" and task_opts.get(k) is not None
    }
    if settings and not everything:
        raise InputError(
            f"--{next(iter(settings)).replace('_', '-')} applies to --everything; add it"
        )
    fmts = check_batch_formats(formats)
    if "parquet" in fmts:
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise InputError(
                "--format parquet needs pyarrow; pip install 'sam-zoo[parquet]'"
            ) from None
    if detections is not None:
        read_detections(str(detections), score_thr)  # fail now, not in every worker
    plan = Plan(
        name=variant.name if variant else fam.name,
        task=t.value,
        input=os.fspath(input) if "://" in os.fspath(input) else os.path.abspath(input),
        formats=fmts,
        out=os.path.abspath(os.fspath(out)) if out is not None else None,
        device=device,
        weights=weights,
        checkpoint=checkpoint,
        dtype=dtype,
        seed=seed,
        backend=check_backend(backend, fam),
        model_options={k: (str(v) if isinstance(v, Path) else v) for k, v in loader.items()},
        call={k: (str(v) if isinstance(v, Path) else v) for k, v in call.items()},
        multimask=bool(task_opts.get("multimask", False)),
        everything=settings if everything else None,
        fixed_prompts=fixed,
        detections=os.path.abspath(detections) if detections is not None else None,
        images_dir=os.fspath(images_dir) if images_dir is not None else None,
        score_thr=score_thr,
        max_pixels=int(max_pixels or DEFAULT_MAX_PIXELS),
        keep_results="jsonl" in fmts or collect,
    )
    source = plan.open_source()
    if plan.out is not None:
        check_out(plan, resume)
    elif resume:
        raise InputError(f"resuming needs an output folder; give {hint('--out DIR', 'out=')}")
    devices, gpus = default_workers_devices(device, workers if engine == "local" else 1)
    if engine == "ray":
        from zoo.model import resolve_device

        gpus = resolve_device(device).startswith("cuda")
        plan.device = "cuda" if gpus else "cpu"
    plan.torch_threads = None
    if not gpus and (engine == "local" or not address):  # this machine's cores, shared out
        plan.torch_threads = threads_for(workers)
    model = None
    if engine == "local" and workers == 1:
        model = plan.load_model()  # a bad checkpoint fails here, before --out exists
    else:
        _preflight_files(fam, variant, plan)
    return BatchRun(
        plan,
        source,
        engine=engine,
        workers=workers,
        address=address,
        model=model,
        progress=progress,
        console=console,
        collect=collect,
        devices=devices,
        gpus=gpus,
    )


def _preflight_files(fam: FamilySpec, variant: Any, plan: Plan) -> None:
    """Resolve (download once) the weights before N workers all need them."""
    from zoo.loading import RANDOM, _overrides, resolve_files

    _overrides(plan.checkpoint, variant)  # a missing --checkpoint file: one line, now
    if plan.weights == RANDOM or plan.checkpoint is not None:
        return
    if variant is not None and variant.checkpoints:
        resolve_files(variant, fam, variant.name, progress=False)


def _manifest_of(inputs: Iterable[Any]) -> str:
    """A list of paths/URIs or manifest rows -> a temporary JSONL manifest (absolute paths)."""
    fd, path = tempfile.mkstemp(prefix="zoo-batch-", suffix=".jsonl")
    with os.fdopen(fd, "w") as fh:
        for x in inputs:
            row = dict(x) if isinstance(x, dict) else {"image": os.fspath(x)}
            loc = row.get("image") or row.get("video")
            if isinstance(loc, (str, os.PathLike)) and "://" not in os.fspath(loc):
                row["video" if "video" in row else "image"] = os.path.abspath(os.fspath(loc))
            fh.write(json.dumps(row, default=str) + "\n")
    return path


def batch(
    name: str,
    inputs: str | os.PathLike[str] | Iterable[Any],
    prompts: Any = None,
    *,
    engine: str = "local",
    out: str | os.PathLike[str] | None = None,
    workers: int = 1,
    formats: str | list[str] = "coco",
    device: str = "auto",
    weights: str | None = None,
    checkpoint: Any = None,
    resume: bool = False,
    progress: bool = False,
    **kwargs: Any,
) -> Iterator[BatchResult]:
    """Run ``name`` over many items; yields a :class:`BatchResult` per item.

    ``inputs``: anything ``zoo batch --input`` takes (folder, glob, list file, JSONL or
    Parquet manifest, COCO JSON), or a Python list of paths/URIs or manifest rows
    (``{"image": ..., "boxes": [...]}``). ``prompts``: one prompt set for every item
    (``{"boxes": [[...]]}``, a ``Prompts``...); per-item prompts come from the rows. With
    ``out`` the same files as the CLI are written (and a rerun resumes). Other keywords:
    ``everything=True``, ``points_per_side=...``, family options (``image_size=256``),
    ``detections=``, ``images_dir=``, ``score_thr=``, ``task=``, ``address=``, ``seed=``.
    Items already finished in ``out`` are yielded with ``results=None``.
    """
    known = {
        "task",
        "detections",
        "images_dir",
        "score_thr",
        "max_pixels",
        "dtype",
        "seed",
        "backend",
        "address",
    }
    direct = {k: kwargs.pop(k) for k in list(kwargs) if k in known}
    temp = None
    if not isinstance(inputs, (str, os.PathLike)):
        if isinstance(prompts, str):
            raise InputError("prompts= takes prompts (boxes, a Prompts), not a path")
        temp = inputs = _manifest_of(inputs)
    if prompts is not None and not isinstance(prompts, (list, dict)):
        prompts = prompts.to_json() if hasattr(prompts, "to_json") else prompts
    try:
        run = prepare(
            name,
            inputs,
            out=out,
            formats=formats,
            options=kwargs,
            prompts=prompts,
            device=device,
            weights=weights,
            checkpoint=checkpoint,
            engine=engine,
            workers=workers,
            resume=resume,
            progress=progress,
            collect=True,
            **direct,
        )
        for st in run:
            results = st.results
            if results is None and st.record and st.record.get("results") is not None:
                from zoo.results import TaskResult

                results = [TaskResult.from_dict(d) for d in st.record["results"]]
            yield BatchResult(st.key, st.uri, st.ok, results, st.error)
    finally:
        if temp is not None:
            os.unlink(temp)
