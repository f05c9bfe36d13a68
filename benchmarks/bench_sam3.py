"""Benchmark SAM 3 (sam3) through the public API: ``zoo.load`` + ``find`` / ``track_concepts``.

Measures, on one device (CPU by default), same threads for every case, random weights
(speed does not depend on the values), ratios within one run:

* **find vs transformers**: a cold ``model.find(photo, "a dog")`` (image embedding, text
  encoding, detector, post-processing) against the same work done with transformers
  directly on the same network: ``Sam3Processor`` + ``Sam3Model(**inputs)`` +
  ``post_process_instance_segmentation``. Rounds alternate; medians. Goal: <= 1.05x.
* **second concept on the same image**: ``find(None, another_text)`` after the first call
  (text encoder + detector only; a new text each round) against the cold call. Goal: the
  second is >= 10x cheaper. A repeated text (its encoding cached) is listed too.
* **batch**: ``zoo.batch("sam3", 16 images, text="3 concepts")`` (each image embedded once,
  each text encoded once for the whole run, images decoded ahead) against the loop a user
  writes with transformers: ``Sam3Processor(images=img, text=concept)`` + ``Sam3Model`` +
  post-processing for every image and concept. Goal: >= 1.2x. Runs the test-size network at
  the published input size (``--batch-arch tiny --batch-image-size 1008``): the loop's 48
  cold calls of the 860 M network would take about an hour on a CPU.
* **video memory**: peak RSS of ``track_concepts`` over 20 and 80 frames (a fresh process
  each, frames read from a folder one at a time), against transformers' own loop
  (``init_video_session(video=...)`` + ``propagate_in_video_iterator``) on the same frames.
  The video cases run the test-size network (``--video-arch tiny``) at the published input
  size (``--video-image-size 1008``): per-frame tensors have their real sizes, and 80 frames
  of the 860 M network would take hours on a CPU. Random weights detect nothing at SAM 3's
  thresholds, so the video cases lower them to 0 and cap the tracks (``--video-objects``).

Prints a table and writes ``benchmarks/results/sam3.json``. Absolute times depend on the
machine and its load; the ratios are the point.

    python benchmarks/bench_sam3.py [--threads 2] [--device cpu] [--arch base] [--repeat 3]
                                    [--frames 20,80] [--quick] [--skip-video] [--only-video]
                                    [--batch-images 16] [--batch-concepts 3] [--only-batch]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import peak_rss, report

REPO = Path(__file__).resolve().parents[1]
PHOTO = REPO.parent / "shared" / "fixtures" / "images" / "groceries.jpg"
VIDEO = REPO.parent / "shared" / "fixtures" / "video" / "bedroom"
TEXTS = ["a dog", "a red car", "a bag", "an apple", "a bottle", "a shelf", "a person", "a box"]


def _photo() -> Any:
    import numpy as np

    from zoo.io.images import load_image

    if PHOTO.is_file():
        return load_image(PHOTO)
    return np.random.default_rng(0).integers(0, 255, (534, 800, 3), dtype=np.uint8)


def bench_find(arch: str, device: str, repeat: int) -> list[dict[str, Any]]:
    import torch

    import zoo

    model = zoo.load("sam3", weights="random", arch=arch, device=device)
    img = _photo()
    det = model.net.detector
    from transformers import Sam3Processor

    proc = Sam3Processor(image_processor=model.net.image_processor, tokenizer=model.net.tokenizer)

    def zoo_cold() -> None:
        model._fingerprint = None  # a new image for the model: embed it again
        model._texts.clear()
        model.find(img, "a dog")

    def transformers_direct() -> None:
        with torch.inference_mode():
            inputs = proc(images=img, text="a dog", return_tensors="pt").to(device)
            sizes = inputs.pop("original_sizes").tolist()
            out = det(**inputs)
            proc.post_process_instance_segmentation(out, threshold=0.5, target_sizes=sizes)

    texts = iter(TEXTS * (repeat + 2))

    def zoo_second() -> None:
        model.find(None, next(texts))

    def zoo_repeat() -> None:
        model.find(None, "a dog")

    zoo_cold()  # warm-up of both paths (first-call allocations, lazy imports)
    transformers_direct()
    cold, direct, second, again = [], [], [], []
    for _ in range(repeat):
        for fn, bucket in ((zoo_cold, cold), (transformers_direct, direct)):
            t0 = time.perf_counter()
            fn()
            bucket.append(time.perf_counter() - t0)
        for fn, bucket in ((zoo_second, second), (zoo_repeat, again)):
            t0 = time.perf_counter()
            fn()
            bucket.append(time.perf_counter() - t0)
    med = {
        k: statistics.median(v)
        for k, v in (("cold", cold), ("direct", direct), ("second", second), ("again", again))
    }
    return [
        {
            "case": "find, cold (embed + text + detect)",
            "seconds": med["cold"],
            "vs": "transformers direct",
            "ratio": med["cold"] / med["direct"],
            "goal": "<= 1.05",
        },
        {
            "case": "transformers direct (processor + Sam3Model + post-process)",
            "seconds": med["direct"],
            "vs": "",
            "ratio": 1.0,
            "goal": "",
        },
        {
            "case": "find, second concept on the same image",
            "seconds": med["second"],
            "vs": "find, cold",
            "ratio": med["cold"] / med["second"],
            "goal": ">= 10 (times cheaper)",
        },
        {
            "case": "find, same concept again (text cached)",
            "seconds": med["again"],
            "vs": "find, cold",
            "ratio": med["cold"] / med["again"],
            "goal": "",
        },
    ]


def _batch_images(n: int, root: Path) -> list[str]:
    """``n`` different photos (crops of the fixture photos: identical images would share
    one embedding in zoo's cache, which is not the case measured)."""
    from PIL import Image

    sources = sorted(PHOTO.parent.glob("*.jpg")) if PHOTO.is_file() else []
    paths = []
    for i in range(n):
        if sources:
            img = Image.open(sources[i % len(sources)]).convert("RGB")
            w, h = img.size
            dx, dy = (i * 7) % max(1, w // 10), (i * 5) % max(1, h // 10)
            img = img.crop((dx, dy, w - (w // 10) + dx, h - (h // 10) + dy))
        else:
            import numpy as np

            rng = np.random.default_rng(i)
            img = Image.fromarray(rng.integers(0, 255, (480, 640, 3), dtype=np.uint8))
        path = root / f"img{i:02d}.jpg"
        img.save(path, quality=92)
        paths.append(str(path))
    return paths


def bench_batch(
    arch: str, side: int, n_images: int, n_concepts: int, device: str
) -> list[dict[str, Any]]:
    import torch
    from transformers import Sam3Processor

    import zoo
    from zoo.io.images import load_image

    concepts = TEXTS[:n_concepts]
    with tempfile.TemporaryDirectory() as tmp:
        paths = _batch_images(n_images, Path(tmp))
        model = zoo.load("sam3", weights="random", arch=arch, image_size=side, device=device)
        det = model.net.detector
        proc = Sam3Processor(
            image_processor=model.net.image_processor, tokenizer=model.net.tokenizer
        )

        def theirs() -> None:
            with torch.inference_mode():
                for p in paths:
                    img = load_image(p)
                    for text in concepts:
                        inputs = proc(images=img, text=text, return_tensors="pt").to(device)
                        sizes = inputs.pop("original_sizes").tolist()
                        out = det(**inputs)
                        proc.post_process_instance_segmentation(
                            out, threshold=0.5, target_sizes=sizes
                        )

        def ours() -> None:
            done = list(
                zoo.batch(
                    "sam3",
                    paths,
                    text=";".join(concepts),
                    weights="random",
                    arch=arch,
                    image_size=side,
                    device=device,
                )
            )
            assert len(done) == n_images and all(r.error is None for r in done), done

        theirs_s, _ = peak_rss(theirs, interval=0.05)
        ours_s, _ = peak_rss(ours, interval=0.05)
    case = f"{n_images} images x {n_concepts} concepts"
    return [
        {
            "case": f"zoo.batch, {case}",
            "seconds": ours_s,
            "vs": "transformers loop",
            "ratio": theirs_s / ours_s,
            "goal": ">= 1.2 (times faster)",
        },
        {
            "case": f"transformers loop, {case} (one call per image and concept)",
            "seconds": theirs_s,
            "vs": "",
            "ratio": 1.0,
            "goal": "",
        },
    ]


# --------------------------------------------------------------------------- video workers


def _frames_folder(n: int, root: Path) -> Path:
    """``n`` JPEG frames (the bedroom fixture's 24, cycled) in a folder, read lazily."""
    import shutil

    import numpy as np
    from PIL import Image

    folder = root / f"frames{n}"
    folder.mkdir(parents=True, exist_ok=True)
    files = sorted(VIDEO.glob("*.jpg"))
    for i in range(n):
        dst = folder / f"{i:05d}.jpg"
        if files:
            shutil.copy(files[i % len(files)], dst)
        else:
            Image.fromarray(
                np.random.default_rng(i).integers(0, 255, (540, 960, 3), dtype=np.uint8)
            ).save(dst)
    return folder


def video_worker(mode: str, folder: str, arch: str, side: int, objects: int, device: str) -> None:
    """One measurement in this (fresh) process; prints a JSON line."""
    import torch

    import zoo

    model = zoo.load("sam3", weights="random", arch=arch, image_size=side, device=device)
    video = model.net.video
    video.score_threshold_detection = 0.0
    video.new_det_thresh = 0.0
    video.max_num_objects = objects
    frames = sorted(Path(folder).glob("*.jpg"))
    count = {"frames": 0, "tracks": 0}

    def ours() -> None:
        for f in model.track_concepts(folder, "a bed"):
            count["frames"] += 1
            count["tracks"] = max(count["tracks"], len(f))

    def theirs() -> None:
        from PIL import Image
        from zoo_sam3.video import postprocessor

        proc = postprocessor(model)
        clip = [
            torch.from_numpy(__import__("numpy").asarray(Image.open(p).convert("RGB")))
            for p in frames
        ]
        session = proc.init_video_session(video=clip, inference_device=device, dtype=torch.float32)
        del clip
        proc.add_text_prompt(session, "a bed")
        with torch.inference_mode():
            for o in video.propagate_in_video_iterator(session):
                post = proc.postprocess_outputs(session, o)
                count["frames"] += 1
                count["tracks"] = max(count["tracks"], len(post["object_ids"]))

    seconds, peak = peak_rss(ours if mode == "zoo" else theirs, interval=0.01)
    print(json.dumps({"mode": mode, "seconds": seconds, "peak_rss_mb": peak / 2**20, **count}))


def bench_video(
    frame_counts: list[int], arch: str, side: int, objects: int, device: str, threads: int
) -> list[dict[str, Any]]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        results: dict[tuple[str, int], dict[str, Any]] = {}
        for n in frame_counts:
            folder = _frames_folder(n, Path(tmp))
            for mode in ("zoo", "transformers"):
                cmd = [
                    sys.executable,
                    __file__,
                    "--video-worker",
                    mode,
                    str(folder),
                    "--video-arch",
                    arch,
                    "--video-image-size",
                    str(side),
                    "--video-objects",
                    str(objects),
                    "--device",
                    device,
                    "--threads",
                    str(threads),
                ]
                proc = subprocess.run(cmd, capture_output=True, text=True)
                if proc.returncode != 0:
                    raise SystemExit(f"video worker failed: {proc.stderr[-2000:]}")
                results[(mode, n)] = json.loads(proc.stdout.strip().splitlines()[-1])
        first, last = frame_counts[0], frame_counts[-1]
        for mode in ("zoo", "transformers"):
            a, b = results[(mode, first)], results[(mode, last)]
            rows.append(
                {
                    "case": "video peak RSS, "
                    + ("track_concepts" if mode == "zoo" else "transformers loop"),
                    f"MB at {first} frames": a["peak_rss_mb"],
                    f"MB at {last} frames": b["peak_rss_mb"],
                    "growth MB": b["peak_rss_mb"] - a["peak_rss_mb"],
                    "s/frame": b["seconds"] / max(1, b["frames"]),
                    "tracks": b["tracks"],
                }
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--arch", default="base", help="the network of the find cases")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--frames", default="20,80")
    parser.add_argument("--video-arch", default="tiny")
    parser.add_argument("--video-image-size", type=int, default=1008)
    parser.add_argument("--video-objects", type=int, default=4)
    parser.add_argument("--batch-arch", default="tiny")
    parser.add_argument("--batch-image-size", type=int, default=1008)
    parser.add_argument("--batch-images", type=int, default=16)
    parser.add_argument("--batch-concepts", type=int, default=3)
    parser.add_argument("--skip-batch", action="store_true")
    parser.add_argument("--only-batch", action="store_true")
    parser.add_argument("--quick", action="store_true", help="tiny find cases, 4 and 8 frames")
    parser.add_argument("--skip-video", action="store_true")
    parser.add_argument("--only-video", action="store_true")
    parser.add_argument("--video-worker", nargs=2, metavar=("MODE", "FOLDER"))
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    if args.video_worker:
        mode, folder = args.video_worker
        video_worker(
            mode, folder, args.video_arch, args.video_image_size, args.video_objects, args.device
        )
        return
    arch, frames = args.arch, [int(x) for x in args.frames.split(",")]
    if args.quick:
        arch, frames = "tiny", [4, 8]
    rows: list[dict[str, Any]] = []
    if not (args.only_video or args.only_batch):
        rows += bench_find(arch, args.device, args.repeat)
    size = 112 if args.quick else args.batch_image_size
    n = 4 if args.quick else args.batch_images
    if not (args.only_video or args.skip_batch):
        rows += bench_batch(args.batch_arch, size, n, args.batch_concepts, args.device)
    video_rows = []
    if not (args.skip_video or args.only_batch):
        video_rows = bench_video(
            frames,
            args.video_arch,
            args.video_image_size,
            args.video_objects,
            args.device,
            args.threads,
        )
    meta = {
        "device": args.device,
        "find_arch": arch,
        "repeat": args.repeat,
        "batch": {"arch": args.batch_arch, "image_size": size, "images": n},
        "video": {
            "arch": args.video_arch,
            "image_size": args.video_image_size,
            "frames": frames,
            "max_tracks": args.video_objects,
            "thresholds": "detection and new-track thresholds 0 (random weights)",
        },
    }
    if rows:
        report("sam3" if not args.quick else "sam3_quick", rows, {**meta, "video_rows": video_rows})
    if video_rows:
        print()
        report("sam3_video" if not args.quick else "sam3_video_quick", video_rows, meta)


if __name__ == "__main__":
    main()
