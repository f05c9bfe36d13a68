"""``zoo eval sam2long-video``: J, F and J&F on a DAVIS-layout dataset.

``zoo run`` is the core video task's (:mod:`zoo.tasks.video`: the ``ID:x,y`` prompt
grammar, ``--mask``, ``--frame`` and the streaming writer); this family adds only its
evaluator here.

Eval reads a DAVIS-layout dataset (``JPEGImages/<video>/``, ``Annotations/<video>/``),
prompts with each video's first-frame annotation, and gives davis2017-evaluation's
semi-supervised tables (J/F Mean, Recall, Decay and J&F-Mean, globally over all objects, per
video and per object) for SAM2Long and, side by side, for plain SAM 2 propagation (the
``sam2`` package's own video predictor on the same network and flags).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from zoo.context import RunContext
from zoo.errors import InputError


@contextmanager
def _progress(ctx: RunContext, what: str, total: int) -> Iterator[Any]:
    """A rich bar with frames/s and ETA (hidden with ``--json``); yields ``advance(n)``."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    t0 = time.perf_counter()
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[fps]:.2f} frames/s"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=ctx.console,
        transient=True,
        disable=ctx.as_json or ctx.console is None,
    ) as bar:
        task = bar.add_task(what, total=total, fps=0.0)
        done = 0

        def advance(n: int = 1, description: str | None = None) -> None:
            nonlocal done
            done += n
            elapsed = time.perf_counter() - t0
            fields: dict[str, Any] = {"fps": done / elapsed if elapsed else 0.0}
            if description is not None:
                fields["description"] = description
            bar.update(task, advance=n, **fields)

        yield advance


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


@contextmanager
def _without_sam2_bars() -> Iterator[None]:
    """Silence the ``sam2`` predictor's own tqdm bars while the baseline runs.

    They would interleave with this command's rich bar (which already counts the baseline's
    frames); ``sam2`` offers no switch, so its module-level ``tqdm`` names are swapped for a
    pass-through and restored afterwards.
    """
    import sam2.sam2_video_predictor as predictor_module
    import sam2.utils.misc as misc_module

    def plain(iterable: Any, *args: Any, **kwargs: Any) -> Any:
        return iterable

    saved = [(m, m.tqdm) for m in (predictor_module, misc_module) if hasattr(m, "tqdm")]
    for m, _ in saved:
        m.tqdm = plain
    try:
        yield
    finally:
        for m, bar in saved:
            m.tqdm = bar


def _sam2_propagate(
    predictor: Any, frames_dir: Path, first: np.ndarray, advance: Any
) -> list[np.ndarray]:
    """Plain SAM 2 propagation with the ``sam2`` package's own video predictor."""
    import torch

    with torch.inference_mode(), _without_sam2_bars():
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
            advance()
        predictor.reset_state(state)
    return [out[i] for i in sorted(out)]


def davis_report(
    scores: dict[str, dict[str, dict[str, Any]]], frames: dict[str, int]
) -> dict[str, Any]:
    """The DAVIS tables of every model from :func:`zoo.metrics.davis_sequence` results.

    ``scores``: ``{model: {video: davis_sequence(...)}}``; ``frames``: each video's frame
    count. Returns plain data: ``global`` (per model, every object of every video one
    vote), ``sequences`` (per video: its frame count, status and, per model, the objects'
    statistics and their mean) and the printed ``table`` (model, row, the seven statistics
    of davis2017-evaluation; a row per model, per video and per object ``<video>_<id>``).
    """
    from zoo.metrics import DAVIS_STATISTICS, davis_summary

    summaries = {m: davis_summary(per_video) for m, per_video in scores.items()}
    sequences: dict[str, dict[str, Any]] = {}
    for name, n in frames.items():
        first = next(iter(scores.values()))[name]
        entry: dict[str, Any] = {"frames": n, "status": first["status"]}
        if first["status"] == "scored":
            for m, per_video in scores.items():
                entry[m] = {
                    "mean": summaries[m]["per_sequence"][name],
                    "objects": per_video[name]["objects"],
                }
        sequences[name] = entry
    rows: list[list[Any]] = []
    for m, summary in summaries.items():
        rows.append([m, "global", *(summary["global"][s] for s in DAVIS_STATISTICS)])
    blank = [""] * len(DAVIS_STATISTICS)
    for name, entry in sequences.items():
        if entry["status"] != "scored":
            why = f"{entry['status']} ({entry['frames']} frames)"
            rows.append(["", name, why, *blank[1:]])
            continue
        for m, summary in summaries.items():
            rows.append([m, name, *(summary["per_sequence"][name][s] for s in DAVIS_STATISTICS)])
            for key, stats in summary["per_object"].items():
                if key.rpartition("_")[0] == name:
                    rows.append([m, key, *(stats[s] for s in DAVIS_STATISTICS)])
    return {
        "global": {m: summary["global"] for m, summary in summaries.items()},
        "sequences": sequences,
        "unscored": next(iter(summaries.values()))["unscored"],
        "table": {"columns": ["model", "sequence", *DAVIS_STATISTICS], "rows": rows},
    }


