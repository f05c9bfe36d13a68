"""The local engine: one model, decode and writes overlapped with compute.

While the model works on item *n*, background threads decode items *n+1 ... n+k* (a
bounded prefetch: memory stays flat however long the input) and write the outputs of
items *n-1, n-2 ...* (RLE encoding, PNG compression and JSON are off the model's path).
Torch releases the GIL inside its kernels, so on a 2-core machine the overlap is real.

``--workers N`` runs :func:`run_partition` in N processes (``spawn``), each with its own
model and ``torch`` threads = cores / N (or its own GPU), each taking every N-th item of
the same input stream; they report per-item :class:`Status` es to the driver through a
queue. A worker dies with the driver (Linux ``PR_SET_PDEATHSIG``), so a killed run leaves
no process writing behind a resume.
"""

from __future__ import annotations

import collections
import contextlib
import os
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from zoo.errors import ZooError

from .items import Item
from .layout import ItemWriter, Layout
from .plan import Plan
from .work import ItemRunner, Prepared

__all__ = ["Status", "run_items", "run_partition", "run_workers"]


@dataclass
class Status:
    """What the driver hears about one item (small; crosses processes and Ray)."""

    key: int
    ok: bool
    skipped: bool = False
    masks: int = 0
    error: str | None = None
    timings: dict[str, float] = field(default_factory=dict)
    provenance: dict[str, Any] | None = None
    #: the item's record (Python API) or its results in memory (local, no ``out``)
    record: dict[str, Any] | None = None
    results: list[Any] | None = None
    uri: str = ""


def _error_text(exc: BaseException) -> tuple[str, str]:
    if isinstance(exc, ZooError):
        return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__, "input"
    return f"{type(exc).__name__}: {exc}".splitlines()[0], "internal"


def _prepare(
    runner: ItemRunner, item: Item
) -> tuple[Item, Prepared | None, BaseException | None, float]:
    t0 = time.perf_counter()
    try:
        return item, runner.prepare(item), None, time.perf_counter() - t0
    except Exception as exc:
        return item, None, exc, time.perf_counter() - t0


def run_items(
    runner: ItemRunner,
    items: Iterable[Item],
    writer: ItemWriter | None,
    *,
    prefetch: int = 4,
    decode_threads: int | None = None,
    write_threads: int | None = None,
    collect: bool = False,
) -> Iterator[Status]:
    """Process ``items`` in order of arrival; yields one :class:`Status` per item.

    Background threads default to one each on a machine of two cores or fewer (more would
    only fight the model for the same cores), two each otherwise."""
    spare = 1 if (os.cpu_count() or 1) <= 2 else 2
    decode_threads = decode_threads or spare
    write_threads = write_threads or spare
    layout = writer.layout if writer else None
    decode = ThreadPoolExecutor(decode_threads, thread_name_prefix="zoo-decode")
    write = ThreadPoolExecutor(write_threads, thread_name_prefix="zoo-write")
    preps: collections.deque[Future[Any]] = collections.deque()
    writes: collections.deque[Future[Status]] = collections.deque()

    def finish(
        item: Item,
        prep: Prepared | None,
        results: list[Any] | None,
        error: BaseException | None,
        timings: dict[str, float],
    ) -> Status:
        try:
            if error is not None:
                text, kind = _error_text(error)
                if writer is not None:
                    writer.write_error(item, text, kind)
                return Status(item.key, False, error=text, timings=timings, uri=item.uri)
            assert results is not None
            t0 = time.perf_counter()
            record = None
            if writer is not None:
                image = prep.image if prep is not None else None
                record = writer.write(item, image, results, timings)
            timings["write"] = time.perf_counter() - t0
            masks = sum(len(r) for r in results)
            prov = results[0].provenance.record() if results else None
            return Status(
                item.key,
                True,
                masks=masks,
                timings=timings,
                provenance=prov,
                record=record if collect else None,
                results=results if collect else None,
                uri=item.uri,
            )
        except Exception as exc:  # a write failed (disk full, a mask that cannot encode)
            text, kind = _error_text(exc)
            if writer is not None:
                with contextlib.suppress(Exception):
                    writer.write_error(item, f"writing outputs failed: {text}", kind)
            return Status(
                item.key,
                False,
                error=f"writing outputs failed: {text}",
                timings=timings,
                uri=item.uri,
            )
        finally:
            if prep is not None:
                prep.cleanup()

    def compute(fut: Future[Any]) -> None:
        item, prep, err, t_prep = fut.result()
        timings = {"prepare": t_prep}
        results = None
        if err is None:
            t0 = time.perf_counter()
            try:
                results = runner.compute(prep)  # type: ignore[arg-type]
            except Exception as exc:
                err = exc
            timings["compute"] = time.perf_counter() - t0
        writes.append(write.submit(finish, item, prep, results, err, timings))

    def drain(limit: int) -> Iterator[Status]:
        """Statuses of finished writes; block while more than ``limit`` are pending."""
        while writes and (writes[0].done() or len(writes) > limit):
            yield writes.popleft().result()

    try:
        for item in items:
            if layout is not None and layout.is_done(item.key):
                yield Status(item.key, True, skipped=True, uri=item.uri)
                continue
            preps.append(decode.submit(_prepare, runner, item))
            if len(preps) > prefetch:
                compute(preps.popleft())
            yield from drain(2 * write_threads)
        while preps:
            compute(preps.popleft())
            yield from drain(2 * write_threads)
        yield from drain(0)
    finally:
        for f in preps:
            f.cancel()
        decode.shutdown(wait=True, cancel_futures=True)
        write.shutdown(wait=True)


