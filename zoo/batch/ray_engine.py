"""The Ray engine: the same per-item function over a Ray Data actor pool.

The driver streams the input through the same sources as the local engine, skips items
that are already finished, and stages the rest as Parquet parts (one JSON item per row)
under ``OUT/.zoo-batch/ray-items/``. Ray Data reads them back (``read_parquet``: blocks
are spread over the cluster) and ``map_batches`` them through :class:`BatchActor`, a
pool of ``--workers`` actors that each load the model once (``num_gpus=1`` on GPU
clusters) and run :func:`zoo.batch.local.run_items` - the local engine's pipeline,
so decoding and writing overlap with compute inside every actor too. Actors write the
same per-item outputs themselves (so ``--out`` must be a folder every node sees: a shared
filesystem); only one small status row per item travels back to the driver, which draws
the progress bar and merges the outputs at the end like the local engine.

Without ``--address`` a local cluster is started (``ray.init(num_cpus=...)``); with
``--address auto`` or ``ray://host:10001`` the job joins a running one.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from zoo.errors import InputError

from .items import Item
from .layout import STATE_DIR, Layout
from .local import Status
from .plan import Plan

__all__ = ["BatchActor", "run_ray"]

STAGE_ROWS = 10_000


class BatchActor:
    """One model per actor; ``__call__`` processes a batch of staged items."""

    def __init__(self, plan_dict: dict[str, Any], device: str | None = None) -> None:
        from .layout import ItemWriter
        from .work import ItemRunner

        self.plan = Plan.from_dict(plan_dict)
        model = self.plan.load_model(device)
        self.runner = ItemRunner(model, self.plan)
        out = self.plan.out
        self.writer = (
            ItemWriter(Layout(out), self.plan.formats, self.plan.keep_results) if out else None
        )

    def __call__(self, batch: dict[str, Any]) -> dict[str, list[Any]]:
        from .local import run_items

        items = [Item.from_json(str(t)) for t in batch["item"]]
        rows: dict[str, list[Any]] = {k: [] for k in ("key", "ok", "masks", "error", "status")}
        collect = self.plan.keep_results
        for st in run_items(self.runner, items, self.writer, prefetch=2, collect=collect):
            if collect and st.record is None and st.results is not None:
                st.record = {"results": [r.to_dict() for r in st.results]}
            rows["key"].append(st.key)
            rows["ok"].append(st.ok)
            rows["masks"].append(st.masks)
            rows["error"].append(st.error)
            rows["status"].append(
                json.dumps(
                    {
                        "timings": st.timings,
                        "provenance": st.provenance,
                        "record": st.record,
                        "skipped": st.skipped,
                        "uri": st.uri,
                    }
                )
            )
        return rows


def _stage(
    items: Iterator[Item], layout: Layout | None, folder: Path, first: int
) -> Iterator[Status | int]:
    """Write pending items as Parquet parts; yield skip statuses, then the count staged.

    Ray Data makes one block per file, and blocks are what actors share out: parts start
    at ``first`` rows and double up to :data:`STAGE_ROWS`, so a short run still feeds every
    actor and a long one does not make a million files."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder.mkdir(parents=True, exist_ok=True)
    rows: list[str] = []
    part = staged = 0
    size = max(1, first)

    def flush() -> None:
        nonlocal part, rows, size
        if rows:
            pq.write_table(pa.table({"item": rows}), folder / f"part-{part:05d}.parquet")
            part += 1
            rows = []
            size = min(STAGE_ROWS, size * 2)

    for item in items:
        if layout is not None and layout.is_done(item.key):
            yield Status(item.key, True, skipped=True, uri=item.uri)
            continue
        rows.append(item.to_json())
        staged += 1
        if len(rows) >= size:
            flush()
    flush()
    yield staged
    yield -part  # the number of parts, negated (the caller tells the two apart)


def _init_ray(address: str | None, num_cpus: int | None) -> bool:
    """Connect (``address``) or start a local cluster; True when this call started it."""
    try:
        import ray
    except ImportError:
        raise InputError("--engine ray needs Ray; pip install 'sam-zoo[ray]'") from None
    if ray.is_initialized():
        return False
    kwargs: dict[str, Any] = {
        "include_dashboard": False,
        "log_to_driver": False,
        "logging_level": "ERROR",
        "configure_logging": True,
    }
    if address:
        ray.init(address=address, **kwargs)
    else:
        ray.init(num_cpus=num_cpus or os.cpu_count(), **kwargs)
    return True


def _rows(ds: Any) -> Iterator[dict[str, Any]]:
    """The status rows; a failure of the job itself (an actor that cannot load the model)
    becomes one line naming its cause instead of Ray's multi-page traceback."""
    from zoo.errors import ZooError

    try:
        yield from ds.iter_rows()
    except Exception as exc:
        cause: BaseException = exc
        while cause.__cause__ is not None:
            cause = cause.__cause__
        text = str(cause).strip().splitlines()
        raise ZooError(f"the Ray job failed: {text[-1] if text else type(cause).__name__}") from exc


def _actor_cpus(workers: int, gpus: bool) -> float:
    """CPUs each actor reserves: a GPU actor needs one; CPU actors share the cluster but
    leave one CPU to Ray Data's read tasks (else a full pool waits for reads forever)."""
    import ray

    if gpus:
        return 1.0
    total = float(ray.cluster_resources().get("CPU", 1.0))
    return max(0.1, min(1.0, (total - 1.0) / max(1, workers))) if total > 1 else 0.5


def run_ray(
    plan: Plan,
    items: Iterator[Item],
    *,
    address: str | None,
    workers: int,
    gpus: bool,
    batch_size: int = 16,
) -> Iterator[Status]:
    """Run ``plan`` on Ray; yields a :class:`Status` per item (skipped ones first)."""
    started = _init_ray(address, None)
    import ray

    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    ctx.print_on_execution_start = False
    layout = Layout(plan.out) if plan.out else None
    folder = (
        layout.out / STATE_DIR / "ray-items"
        if layout is not None
        else Path(tempfile.mkdtemp(prefix="zoo-batch-ray-"))
    )
    if folder.exists():
        shutil.rmtree(folder)
    try:
        staged = parts = 0
        for st in _stage(items, layout, folder, batch_size):
            if isinstance(st, Status):
                yield st
            elif st >= 0:
                staged = st
            else:
                parts = -st
        if staged == 0:
            return
        ds = ray.data.read_parquet(str(folder), override_num_blocks=parts)
        ds = ds.map_batches(
            BatchActor,
            fn_constructor_kwargs={"plan_dict": plan.to_dict(), "device": "cuda" if gpus else None},
            batch_size=batch_size,
            compute=ray.data.ActorPoolStrategy(size=workers),
            num_gpus=1 if gpus else 0,
            num_cpus=_actor_cpus(workers, gpus),
            batch_format="numpy",
        )
        for row in _rows(ds):
            extra = json.loads(row["status"])
            yield Status(
                int(row["key"]),
                bool(row["ok"]),
                skipped=bool(extra["skipped"]),
                masks=int(row["masks"]),
                error=row["error"] or None,
                timings=extra["timings"] or {},
                provenance=extra["provenance"],
                record=extra["record"],
                uri=extra["uri"],
            )
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        if started:
            ray.shutdown()
