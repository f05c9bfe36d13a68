"""Benchmark SAMEO (sameo-amodal): encoder, batched box decoding, and decoder training.

Measures, on one device (CPU by default), with random weights (speed does not depend on
the values):

* image encoder throughput (images/s) for EfficientSAM ViT-T and ViT-S at 1024 px;
* amodal decoding: the image is embedded once, then N boxes go through ONE decoder call;
  boxes/s for N = 1, 10, 100, against decoding the same boxes one call per box (both
  include bicubic upsampling to the 1280x720 image and thresholding);
* training: decoder steps/s at batch 8 (forward, loss, backward, AdamW) with each image's
  embedding cached, and the same step when the encoder has to run for the batch's images
  again (what training without the cache costs) - the ratio is the cache's speed-up;
* an end-to-end check of that ratio with ``train_sameo`` itself (embed_cache memory vs off)
  on a small synthetic set at a reduced input size.

Prints a table and writes ``benchmarks/results/sameo.json``. Ratios are measured within
one run; absolute numbers depend on the machine and its load.

    python benchmarks/bench_sameo.py [--threads 2] [--device cpu] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

RESULTS = Path(__file__).resolve().parent / "results"


def _timeit(fn: Any, repeat: int, warmup: int = 1, sync: Any = None) -> float:
    """Median seconds per call."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        if sync:
            sync()
        t0 = time.perf_counter()
        fn()
        if sync:
            sync()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def bench_encoder(base: str, device: str, repeat: int, sync: Any) -> dict[str, float]:
    from zoo_sameo.build import build_network

    net = build_network(base, 1024).to(device).eval()
    img = torch.rand(1, 3, 720, 1280, device=device)
    with torch.inference_mode():
        t = _timeit(lambda: net.get_image_embeddings(img), repeat, sync=sync)
    return {"seconds_per_image": t, "images_per_s": 1.0 / t}


def bench_decoder(device: str, ns: list[int], repeat: int, sync: Any) -> dict[str, Any]:
    from zoo import load

    # test mode is seeded (seed 0 by default): the same random network on every run
    model = load("sameo-amodal:vitt", weights="random", device=device, image_size=1024)
    h, w = 720, 1280
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (h, w, 3)).astype(np.uint8)
    model.set_image(img)  # embed once; every call below reuses it
    out: dict[str, Any] = {}
    for n in ns:
        x1 = rng.uniform(0, w * 0.6, n)
        y1 = rng.uniform(0, h * 0.6, n)
        boxes = np.stack(
            [x1, y1, x1 + rng.uniform(40, w * 0.4, n), y1 + rng.uniform(40, h * 0.4, n)], 1
        )
        model.max_batch = n  # all N boxes in one decoder call
        t_batch = _timeit(lambda b=boxes: model.segment_amodal(None, b), repeat, sync=sync)
        model.max_batch = 1  # one decoder call per box (same embedding)
        t_loop = _timeit(lambda b=boxes: model.segment_amodal(None, b), repeat, sync=sync)
        out[str(n)] = {
            "one_call_s": t_batch,
            "boxes_per_s": n / t_batch,
            "one_call_per_box_boxes_per_s": n / t_loop,
            "batching_speedup": t_loop / t_batch,
        }
        model.max_batch = None
    return out


