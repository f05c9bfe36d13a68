"""WeSAM adaptation benchmarks (issue: wesam-adapt plugin).

1. Training throughput and memory: WeSAM steps/s for random-weight sam2:tiny on a small
   input (``--image-size``, default 256; batch 1, up to 4 instances), and the peak
   resident memory of the process during those steps (and its growth over the built model).
2. Adapter size on disk: the saved ``adapter.safetensors`` of tiny, and the rank-4 adapter
   parameter counts of every SAM 2.1 size (built on the meta device: no memory, no time).
3. Inference overhead of the adapted model over the base: ``segment`` (embed + decode,
   4 boxes) with the LoRA update merged into the weights (the shipped path: target 1.00x),
   and, for reference, with unmerged adapter modules.

Random weights (no hub here): timings do not depend on the weight values.
Run: ``.venv/bin/python benchmarks/bench_wesam.py [--device cuda] [--image-size 256]
[--steps 3] [--threads 1]``.
"""

from __future__ import annotations

import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import bench_device, report, timeit


def _arg(name: str, default: int) -> int:
    return int(sys.argv[sys.argv.index(name) + 1]) if name in sys.argv else default


def _rss_mb() -> float:
    """Peak resident set size of this process so far (MB; Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _current_rss_mb() -> float:
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
        import os

        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return float("nan")


def main() -> None:
    import torch
    from zoo_wesam.adapter import save_adapter
    from zoo_wesam.lora import base_fingerprint, inject_lora, lora_parameters
    from zoo_wesam.synthetic import make_shapes_dataset
    from zoo_wesam.train import (
        AdaptConfig,
        WesamTrainer,
        adapter_metadata,
        base_record,
    )

    from zoo.data.coco import CocoDataset
    from zoo.data.corruptions import corrupt_folder
    from zoo.model import load

    device = bench_device()
    size = _arg("--image-size", 256)
    steps = _arg("--steps", 3)
    threads = _arg("--threads", 1)
    torch.set_num_threads(threads)
    rows: list[dict[str, Any]] = []
    tmp = Path(tempfile.mkdtemp(prefix="bench_wesam_"))

    # ---------------------------------------------------------------- 1. training
    data = make_shapes_dataset(
        tmp / "clean", 4, height=240, width=320, seed=0, min_shapes=3, max_shapes=4
    )
    corrupt_folder(data["images"], tmp / "fog", "fog", 3, progress=False)
    ds = CocoDataset(data["annotations"], tmp / "fog", require_masks=True)
    model = load("wesam-adapt:tiny", weights="random", device=device, image_size=size, base_seed=0)
    rss_model = _current_rss_mb()
    cfg = AdaptConfig(steps=1000, warmup_steps=0, seed=0, max_instances=4, progress=False)
    fp = base_fingerprint(model.model)
    trainer = WesamTrainer(model, "box", cfg, ds)
    sync = torch.cuda.synchronize if device.startswith("cuda") else None
    if sync:
        torch.cuda.reset_peak_memory_stats()
    trainer.step()  # warm-up (allocator, first-call overheads)
    t0 = time.perf_counter()
    for _ in range(steps):
        trainer.step()
    if sync:
        sync()
    step_s = (time.perf_counter() - t0) / steps
    peak = _rss_mb()
    row = {
        "case": f"train step, sam2:tiny @ {size}px, batch 1, <=4 instances "
        f"({device}, {threads} thr)",
        "value": round(1.0 / step_s, 4),
        "unit": "steps/s",
        "seconds_per_step": round(step_s, 3),
        "peak_rss_mb": round(peak, 1),
        "rss_after_build_mb": round(rss_model, 1),
    }
    if sync:
        row["peak_cuda_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    rows.append(row)

    # ---------------------------------------------------------------- 2. adapter size
    state = trainer.finish()
    meta = adapter_metadata(model, "box", cfg, fp, base_record(model), ds)
    nbytes = save_adapter(tmp / "adapter.safetensors", state, meta)
    rows.append(
        {
            "case": "adapter.safetensors on disk, sam2:tiny rank 4",
            "value": nbytes,
            "unit": "bytes",
            "params": sum(v.numel() for v in state.values()),
        }
    )
    from zoo_sam2.build import build_sam2_model

    for s in ("tiny", "small", "base-plus", "large"):
        with torch.device("meta"):
            sam = build_sam2_model(s, None, device="meta")
        inject_lora(sam, rank=4)
        n = sum(p.numel() for p in lora_parameters(sam))
        total = sum(p.numel() for p in sam.parameters()) - n
        rows.append(
            {
                "case": f"rank-4 adapter params, sam2:{s}",
                "value": n,
                "unit": "params",
                "fp32_mb": round(n * 4 / 1e6, 3),
                "share_of_base": f"{n / total:.4%}",
            }
        )

    # ---------------------------------------------------------------- 3. inference overhead
    img = ds[0].load()
    boxes = {"boxes": ds[0].boxes()}
    base = load("wesam-adapt:tiny", weights="random", device=device, image_size=size, base_seed=0)
    adapted = model  # merged in place by finish()

    def seg(m: Any) -> Any:
        def run() -> None:
            m.reset_cache()
            m.segment(img, boxes)

        return run

    t_base = timeit(seg(base), repeat=5, warmup=1, sync=sync)
    t_merged = timeit(seg(adapted), repeat=5, warmup=1, sync=sync)
    unmerged = load(
        "wesam-adapt:tiny", weights="random", device=device, image_size=size, base_seed=0
    )
    inject_lora(unmerged.model, rank=4)
    t_unmerged = timeit(seg(unmerged), repeat=5, warmup=1, sync=sync)
    rows.append(
        {
            "case": f"segment (embed + 4 boxes) @ {size}px: base sam2:tiny",
            "value": round(t_base, 4),
            "unit": "s",
            "ratio": 1.0,
        }
    )
    rows.append(
        {
            "case": "  adapted, LoRA merged (shipped)",
            "value": round(t_merged, 4),
            "unit": "s",
            "ratio": round(t_merged / t_base, 3),
        }
    )
    rows.append(
        {
            "case": "  adapted, LoRA modules unmerged",
            "value": round(t_unmerged, 4),
            "unit": "s",
            "ratio": round(t_unmerged / t_base, 3),
        }
    )
    report("wesam", rows, {"device": device, "image_size": size, "steps_timed": steps})


if __name__ == "__main__":
    main()
