"""SAM2Long benchmarks (issues: sam2long-video; 14, item 6).

1. **Per-stage profile** through the path a user runs: ``zoo.load("sam2long-video:tiny",
   checkpoint=...)`` and ``track(...)``, timed by :mod:`zoo_sam2long.profiling` (module
   hooks on the SAM 2 network plus the tracker's own stage blocks; nothing is re-implemented
   here).  Cases, on the golden checkpoint, frames and box when ``../shared`` is present
   (the edited checkpoint that makes the tree branch), else random weights on the fixture
   video:

   * ``sam2``: plain SAM 2 propagation on the same network (``init_state`` +
     ``add_new_points_or_box`` + ``propagate_in_video``), the baseline of every ratio;
   * ``P=1`` and ``P=3``: SAM2Long as shipped;
   * ``P=3 shortcuts off``: ``P=3`` with the execution shortcuts off (``share_first_layer``,
     ``lazy_memory``, ``cache_rope``), i.e. the tracker as it was before they existed; its
     masks must equal ``P=3``'s (checked);
   * ``P=3 plain tree`` (``--plain-tree``): every pathway evaluated alone, no batching.

   The machine is shared, so cases are interleaved in rounds (order rotated each round)
   and each case's best round (least wall time) is reported; ratios are given both from
   the best times and as the median of per-round ratios, in wall and process-CPU time.
   ``torch.set_num_threads(2)`` unless ``--threads N``.
2. Peak resident memory for 200 vs 50 frames (the 24 fixture frames repeated), each in its
   own process (target ratio <= 1.1). SAM input 256 to keep it short on CPU; the bound comes
   from the streaming design, not from the input size.
3. **Cost per object** (``--objects``, issue 21 item 3): 1, 2 and 4 objects (the golden box
   plus three more boxes on the same frames: the boy, the pink pillow, the drawers) at P=1
   and P=3, each case in its own process, through ``zoo.load`` + ``track()``: per-stage
   seconds (the same hooks as 1.), wall and process-CPU time, peak RSS (and RSS after the
   model is built), and the ratio of N objects' time to N x one object's (goal <= 1).
   Masks are checked, not assumed: with one object they must equal the golden ones
   (``masks`` for P=3, ``masks_p1`` for P=1); with N objects every object's low-res logits
   must be the same bits as in every other run that tracks it (adding objects changes no
   object's masks; the final masks differ only by SAM 2's non-overlap rule between objects).
   ``--image-size S`` and ``--frames DIR`` (e.g. ``../shared/fixtures/video/bedroom``, 24
   frames) run it smaller or longer, ``--counts 1,2`` fewer cases; the golden checks apply
   to the golden frames at the golden input size only.

Run: ``.venv/bin/python benchmarks/bench_sam2long.py [--quick] [--rounds N] [--detail]
[--plain-tree] [--profile-only | --memory-only | --objects [--image-size S]
[--frames DIR] [--counts 1,2,4]]``.  ``--detail`` splits memory attention into
self-attention, memory K/V projections, cross-attention and MLP.
"""

from __future__ import annotations

import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import bench_device, report

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
GOLDEN = SHARED / "golden" / "sam2long"
FIXTURE = SHARED / "fixtures" / "video" / "bedroom"
BOX = (300.0, 0.0, 500.0, 400.0)
#: shortcuts off = the tracker before issue 14's changes (same decisions and bits)
UNSHARED = {"share_first_layer": False, "lazy_memory": False, "cache_rope": False}
PLAIN_TREE = {"dedup": False, "batch": False, **UNSHARED}
#: object boxes on the golden frames (960x540): the golden box (the girl), the boy, the
#: pink pillow, the drawers; ``--objects`` tracks the first 1, 2 and 4 (``--counts``)
OBJECT_BOXES = (
    BOX,
    (140.0, 130.0, 295.0, 410.0),
    (530.0, 285.0, 685.0, 415.0),
    (820.0, 340.0, 960.0, 540.0),
)


