"""Benchmark of the opseg-shadow plugin (CPU by default).

1. Inference: object+shadow pairs per second on one image for 1, 10 and 50 pairs, the
   image embedded once (``segment_shadows`` batches all 2N box prompts into one decoder
   call), against the same pairs decoded one pair per call.
2. Training: optimizer steps per second at batch 4 with the image encoder frozen vs
   trained (the paper's two recipes), at a small input size so that it runs in minutes on
   a CPU; frozen with cached embeddings as a third row.

Random weights (no checkpoint is needed to time the architecture). Prints a table and
writes ``benchmarks/results/opseg.json``. Timings are medians of repeats; compare ratios
within one run, not absolute numbers across machines.

    python benchmarks/bench_opseg.py [--size base-plus] [--image-size 1024]
        [--train-image-size 256] [--train-steps 3] [--threads 2] [--device cpu]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np


def _median_time(fn: Any, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def bench_inference(
    size: str, image_size: int, device: str, counts: list[int], repeats: int
) -> list[dict[str, Any]]:
    from zoo_opseg.synthetic import shadow_scene

    from zoo.io.masks import mask_bbox
    from zoo.loading import load

    model = load(
        "opseg-shadow", weights="random", seed=0, device=device, size=size, image_size=image_size
    )
    scene = shadow_scene(480, 640, n_objects=3, seed=1)

    def box(m: np.ndarray) -> list[float]:
        x, y, w, h = mask_bbox(m)
        return [x, y, x + w, y + h]

    base = [
        {"object": {"box": box(o)}, "shadow": {"box": box(s)}}
        for o, s in zip(scene.object_masks, scene.shadow_masks, strict=True)
    ]
    t = time.perf_counter()
    model.set_image(scene.image)
    embed_s = time.perf_counter() - t
    rows = []
    for n in counts:
        inst = [base[i % len(base)] for i in range(n)]
        model.segment_shadows(None, inst[:1])  # warm-up
        batched = _median_time(lambda inst=inst: model.segment_shadows(None, inst), repeats)
        one_by_one = _median_time(
            lambda inst=inst: [model.segment_shadows(None, [p]) for p in inst], max(1, repeats // 2)
        )
        rows.append(
            {
                "pairs": n,
                "batched_s": batched,
                "pairs_per_s": n / batched,
                "one_by_one_s": one_by_one,
                "one_by_one_pairs_per_s": n / one_by_one,
                "speedup": one_by_one / batched,
                "embed_s": embed_s,
            }
        )
    return rows


def bench_training(size: str, image_size: int, device: str, steps: int) -> list[dict[str, Any]]:
    import torch
    from zoo_opseg.soba import load_soba
    from zoo_opseg.synthetic import write_soba_dataset
    from zoo_opseg.train import (
        SobaTrainSet,
        TrainConfig,
        _micro_step,
        load_base,
        trainable_parameters,
    )

    tmp = Path(tempfile.mkdtemp(prefix="bench_opseg_"))
    ann = write_soba_dataset(tmp, n_images=4, height=240, width=320, seed=0)
    data = load_soba(ann, tmp / "images")
    rows = []
    for label, freeze, cache in (
        ("frozen encoder", "image-encoder", False),
        ("full fine-tune", "none", False),
        ("frozen + cached embeddings", "image-encoder", True),
    ):
        cfg = TrainConfig(
            annotations=str(ann),
            images=str(tmp / "images"),
            name="bench",
            base=size,
            freeze=freeze,
            image_size=image_size,
            batch_size=4,
            max_prompts=8,
            init="random",
            cache_embeddings=cache,
            lr=1e-4,
            device=device,
        )
        # the trainer's own start: zoo.load("sam2:<size>", weights="random", seed=0)
        model = load_base(cfg, progress=False).model
        for p in model.parameters():
            p.requires_grad_(False)
        params = trainable_parameters(model, cfg.frozen)
        for _, p in params:
            p.requires_grad_(True)
        opt = torch.optim.AdamW([p for _, p in params], lr=cfg.learning_rate)
        model.train()
        model.image_encoder.train(not cfg.frozen)
        ds = SobaTrainSet(data, image_size)
        batch = [ds[i] for i in range(4)]
        cache_d: dict[int, Any] = {}
        use_amp = device.startswith("cuda")

        def step(
            batch: list[Any] = batch,
            model: Any = model,
            opt: Any = opt,
            cfg: TrainConfig = cfg,
            cache_d: dict[int, Any] = cache_d,
            use_amp: bool = use_amp,
        ) -> None:
            loss, _ = _micro_step(
                model, batch, cfg, np.random.default_rng(0), device, use_amp, cache_d
            )
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
            if device.startswith("cuda"):
                torch.cuda.synchronize()

        step()  # warm-up (and fills the embedding cache)
        t = _median_time(step, steps)
        rows.append(
            {
                "recipe": label,
                "trainable_params": sum(p.numel() for _, p in params),
                "step_s": t,
                "steps_per_s": 1.0 / t,
                "batch": 4,
                "image_size": image_size,
            }
        )
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="base-plus")
    ap.add_argument("--image-size", type=int, default=1024)
    ap.add_argument("--train-size", default=None, help="SAM 2.1 size for training (default --size)")
    ap.add_argument("--train-image-size", type=int, default=256)
    ap.add_argument("--train-steps", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--pairs", default="1,10,50")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch default)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "opseg.json"))
    args = ap.parse_args()

    import torch
    from rich.console import Console
    from rich.table import Table

    if args.threads:
        torch.set_num_threads(args.threads)
    console = Console()
    counts = [int(v) for v in args.pairs.split(",")]
    inf = bench_inference(args.size, args.image_size, args.device, counts, args.repeats)
    t = Table(
        title=f"opseg-shadow inference: SAM 2.1 {args.size} @ {args.image_size}, "
        f"{args.device}, {torch.get_num_threads()} threads "
        f"(embedding once: {inf[0]['embed_s']:.2f} s)",
        title_justify="left",
    )
    for c in ("pairs", "batched s", "pairs/s", "one-by-one pairs/s", "batching speed-up"):
        t.add_column(c, justify="right")
    for r in inf:
        t.add_row(
            str(r["pairs"]),
            f"{r['batched_s']:.3f}",
            f"{r['pairs_per_s']:.1f}",
            f"{r['one_by_one_pairs_per_s']:.1f}",
            f"{r['speedup']:.2f}x",
        )
    console.print(t)
    tr_size = args.train_size or args.size
    tr = bench_training(tr_size, args.train_image_size, args.device, args.train_steps)
    t2 = Table(
        title=f"opseg-shadow training: SAM 2.1 {tr_size} @ {args.train_image_size}, "
        f"batch 4, {args.device}",
        title_justify="left",
    )
    for c in ("recipe", "trainable params", "s/step", "steps/s", "vs full"):
        t2.add_column(c, justify="right")
    full = next(r for r in tr if r["recipe"] == "full fine-tune")
    for r in tr:
        t2.add_row(
            r["recipe"],
            f"{r['trainable_params'] / 1e6:.1f}M",
            f"{r['step_s']:.2f}",
            f"{r['steps_per_s']:.3f}",
            f"{r['steps_per_s'] / full['steps_per_s']:.2f}x",
        )
    console.print(t2)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "args": vars(args),
                "torch_threads": torch.get_num_threads(),
                "inference": inf,
                "training": tr,
            },
            indent=1,
        )
    )
    console.print(f"wrote {out}")


if __name__ == "__main__":
    main()
