"""depth-sam on CPU: seconds per frame by stage, grid size cost, batched classification.

Measures, on the real ScanNet frame in ``../shared/fixtures/rgbd`` (640x480 RGB + depth):

1. **stages per mode**: render, mask generation (depth / RGB), merge, classification and
   3D lifting for ``--mode depth``, ``rgb`` and ``both`` (``segment_rgbd``'s own timings);
2. **grid size**: the mask generator with 32 vs 64 points per side (SAD used 64);
3. **classification**: N mask crops through CLIP ViT-B/16 in one batched forward vs one
   forward per mask, plus the one-off (cached) text embedding of the vocabulary;
4. **test mode's relaxed thresholds**: mask generation at SAD's thresholds vs the relaxed
   (0, 0) ones that ``weights="random"`` uses when the caller sets none.

No pretrained weights exist on this machine, so the models run at random init. That does
not change the arithmetic of any stage, but it changes how many masks survive the
generator's quality thresholds (random SAM predicts low IoU, so at SAD's thresholds almost
nothing survives): stage 1-2 times are the generator's compute (encoder, decoder over the
grid, up-sampling, stability) with next to no surviving masks, and the classification cost
is measured separately with a fixed number of realistic masks (depth-bin regions of the
frame). The mode and grid runs use a 512 px SAM input by default: on one CPU core SAM 2's
generator costs ~18 s per 64-point decoder batch at 1024 (it up-samples 192 candidate masks
to full resolution per batch), so SAD's 64x64 grid at 1024 would take ~20 minutes per frame;
one 1024 batch is measured for scale. Everything runs single-threaded
(``torch.set_num_threads(1)``) so the numbers are per core and comparable between runs on
a shared machine; ratios within one run are the robust part.

    .venv/bin/python benchmarks/bench_depthsam.py            # full (minutes)
    .venv/bin/python benchmarks/bench_depthsam.py --quick    # smoke run
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import report

SHARED = Path(__file__).resolve().parents[2] / "shared"
FRAME = SHARED / "fixtures" / "rgbd" / "scannet_scene0000_00_1660"


def depth_bin_masks(depth: np.ndarray, valid: np.ndarray, n: int) -> np.ndarray:
    """``n`` object-like regions of the frame: connected parts of depth bins, largest first."""
    import cv2

    edges = np.quantile(depth[valid], np.linspace(0, 1, 9))
    regions = []
    for lo, hi in itertools.pairwise(edges):
        band = (valid & (depth >= lo) & (depth <= hi)).astype(np.uint8)
        k, lab = cv2.connectedComponents(band)
        for i in range(1, k):
            m = lab == i
            if m.sum() >= 200:
                regions.append(m)
    regions.sort(key=lambda m: -int(m.sum()))
    while len(regions) < n:  # split the largest regions into halves if there are too few
        m = regions.pop(0)
        cols = np.flatnonzero(m.any(axis=0))
        mid = cols[len(cols) // 2]
        left, right = m.copy(), m.copy()
        left[:, mid:] = False
        right[:, :mid] = False
        regions += [left, right]
        regions.sort(key=lambda r: -int(r.sum()))
    return np.stack(regions[:n])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="tiny settings, for a smoke run")
    ap.add_argument(
        "--image-size",
        type=int,
        default=None,
        help="SAM input side for the mode and grid runs (default 512, see below)",
    )
    ap.add_argument("--masks", type=int, default=None, help="masks to classify (32)")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    if not (FRAME / "depth.png").is_file():
        sys.exit(f"fixture frame not found at {FRAME}")
    torch.set_num_threads(args.threads)
    image_size = args.image_size or (256 if args.quick else 512)
    grid_modes = 8 if args.quick else 32
    grids = (8, 16) if args.quick else (32, 64)
    n_masks = args.masks or (4 if args.quick else 32)

    from zoo_depthsam.vocab import SCANNET20

    from zoo.io.depth import load_depth, load_intrinsics
    from zoo.io.images import load_image
    from zoo.loading import load

    # SAD's thresholds, explicitly: left unset, test mode relaxes them (measured below)
    sad = {"pred_iou_thresh": 0.7, "stability_score_thresh": 0.8}

    image = load_image(FRAME / "color.jpg")
    depth, valid = load_depth(FRAME / "depth.png")
    k = load_intrinsics(FRAME / "intrinsic_depth.txt")
    torch.manual_seed(0)
    t0 = time.perf_counter()
    model = load("depth-sam:tiny", weights="random", device="cpu", image_size=image_size, **sad)
    build_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    model.classifier.text_features(list(SCANNET20))
    text_s = time.perf_counter() - t0

    rows: list[dict[str, Any]] = []
    stage_keys = ("render", "masks_depth", "masks_rgb", "merge", "classify", "3d")
    settings = model.with_settings(points_per_side=grid_modes)
    for mode in ("depth", "rgb", "both"):
        r = model.segment_rgbd(
            image, depth, intrinsics=k, vocabulary=list(SCANNET20), mode=mode, settings=settings
        )
        t = r.timings
        total = sum(t.get(s, 0.0) for s in stage_keys)
        rows.append(
            {
                "bench": f"stages, mode={mode}",
                "points_per_side": grid_modes,
                **{f"{s}_s": round(t.get(s, 0.0), 3) for s in stage_keys},
                "total_s": round(total, 3),
                "masks": len(r),
            }
        )
        print(f"mode {mode}: {total:.1f} s", flush=True)

    grid_s = {}
    rendered = model.render(depth, valid)
    for g in grids:
        st = model.with_settings(points_per_side=g)
        timings: dict[str, float] = {}
        model.propose(image, rendered, valid, ("depth",), settings=st, timings=timings)
        grid_s[g] = timings["masks_depth"]
        print(f"grid {g}: {grid_s[g]:.1f} s", flush=True)
        rows.append(
            {
                "bench": "mask generation (depth)",
                "points_per_side": g,
                "masks_depth_s": round(grid_s[g], 3),
            }
        )

    if not args.quick and image_size != 1024:
        # SAM's real 1024 input, one decoder batch (8x8 grid = 64 points): the per-batch
        # cost at full size, from which a 64x64 grid (64 batches) can be scaled.
        torch.manual_seed(0)
        full = load("depth-sam:tiny", weights="random", device="cpu", **sad)
        timings = {}
        full.propose(
            image,
            rendered,
            valid,
            ("depth",),
            settings=full.with_settings(points_per_side=8),
            timings=timings,
        )
        rows.append(
            {
                "bench": "mask generation (depth), SAM input 1024",
                "points_per_side": 8,
                "masks_depth_s": round(timings["masks_depth"], 3),
            }
        )
        print(f"1024, grid 8: {timings['masks_depth']:.1f} s", flush=True)
        del full

    # test mode's relaxed thresholds (0, 0): every candidate mask survives and is
    # run-length encoded at the image size, which dominates a random model's generation
    relaxed_grid = 8 if args.quick else 16
    timings = {}
    model.propose(
        image,
        rendered,
        valid,
        ("depth",),
        settings=model.with_settings(points_per_side=relaxed_grid),
        timings=timings,
    )
    sad_s = timings["masks_depth"]
    timings = {}
    model.propose(
        image,
        rendered,
        valid,
        ("depth",),
        timings=timings,
        settings=model.with_settings(
            points_per_side=relaxed_grid, pred_iou_thresh=0.0, stability_score_thresh=0.0
        ),
    )
    relaxed_s = timings["masks_depth"]
    rows.append(
        {
            "bench": "mask generation (depth), SAD thresholds",
            "points_per_side": relaxed_grid,
            "masks_depth_s": round(sad_s, 3),
        }
    )
    rows.append(
        {
            "bench": "mask generation (depth), test-mode relaxed thresholds",
            "points_per_side": relaxed_grid,
            "masks_depth_s": round(relaxed_s, 3),
        }
    )
    print(
        f"grid {relaxed_grid}: SAD thresholds {sad_s:.1f} s, relaxed {relaxed_s:.1f} s", flush=True
    )

    masks = depth_bin_masks(depth, valid, n_masks)
    vocab = list(SCANNET20)
    clf = model.classifier
    t0 = time.perf_counter()
    p_batched = clf.classify_masks(image, masks, vocab, batch_size=len(masks))
    batched_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    p_single = clf.classify_masks(image, masks, vocab, batch_size=1)
    single_s = time.perf_counter() - t0
    same = bool(np.array_equal(p_batched.argmax(1), p_single.argmax(1)))
    rows.append(
        {
            "bench": "classification, one forward",
            "masks": len(masks),
            "classify_s": round(batched_s, 3),
            "per_mask_ms": round(1000 * batched_s / len(masks), 1),
        }
    )
    rows.append(
        {
            "bench": "classification, per mask",
            "masks": len(masks),
            "classify_s": round(single_s, 3),
            "per_mask_ms": round(1000 * single_s / len(masks), 1),
        }
    )

    lo, hi = grids
    meta = {
        "frame": str(FRAME.name),
        "device": "cpu",
        "image_size": image_size,
        "weights": "random (stage times are compute; surviving mask counts are not real)",
        "model_build_s": round(build_s, 2),
        "text_embedding_scannet20_x5_templates_s": round(text_s, 2),
        f"grid_cost_ratio_{hi}_vs_{lo}": round(grid_s[hi] / grid_s[lo], 2),
        "classification_speedup_batched_vs_per_mask": round(single_s / batched_s, 2),
        f"test_mode_relaxed_vs_sad_thresholds_grid_{relaxed_grid}": round(relaxed_s / sad_s, 2),
        "batched_and_per_mask_argmax_equal": same,
    }
    report("depthsam", [{k: v for k, v in r.items()} for r in rows], meta)
    for key, v in meta.items():
        print(f"{key}: {v}")


if __name__ == "__main__":
    main()
