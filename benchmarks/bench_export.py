"""Torch eager vs ONNX Runtime on CPU, per family and stage (issue 14, item 5).

For each family, one process loads the same random weights twice through the public API,
``zoo.load(name)`` and ``zoo.load(name, backend="onnxruntime")`` (which exports the graphs
on first use and caches them), and times:

* ``encoder``: the image-encoder stage on the shared 1800x1200 truck photo;
* ``decoder xN``: the prompt-decoder stage with N boxes in one call (N = 1 and 8);
* ``segment x8``: a whole ``segment`` call with 8 boxes on the embedded image (decoder,
  mask selection, upsampling to the photo, thresholding - what a user waits for).

Stage inputs are the very tensors the model fed its stage during a real ``segment`` call
(recorded through ``run_graph``), so both backends compute the same thing. Both use the
same thread count (``--threads``, default: torch's). Goals (issue 14): ORT encoder >= 1.5x,
decoder >= 2x faster than torch eager. ``--profile`` adds the top operators of each stage
per backend (torch profiler / ORT's own profiler) to explain where the time goes.

The two backends run alternately and the best of the repeats is kept, so the ratios
come from one run under the same load; absolute numbers depend on the machine.

    python benchmarks/bench_export.py [--threads 2] [--image-size 1024] [--quick] [--profile]
        [--families sam2:tiny,efficientsam:vitt,sameo-amodal:vitt,opseg-shadow]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import report, timeit

TRUCK = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "images" / "truck.jpg"
#: loader kwargs per family beyond the image size (OpSeg: the tiny SAM 2.1 by default; its
#: published model is base-plus, pass --opseg-size base-plus for that)
EXTRA: dict[str, dict[str, Any]] = {"opseg-shadow": {"size": "tiny"}}


def boxes_for(n: int, h: int, w: int) -> np.ndarray:
    rng = np.random.default_rng(n)
    x1, y1 = rng.uniform(0, w * 0.6, n), rng.uniform(0, h * 0.6, n)
    return np.stack([x1, y1, x1 + rng.uniform(40, w * 0.4, n), y1 + rng.uniform(40, h * 0.4, n)], 1)


def decode(model: Any, image: Any, boxes: np.ndarray) -> Any:
    """One user-level call with ``boxes`` on ``image`` (amodal or promptable)."""
    if hasattr(model, "segment_amodal"):
        return model.segment_amodal(image, boxes)
    return model.segment(image, {"boxes": boxes})


def record_inputs(model: Any, image: Any, boxes: np.ndarray) -> dict[str, tuple[Any, ...]]:
    """The tensors ``model`` feeds each stage during a real call (its own pre-processing)."""
    seen: dict[str, tuple[Any, ...]] = {}
    real = model.run_graph

    def rec(name: str, *inputs: Any) -> Any:
        seen[name] = inputs
        return real(name, *inputs)

    model.run_graph = rec
    old = model.max_batch
    model.max_batch = len(boxes)  # all boxes in one decoder call
    try:
        model._fingerprint = None
        decode(model, image, boxes)
    finally:
        model.run_graph = real
        model.max_batch = old
    return seen


def torch_profile(model: Any, name: str, inputs: tuple[Any, ...], top: int) -> list[str]:
    import torch

    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        model.run_graph(name, *inputs)
    rows = sorted(prof.key_averages(), key=lambda e: -e.self_cpu_time_total)[:top]
    total = sum(e.self_cpu_time_total for e in prof.key_averages()) or 1
    return [f"{e.key} {100 * e.self_cpu_time_total / total:.0f}%" for e in rows]


def ort_profile(
    folder: Path, name: str, inputs: tuple[Any, ...], threads: int, top: int
) -> list[str]:
    """Top operator types of one ORT run of graph ``name`` (ORT's JSON profile)."""
    import onnxruntime as ort

    desc = json.loads((folder / "zoo-export.json").read_text())
    g = desc["graphs"][name]
    opts = ort.SessionOptions()
    opts.enable_profiling = True
    opts.intra_op_num_threads = threads
    opts.log_severity_level = 3
    opts.profile_file_prefix = str(folder.parent / f"ort-profile-{name}")
    sess = ort.InferenceSession(str(folder / g["file"]), opts, providers=["CPUExecutionProvider"])
    feeds = {
        t["name"]: x.detach().cpu().numpy().astype(t["dtype"])
        for t, x in zip(g["inputs"], inputs, strict=True)
    }
    sess.run(None, feeds)
    sess.run(None, feeds)
    path = sess.end_profiling()
    events = json.loads(Path(path).read_text())
    Path(path).unlink(missing_ok=True)
    by_op: dict[str, float] = {}
    runs = [e for e in events if e.get("name") == "model_run"]
    last_start = runs[-1]["ts"] if runs else 0
    for e in events:
        if (
            e.get("cat") == "Node"
            and e.get("name", "").endswith("_kernel_time")
            and e["ts"] >= last_start
        ):
            op = e.get("args", {}).get("op_name", "?")
            by_op[op] = by_op.get(op, 0.0) + e["dur"]
    total = sum(by_op.values()) or 1
    return [
        f"{op} {100 * d / total:.0f}%"
        for op, d in sorted(by_op.items(), key=lambda kv: -kv[1])[:top]
    ]


def paired(a: Any, b: Any, repeat: int) -> tuple[float, float]:
    """Best-of-``repeat`` seconds of ``a`` and ``b``, run alternately after one warm-up each,
    so a change of load on a shared machine hits both backends alike."""
    ta, tb = [], []
    a(), b()
    for _ in range(repeat):
        ta.append(timeit(a, repeat=1, warmup=0))
        tb.append(timeit(b, repeat=1, warmup=0))
    return min(ta), min(tb)


def bench_family(
    name: str, args: argparse.Namespace
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    import torch

    import zoo
    from zoo.io.images import load_image

    image = load_image(TRUCK if TRUCK.exists() else "example:grace-hopper")
    h, w = image.shape[:2]
    kw: dict[str, Any] = {"weights": "random", "device": "cpu", "image_size": args.image_size}
    kw.update(EXTRA.get(name.split(":")[0], {}))
    if name.startswith("opseg-shadow"):
        kw["size"] = args.opseg_size
    t0 = time.perf_counter()
    eager = zoo.load(name, **kw)
    t_load = time.perf_counter() - t0
    t0 = time.perf_counter()
    ort_model = zoo.load(name, backend="onnxruntime", **kw)
    t_ort = time.perf_counter() - t0
    rows: list[dict[str, Any]] = []
    notes: dict[str, Any] = {
        "load_torch_s": round(t_load, 1),
        "load_onnxruntime_s (export on first use + sessions)": round(t_ort, 1),
        "export_folder": str(ort_model.runtime.folder),
    }
    repeat = 2 if args.quick else 5
    sizes = (1, 8)
    inputs = {n: record_inputs(eager, image, boxes_for(n, h, w)) for n in sizes}
    cases = [("encoder", "encoder", inputs[1]["encoder"])] + [
        (f"decoder x{n}", "decoder", inputs[n]["decoder"]) for n in sizes
    ]
    for label, stage, x in cases:
        t_t, t_o = paired(
            lambda s=stage, x=x: eager.run_graph(s, *x),
            lambda s=stage, x=x: ort_model.run_graph(s, *x),
            repeat,
        )
        goal = ">= 1.5" if stage == "encoder" else ">= 2"
        rows.append(
            {
                "model": name,
                "stage": label,
                "torch_ms": 1000 * t_t,
                "onnxruntime_ms": 1000 * t_o,
                "speed-up": t_t / t_o,
                "goal": goal,
            }
        )
        print(rows[-1], flush=True)
        if args.profile:
            notes[f"profile {label} torch"] = torch_profile(eager, stage, x, 8)
            notes[f"profile {label} onnxruntime"] = ort_profile(
                Path(ort_model.runtime.folder), stage, x, torch.get_num_threads(), 8
            )
    boxes = boxes_for(8, h, w)
    for m in (eager, ort_model):
        m.max_batch = None
        m.set_image(image)
    t_t, t_o = paired(
        lambda: decode(eager, None, boxes), lambda: decode(ort_model, None, boxes), repeat
    )
    rows.append(
        {
            "model": name,
            "stage": "segment x8 (end to end)",
            "torch_ms": 1000 * t_t,
            "onnxruntime_ms": 1000 * t_o,
            "speed-up": t_t / t_o,
            "goal": "",
        }
    )
    print(rows[-1], flush=True)
    return rows, notes


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=None, help="torch and ORT threads")
    ap.add_argument("--image-size", type=int, default=1024)
    ap.add_argument(
        "--families", default="sam2:tiny,efficientsam:vitt,sameo-amodal:vitt,opseg-shadow"
    )
    ap.add_argument("--opseg-size", default="tiny", help="SAM 2.1 size of opseg-shadow")
    ap.add_argument("--quick", action="store_true", help="fewer repeats")
    ap.add_argument("--profile", action="store_true", help="top operators per stage")
    args = ap.parse_args()
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    rows: list[dict[str, Any]] = []
    notes: dict[str, Any] = {}
    for name in [f.strip() for f in args.families.split(",") if f.strip()]:
        r, n = bench_family(name, args)
        rows += r
        notes[name] = n
    try:
        with open("/proc/loadavg") as fh:
            load = " ".join(fh.read().split()[:3])
    except OSError:
        load = "?"
    meta = {
        "threads (torch = onnxruntime intra-op)": torch.get_num_threads(),
        "image_size": args.image_size,
        "image": "truck.jpg 1800x1200",
        "weights": "random",
        "load_average": load,
        "notes": notes,
    }
    import onnxruntime

    meta["onnxruntime"] = onnxruntime.__version__
    meta["torch"] = torch.__version__
    report("export_cpu", rows, meta)
    if args.profile:
        for fam, n in notes.items():
            for k, v in n.items():
                if k.startswith("profile"):
                    print(f"{fam} {k}: {', '.join(v)}")


if __name__ == "__main__":
    main()