def _arg(name: str, default: int) -> int:
    return int(sys.argv[sys.argv.index(name) + 1]) if name in sys.argv else default


def _load(device: str, image_size: int | None = None, **options: Any) -> Any:
    """``zoo.load("sam2long-video:tiny")`` on the golden checkpoint (else random weights)."""
    import zoo

    ckpt = GOLDEN / "sam2.1_hiera_tiny_random_fp16.pt"
    weights: dict[str, object] = (
        {"checkpoint": ckpt} if ckpt.is_file() else {"weights": "random", "seed": 0}
    )
    config = {"image_size": image_size} if image_size else {}
    return zoo.load(
        "sam2long-video:tiny", device=device, progress=False, **weights, **config, **options
    )


def _model(device: str, image_size: int | None = None):  # type: ignore[no-untyped-def]
    """The SAM 2 video network exactly as ``zoo.load("sam2long-video:tiny")`` builds it."""
    return _load(device, image_size).model


def _frames_dir() -> Path:
    if GOLDEN.exists():
        return GOLDEN / "frames"
    if FIXTURE.exists():
        return FIXTURE
    raise SystemExit("needs ../shared (golden frames or the fixture video)")


def _run_sam2(zm: Any, frames: Path, detail: bool) -> tuple[Any, np.ndarray]:
    """Plain SAM 2 propagation on the network of ``zm``, profiled with the same hooks."""
    import torch
    from zoo_sam2long.profiling import profile_stages, stage

    net = zm.model
    masks = []
    with torch.inference_mode(), profile_stages(net, detail=detail) as prof:
        with stage("frame loading"):  # sam2 decodes and resizes the whole video up front
            state = net.init_state(video_path=str(frames), async_loading_frames=False)
        net.add_new_points_or_box(state, frame_idx=0, obj_id=1, box=list(BOX))
        for _, _, video_res in net.propagate_in_video(state):
            masks.append((video_res[0, 0] > 0).numpy())
        net.reset_state(state)
    return prof, np.stack(masks)


def _run_ours(zm: Any, frames: Path, pathways: int, detail: bool) -> tuple[Any, np.ndarray]:
    from zoo_sam2long.profiling import profile_stages

    with profile_stages(zm.model, detail=detail) as prof:
        masks = [r.masks[1] for r in zm.track(frames, {"boxes": [list(BOX)]}, pathways=pathways)]
    return prof, np.stack(masks)