# --------------------------------------------------------------------------- processes


def _die_with_parent() -> None:
    """Linux: get SIGKILL when the driver dies, so no orphan keeps writing."""
    try:
        import ctypes
        import signal

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:
        pass


def run_partition(
    plan_dict: dict[str, Any], index: int, count: int, queue: Any, device: str | None
) -> None:
    """A worker process: load the model, take every ``count``-th item, report statuses."""
    _die_with_parent()
    plan = Plan.from_dict(plan_dict)
    try:
        model = plan.load_model(device)
        runner = ItemRunner(model, plan)
        writer = ItemWriter(Layout(plan.out), plan.formats, plan.keep_results) if plan.out else None
        source = plan.open_source()
        mine = (it for i, it in enumerate(source.items()) if i % count == index)
        for status in run_items(runner, mine, writer, collect=plan.keep_results):
            status.results = None
            queue.put(status)
    except BaseException as exc:
        text, _ = _error_text(exc)
        queue.put(("fatal", index, text))
    finally:
        queue.put(("done", index, None))


def run_workers(plan: Plan, workers: int, devices: list[str | None]) -> Iterator[Status]:
    """Run ``workers`` processes and yield their statuses as they arrive."""
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    queue = ctx.Queue(maxsize=256)
    procs = [
        ctx.Process(
            target=run_partition,
            args=(plan.to_dict(), i, workers, queue, devices[i]),
            daemon=True,
            name=f"zoo-batch-{i}",
        )
        for i in range(workers)
    ]
    for p in procs:
        p.start()
    alive = workers
    fatal: list[str] = []
    try:
        while alive:
            msg = queue.get()
            if isinstance(msg, tuple):
                if msg[0] == "fatal":
                    fatal.append(msg[2])
                elif msg[0] == "done":
                    alive -= 1
                continue
            yield msg
    finally:
        for p in procs:
            if p.is_alive():
                p.terminate()
            p.join(timeout=10)
    if fatal:
        raise ZooError(f"a batch worker failed: {fatal[0]}")


def cpu_threads(workers: int) -> int:
    return max(1, (os.cpu_count() or 1) // max(1, workers))
