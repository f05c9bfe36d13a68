"""``zoo eval sam2long-video``: J, F and J&F on a DAVIS-layout dataset.

``zoo run`` is the core video task's (:mod:`zoo.tasks.video`: the ``ID:x,y`` prompt
grammar, ``--mask``, ``--frame`` and the streaming writer); this family adds only its
evaluator here.

Eval reads a DAVIS-layout dataset (``JPEGImages/<video>/``, ``Annotations/<video>/``),
prompts with each video's first-frame annotation, and scores J, F and J&F for SAM2Long and,
side by side, for plain SAM 2 propagation (the ``sam2`` package's own video predictor on
the same network and flags).
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


def evaluate(ctx: RunContext) -> dict[str, Any]:
    """J, F and J&F per video and mean, SAM2Long beside plain SAM 2."""
    from zoo.io.frames import open_frames
    from zoo.io.masks import load_palette_png
    from zoo.metrics import j_and_f, j_and_f_summary

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
    rows: list[list[Any]] = []
    per_video: dict[str, dict[str, Any]] = {}
    scores: dict[str, list[dict[str, float]]] = {"sam2long": [], "sam2": []}
    total = sum(len(s) for _, _, s, _ in checked) * (2 if baseline else 1)
    with _progress(ctx, "evaluating", total) as advance:
        for name, frames_dir, source, gt_files in checked:
            gts = [load_palette_png(p) for p in gt_files]
            first = gts[0]
            ids = [int(i) for i in np.unique(first) if i not in (0, 255)]
            prompts = [{"mask": first == i, "object_id": i} for i in ids]
            preds = []

            def step(done: int, n: int, name: str = name) -> None:
                advance(description=f"{name} (SAM2Long)")

            for fr in model.track(source, prompts, progress=step):
                label = np.zeros(first.shape, dtype=np.int32)
                for oid, m in fr.masks.items():
                    label[m] = oid
                preds.append(label)
            s_long = j_and_f_summary(j_and_f(preds, gts, exclude_first_last=True))
            scores["sam2long"].append(s_long)
            entry: dict[str, Any] = {"sam2long": s_long}
            row = [name, s_long["J"], s_long["F"], s_long["J&F"]]
            if baseline:
                base = _sam2_propagate(
                    model.model,
                    frames_dir,
                    first,
                    lambda name=name: advance(description=f"{name} (SAM 2)"),
                )
                s_base = j_and_f_summary(j_and_f(base, gts, exclude_first_last=True))
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
    report: dict[str, Any] = {
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
    if out is not None:
        from zoo.io.atomic import atomic_output_dir
        from zoo.io.masks import write_json

        provenance = model.provenance("video")
        with atomic_output_dir(out) as tmp:
            write_json(
                Path(tmp) / "metrics.json",
                {
                    **report,
                    "dataset": str(dataset),
                    "options": ctx.model_settings(),
                    "provenance": provenance.record(),
                    "test_mode": provenance.is_random,
                },
                indent=2,
            )
        report["out"] = str(out)
    if not ctx.as_json:  # the table says it all; the nested dicts would print as wrapped noise
        del report["videos"], report["mean"]
    return report
