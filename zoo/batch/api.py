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
from zoo.options import LoadOptions
from zoo.specs import FamilySpec
from zoo.tasks.spec import TaskSpec

from .plan import Plan, check_batch_formats
from .runner import BatchRun, check_out, default_workers_devices, threads_for

__all__ = ["BatchResult", "EngineOptions", "SourceOptions", "batch", "fixed_prompts", "prepare"]


@dataclass
class SourceOptions:
    """Where the items and their boxes come from, besides ``--input`` itself."""

    #: a COCO results file of detector boxes per image (``--detections``)
    detections: str | os.PathLike[str] | None = None
    #: the image folder of a COCO ``--input`` (default: its folder)
    images_dir: str | os.PathLike[str] | None = None
    #: drop COCO/detection boxes scoring below this
    score_thr: float | None = None
    #: refuse (as a failed item) images larger than this many pixels
    max_pixels: int | None = None


@dataclass
class EngineOptions:
    """How the items are spread: one process, ``workers`` processes, or a Ray cluster."""

    engine: str = "local"
    workers: int = 1
    address: str | None = None

    def check(self) -> None:
        if self.engine not in ("local", "ray"):
            raise InputError(f"unknown --engine {self.engine!r}; use local or ray")
        if self.workers < 1:
            raise InputError(f"--workers must be at least 1, got {self.workers}")
        if self.address and self.engine != "ray":
            raise InputError("--address is for --engine ray; add --engine ray")


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


def fixed_prompts(
    spec: TaskSpec,
    *,
    boxes: Any = None,
    points: Any = None,
    labels: Any = None,
    prompts_file: Any = None,
    prompts: Any = None,
) -> dict[str, Any]:
    """The prompt columns every item without its own gets, from flags (the one text
    grammar), a ``--prompts`` file or a Python value (any prompt form), checked now."""
    from zoo.prompts import as_prompts, as_shadow_prompts

    given = [x is not None for x in (boxes or points or labels, prompts_file, prompts)]
    if sum(given) > 1:
        raise InputError("give prompts one way: --boxes/--points, --prompts FILE, or prompts=")
    if prompts_file is not None:
        from zoo.io.jsonfiles import read_json

        prompts = read_json(prompts_file, "prompts file", "--prompts")
    if boxes or points or labels:
        return spec.flag_prompts(boxes, points, labels)  # the task's grammar (video: ID:...)
    if prompts is None:
        return {}
    if spec.name == "shadow":
        return {"prompts": [s.model_dump(mode="json") for s in as_shadow_prompts(prompts)]}
    if isinstance(prompts, dict) and set(prompts) <= {"boxes", "points", "labels"}:
        as_prompts(prompts)
        return {k: (v.tolist() if hasattr(v, "tolist") else v) for k, v in prompts.items()}
    return {"prompts": as_prompts(prompts).to_json()}


