"""``zoo run sam2long-video`` and ``zoo eval sam2long-video``.

Run writes one DAVIS palette PNG per frame as soon as the tracker has decided that frame
(the tree's streaming output), so a long video never holds all its masks in memory. Eval
reads a DAVIS-layout dataset (``JPEGImages/<video>/``, ``Annotations/<video>/``), prompts
with each video's first-frame annotation, and scores J, F and J&F for SAM2Long and, side by
side, for plain SAM 2 propagation (the ``sam2`` package's own video predictor on the same
network and flags).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from zoo.errors import InputError
from zoo.runners import RunContext, parse_boxes


def _parse_id_boxes(text: str) -> list[tuple[int, list[float]]]:
    """``"1:x1,y1,x2,y2;2:..."`` (ids optional: 1, 2, ... in order)."""
    out: list[tuple[int, list[float]]] = []
    for i, part in enumerate(p for p in text.replace(" ", "").split(";") if p):
        oid_text, sep, box_text = part.rpartition(":")
        if not sep:
            oid, box_text = i + 1, part
        else:
            try:
                oid = int(oid_text)
            except ValueError:
                raise InputError(
                    f"bad object id {oid_text!r} in --boxes; write ID:x1,y1,x2,y2"
                ) from None
        if oid < 1 or oid > 255:
            raise InputError(f"object id {oid} must be between 1 and 255 (DAVIS palette PNGs)")
        out.append((oid, parse_boxes(box_text)[0]))
    ids = [o for o, _ in out]
    dup = {o for o in ids if ids.count(o) > 1}
    if dup:
        raise InputError(f"duplicate object id {min(dup)} in --boxes; give each object its own id")
    if not out:
        raise InputError('--boxes is empty; write "ID:x1,y1,x2,y2;..."')
    return out


def _mask_prompts(path: Path, hw: tuple[int, int]) -> list[dict[str, Any]]:
    from zoo.io.masks import load_palette_png

    if not path.exists():
        raise InputError(f"--mask {path} does not exist")
    labels = load_palette_png(path)
    if labels.shape != hw:
        raise InputError(
            f"--mask {path.name} is {labels.shape[1]}x{labels.shape[0]} but the frames are "
            f"{hw[1]}x{hw[0]}; give the first-frame annotation at frame size"
        )
    ids = [int(i) for i in np.unique(labels) if i not in (0, 255)]
    if not ids:
        raise InputError(f"--mask {path.name} contains no object (only background)")
    return [{"mask": labels == i, "object_id": i} for i in ids]


def _model_config(ctx: RunContext) -> dict[str, Any]:
    cfg: dict[str, Any] = {}
    pathways = ctx.opt("pathways", int, 0)
    if pathways:
        cfg["pathways"] = pathways
    iou = ctx.opt("iou_thre", float, -1.0)
    iou = ctx.opt("iou_threshold", float, iou)
    if iou >= 0:
        cfg["iou_threshold"] = iou
    unc = ctx.opt("uncertainty", float, -1.0)
    if unc >= 0:
        cfg["uncertainty"] = unc
    size = ctx.opt("image_size", int, 0)
    if size:
        cfg["image_size"] = size
    return cfg


def run(ctx: RunContext) -> dict[str, Any]:
    """Track prompted objects through a frame folder or video file."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from zoo.io.atomic import atomic_output_dir
    from zoo.io.frames import open_frames
    from zoo.io.masks import save_palette_png

    video = ctx.get("video")
    if video is None:
        raise InputError("`zoo run sam2long-video` needs --video DIR|FILE.mp4")
    prompt_frame = ctx.opt("frame", int, 0)
    prompt_frame = ctx.opt("prompt_frame", int, prompt_frame)
    mask_path = ctx.opt("mask", str, "")
    overlay = ctx.flag("overlay")
    config = _model_config(ctx)
    ctx.done()
    boxes_text = ctx.get("boxes")
    if bool(boxes_text) == bool(mask_path):
        raise InputError('give either --boxes "ID:x1,y1,x2,y2;..." or --mask FIRST.png')
    out = ctx.out_dir()
    source = open_frames(Path(video))
    n, hw = len(source), source.size
    if not 0 <= prompt_frame < n:
        raise InputError(f"--frame {prompt_frame} is outside the video's {n} frames (0..{n - 1})")
    if boxes_text:
        prompts: list[dict[str, Any]] = [
            {"box": b, "object_id": oid} for oid, b in _parse_id_boxes(boxes_text)
        ]
    else:
        prompts = _mask_prompts(Path(mask_path), hw)
    model = ctx.load_model(**config)
    written = 0
    t0 = time.perf_counter()
    with (
        atomic_output_dir(out) as tmp,
        Progress(
            TextColumn("[bold]tracking"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total}"),
            TextColumn("{task.fields[fps]:.2f} frames/s"),
            TimeElapsedColumn(),
            console=ctx.console,
            transient=True,
            disable=ctx.as_json,
        ) as bar,
    ):
        task = bar.add_task("track", total=n, fps=0.0)
        tmp = Path(tmp)
        for fr in model.track(source, prompts, prompt_frame=prompt_frame):
            label = np.zeros(hw, dtype=np.uint8)
            for oid, m in sorted(fr.masks.items()):
                label[m] = oid
            save_palette_png(tmp / f"{fr.frame_name}.png", label)
            if overlay:
                from zoo.io.images import save_png
                from zoo.io.overlay import overlay_masks

                ids = sorted(fr.masks)
                stack = np.stack([fr.masks[i] for i in ids]) if ids else np.zeros((0, *hw), bool)
                (tmp / "overlay").mkdir(exist_ok=True)
                save_png(
                    tmp / "overlay" / f"{fr.frame_name}.png",
                    overlay_masks(source[fr.frame_index], stack),
                )
            written += 1
            elapsed = time.perf_counter() - t0
            bar.update(task, advance=1, fps=written / elapsed if elapsed else 0.0)
    elapsed = time.perf_counter() - t0
    return {
        "model": model.name,
        "weights": model.weights,
        "frames": written,
        "objects": len(prompts),
        "frames_per_s": round(written / elapsed, 3) if elapsed else None,
        "out": str(out),
    }


