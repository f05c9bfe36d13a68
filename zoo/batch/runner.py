"""One batch run from start to end: check, prepare ``--out``, run an engine, merge, report.

The order matters for the "a failed command leaves nothing behind" rule: the plan, the
input, the detections and (for the in-process engine) the model are all checked *before*
``--out`` is created. Then the state file goes in first, temporaries of a killed run are
swept, the engine runs (items already finished are skipped), the merged files and
``run.json`` are written last. The exit code is 0 when every item succeeded and 3 when
some failed (their reasons are in ``errors.jsonl``).
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from zoo.errors import InputError
from zoo.io.interrupt import keeping

from .layout import ItemWriter, Layout, write_json_atomic
from .local import Status, cpu_threads, run_items, run_workers
from .plan import RUNTIME_FIELDS, Plan
from .sources import Source

__all__ = ["EXIT_SOME_FAILED", "BatchRun", "check_out"]

#: ``zoo batch`` exit code when some items failed (the others are written).
EXIT_SOME_FAILED = 3


def check_out(plan: Plan, resume: bool) -> bool:
    """Can ``plan.out`` take this run? Returns whether it already holds it (a resume)."""
    from zoo.context import check_out_dir

    assert plan.out is not None
    out = Path(plan.out)
    check_out_dir(out)
    state = Layout(out).state
    if state.is_file():
        saved = json.loads(state.read_text())
        if saved.get("fingerprint") != plan.fingerprint():
            diff = [
                k
                for k, v in Plan.from_dict(saved["plan"]).to_dict().items()
                if k not in RUNTIME_FIELDS and v != plan.to_dict().get(k)
            ]
            raise InputError(
                f"--out {out} holds another batch run (it differs in {', '.join(diff) or '?'}); "
                "repeat that command to resume it, or choose another --out"
            )
        return True
    if resume:
        raise InputError(f"--resume: {out} holds no batch run to resume; drop --resume")
    if out.exists() and any(out.iterdir()):
        raise InputError(f"--out {out} is not empty and holds no batch run; choose a new folder")
    return False


class BatchRun:
    """Drives one run; iterate it for per-item statuses, then read :attr:`report`."""

    def __init__(
        self,
        plan: Plan,
        source: Source,
        *,
        engine: str = "local",
        workers: int = 1,
        address: str | None = None,
        model: Any = None,
        progress: bool = False,
        console: Any = None,
        collect: bool = False,
        devices: list[str | None] | None = None,
        gpus: bool = False,
    ) -> None:
        self.plan, self.source = plan, source
        self.engine, self.workers, self.address = engine, workers, address
        self.model, self.progress, self.console = model, progress, console
        self.collect, self.devices, self.gpus = collect, devices, gpus
        self.layout = Layout(plan.out) if plan.out else None
        self.report: dict[str, Any] = {}
        self.counts = {"items": 0, "done": 0, "failed": 0, "skipped": 0, "masks": 0}
        self.timings = {"prepare": 0.0, "compute": 0.0, "write": 0.0}
        self.provenance: dict[str, Any] | None = None

    # ------------------------------------------------------------------ engines
    def _statuses(self) -> Iterator[Status]:
        items = self.source.items()
        if self.engine == "ray":
            from .ray_engine import run_ray

            yield from run_ray(
                self.plan, items, address=self.address, workers=self.workers, gpus=self.gpus
            )
        elif self.workers > 1:
            yield from run_workers(self.plan, self.workers, self.devices or [None] * self.workers)
        else:
            from .work import ItemRunner

            model = self.model if self.model is not None else self.plan.load_model()
            writer = (
                ItemWriter(self.layout, self.plan.formats, self.plan.keep_results)
                if self.layout
                else None
            )
            yield from run_items(ItemRunner(model, self.plan), items, writer, collect=self.collect)

    def _start(self) -> None:
        if self.layout is None:
            return
        out = self.layout.out
        (out / ".zoo-batch").mkdir(parents=True, exist_ok=True)
        if not self.layout.state.is_file():
            write_json_atomic(
                self.layout.state,
                {"fingerprint": self.plan.fingerprint(), "plan": self.plan.to_dict()},
                indent=2,
            )
        self.layout.sweep_temporaries()

    def __iter__(self) -> Iterator[Status]:
        from zoo.progress import progress_bar

        t0 = time.perf_counter()
        self._start()
        total: list[int | None] = [None]

        def count() -> None:
            with contextlib.suppress(Exception):
                total[0] = self.source.count()

        threading.Thread(target=count, daemon=True, name="zoo-count").start()
        bar = progress_bar(unit="items", enabled=self.progress, console=self.console)
        with keeping(self._interrupted_note), bar:
            task = bar.add_task("zoo batch", total=None, info="", unit="items")
            for st in self._statuses():
                self._count(st)
                elapsed = max(time.perf_counter() - t0, 1e-9)
                c = self.counts
                bar.update(
                    task,
                    advance=1,
                    total=total[0],
                    info=(
                        f"masks {c['masks']} ({c['masks'] / elapsed:.1f}/s)  failed {c['failed']}"
                        + (f"  resumed past {c['skipped']}" if c["skipped"] else "")
                    ),
                )
                yield st
        self._finish(time.perf_counter() - t0)

    def _interrupted_note(self) -> str:
        """What an interrupted run keeps: every finished item's files, resumable."""
        if self.layout is None:
            return f"{self.counts['done']} items were done; nothing was written (no --out)"
        # counted on disk: items whose writes were under way finished before this runs
        done = failed = 0
        for _, files in self.layout.iter_shards():
            for f in files:
                if f.name.endswith(".error.json"):
                    failed += 1
                else:
                    done += 1
        also = f" ({failed} failed, kept in items/ with the reason)" if failed else ""
        return (
            f"{done} finished items{also} are kept in {self.layout.out}; run the same command "
            "again (or add --resume) to do the rest"
        )

    def _count(self, st: Status) -> None:
        c = self.counts
        c["items"] += 1
        if st.skipped:
            c["skipped"] += 1
        elif st.ok:
            c["done"] += 1
            c["masks"] += st.masks
        else:
            c["failed"] += 1
        for k in self.timings:
            self.timings[k] += float(st.timings.get(k, 0.0))
        if self.provenance is None and st.provenance:
            self.provenance = st.provenance

    # ------------------------------------------------------------------ the end
    def _finish(self, wall: float) -> None:
        c = self.counts
        worked = c["done"] + c["failed"]
        report: dict[str, Any] = {
            "model": self.plan.name,
            "task": self.plan.task,
            "engine": self.engine,
            "workers": self.workers,
            "items": c["items"],
            "done": c["done"],
            "failed": c["failed"],
            "resumed_past": c["skipped"],
            "masks": c["masks"],
            "seconds": round(wall, 3),
            "items_per_s": round(worked / wall, 3) if wall > 0 else None,
            "masks_per_s": round(c["masks"] / wall, 3) if wall > 0 else None,
        }
        if self.layout is not None:
            from .finalize import merge_outputs

            t0 = time.perf_counter()
            categories = self.source.categories or self.plan.task_spec().categories(
                self.plan.task_options_instance()
            )
            merged = merge_outputs(self.layout, self.plan.formats, categories)
            totals = merged["counts"]
            report["failed_total"] = totals["failed"]
            report["done_total"] = totals["done"]
            report["out"] = str(self.layout.out)
            run = {
                "zoo_batch": 1,
                "model": self.plan.name,
                "task": self.plan.task,
                "provenance": self.provenance or self._saved_provenance(),
                "versions": versions(self.engine, self.plan.name),
                "arguments": self.plan.to_dict(),
                "fingerprint": self.plan.fingerprint(),
                "engine": {"name": self.engine, "workers": self.workers, "address": self.address},
                "counts": {**totals, "this_run": {k: v for k, v in c.items()}},
                "timings": {
                    "wall_s": round(wall, 3),
                    "merge_s": round(time.perf_counter() - t0, 3),
                    "items_per_s": report["items_per_s"],
                    "masks_per_s": report["masks_per_s"],
                    "per_item_mean_s": {
                        k: round(v / worked, 5) if worked else None for k, v in self.timings.items()
                    },
                },
                "outputs": merged["files"],
                "exit_code": EXIT_SOME_FAILED if totals["failed"] else 0,
            }
            test_mode = str((run["provenance"] or {}).get("weights", "")).startswith("random")
            run["test_mode"] = test_mode
            write_json_atomic(self.layout.out / "run.json", run, indent=2)
            report["files"] = [str(self.layout.out / f) for f in [*merged["files"], "run.json"]]
        self.report = report

    def _saved_provenance(self) -> dict[str, Any] | None:
        """Provenance of an earlier run's record, when this run had nothing left to do."""
        assert self.layout is not None
        for _, files in self.layout.iter_shards():
            for f in files:
                if not f.name.endswith(".error.json"):
                    return json.loads(f.read_text()).get("provenance")
        return None

    @property
    def exit_code(self) -> int:
        failed = self.report.get("failed_total", self.report.get("failed", 0))
        return EXIT_SOME_FAILED if failed else 0