def prepare(
    name: str,
    input: str | os.PathLike[str],
    *,
    out: str | os.PathLike[str] | None = None,
    formats: str | list[str] = "coco",
    load: LoadOptions | None = None,
    options: dict[str, Any] | None = None,
    task: str | None = None,
    fixed: dict[str, Any] | None = None,
    source: SourceOptions | None = None,
    engine: EngineOptions | None = None,
    resume: bool = False,
    progress: bool = False,
    console: Any = None,
    collect: bool = False,
) -> BatchRun:
    """Check everything and return the run (see the module docstring).

    ``options``: the family's and the task's options as typed (``{"image_size": "256",
    "everything": True}``); ``fixed``: prompt columns for items without their own (see
    :func:`fixed_prompts`)."""
    from zoo.loading import check_backend
    from zoo.options import validate_many
    from zoo.registry import get_registry
    from zoo.running import check_other_tasks, choose_task, split_family_options
    from zoo.tasks.spec import RunInputs

    from .decode import DEFAULT_MAX_PIXELS

    load = load or LoadOptions()
    source = source or SourceOptions()
    engine = engine or EngineOptions()
    engine.check()
    reg = get_registry()
    fam, variant = reg.resolve_name(name)
    label = variant.name if variant else fam.name
    raw = dict(options or {})
    hint_run = RunInputs(
        boxes="given" if fixed and ("boxes" in fixed or "prompts" in fixed) else None
    )
    spec = choose_task(reg, fam, hint_run, raw, task)
    check_other_tasks(reg, fam, spec, raw, "batch")
    fam_opts, task_opts = validate_many(
        [fam.options, spec.options],
        raw,
        command="batch",
        where=f"zoo batch {label}",
        info_hint=f"zoo info {fam.name}",
    )
    loader, call = split_family_options(fam, fam_opts)
    if spec.name == "everything" and (fixed or source.detections is not None):
        raise InputError(
            "--everything takes no prompts; drop --boxes/--points/--prompts/--detections"
        )
    given_task = task_opts.given()
    if "detector" in type(task_opts).model_fields:
        from zoo.concept_detector import check_detector_options

        if check_detector_options(task_opts) is not None and (
            source.detections is not None or fixed
        ):
            raise InputError("use either --detector or --detections/--boxes/--prompts, not both")
    fmts = check_batch_formats(formats)
    if "parquet" in fmts:
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise InputError(
                "--format parquet needs pyarrow; pip install 'sam-zoo[parquet]'"
            ) from None
    if source.detections is not None:
        from zoo.detections import read_detections

        read_detections(str(source.detections), source.score_thr)  # fail now, not per worker
    plan = Plan(
        name=label,
        task=spec.name,
        input=os.fspath(input) if "://" in os.fspath(input) else os.path.abspath(input),
        formats=fmts,
        out=os.path.abspath(os.fspath(out)) if out is not None else None,
        device=load.device,
        weights=load.weights,
        checkpoint=load.checkpoint_files(),
        dtype=load.dtype,
        seed=load.seed,
        backend=check_backend(load.backend, fam),
        model_options={k: _plain(v) for k, v in loader.items()},
        call={k: _plain(v) for k, v in call.items()},
        task_options={k: _plain(v) for k, v in given_task.items()},
        fixed=dict(fixed or {}),
        detections=os.path.abspath(source.detections) if source.detections is not None else None,
        images_dir=os.fspath(source.images_dir) if source.images_dir is not None else None,
        score_thr=source.score_thr,
        max_pixels=int(source.max_pixels or DEFAULT_MAX_PIXELS),
        keep_results="jsonl" in fmts or collect,
    )
    src = plan.open_source()
    if plan.out is not None:
        check_out(plan, resume)
    elif resume:
        raise InputError(f"resuming needs an output folder; give {hint('--out DIR', 'out=')}")
    devices, gpus = default_workers_devices(
        load.device, engine.workers if engine.engine == "local" else 1
    )
    if engine.engine == "ray":
        from zoo.devices import resolve_device

        gpus = resolve_device(load.device).startswith("cuda")
        plan.device = "cuda" if gpus else "cpu"
    plan.torch_threads = None
    if not gpus and (engine.engine == "local" or not engine.address):
        plan.torch_threads = threads_for(engine.workers)  # this machine's cores, shared out
    model = None
    if engine.engine == "local" and engine.workers == 1:
        model = plan.load_model()  # a bad checkpoint fails here, before --out exists
    else:
        _preflight_files(fam, variant, plan)
    return BatchRun(
        plan,
        src,
        engine=engine.engine,
        workers=engine.workers,
        address=engine.address,
        model=model,
        progress=progress,
        console=console,
        collect=collect,
        devices=devices,
        gpus=gpus,
    )


def _plain(v: Any) -> Any:
    return str(v) if isinstance(v, Path) else v


def _preflight_files(fam: FamilySpec, variant: Any, plan: Plan) -> None:
    """Resolve (download once) the weights before N workers all need them."""
    from zoo.loading import RANDOM, checkpoint_overrides, resolve_files

    checkpoint_overrides(plan.checkpoint, variant)  # a missing --checkpoint file: one line, now
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
    ``detections=``, ``images_dir=``, ``score_thr=``, ``max_pixels=``, ``task=``,
    ``address=``, ``dtype=``, ``seed=``, ``backend=``.
    Items already finished in ``out`` are yielded with ``results=None``.
    """
    from zoo.options import validate

    src = SourceOptions(**{k: kwargs.pop(k) for k in list(kwargs) if k in _SOURCE_KEYS})
    load_kw = {k: kwargs.pop(k) for k in list(kwargs) if k in ("dtype", "seed", "backend")}
    load = validate(
        LoadOptions,
        {
            k: v
            for k, v in {"device": device, "weights": weights, **load_kw}.items()
            if v is not None
        },
        command="batch",
        where="zoo.batch",
    )
    if checkpoint is not None:
        load = load.model_copy(update={"checkpoint": checkpoint})
    task = kwargs.pop("task", None)
    address = kwargs.pop("address", None)
    temp = None
    if not isinstance(inputs, (str, os.PathLike)):
        if isinstance(prompts, str):
            raise InputError("prompts= takes prompts (boxes, a Prompts), not a path")
        temp = inputs = _manifest_of(inputs)
    try:
        from zoo.registry import get_registry
        from zoo.running import choose_task
        from zoo.tasks.spec import RunInputs

        reg = get_registry()
        fam, _ = reg.resolve_name(name)
        spec = choose_task(reg, fam, RunInputs(), kwargs, task)
        fixed = fixed_prompts(spec, prompts=_jsonable(prompts))
        run = prepare(
            name,
            inputs,
            out=out,
            formats=formats,
            load=load,
            options=kwargs,
            task=task,
            fixed=fixed,
            source=src,
            engine=EngineOptions(engine, workers, address),
            resume=resume,
            progress=progress,
            collect=True,
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


_SOURCE_KEYS = ("detections", "images_dir", "score_thr", "max_pixels")


def _jsonable(prompts: Any) -> Any:
    if prompts is None or isinstance(prompts, (list, dict)):
        return prompts
    return prompts.to_json() if hasattr(prompts, "to_json") else prompts
