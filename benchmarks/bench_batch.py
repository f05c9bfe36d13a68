"""``zoo batch`` benchmarks (issue 12). Table on stdout, JSON in benchmarks/results/.

1. Items/s of ``zoo.batch`` (local engine) vs the loop a user writes (``zoo.load`` once,
   then load image -> ``segment`` -> ``save`` per item), same images, prompts and outputs
   (PNG masks, COCO JSON, overlay); goal >= 1.3x. Where the time goes: per-item stage means.
2. Ray engine (local cluster, started before timing) vs local engine on the same items;
   goal <= 1.15x.
3. Peak RSS of a 500-item vs a 50-item run (separate processes); goal <= 1.1 (streaming).
4. ``segment_everything`` on one 1024-px photo: sam2:tiny (``sam2``'s generator through
   zoo) vs ``SAM2AutomaticMaskGenerator`` called directly on the same network (goal
   <= 1.05x, identical masks); the core grid procedure on sam2:tiny; efficientsam:vitt
   (core grid) when it loads.

All ratios come from one run of this script. Random weights (no hub here): timings do not
depend on weight values, but mask *counts* do (thresholds are 0 in test mode).
Run: ``.venv/bin/python benchmarks/bench_batch.py [--quick] [--device cpu]``; ``--quick``
uses smaller model inputs (``image_size``) and counts so it fits a few minutes on 2 cores.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import bench_device, report

QUICK = "--quick" in sys.argv
FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "images"
BOXES = {
    "groceries.jpg": [[60, 40, 400, 380], [420, 100, 700, 500]],
    "truck.jpg": [[75, 275, 1725, 850], [425, 600, 700, 875]],
    "dogs.jpg": [[100, 100, 500, 550], [550, 80, 1000, 580]],
}


def _manifest(folder: Path, n: int) -> Path:
    photos = sorted(FIXTURES.glob("*.jpg"))
    path = folder / f"m{n}.jsonl"
    with path.open("w") as fh:
        for i in range(n):
            p = photos[i % len(photos)]
            fh.write(json.dumps({"image": str(p), "boxes": BOXES[p.name]}) + "\n")
    return path


def throughput_rows(tmp: Path, device: str, size: int, n: int) -> tuple[list[dict], dict]:
    import zoo
    from zoo.io.images import load_image

    manifest = _manifest(tmp, n)
    rows_in = [json.loads(line) for line in manifest.read_text().splitlines()]
    model = zoo.load("sam2:tiny", weights="random", device=device, image_size=size)
    model.segment(rows_in[0]["image"], {"boxes": rows_in[0]["boxes"]})  # warm-up
    import torch

    from zoo.batch.runner import threads_for

    default_threads = torch.get_num_threads()

    def loop(threads: int, folder: str) -> tuple[float, dict[str, float]]:
        """The loop a user would write: load image -> segment -> save, per item."""
        torch.set_num_threads(threads)
        stages = {"load": 0.0, "segment": 0.0, "save": 0.0}
        t0 = time.perf_counter()
        for i, row in enumerate(rows_in):
            a = time.perf_counter()
            img = load_image(row["image"])
            b = time.perf_counter()
            res = model.segment(img, {"boxes": row["boxes"]})
            c = time.perf_counter()
            res.save(
                tmp / folder / f"{i:05d}",
                image=img,
                image_id=i + 1,
                file_name=Path(row["image"]).name,
            )
            d = time.perf_counter()
            stages["load"] += b - a
            stages["segment"] += c - b
            stages["save"] += d - c
        return time.perf_counter() - t0, stages

    batch_threads = threads_for(1)
    loop_s, stages = loop(batch_threads, "loop")
    loop_default_s, _ = loop(default_threads, "loop-default")
    torch.set_num_threads(batch_threads)

    one = tmp / "one.jsonl"
    one.write_text(manifest.read_text().splitlines()[0] + "\n")

    def run_batch(engine: str, out: Path, manifest: Path = manifest) -> float:
        t = time.perf_counter()
        for r in zoo.batch(
            "sam2:tiny",
            str(manifest),
            out=out,
            engine=engine,
            weights="random",
            device=device,
            image_size=size,
            formats="coco,png,overlay",
        ):
            assert r.ok, r.error
        return time.perf_counter() - t

    local_s = run_batch("local", tmp / "local")
    run = json.loads((tmp / "local" / "run.json").read_text())
    where = {
        "loop_per_item_s": {k: round(v / n, 4) for k, v in stages.items()},
        "batch_per_item_s": run["timings"]["per_item_mean_s"],
        "batch_merge_s": run["timings"]["merge_s"],
    }
    rows = [
        {
            "case": f"user loop, {n} items, torch default {default_threads} threads",
            "seconds": loop_default_s,
            "items_per_s": n / loop_default_s,
            "ratio": loop_default_s / loop_s,
            "goal": "(reference)",
        },
        {
            "case": f"user loop, {n} items, {batch_threads} torch thread(s) like batch",
            "seconds": loop_s,
            "items_per_s": n / loop_s,
            "ratio": 1.0,
            "goal": "",
        },
        {
            "case": f"zoo batch local, {n} items",
            "seconds": local_s,
            "items_per_s": n / local_s,
            "ratio": loop_s / local_s,
            "goal": ">= 1.3x faster",
        },
    ]
    try:
        import ray

        ray.init(
            num_cpus=os.cpu_count(),
            include_dashboard=False,
            log_to_driver=False,
            logging_level="ERROR",
        )
        ray_s = run_batch("ray", tmp / "ray")
        # fixed start-up cost (actor process, imports, model load) from a 1-item run of
        # each engine: the per-item cost is what the rest of a long run pays
        ray1_s = run_batch("ray", tmp / "ray1", one)
        local1_s = run_batch("local", tmp / "local1", one)
        marginal = (ray_s - ray1_s) / max(local_s - local1_s, 1e-9)
        rows.append(
            {
                "case": f"zoo batch ray (local cluster), {n} items",
                "seconds": ray_s,
                "items_per_s": n / ray_s,
                "ratio": ray_s / local_s,
                "goal": "<= 1.15x of local",
            }
        )
        rows.append(
            {
                "case": f"start-up (1-item run): ray {ray1_s:.1f} s, local {local1_s:.1f} s",
                "seconds": ray1_s - local1_s,
                "items_per_s": None,
                "ratio": marginal,
                "goal": "per-item ray/local, start-up excluded",
            }
        )
        ray.shutdown()
    except ImportError:
        rows.append(
            {
                "case": "ray engine",
                "seconds": None,
                "items_per_s": None,
                "ratio": None,
                "goal": "ray not installed",
            }
        )
    return rows, where


def rss_rows(tmp: Path, device: str, size: int, counts: tuple[int, int]) -> list[dict]:
    """Peak RSS of the CLI in a child process, per run (ru_maxrss of the waited child)."""
    from PIL import Image

    small = tmp / "small"
    small.mkdir()
    src = Image.open(FIXTURES / "groceries.jpg").resize((160, 107))
    out_rows = []
    peaks = {}
    for n in counts:
        manifest = tmp / f"rss{n}.jsonl"
        with manifest.open("w") as fh:
            for i in range(n):  # distinct files, as a real dataset has
                p = small / f"{i:05d}.jpg"
                if not p.exists():
                    src.save(p)
                fh.write(json.dumps({"image": str(p), "boxes": [[10, 10, 120, 90]]}) + "\n")
        code = (
            "import resource, subprocess, sys; "
            "subprocess.run(sys.argv[1:], check=True, capture_output=True); "
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
        )
        cmd = [
            sys.executable,
            "-c",
            code,
            sys.executable,
            "-m",
            "zoo",
            "batch",
            "sam2:tiny",
            "--input",
            str(manifest),
            "--out",
            str(tmp / f"rss-out{n}"),
            "--weights",
            "random",
            "--device",
            device,
            "--image-size",
            str(size),
            "--no-progress",
        ]
        t = time.perf_counter()
        kb = int(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip())
        peaks[n] = kb / 1024
        out_rows.append(
            {
                "case": f"peak RSS, {n} items",
                "seconds": time.perf_counter() - t,
                "items_per_s": None,
                "ratio": None,
                "goal": f"{kb / 1024:.0f} MiB",
            }
        )
    lo, hi = counts
    out_rows.append(
        {
            "case": f"peak RSS {hi} / {lo} items",
            "seconds": None,
            "items_per_s": None,
            "ratio": peaks[hi] / peaks[lo],
            "goal": "<= 1.1",
        }
    )
    return out_rows


def everything_rows(device: str, size: int, sides: tuple[int, ...]) -> list[dict]:
    from PIL import Image
    from zoo_sam2.everything import make_generator

    import zoo
    from zoo.everything import grid_everything, resolve_settings
    from zoo.io.images import load_image

    im = Image.open(FIXTURES / "truck.jpg")
    photo = load_image(np.array(im.resize((1024, round(1024 * im.height / im.width)))))
    rows = []
    model = zoo.load("sam2:tiny", weights="random", device=device, image_size=size)
    model.set_image(photo)
    for pps in sides:
        # both pay for building their generator, as a user's first call does
        t = time.perf_counter()
        ours = model.segment_everything(photo, points_per_side=pps)
        ours_s = time.perf_counter() - t
        t = time.perf_counter()
        gen = make_generator(model.model, resolve_settings(model, points_per_side=pps))
        anns = gen.generate(photo)  # the package's generator, called directly
        pkg_s = time.perf_counter() - t
        same = len(anns) == len(ours) and (
            not anns or np.array_equal(np.stack([a["segmentation"] for a in anns]), ours.masks)
        )
        rows.append(
            {
                "case": f"everything sam2:tiny pps={pps} (sam2 generator via zoo)",
                "seconds": ours_s,
                "items_per_s": None,
                "ratio": ours_s / pkg_s,
                "goal": f"<= 1.05x; {len(ours)} masks; identical={same}",
            }
        )
        rows.append(
            {
                "case": f"everything sam2:tiny pps={pps} (SAM2AutomaticMaskGenerator)",
                "seconds": pkg_s,
                "items_per_s": None,
                "ratio": 1.0,
                "goal": f"{len(anns)} masks",
            }
        )
        t = time.perf_counter()
        grid = grid_everything(model, photo, resolve_settings(model, points_per_side=pps))
        rows.append(
            {
                "case": f"everything sam2:tiny pps={pps} (core grid)",
                "seconds": time.perf_counter() - t,
                "items_per_s": None,
                "ratio": None,
                "goal": f"{len(grid)} masks",
            }
        )
    try:
        eff = zoo.load("efficientsam:vitt", weights="random", device=device)
    except Exception as exc:
        rows.append(
            {
                "case": "everything efficientsam:vitt",
                "seconds": None,
                "items_per_s": None,
                "ratio": None,
                "goal": f"skipped: not loadable yet ({type(exc).__name__})",
            }
        )
        return rows
    for pps in sides:
        t = time.perf_counter()
        res = eff.segment_everything(photo, points_per_side=pps)
        rows.append(
            {
                "case": f"everything efficientsam:vitt pps={pps} (core grid)",
                "seconds": time.perf_counter() - t,
                "items_per_s": None,
                "ratio": None,
                "goal": f"{len(res)} masks",
            }
        )
    return rows


def cluster_note(where: dict, size: int) -> str:
    b = where["batch_per_item_s"]
    per = {k: v or 0.0 for k, v in b.items()}
    return (
        f"Per item on this machine (sam2:tiny, image_size {size}, CPU): prepare "
        f"{per['prepare']:.3f} s, model {per['compute']:.3f} s, write {per['write']:.3f} s "
        "(stage means; prepare and write overlap with the model). On a cluster of K GPU "
        "nodes with one actor per GPU, throughput ~ K * G / t_model, where t_model is the "
        "per-image encoder+decoder time on the GPU (sam2:tiny at 1024 px: tens of ms on a "
        "modern GPU, so ~20-40 items/s per GPU), as long as each actor's CPU side keeps up: "
        "decode + RLE/PNG/JSON writes ~ prepare + write above, per item, spread over the "
        "node's cores by the actor's threads. Limits, in the order they bite: (1) the "
        "writes and RLE encoding on the actor CPUs once the GPU is fast (PNG/overlay formats "
        "cost most; coco/parquet only is far cheaper), (2) input I/O (object store / S3 "
        "bandwidth: a 200 KB JPEG at 30 items/s/GPU is 6 MB/s per GPU, fine until hundreds "
        "of GPUs share one bucket prefix), (3) the shared output filesystem's small-file "
        "rate (one record + N PNGs per item), (4) the driver's status stream (one small row "
        "per item: thousands per second are fine)."
    )


def main() -> None:
    import torch

    from zoo.batch.runner import threads_for

    device = bench_device()
    size = 256 if QUICK else 1024
    n = 64
    with tempfile.TemporaryDirectory(prefix="bench-batch-") as d:
        tmp = Path(d)
        rows, where = throughput_rows(tmp, device, size, n)
        rows += rss_rows(tmp, device, 128, (50, 500))
        torch.set_num_threads(threads_for(1))  # everything rows: zoo batch's thread count
        rows += everything_rows(device, 512 if QUICK else 1024, (8, 16) if QUICK else (16, 32))
    note = cluster_note(where, size)
    report(
        "bench_batch",
        rows,
        {
            "device": device,
            "quick": QUICK,
            "image_size": size,
            "items": n,
            "where_time_goes": where,
            "cluster_note": note,
            "rusage_self_maxrss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        },
    )
    print("\nwhere the time goes:", json.dumps(where, indent=1))
    print("\n" + note)


if __name__ == "__main__":
    main()