# --------------------------------------------------------------------------- eval


def _davis_videos(root: Path) -> list[tuple[str, Path, Path]]:
    images, annots = root / "JPEGImages", root / "Annotations"
    for d in (images, annots):
        if not d.is_dir():
            raise InputError(
                f"{root} is not a DAVIS-layout dataset: {d.name}/ is missing "
                "(expected JPEGImages/<video>/*.jpg and Annotations/<video>/*.png)"
            )
    # DAVIS keeps 480p/Full-Resolution subfolders; accept them when present.
    for sub in ("480p", "Full-Resolution"):
        if (images / sub).is_dir() and (annots / sub).is_dir():
            images, annots = images / sub, annots / sub
            break
    vids = []
    for v in sorted(p for p in images.iterdir() if p.is_dir()):
        a = annots / v.name
        if not a.is_dir():
            raise InputError(f"video {v.name} has no Annotations/{v.name}/ folder")
        vids.append((v.name, v, a))
    if not vids:
        raise InputError(f"{images} holds no video folders")
    return vids


def _sam2_propagate(predictor: Any, frames_dir: Path, first: np.ndarray) -> list[np.ndarray]:
    """Plain SAM 2 propagation with the ``sam2`` package's own video predictor."""
    import torch

    with torch.inference_mode():
        state = predictor.init_state(video_path=str(frames_dir))
        ids = [int(i) for i in np.unique(first) if i not in (0, 255)]
        for oid in ids:
            predictor.add_new_mask(state, frame_idx=0, obj_id=oid, mask=first == oid)
        out: dict[int, np.ndarray] = {}
        for idx, obj_ids, logits in predictor.propagate_in_video(state):
            label = np.zeros(first.shape, dtype=np.int32)
            for k, oid in enumerate(obj_ids):
                label[(logits[k, 0] > 0).cpu().numpy()] = oid
            out[idx] = label
        predictor.reset_state(state)
    return [out[i] for i in sorted(out)]


