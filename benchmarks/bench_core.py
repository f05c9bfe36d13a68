"""Core benchmarks (issue: core SDK).

1. Start-up: ``zoo list`` and ``zoo --help`` wall time as a ratio to ``python -c "import torch"``
   (target < 0.25: they must not import torch).
2. Overhead of ``zoo.load(...).segment`` over ``sam2``'s own ``SAM2ImagePredictor`` with the
   same weights, image and prompts (target < 1.05x).
3. 100 boxes on one image: one batched call vs a per-box loop (target >= 5x).

Random weights (no hub here): timings do not depend on the weight values.
Run: ``.venv/bin/python benchmarks/bench_core.py [--device cuda]``.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import bench_device, report, timeit


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
    h, w = image.shape[:2]
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
    rng = np.random.default_rng(0)
    x1, y1 = rng.uniform(0, w * 0.6, 100), rng.uniform(0, h * 0.6, 100)
    many = np.stack(
        [x1, y1, x1 + rng.uniform(20, w * 0.4, 100), y1 + rng.uniform(20, h * 0.4, 100)], 1
    )
    model.set_image(image)

    def batched() -> None:
        model.segment(None, {"boxes": many})

    def loop() -> None:
        for b in many:
            model.segment(None, {"boxes": [b]})

    t_batch = timeit(batched, repeat=3, sync=sync)
    t_loop = timeit(loop, repeat=1, sync=sync)
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
        {
            "case": f"100 boxes, per-box loop ({device})",
            "seconds": t_loop,
            "ratio": 1.0,
            "target": "",
        },
        {
            "case": f"100 boxes, one batched call ({device})",
            "seconds": t_batch,
            "ratio": t_loop / t_batch,
            "target": ">= 5 (speed-up)",
        },
    ]


def main() -> None:
    device = bench_device()
    rows = startup_rows()
    report("core_startup", rows)
    print()
    seg = segment_rows(device)
    report(f"core_segment_{device}", seg, {"device": device})


if __name__ == "__main__":
    main()
