"""Core benchmarks (issues: core SDK; 14 item 1).

1. Start-up: ``zoo list`` and ``zoo --help`` wall time as a ratio to ``python -c "import torch"``
   (target < 0.25: they must not import torch).
2. Overhead of ``zoo.load(...).segment`` over ``sam2``'s own ``SAM2ImagePredictor`` with the
   same weights, image and prompts (target < 1.05x).
3. Batching, measured the way a user calls it: ``zoo.load("sam2:tiny").segment`` on the
   shared 1800x1200 truck photo (embedded once), N = 1, 8, 32, 128 boxes, as a Python loop
   of single-box calls against one call with N boxes - once with the per-device chunking
   (``zoo.batching``, the default) and once unchunked (``max_batch=N``, what one call used
   to do). Reports ms/box and the peak RSS of each case (target: one call never slower
   than the loop). Also CPU time and minor page faults per box, which a loaded machine
   does not blur (see ``zoo.batching`` for why faults are the cost of one big call).

Random weights (no hub here): timings do not depend on the weight values. Ratios come from
one run; absolute numbers depend on the machine and its load.
Run: ``.venv/bin/python benchmarks/bench_core.py [--device cuda] [--quick] [--only batching]
[--threads N]``. On a machine shared with other jobs, ``--threads 1`` gives the cleanest
ratios (no thread waits on a descheduled sibling); the CPU-time and page-fault columns
are the load-proof evidence.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import bench_device, peak_rss, report, timeit


def wall(cmd: list[str], repeat: int = 5) -> float:
    times = []
    for _ in range(repeat + 1):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        times.append(time.perf_counter() - t0)
    return float(np.median(times[1:]))


def startup_rows() -> list[dict[str, object]]:
    py = sys.executable
    torch_s = wall([py, "-c", "import torch"])
    rows: list[dict[str, object]] = [
        {
            "case": "python -c 'import torch'",
            "seconds": torch_s,
            "ratio_to_torch": 1.0,
            "target": "",
        }
    ]
    for args in (["list"], ["--help"], ["info", "sam2:tiny"]):
        s = wall([py, "-m", "zoo", *args])
        rows.append(
            {
                "case": "zoo " + " ".join(args),
                "seconds": s,
                "ratio_to_torch": s / torch_s,
                "target": "< 0.25",
            }
        )
    return rows


def segment_rows(device: str) -> list[dict[str, object]]:
    import torch
    from sam2.sam2_image_predictor import SAM2ImagePredictor

    import zoo
    from zoo.io.images import load_image

    torch.manual_seed(0)
    model = zoo.load("sam2:tiny", weights="random", device=device)
    predictor = SAM2ImagePredictor(model.model)  # the very same module and weights
    image = load_image("example:grace-hopper")
    boxes = np.array([[60, 40, 460, 580], [150, 90, 360, 330], [10, 300, 500, 598]], np.float32)
    sync = torch.cuda.synchronize if device.startswith("cuda") else None

    def direct() -> None:
        with torch.inference_mode():
            predictor.set_image(image)
            predictor.predict(box=boxes, multimask_output=False)

    def ours() -> None:
        model._fingerprint = None  # force a fresh embedding, as the direct path does
        model.segment(image, {"boxes": boxes})

    t_direct = timeit(direct, repeat=5, sync=sync)
    t_ours = timeit(ours, repeat=5, sync=sync)
    return [
        {
            "case": f"SAM2ImagePredictor set_image+predict, 3 boxes ({device})",
            "seconds": t_direct,
            "ratio": 1.0,
            "target": "",
        },
        {
            "case": f"zoo.load(...).segment, 3 boxes ({device})",
            "seconds": t_ours,
            "ratio": t_ours / t_direct,
            "target": "< 1.05",
        },
    ]


TRUCK = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "images" / "truck.jpg"


def truck_boxes(n: int, h: int, w: int, seed: int = 0) -> np.ndarray:
    """``n`` boxes of varied size spread over an ``h x w`` photo (seeded)."""
    rng = np.random.default_rng(seed)
    x1, y1 = rng.uniform(0, w * 0.6, n), rng.uniform(0, h * 0.6, n)
    return np.stack([x1, y1, x1 + rng.uniform(20, w * 0.4, n), y1 + rng.uniform(20, h * 0.4, n)], 1)


def batching_rows(device: str, sizes: tuple[int, ...]) -> list[dict[str, object]]:
    """Loop of N single-box calls vs one N-box call (chunked by default / unchunked).

    Modes are interleaved and repeated (the best of ``repeats`` per mode), which is what
    keeps a shared machine's load from deciding the ratios. Besides wall time: CPU time and
    minor page faults per box (contention-proof evidence of what one big call costs).
    """
    import resource

    import torch

    import zoo
    from zoo.io.images import load_image

    image = load_image(TRUCK if TRUCK.exists() else "example:grace-hopper")
    h, w = image.shape[:2]
    model = zoo.load("sam2:tiny", weights="random", device=device)
    model.set_image(image)  # embedded once: every case below measures the decoder path
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    chunk = model.decoder_batch
    model.segment(None, {"boxes": truck_boxes(2, h, w)})  # warm-up
    rows: list[dict[str, object]] = []
    for n in sizes:
        boxes = truck_boxes(n, h, w, seed=n)

        def loop(boxes: np.ndarray = boxes) -> None:
            # kept, as a user keeps them: N masks are N x H x W of fresh memory either way
            # (dropping each result would let the loop reuse one mask's pages N times)
            kept = [model.segment(None, {"boxes": [b]}) for b in boxes]
            sync()
            del kept

        def one_call(boxes: np.ndarray = boxes) -> None:
            model.segment(None, {"boxes": boxes})
            sync()

        modes = {"loop": (None, loop), "one_call": (None, one_call), "unchunked": (n, one_call)}
        best: dict[str, dict[str, float]] = {}
        for _ in range(3):
            for mode, (max_batch, fn) in modes.items():
                model.max_batch = max_batch
                r0, c0 = resource.getrusage(resource.RUSAGE_SELF), time.process_time()
                seconds, rss = peak_rss(fn)
                cpu, r1 = time.process_time() - c0, resource.getrusage(resource.RUSAGE_SELF)
                cur = {
                    "ms": 1000 * seconds / n,
                    "cpu_ms": 1000 * cpu / n,
                    "faults": (r1.ru_minflt - r0.ru_minflt) / n,
                    "rss": rss / 2**20,
                }
                old = best.get(mode)
                best[mode] = (
                    cur
                    if old is None
                    else {
                        "ms": min(old["ms"], cur["ms"]),
                        "cpu_ms": min(old["cpu_ms"], cur["cpu_ms"]),
                        "faults": min(old["faults"], cur["faults"]),
                        "rss": max(old["rss"], cur["rss"]),
                    }
                )
        model.max_batch = None
        lp, one, raw = best["loop"], best["one_call"], best["unchunked"]
        rows.append(
            {
                "boxes": n,
                "loop ms/box": lp["ms"],
                f"one call ms/box (chunks of {chunk})": one["ms"],
                "one call unchunked ms/box": raw["ms"],
                "loop/one call": lp["ms"] / one["ms"],
                "loop/unchunked": lp["ms"] / raw["ms"],
                "cpu ms/box loop|one|unchunked": f"{lp['cpu_ms']:.0f}|{one['cpu_ms']:.0f}|"
                f"{raw['cpu_ms']:.0f}",
                "page faults/box loop|one|unchunked": f"{lp['faults']:.0f}|{one['faults']:.0f}|"
                f"{raw['faults']:.0f}",
                "peak RSS MB loop|one|unchunked": f"{lp['rss']:.0f}|{one['rss']:.0f}|"
                f"{raw['rss']:.0f}",
            }
        )
        print(rows[-1], flush=True)
    return rows


def main() -> None:
    import sys

    device = bench_device()
    only = sys.argv[sys.argv.index("--only") + 1] if "--only" in sys.argv else None
    quick = "--quick" in sys.argv
    if only in (None, "startup"):
        report("core_startup", startup_rows())
        print()
    if only in (None, "segment"):
        seg = segment_rows(device)
        report(f"core_segment_{device}", seg, {"device": device})
        print()
    if only in (None, "batching"):
        import torch

        if "--threads" in sys.argv:
            torch.set_num_threads(int(sys.argv[sys.argv.index("--threads") + 1]))
        sizes = (1, 8, 32) if quick else (1, 8, 32, 128)
        rows = batching_rows(device, sizes)
        meta = {
            "device": device,
            "model": "sam2:tiny (random weights, image_size 1024)",
            "image": "truck.jpg 1800x1200",
            "torch_threads": torch.get_num_threads(),
            "load_average": _loadavg(),
        }
        report(f"core_batching_{device}_{torch.get_num_threads()}threads", rows, meta)


def _loadavg() -> str:
    """The machine's load when the run ended (shared machines: read the numbers with it)."""
    try:
        with open("/proc/loadavg") as fh:
            return " ".join(fh.read().split()[:3])
    except OSError:
        return "?"


if __name__ == "__main__":
    main()