def evaluate(ctx: RunContext) -> dict[str, Any]:
    """J, F and J&F per video and mean, SAM2Long beside plain SAM 2."""
    from zoo.io.frames import open_frames
    from zoo.io.masks import load_palette_png
    from zoo.metrics import j_and_f, j_and_f_summary

    dataset = ctx.get("dataset")
    if dataset is None:
        raise InputError("`zoo eval sam2long-video` needs --dataset DIR (DAVIS layout)")
    baseline = not ctx.flag("no_baseline")
    config = _model_config(ctx)
    ctx.done()
    videos = _davis_videos(Path(dataset))
    model = ctx.load_model(**config)
    rows: list[list[Any]] = []
    per_video: dict[str, dict[str, Any]] = {}
    scores: dict[str, list[dict[str, float]]] = {"sam2long": [], "sam2": []}
    for name, frames_dir, annot_dir in videos:
        gt_files = sorted(annot_dir.glob("*.png"))
        if not gt_files:
            raise InputError(f"Annotations/{name}/ holds no PNG masks")
        gts = [load_palette_png(p) for p in gt_files]
        source = open_frames(frames_dir)
        if len(source) != len(gts):
            raise InputError(
                f"video {name}: {len(source)} frames but {len(gts)} annotation PNGs; "
                "annotate every frame"
            )
        first = gts[0]
        ids = [int(i) for i in np.unique(first) if i not in (0, 255)]
        prompts = [{"mask": first == i, "object_id": i} for i in ids]
        preds = []
        for fr in model.track(source, prompts):
            label = np.zeros(first.shape, dtype=np.int32)
            for oid, m in fr.masks.items():
                label[m] = oid
            preds.append(label)
        s_long = j_and_f_summary(j_and_f(preds, gts, exclude_first_last=True))
        scores["sam2long"].append(s_long)
        entry: dict[str, Any] = {"sam2long": s_long}
        row = [name, s_long["J"], s_long["F"], s_long["J&F"]]
        if baseline:
            s_base = j_and_f_summary(
                j_and_f(
                    _sam2_propagate(model.model, frames_dir, first), gts, exclude_first_last=True
                )
            )
            scores["sam2"].append(s_base)
            entry["sam2"] = s_base
            row += [s_base["J"], s_base["F"], s_base["J&F"]]
        per_video[name] = entry
        rows.append(row)

    def mean(key: str, metric: str) -> float:
        return float(np.mean([s[metric] for s in scores[key]]))

    mean_row: list[Any] = [
        "mean",
        mean("sam2long", "J"),
        mean("sam2long", "F"),
        mean("sam2long", "J&F"),
    ]
    columns = ["video", "SAM2Long J", "SAM2Long F", "SAM2Long J&F"]
    if baseline:
        mean_row += [mean("sam2", "J"), mean("sam2", "F"), mean("sam2", "J&F")]
        columns += ["SAM 2 J", "SAM 2 F", "SAM 2 J&F"]
    rows.append(mean_row)
    return {
        "model": model.name,
        "weights": model.weights,
        "videos": per_video,
        "mean": {
            "sam2long": {m: mean("sam2long", m) for m in ("J", "F", "J&F")},
            **({"sam2": {m: mean("sam2", m) for m in ("J", "F", "J&F")}} if baseline else {}),
        },
        "table": {
            "title": "DAVIS-style J / F / J&F (first and last frame excluded)",
            "columns": columns,
            "rows": rows,
        },
    }
