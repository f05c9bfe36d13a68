"""Small helpers shared by the benchmark scripts: timing, device choice, table + JSON output."""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def bench_device() -> str:
    """``ZOO_BENCH_DEVICE`` (``nox -s bench -- cuda``) or ``--device X`` on the command line."""
    import sys

    if "--device" in sys.argv:
        return sys.argv[sys.argv.index("--device") + 1]
    return os.environ.get("ZOO_BENCH_DEVICE", "cpu")


def timeit(
    fn: Callable[[], Any], repeat: int = 5, warmup: int = 1, sync: Callable[[], None] | None = None
) -> float:
    """Median wall time of ``repeat`` runs after ``warmup`` runs (seconds)."""
    for _ in range(warmup):
        fn()
        if sync:
            sync()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        if sync:
            sync()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def rss_bytes() -> int:
    """Resident set size of this process now (Linux ``/proc``; 0 elsewhere)."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def peak_rss(fn: Callable[[], Any], interval: float = 0.002) -> tuple[float, int]:
    """``(seconds, peak RSS in bytes)`` of one call of ``fn``.

    ``ru_maxrss`` is a high-water mark for the whole process and cannot be reset between
    cases, so a thread samples the RSS every ``interval`` seconds while ``fn`` runs; the
    peak of one case is then comparable with the next one's.
    """
    import threading

    peak = rss_bytes()
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, rss_bytes())
            done.wait(interval)

    t = threading.Thread(target=sample, daemon=True)
    t.start()
    t0 = time.perf_counter()
    try:
        fn()
    finally:
        seconds = time.perf_counter() - t0
        done.set()
        t.join()
    return seconds, max(peak, rss_bytes())


def report(name: str, rows: list[dict[str, Any]], meta: dict[str, Any] | None = None) -> Path:
    """Print a plain table and write ``benchmarks/results/<name>.json``."""
    cols = list(rows[0]) if rows else []
    widths = [max(len(c), *(len(_fmt(r.get(c))) for r in rows)) for c in cols]
    print("  ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for r in rows:
        print("  ".join(_fmt(r.get(c)).ljust(w) for c, w in zip(cols, widths, strict=True)))
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"{name}.json"
    info = {
        "machine": platform.platform(),
        "python": platform.python_version(),
        "threads": _threads(),
        **(meta or {}),
    }
    out.write_text(json.dumps({"meta": info, "rows": rows}, indent=2))
    print(f"\nwrote {out}")
    return out


def _threads() -> int | None:
    try:
        import torch

        return int(torch.get_num_threads())
    except Exception:
        return None


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)