def bench_train_step(
    device: str, image_size: int, batch: int, repeat: int, sync: Any
) -> dict[str, float]:
    """Decoder step with cached embeddings vs. with the encoder re-run for the batch."""
    from zoo_sameo.build import build_network
    from zoo_sameo.losses import sameo_loss
    from zoo_sameo.model import SameoModel

    torch.manual_seed(0)
    net = build_network("vitt", image_size).to(device).eval()
    for p in net.parameters():
        p.requires_grad_(False)
    dec = net.mask_decoder
    for p in dec.parameters():
        p.requires_grad_(True)
    runner = SameoModel(net, base="vitt", image_size=image_size)
    opt = torch.optim.AdamW(dec.parameters(), lr=1e-4, foreach=True)
    imgs = torch.rand(batch, 3, 480, 640, device=device)
    with torch.no_grad():
        cached = torch.cat([net.get_image_embeddings(imgs[i : i + 1]) for i in range(batch)])
    boxes = torch.tensor([[50.0, 60.0, 300.0, 400.0]] * batch, device=device)
    hw = torch.tensor([[480.0, 640.0]] * batch, device=device)
    side = image_size // 4
    target = torch.zeros(batch, side, side, device=device)
    target[:, side // 4 : side // 2, side // 4 : side // 2] = 1
    amp = device.startswith("cuda")

    def step(emb: torch.Tensor) -> None:
        with torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=amp):
            logits, iou = runner.decode(emb, boxes, hw)
        loss, _ = sameo_loss(logits.float(), iou.float(), target)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    def step_uncached() -> None:
        with torch.no_grad():  # every instance of the batch from another image
            emb = torch.cat([net.get_image_embeddings(imgs[i : i + 1]) for i in range(batch)])
        step(emb)

    t_cached = _timeit(lambda: step(cached), repeat, sync=sync)
    t_uncached = _timeit(step_uncached, max(1, repeat // 2), warmup=0, sync=sync)
    return {
        "image_size": image_size,
        "batch": batch,
        "steps_per_s_cached": 1.0 / t_cached,
        "steps_per_s_encoder_rerun": 1.0 / t_uncached,
        "cache_speedup": t_uncached / t_cached,
    }


def bench_train_e2e(device: str, image_size: int, steps: int) -> dict[str, float]:
    """train_sameo end to end: embed_cache=memory vs off, same data and steps."""
    from zoo_sameo.occlusion import make_synthetic_amodal_dataset
    from zoo_sameo.train import TrainConfig, train_sameo

    with tempfile.TemporaryDirectory() as tmp:
        os.environ["ZOO_HOME"] = str(Path(tmp) / "home")
        ann = make_synthetic_amodal_dataset(Path(tmp) / "d", 8, height=240, width=320, seed=0)
        out = {}
        for mode in ("memory", "off"):
            cfg = TrainConfig(
                annotations=str(ann),
                images=str(Path(tmp) / "d" / "images"),
                name=f"bench-{mode}",
                image_size=image_size,
                weights="random",
                max_steps=steps,
                batch_size=8,
                embed_cache=mode,
                device=device,
            )
            t0 = time.perf_counter()
            res = train_sameo(cfg, progress=False)
            out[mode] = {
                "total_s": time.perf_counter() - t0,
                "loop_s": res.seconds,
                "embed_s": res.embed_seconds,
                "images": res.images,
            }
    return {
        "image_size": image_size,
        "steps": steps,
        "cached_total_s": out["memory"]["total_s"],
        "uncached_total_s": out["off"]["total_s"],
        "cached_loop_s": out["memory"]["loop_s"],
        "uncached_loop_s": out["off"]["loop_s"],
        "e2e_speedup": out["off"]["loop_s"] / out["memory"]["loop_s"],
        "images": out["memory"]["images"],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1))
    ap.add_argument("--quick", action="store_true", help="fewer repeats")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    dev = args.device
    sync = torch.cuda.synchronize if dev.startswith("cuda") else None
    rep = 1 if args.quick else 3
    res: dict[str, Any] = {
        "device": dev,
        "threads": args.threads,
        "torch": torch.__version__,
        "cpu": platform.processor() or platform.machine(),
        "load_avg_at_start": os.getloadavg()[0],
    }
    res["encoder"] = {b: bench_encoder(b, dev, rep, sync) for b in ("vitt", "vits")}
    res["decoder"] = bench_decoder(dev, [1, 10, 100], rep, sync)
    res["train_step_1024"] = bench_train_step(dev, 1024, 8, rep, sync)
    res["train_e2e_256"] = bench_train_e2e(dev, 256, 6)
    res["peak_rss_mb"] = _peak_rss_mb()
    res["load_avg_at_end"] = os.getloadavg()[0]

    rows = [
        ("encoder ViT-T 1024px", f"{res['encoder']['vitt']['images_per_s']:.3f} img/s"),
        ("encoder ViT-S 1024px", f"{res['encoder']['vits']['images_per_s']:.3f} img/s"),
    ]
    for n, d in res["decoder"].items():
        rows.append(
            (
                f"decode N={n} boxes (1 embedding)",
                f"{d['boxes_per_s']:.2f} boxes/s in one call, "
                f"{d['one_call_per_box_boxes_per_s']:.2f} one call per box",
            )
        )
    ts = res["train_step_1024"]
    rows.append(("train step, batch 8, cached emb.", f"{ts['steps_per_s_cached']:.3f} steps/s"))
    rows.append(
        (
            "train step, batch 8, encoder re-run",
            f"{ts['steps_per_s_encoder_rerun']:.4f} steps/s (cache x{ts['cache_speedup']:.1f})",
        )
    )
    e2e = res["train_e2e_256"]
    rows.append(
        (
            f"train_sameo {e2e['steps']} steps @256 px",
            f"cached {e2e['cached_loop_s']:.1f}s vs off {e2e['uncached_loop_s']:.1f}s "
            f"(x{e2e['e2e_speedup']:.1f})",
        )
    )
    try:
        from rich.console import Console
        from rich.table import Table

        t = Table(title=f"SAMEO on {dev} ({args.threads} threads, torch {torch.__version__})")
        t.add_column("measure")
        t.add_column("result")
        for r in rows:
            t.add_row(*r)
        Console().print(t)
    except ImportError:  # pragma: no cover
        for r in rows:
            print(f"{r[0]:45s} {r[1]}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "sameo.json").write_text(json.dumps(res, indent=2))
    print(f"wrote {RESULTS / 'sameo.json'}")


if __name__ == "__main__":
    main()
