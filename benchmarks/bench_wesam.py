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
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import bench_device, report


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
    from zoo_wesam.corruptions import corrupt_folder
    from zoo_wesam.lora import base_fingerprint, inject_lora
    from zoo_wesam.synthetic import make_shapes_dataset
    from zoo_wesam.train import (
        AdaptConfig,
        WesamTrainer,
        adapter_metadata,
        base_record,
    )

    from zoo.data.coco import CocoDataset
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
    model = load("wesam-adapt:tiny", weights="random", device=device, image_size=size, seed=0)
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
    detail = f"{step_s:.3f} s/step; peak RSS {peak:.0f} MB (model built: {rss_model:.0f} MB)"
    if sync:
        detail += f"; peak CUDA {torch.cuda.max_memory_allocated() / 2**20:.0f} MB"
    rows.append(
        {
            "case": f"WeSAM train step, sam2:tiny @ {size}px, batch 1, <=4 inst "
            f"({device}, {threads} thr)",
            "value": round(1.0 / step_s, 4),
            "unit": "steps/s",
            "detail": detail,
        }
    )

    # ---------------------------------------------------------------- 2. adapter size
    state = trainer.finish()
    meta = adapter_metadata(model, "box", cfg, fp, base_record(model), ds)
    nbytes = save_adapter(tmp / "adapter.safetensors", state, meta)
    actual = sum(v.numel() for v in state.values())
    rows.append(
        {
            "case": "adapter.safetensors on disk, sam2:tiny rank 4",
            "value": nbytes,
            "unit": "bytes",
            "detail": f"{actual} params + header",
        }
    )
    from zoo.registry import get_registry

    sizes = ("tiny", "small", "base-plus", "large")
    params = {s: get_registry().variants[f"sam2:{s}"].params or 0 for s in sizes}

    assert lora_param_count("tiny") == actual, "analytic count disagrees with the real adapter"
    for s in sizes:
        n = lora_param_count(s, rank=4)
        rows.append(
            {
                "case": f"rank-4 adapter, sam2:{s}",
                "value": n,
                "unit": "params",
                "detail": f"{n * 4 / 1e6:.2f} MB fp32, {n / params[s]:.3%} of the base",
            }
        )

    # ---------------------------------------------------------------- 3. inference overhead
    img = ds[0].load()
    boxes = {"boxes": ds[0].boxes()}
    base = load("wesam-adapt:tiny", weights="random", device=device, image_size=size, seed=0)
    unmerged = load("wesam-adapt:tiny", weights="random", device=device, image_size=size, seed=0)
    inject_lora(unmerged.model, rank=4)
    candidates = {"base": base, "merged": model, "unmerged": unmerged}  # model: merged by finish()
    times: dict[str, list[float]] = {k: [] for k in candidates}
    repeat = _arg("--repeat", 7)
    for r in range(repeat + 1):  # interleaved rounds: load drifts hit every model alike
        for key, m in candidates.items():
            m.reset_cache()
            t0 = time.perf_counter()
            m.segment(img, boxes)
            if sync:
                sync()
            if r:  # round 0 is the warm-up
                times[key].append(time.perf_counter() - t0)
    med = {k: statistics.median(v) for k, v in times.items()}
    labels = {
        "base": f"segment (embed + 4 boxes) @ {size}px: base sam2:tiny",
        "merged": "  adapted, LoRA merged into weights (shipped)",
        "unmerged": "  adapted, LoRA as separate modules (reference)",
    }
    for key in candidates:
        rows.append(
            {
                "case": labels[key],
                "value": round(med[key], 4),
                "unit": "s",
                "detail": f"{med[key] / med['base']:.3f}x base (median of {repeat})",
            }
        )
    report("wesam", rows, {"device": device, "image_size": size, "steps_timed": steps})


def lora_param_count(size: str, rank: int = 4) -> int:
    """Adapter parameters of a SAM 2.1 size, from its Hiera config (no model is built).

    Mirrors Hiera's block widths: the first block of each new stage widens ``dim`` by
    ``dim_mul``; a block's fused qkv is ``Linear(dim, 3 * dim_out)`` and its q and v
    adapters hold ``2 * rank * (dim + dim_out)`` numbers.
    """
    import inspect

    from hydra import compose
    from sam2.modeling.backbones.hieradet import Hiera
    from zoo_sam2.build import config_for

    defaults = {k: p.default for k, p in inspect.signature(Hiera).parameters.items()}
    trunk = compose(config_name=config_for(size)).model.image_encoder.trunk
    dim = int(trunk.get("embed_dim", defaults["embed_dim"]))
    stages = [int(v) for v in trunk.get("stages", defaults["stages"])]
    mul = float(trunk.get("dim_mul", defaults["dim_mul"]))
    ends = [sum(stages[:i]) - 1 for i in range(1, len(stages) + 1)]
    n = 0
    for i in range(sum(stages)):
        out = int(dim * mul) if i - 1 in ends else dim
        n += 2 * rank * (dim + out)
        dim = out
    return n


if __name__ == "__main__":
    main()