def profile(
    device: str, rounds: int, detail: bool, plain_tree: bool
) -> tuple[list[dict[str, object]], dict[str, Any]]:
    """Interleaved per-stage profiles; prints the stage table, returns the ratio rows and
    every round's stage rows per case (for the JSON)."""
    import torch

    torch.set_num_threads(_arg("--threads", 2))
    frames = _frames_dir()
    shipped = _load(device)
    unshared = _load(device, **UNSHARED)
    cases: dict[str, Any] = {
        "sam2": lambda: _run_sam2(shipped, frames, detail),
        "P=1": lambda: _run_ours(shipped, frames, 1, detail),
        "P=3": lambda: _run_ours(shipped, frames, 3, detail),
        "P=3 shortcuts off": lambda: _run_ours(unshared, frames, 3, detail),
    }
    if plain_tree:
        plain = _load(device, **PLAIN_TREE)
        cases["P=3 plain tree"] = lambda: _run_ours(plain, frames, 3, detail)
    names = list(cases)
    runs: dict[str, list[Any]] = {n: [] for n in names}
    masks: dict[str, np.ndarray] = {}
    for r in range(rounds):
        order = names[r % len(names) :] + names[: r % len(names)]
        for name in order:
            prof, m = cases[name]()
            runs[name].append(prof)
            masks.setdefault(name, m)
            print(f"round {r + 1}/{rounds} {name:16s} wall {prof.wall_s:7.1f} s", end="")
            print(f"  cpu {prof.cpu_s:7.1f} s")
            sys.stdout.flush()
    if not np.array_equal(masks["P=3"], masks["P=3 shortcuts off"]):
        raise SystemExit("the shortcuts changed P=3 masks")
    golden = _golden_pixels(masks)

    best = {n: min(runs[n], key=lambda p: p.wall_s) for n in names}
    _stage_table(best, names)
    base = best["sam2"]
    rows: list[dict[str, object]] = []
    for n in names:
        paired_wall = [a.wall_s / b.wall_s for a, b in zip(runs[n], runs["sam2"], strict=True)]
        paired_cpu = [a.cpu_s / b.cpu_s for a, b in zip(runs[n], runs["sam2"], strict=True)]
        rows.append(
            {
                "case": n,
                "best_wall_s": best[n].wall_s,
                "best_cpu_s": min(p.cpu_s for p in runs[n]),
                "ratio_wall": best[n].wall_s / base.wall_s,
                "ratio_cpu": min(p.cpu_s for p in runs[n]) / min(p.cpu_s for p in runs["sam2"]),
                "median_paired_wall": statistics.median(paired_wall),
                "median_paired_cpu": statistics.median(paired_cpu),
                "golden_px_diff": golden.get(n, ""),
            }
        )
    return rows, {n: [p.rows() for p in runs[n]] for n in names}


def _golden_pixels(masks: dict[str, np.ndarray]) -> dict[str, int]:
    """Mask pixels differing from the upstream golden outputs (0 expected everywhere)."""
    path = GOLDEN / "expected.npz"
    if not path.is_file():
        return {}
    e = np.load(path)
    ref = {"sam2": "masks_sam2", "P=1": "masks_p1", "P=3": "masks", "P=3 shortcuts off": "masks"}
    ref["P=3 plain tree"] = "masks"
    return {
        n: int((m.astype(bool) != e[ref[n]].astype(bool)).sum())
        for n, m in masks.items()
        if n in ref
    }


def _stage_table(best: dict[str, Any], names: list[str]) -> None:
    """Stages x cases, exclusive seconds of each case's best round (wall / CPU)."""
    stages: list[str] = []
    for n in names:
        for row in best[n].rows():
            if row["stage"] not in stages:
                stages.append(str(row["stage"]))
    stages.remove("other")
    stages.remove("total")
    stages += ["other", "total"]
    width = max(len(s) for s in stages)
    print(f"\nper-stage exclusive seconds, best round of each case (wall / cpu; {names[0]} = base)")
    print(" " * width + "".join(f"  {n:>17s}" for n in names))
    for st in stages:
        cells = []
        for n in names:
            row = next((r for r in best[n].rows() if r["stage"] == st), None)
            cells.append(
                f"  {row['wall_s']:7.2f} / {row['cpu_s']:7.2f}" if row else "  " + "-".rjust(17)
            )
        print(st.ljust(width) + "".join(cells))
    print()


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


def _opt_str(name: str) -> str | None:
    return sys.argv[sys.argv.index(name) + 1] if name in sys.argv else None