def versions(engine: str, name: str) -> dict[str, str]:
    """Versions that decide the outputs: zoo, the family's plugin, torch, numpy..."""
    from importlib import metadata

    from zoo import __version__
    from zoo.registry import get_registry

    out = {"zoo": __version__, "python": platform.python_version()}
    plugin = get_registry().resolve_name(name)[0].source
    deps = ("torch", "numpy", "pycocotools", *(("ray", "pyarrow") if engine == "ray" else ()))
    for dist in (*((plugin,) if plugin else ()), *deps):
        with contextlib.suppress(metadata.PackageNotFoundError):
            out[dist] = metadata.version(dist)
    return out


def default_workers_devices(device: str, workers: int) -> tuple[list[str | None], bool]:
    """Per-worker devices for ``--workers N``: one GPU each, else CPU (``torch`` threads =
    cores / N). Returns the devices and whether they are GPUs."""
    from zoo.model import resolve_device

    dev = resolve_device(device)
    if dev.startswith("cuda"):
        import torch

        n = torch.cuda.device_count()
        if workers > n:
            raise InputError(f"--workers {workers} on GPU needs {workers} GPUs; found {n}")
        return [f"cuda:{i}" for i in range(workers)], True
    return ["cpu"] * workers, False


def threads_for(workers: int) -> int:
    """``torch`` threads per model process on CPU: the cores shared out between workers,
    less one core for the decode and write threads when there is a single worker (on a
    busy 2-core machine, 2 spinning OpenMP threads made the encoder ~10x slower than 1)."""
    cores = os.cpu_count() or 1
    return cpu_threads(workers) if workers > 1 else max(1, cores - 1)