def evaluate(ctx: RunContext) -> dict[str, Any]:
    """The DAVIS 2017 semi-supervised tables for SAM2Long and, beside it, plain SAM 2.

    Each video is prompted with its first annotated frame and scored by
    :func:`zoo.metrics.davis_sequence` (davis2017-evaluation's protocol: objects 1..max id
    of the first frame, first and last frames not scored, void as background unless
    ``--exclude-void``); the global row averages over every object of every video. A video
    too short to score (under 3 frames) or without an object in its first frame is listed
    as such and not tracked.
    """
    from zoo.io.frames import open_frames
    from zoo.io.masks import load_palette_png
    from zoo.metrics import DAVIS_SEMI_SUPERVISED, davis_sequence

    dataset = ctx.get("dataset")
    if dataset is None:
        raise InputError(f"`zoo eval {ctx.name}` needs --dataset DIR (DAVIS layout)")
    for flag in ("annotations", "images", "compare"):  # shared flags this eval has no use for
        if ctx.get(flag) is not None:
            raise InputError(
                f"`zoo eval {ctx.name}` reads a DAVIS-layout --dataset and compares with plain "
                f"SAM 2 itself; drop --{flag}"
            )
    baseline = not ctx.opt("no_baseline")
    exclude_void = bool(ctx.opt("exclude_void"))
    protocol = DAVIS_SEMI_SUPERVISED + (" (void excluded)" if exclude_void else "")
    out = ctx.out_dir() if ctx.get("out") is not None else None
    videos = _davis_videos(Path(dataset))
    checked = []
    for name, frames_dir, annot_dir in videos:  # every video checked before the model loads
        gt_files = sorted(annot_dir.glob("*.png"))
        if not gt_files:
            raise InputError(f"Annotations/{name}/ holds no PNG masks")
        source = open_frames(frames_dir)
        if len(source) != len(gt_files):
            raise InputError(
                f"video {name}: {len(source)} frames but {len(gt_files)} annotation PNGs; "
                "annotate every frame"
            )
        checked.append((name, frames_dir, source, gt_files))
    model = ctx.load_model()
    models = ["sam2long", "sam2"] if baseline else ["sam2long"]
    scores: dict[str, dict[str, dict[str, Any]]] = {m: {} for m in models}
    frames: dict[str, int] = {}

    def score(pred: list[Any], gts: list[np.ndarray]) -> dict[str, Any]:
        return davis_sequence(pred, gts, exclude_void=exclude_void)

    total = sum(len(s) for _, _, s, _ in checked if len(s) >= 3) * len(models)
    with _progress(ctx, "evaluating", total) as advance:
        for name, frames_dir, source, gt_files in checked:
            gts = [load_palette_png(p) for p in gt_files]
            frames[name] = len(gts)
            first = gts[0]
            ids = [int(i) for i in np.unique(first) if i not in (0, 255)]
            if len(gts) < 3 or not ids:  # nothing to track: "too short" or "no objects"
                for m in models:
                    scores[m][name] = score([{} for _ in gts], gts)
                continue
            prompts = [{"mask": first == i, "object_id": i} for i in ids]
            preds = []

            def step(done: int, n: int, name: str = name) -> None:
                advance(description=f"{name} (SAM2Long)")

            for fr in model.track(source, prompts, progress=step):
                label = np.zeros(first.shape, dtype=np.int32)
                for oid, m in fr.masks.items():
                    label[m] = oid
                preds.append(label)
            scores["sam2long"][name] = score(preds, gts)
            if baseline:
                base = _sam2_propagate(
                    model.model,
                    frames_dir,
                    first,
                    lambda name=name: advance(description=f"{name} (SAM 2)"),
                )
                scores["sam2"][name] = score(base, gts)
    tables = davis_report(scores, frames)
    note = "first and last frames excluded; global = mean over all objects"
    report: dict[str, Any] = {
        "model": model.name,
        "weights": model.weights,
        "protocol": protocol,
        "global": tables["global"],
        "sequences": tables["sequences"],
        **({"unscored": tables["unscored"]} if tables["unscored"] else {}),
        "table": {"title": f"DAVIS 2017: {protocol} ({note})", **tables["table"]},
    }
    if out is not None:
        from zoo.io.atomic import atomic_output_dir
        from zoo.io.masks import write_json

        provenance = model.provenance("video")
        with atomic_output_dir(out) as tmp:
            write_json(
                Path(tmp) / "metrics.json",
                {
                    **{k: v for k, v in report.items() if k != "table"},
                    "dataset": str(dataset),
                    "options": ctx.model_settings(),
                    "provenance": provenance.record(),
                    "test_mode": provenance.is_random,
                },
                indent=2,
            )
        report["out"] = str(out)
    if not ctx.as_json:  # the table says it all; the nested dicts would print as wrapped noise
        del report["global"], report["sequences"]
    return report