def objects_child(n_objects: int, pathways: int, logits_out: Path) -> None:
    """Track the first ``n_objects`` boxes at ``pathways``; print one JSON line (times,
    stages, RSS) and save every object's low-res logits to ``logits_out`` (``.npz``)."""
    import torch
    from zoo_sam2long.profiling import profile_stages

    torch.set_num_threads(_arg("--threads", 2))
    size = _arg("--image-size", 0) or None
    frames = Path(_opt_str("--frames") or _frames_dir())
    zm = _load("cpu", image_size=size)
    after_build = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    boxes = [list(b) for b in OBJECT_BOXES[:n_objects]]
    lowres: dict[int, list[np.ndarray]] = {i + 1: [] for i in range(n_objects)}
    masks1: list[np.ndarray] = []
    t0, c0 = time.perf_counter(), time.process_time()
    with profile_stages(zm.model) as prof:
        # record=True exposes each object's low-res logits before the cross-object
        # non-overlap rule (the per-object output); it adds ~1 MB per object and frame
        # that is dropped as soon as the frame is consumed
        for r in zm.track(frames, {"boxes": boxes}, pathways=pathways, record=True):
            objs = r.extra["sam2long"]["objects"]
            for oid in lowres:
                lowres[oid].append(objs[oid]["lowres_logits"])
            if n_objects == 1:
                masks1.append(r.masks[1])
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    arrays = {f"obj{oid}": np.stack(v) for oid, v in lowres.items()}
    if masks1:
        arrays["masks1"] = np.stack(masks1)
    np.savez(logits_out, **arrays)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    stages = {str(r["stage"]): [r["wall_s"], r["cpu_s"]] for r in prof.rows()}
    print(
        json.dumps(
            {
                "objects": n_objects,
                "pathways": pathways,
                "frames": len(lowres[1]),
                "wall_s": wall,
                "cpu_s": cpu,
                "peak_rss_mb": peak,
                "after_build_mb": after_build,
                "stages": stages,
            }
        )
    )


