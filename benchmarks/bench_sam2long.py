"""SAM2Long benchmarks (issue: sam2long-video).

1. Per-frame time with P=3 as a ratio to plain ``sam2`` propagation, same network, flags,
   frames and prompt (target <= 1.3x), with our tracker as shipped (distinct pathways computed
   once, batched) and as the plain algorithm (every pathway evaluated, sequentially), plus how
   often pathways were distinct. Uses the golden checkpoint and frames when ``../shared`` is
   present (the edited checkpoint that makes the tree branch), else random weights on the
   fixture video.
2. Peak resident memory for 200 vs 50 frames (the 24 fixture frames repeated), each in its
   own process (target ratio <= 1.1). SAM input 256 to keep it short on CPU; the bound comes
   from the streaming design, not from the input size.

Run: ``.venv/bin/python benchmarks/bench_sam2long.py [--quick]``.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import bench_device, report

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
GOLDEN = SHARED / "golden" / "sam2long"
FIXTURE = SHARED / "fixtures" / "video" / "bedroom"
BOX = (300.0, 0.0, 500.0, 400.0)


def _model(device: str, image_size: int | None = None):  # type: ignore[no-untyped-def]
    """The SAM 2 video network exactly as ``zoo.load("sam2long-video:tiny")`` builds it."""
    import zoo

    ckpt = GOLDEN / "sam2.1_hiera_tiny_random_fp16.pt"
    weights: dict[str, object] = (
        {"checkpoint": ckpt} if ckpt.is_file() else {"weights": "random", "seed": 0}
    )
    config = {"image_size": image_size} if image_size else {}
    return zoo.load("sam2long-video:tiny", device=device, progress=False, **weights, **config).model


def _frames_dir() -> Path:
    if GOLDEN.exists():
        return GOLDEN / "frames"
    if FIXTURE.exists():
        return FIXTURE
    raise SystemExit("needs ../shared (golden frames or the fixture video)")


def speed(device: str) -> list[dict[str, object]]:
    import torch
    from zoo_sam2long.tracker import ObjectPrompt, SAM2LongConfig, SAM2LongTracker

    model = _model(device)
    frames = sorted(_frames_dir().glob("*.jpg"))[:10]
    rows: list[dict[str, object]] = []

    def run_tree(cfg: SAM2LongConfig) -> tuple[float, dict[str, int]]:
        tracker = SAM2LongTracker(model, cfg)
        t0 = time.perf_counter()
        for _ in tracker.track(
            [str(f) for f in frames], [ObjectPrompt(1, box=BOX)], num_frames=len(frames)
        ):
            pass
        return time.perf_counter() - t0, dict(tracker.stats)

    def run_sam2() -> float:
        with torch.inference_mode():
            t0 = time.perf_counter()
            state = model.init_state(video_path=str(frames[0].parent))
            model.add_new_points_or_box(state, frame_idx=0, obj_id=1, box=list(BOX))
            for _ in model.propagate_in_video(state):
                pass
            dt = time.perf_counter() - t0
            model.reset_state(state)
        return dt

    t_sam2 = run_sam2()
    t_ours, stats = run_tree(SAM2LongConfig(num_pathways=3))
    t_plain, _ = run_tree(SAM2LongConfig(num_pathways=3, dedup=False, batch=False))
    t_p1, _ = run_tree(SAM2LongConfig(num_pathways=1))
    n = len(frames)
    distinct = stats["distinct_evals"] / max(stats["pathway_evals"], 1)
    for name, t in (
        ("plain sam2 propagation", t_sam2),
        ("sam2long P=1", t_p1),
        ("sam2long P=3, plain algorithm (no dedup, no batching)", t_plain),
        ("sam2long P=3, as shipped (dedup + batching)", t_ours),
    ):
        rows.append({"case": name, "s_per_frame": t / n, "ratio_to_sam2": t / t_sam2})
    rows.append(
        {
            "case": f"distinct pathway evaluations: {stats['distinct_evals']} of "
            f"{stats['pathway_evals']} over {stats['tree_frames']} tree frames",
            "s_per_frame": "",
            "ratio_to_sam2": round(distinct, 3),
        }
    )
    return rows


def memory_child(n_frames: int) -> None:
    """Track ``n_frames`` (fixture frames repeated) and print peak RSS in MB as JSON."""
    from PIL import Image
    from zoo_sam2long.tracker import ObjectPrompt, SAM2LongConfig, SAM2LongTracker

    model = _model("cpu", image_size=256)
    files = (
        sorted(FIXTURE.glob("*.jpg")) if FIXTURE.exists() else sorted(_frames_dir().glob("*.jpg"))
    )

    def frames():  # type: ignore[no-untyped-def]
        for i in range(n_frames):
            yield np.asarray(Image.open(files[i % len(files)]).convert("RGB"))

    tracker = SAM2LongTracker(model, SAM2LongConfig(num_pathways=3))
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t0 = time.perf_counter()
    for _ in tracker.track(frames(), [ObjectPrompt(1, box=BOX)], num_frames=n_frames):
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "frames": n_frames,
                "peak_mb": peak,
                "after_build_mb": base,
                "seconds": time.perf_counter() - t0,
            }
        )
    )


def memory(quick: bool) -> list[dict[str, object]]:
    sizes = (20, 80) if quick else (50, 200)
    out = {}
    for n in sizes:
        proc = subprocess.run(
            [sys.executable, __file__, "--memory-child", str(n)],
            capture_output=True,
            text=True,
            check=True,
        )
        out[n] = json.loads(proc.stdout.strip().splitlines()[-1])
    small, large = out[sizes[0]], out[sizes[1]]
    return [
        {
            "case": f"{n} frames",
            "peak_rss_mb": d["peak_mb"],
            "after_build_mb": d["after_build_mb"],
            "seconds": d["seconds"],
        }
        for n, d in out.items()
    ] + [
        {
            "case": f"ratio {sizes[1]}/{sizes[0]} frames (target <= 1.1)",
            "peak_rss_mb": large["peak_mb"] / small["peak_mb"],
            "after_build_mb": "",
            "seconds": "",
        }
    ]


def main() -> None:
    if "--memory-child" in sys.argv:
        memory_child(int(sys.argv[sys.argv.index("--memory-child") + 1]))
        return
    quick = "--quick" in sys.argv
    device = bench_device()
    if "--memory-only" not in sys.argv:
        report(
            f"sam2long_speed_{device}",
            speed(device),
            {
                "device": device,
                "frames": 10,
                "weights": "golden edited fp16" if GOLDEN.exists() else "random",
            },
        )
        print()
    report("sam2long_memory", memory(quick), {"input": 256, "pathways": 3})


if __name__ == "__main__":
    main()