def objects(rounds: int) -> tuple[list[dict[str, object]], dict[str, Any]]:
    """1, 2 and 4 objects at P=1 and P=3, each run in a fresh process (see the docstring)."""
    extra: list[str] = []
    for flag in ("--image-size", "--frames", "--threads"):
        if flag in sys.argv:
            extra += [flag, sys.argv[sys.argv.index(flag) + 1]]
    golden_setup = _opt_str("--frames") is None and "--image-size" not in sys.argv
    counts = tuple(int(c) for c in (_opt_str("--counts") or "1,2,4").split(","))
    if 1 not in counts or not set(counts) <= set(range(1, len(OBJECT_BOXES) + 1)):
        raise SystemExit(f"--counts must include 1 and stay within 1..{len(OBJECT_BOXES)}")
    cases = [(p, n) for p in (1, 3) for n in counts]
    runs: dict[tuple[int, int], list[dict[str, Any]]] = {c: [] for c in cases}
    logits: dict[tuple[int, int], dict[str, np.ndarray]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-sam2long-") as tmp:
        for r in range(rounds):
            order = cases[r % len(cases) :] + cases[: r % len(cases)]
            for p, n in order:
                out = Path(tmp) / f"p{p}_n{n}_r{r}.npz"
                proc = subprocess.run(
                    [sys.executable, __file__, "--objects-child", str(n), str(p), str(out), *extra],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                row = json.loads(proc.stdout.strip().splitlines()[-1])
                runs[(p, n)].append(row)
                print(
                    f"round {r + 1}/{rounds} P={p} objects={n}: wall {row['wall_s']:7.1f} s"
                    f"  cpu {row['cpu_s']:7.1f} s  peak RSS {row['peak_rss_mb']:6.0f} MB"
                )
                sys.stdout.flush()
                with np.load(out) as z:
                    got = {k: z[k] for k in z.files}
                if (p, n) in logits:  # the same process twice: the same bits
                    for k, v in got.items():
                        if not np.array_equal(v, logits[(p, n)][k]):
                            raise SystemExit(f"P={p} objects={n}: {k} differs between rounds")
                logits.setdefault((p, n), got)
    # adding objects changes no object's output: each object's low-res logits are the same
    # bits whichever other objects are tracked with it
    for p in (1, 3):
        for n in counts:
            for k, v in logits[(p, n)].items():
                if not k.startswith("obj"):
                    continue
                ref = next(logits[(p, m)][k] for m in counts if k in logits[(p, m)])
                if not np.array_equal(v, ref):
                    raise SystemExit(f"P={p}: {k}'s logits change when {n} objects are tracked")
    golden: dict[int, int | str] = {1: "", 3: ""}
    if golden_setup and (GOLDEN / "expected.npz").is_file():
        e = np.load(GOLDEN / "expected.npz")
        for p, key in ((1, "masks_p1"), (3, "masks")):
            ours = logits[(p, 1)]["masks1"].astype(bool)
            golden[p] = int((ours != e[key].astype(bool)).sum())
    rows: list[dict[str, object]] = []
    stage_names: list[str] = []
    best: dict[tuple[int, int], dict[str, Any]] = {}
    for c in cases:
        best[c] = min(runs[c], key=lambda row: row["wall_s"])
        for st in best[c]["stages"]:
            if st not in stage_names and st not in ("other", "total"):
                stage_names.append(st)
    for p, n in cases:
        b, one = best[(p, n)], best[(p, 1)]
        cpu_best = min(row["cpu_s"] for row in runs[(p, n)])
        cpu_one = min(row["cpu_s"] for row in runs[(p, 1)])
        rows.append(
            {
                "case": f"P={p} objects={n}",
                "wall_s": b["wall_s"],
                "cpu_s": cpu_best,
                "wall / (N x one)": b["wall_s"] / (n * one["wall_s"]),
                "cpu / (N x one)": cpu_best / (n * cpu_one),
                "wall / one": b["wall_s"] / one["wall_s"],
                "peak_rss_mb": b["peak_rss_mb"],
                "tracking_rss_mb": b["peak_rss_mb"] - b["after_build_mb"],
                "golden_px_diff": golden[p] if n == 1 else "",
                "logits_same_in_every_run": "yes",
            }
        )
    print("\nper-stage seconds, best round of each case (wall / cpu)")
    width = max(len(s) for s in [*stage_names, "other", "total"])
    print(" " * width + "".join(f"  {f'P={p} N={n}':>15s}" for p, n in cases))
    for st in [*stage_names, "other", "total"]:
        cells = []
        for c in cases:
            v = best[c]["stages"].get(st)
            cells.append(f"  {v[0]:6.2f} /{v[1]:6.2f}" if v else "  " + "-".rjust(15))
        print(st.ljust(width) + "".join(cells))
    print()
    return rows, {f"P={p} N={n}": runs[(p, n)] for p, n in cases}


def main() -> None:
    if "--memory-child" in sys.argv:
        memory_child(int(sys.argv[sys.argv.index("--memory-child") + 1]))
        return
    if "--objects-child" in sys.argv:
        i = sys.argv.index("--objects-child")
        objects_child(int(sys.argv[i + 1]), int(sys.argv[i + 2]), Path(sys.argv[i + 3]))
        return
    if "--objects" in sys.argv:
        rounds = _arg("--rounds", 1)
        rows, per_round = objects(rounds)
        report(
            "sam2long_objects",
            rows,
            {
                "frames": _opt_str("--frames") or str(_frames_dir()),
                "image_size": _arg("--image-size", 0) or "default (1024)",
                "rounds": rounds,
                "boxes": [list(b) for b in OBJECT_BOXES],
                "runs": per_round,
            },
        )
        return
    quick = "--quick" in sys.argv
    device = bench_device()
    if "--memory-only" not in sys.argv:
        rounds = _arg("--rounds", 1 if quick else 3)
        rows, stages = profile(device, rounds, "--detail" in sys.argv, "--plain-tree" in sys.argv)
        report(
            f"sam2long_profile_{device}",
            rows,
            {
                "device": device,
                "frames": 10,
                "rounds": rounds,
                "weights": "golden edited fp16" if GOLDEN.exists() else "random",
                "stages_per_round": stages,
            },
        )
        print()
    if "--profile-only" not in sys.argv:
        report("sam2long_memory", memory(quick), {"input": 256, "pathways": 3})


if __name__ == "__main__":
    main()
