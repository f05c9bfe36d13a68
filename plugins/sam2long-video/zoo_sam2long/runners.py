"""``zoo run sam2long-video`` and ``zoo eval sam2long-video``.

Run tracks the prompted objects and writes, as ``--format`` asks:

=================== ===============================================================
``png``              ``<frame>.png``: one DAVIS palette PNG per frame (pixel = object id),
                     provenance in tEXt chunks
``coco``             ``results.json``: one COCO results array for the whole video, one
                     integer ``image_id`` per frame (frame index + 1)
``json``             ``results.jsonl``: one lossless ``VideoFrameResult.to_dict()`` per line
``overlay``          ``overlay/<frame>.png``: the frame with the masks drawn (a banner in
                     test mode)
(always)             ``run.json``: provenance, test mode, the COCO ``images`` list (id,
                     file_name, height, width per frame), prompts, options, files
=================== ===============================================================

Everything the user typed (video, prompts, options, output folder) is checked before the
model loads, and the outputs are written into a hidden sibling folder that becomes ``--out``
only when the last frame is done: a failed or interrupted run leaves no ``--out`` behind.
Masks are written as the tracker decides each frame (the tree's streaming output), so a
long video never holds all its masks in memory.

Eval reads a DAVIS-layout dataset (``JPEGImages/<video>/``, ``Annotations/<video>/``),
prompts with each video's first-frame annotation, and scores J, F and J&F for SAM2Long and,
side by side, for plain SAM 2 propagation (the ``sam2`` package's own video predictor on
the same network and flags).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError

from zoo.errors import InputError
from zoo.prompts import ObjectPrompt, Prompts
from zoo.runners import RunContext, parse_boxes, parse_labels, parse_points

#: Largest object id a DAVIS palette PNG can hold (0 is the background).
MAX_ID = 255
PROMPT_FLAGS = (
    '--boxes "ID:x1,y1,x2,y2;...", --points "ID:x,y;..." --labels "1,...", --mask FIRST.png'
)


# --------------------------------------------------------------------------- prompts


def _split_ids(text: str, flag: str, example: str) -> list[tuple[int | None, str]]:
    """``"1:a;2:b;c"`` -> ``[(1, "a"), (2, "b"), (None, "c")]`` (ids checked 1..255)."""
    out: list[tuple[int | None, str]] = []
    for part in (p for p in text.replace(" ", "").split(";") if p):
        oid_text, sep, value = part.rpartition(":")
        if not sep:
            out.append((None, part))
            continue
        try:
            oid = int(oid_text)
        except ValueError:
            raise InputError(f"bad object id {oid_text!r} in {flag}; write {example}") from None
        if not 1 <= oid <= MAX_ID:
            raise InputError(
                f"object id {oid} in {flag} must be between 1 and {MAX_ID} (DAVIS palette PNGs)"
            )
        out.append((oid, value))
    if not out:
        raise InputError(f"{flag} is empty; write {example}")
    return out


def parse_id_boxes(text: str) -> list[tuple[int, list[float]]]:
    """``"1:x1,y1,x2,y2;2:..."``; ids are optional and then 1, 2, ... in order."""
    out = [
        (oid if oid is not None else i + 1, parse_boxes(box)[0])
        for i, (oid, box) in enumerate(_split_ids(text, "--boxes", '"ID:x1,y1,x2,y2;..."'))
    ]
    ids = [o for o, _ in out]
    dup = sorted({o for o in ids if ids.count(o) > 1})
    if dup:
        raise InputError(f"duplicate object id {dup[0]} in --boxes; give each object its own id")
    return out


def parse_id_points(
    text: str, labels_text: str | None, box_ids: list[int]
) -> dict[int, tuple[list[list[float]], list[int]]]:
    """``--points "ID:x,y;ID:x,y" --labels "1,0"`` -> ``{id: (points, labels)}``.

    The id says which object a click belongs to; it may be left out when there is only
    one object (the single box's, else 1). A click with the id of a box refines that box
    (SAM's box + clicks).
    """
    items = _split_ids(text, "--points", '"ID:x,y;ID:x,y"')
    if labels_text is None:
        raise InputError(f'{len(items)} --points given without --labels; add --labels "1,..."')
    labels = parse_labels(labels_text)
    if len(labels) != len(items):
        raise InputError(
            f"{len(items)} --points but {len(labels)} --labels; give one label per point"
        )
    bad = [lab for lab in labels if lab not in (0, 1)]
    if bad:
        raise InputError(f"--labels must be 1 (foreground) or 0 (background), got {bad[0]}")
    with_id = [oid is not None for oid, _ in items]
    if any(with_id) and not all(with_id):
        raise InputError('give every point an object id ("ID:x,y;ID:x,y") or none')
    if not any(with_id) and len(box_ids) > 1:
        raise InputError(
            f"--points without ids with {len(box_ids)} --boxes is ambiguous; write the object "
            'id of each point: --points "ID:x,y;..."'
        )
    default = box_ids[0] if box_ids else 1
    out: dict[int, tuple[list[list[float]], list[int]]] = {}
    for (oid, point), label in zip(items, labels, strict=True):
        pts, labs = out.setdefault(default if oid is None else oid, ([], []))
        pts.append(parse_points(point)[0])
        labs.append(label)
    return out


def _object(what: str, **fields: Any) -> ObjectPrompt:
    try:
        return ObjectPrompt(**fields)
    except ValidationError as exc:
        msg = str(exc.errors()[0].get("msg", "invalid")).removeprefix("Value error, ")
        raise InputError(f"bad prompt for {what}: {msg}") from None


def _mask_prompts(path: Path, hw: tuple[int, int]) -> list[ObjectPrompt]:
    from zoo.io.masks import load_palette_png

    if not path.is_file():
        raise InputError(f"--mask {path} does not exist; pass the prompt frame's palette PNG")
    labels = load_palette_png(path)
    if labels.shape != hw:
        raise InputError(
            f"--mask {path.name} is {labels.shape[1]}x{labels.shape[0]} but the frames are "
            f"{hw[1]}x{hw[0]}; give the prompt frame's annotation at frame size"
        )
    ids = [int(i) for i in np.unique(labels) if i not in (0, 255)]
    if not ids:
        raise InputError(f"--mask {path.name} contains no object (only background)")
    return [ObjectPrompt(mask=labels == i, object_id=i) for i in ids]


def prompts_from_cli(ctx: RunContext, hw: tuple[int, int]) -> Prompts:
    """The objects to track from ``--boxes``/``--points``/``--labels``, ``--mask`` or
    ``--prompts FILE``; one line naming the flag for anything malformed."""
    boxes_text, points_text, labels_text = (ctx.get(k) for k in ("boxes", "points", "labels"))
    mask_path: Path | None = ctx.opt("mask")
    prompts_file = ctx.get("prompts")
    kinds = [
        k
        for k, given in (
            ("--boxes/--points", bool(boxes_text or points_text)),
            ("--mask", mask_path is not None),
            ("--prompts", prompts_file is not None),
        )
        if given
    ]
    if len(kinds) > 1:
        raise InputError(f"give one kind of prompt, not {' and '.join(kinds)}")
    if not kinds:
        if labels_text:
            raise InputError('--labels given without --points; add --points "ID:x,y;..."')
        raise InputError(f"no prompt given; add {PROMPT_FLAGS} or --prompts FILE")
    if mask_path is not None:
        return Prompts(objects=_mask_prompts(Path(mask_path), hw))
    if prompts_file is not None:
        from zoo.io.jsonfiles import read_json

        data = read_json(prompts_file, "prompts file", "--prompts")
        return Prompts.from_json(data)
    if labels_text and not points_text:
        raise InputError('--labels given without --points; add --points "ID:x,y;..."')
    boxes = dict(parse_id_boxes(boxes_text)) if boxes_text else {}
    clicks = parse_id_points(points_text, labels_text, list(boxes)) if points_text else {}
    objects = []
    for oid in [*boxes, *(o for o in clicks if o not in boxes)]:
        pts, labs = clicks.get(oid, (None, None))
        box = boxes.get(oid)
        objects.append(
            _object(
                f"object {oid}",
                box=tuple(box) if box is not None else None,
                points=[tuple(p) for p in pts] if pts else None,
                labels=labs,
                object_id=oid,
            )
        )
    return Prompts(objects=objects)


# --------------------------------------------------------------------------- run


def _frame_files(source: Any) -> list[str]:
    """COCO ``file_name`` of each frame: the file for a folder, else ``<video>#<index>``."""
    files = getattr(source, "files", None)
    if files is not None:
        return [Path(f).name for f in files]
    stem = Path(source.path).name if source.path is not None else "frames"
    return [f"{stem}#{name}" for name in source.names]


@contextmanager
def _progress(ctx: RunContext, what: str, total: int) -> Iterator[Any]:
    """The core's bar (:func:`zoo.progress.progress_bar`: frames/s and ETA on a terminal,
    plain lines in a log; hidden with ``--json``); yields ``advance(n, description)``."""
    from zoo.progress import progress_bar

    enabled = not ctx.as_json and ctx.console is not None
    with progress_bar(unit="frames", console=ctx.console, enabled=enabled, info=False) as bar:
        task = bar.add_task(what, total=total, unit="frames")

        def advance(n: int = 1, description: str | None = None) -> None:
            if description is None:
                bar.update(task, advance=n)
            else:
                bar.update(task, advance=n, description=description)

        yield advance


def empty_mask_note(empty: int, tracked: int, absent: int, random: bool, frame: int) -> str:
    """One line saying how many tracked frames have an empty mask, and why that may be.

    ``absent`` counts the frames where SAM 2's presence head scored an object absent
    (logit <= 0), which empties its mask by design; with random weights that head is
    untrained, so the line says the emptiness is expected rather than leaving a user to
    wonder whether the pipeline is broken.
    """
    head = f"{empty} of {tracked} tracked frames have an empty mask"
    if random:
        return (
            f"{head}: expected with random weights (the untrained presence head scored the "
            f"object absent on {absent} of them); try another --seed for visible masks, or "
            "real weights for real tracks"
        )
    return (
        f"{head}: the model judged the object absent there (occluded, out of view or lost); "
        f"check the prompt on frame {frame}"
    )


def run(ctx: RunContext) -> dict[str, Any]:
    """Track prompted objects through a frame folder or video file (see the module doc)."""
    from zoo.io.atomic import atomic_output_dir
    from zoo.io.frames import open_frames
    from zoo.io.images import save_png
    from zoo.io.masks import write_json
    from zoo.results import DEFAULT_FORMATS, check_formats

    from .model import to_object_prompts

    video = ctx.get("video")
    if video is None:
        raise InputError(f"`zoo run {ctx.name}` needs --video DIR|FILE.mp4 (frames or a video)")
    for flag in ("image", "depth"):
        if ctx.get(flag) is not None:
            raise InputError(f"`zoo run {ctx.name}` tracks a video: pass --video, not --{flag}")
    formats = check_formats(ctx.get("format", ",".join(DEFAULT_FORMATS)))
    out = ctx.out_dir()
    source = open_frames(Path(video))
    n, hw = len(source), source.size
    frame = ctx.opt("frame")
    if frame >= n:
        raise InputError(
            f"--frame {frame} is outside the video's {n} frames (0..{n - 1}); give the index "
            "of the frame the prompts were drawn on"
        )
    prompts = prompts_from_cli(ctx, hw)
    prompts.check_inside(*hw)
    objects = to_object_prompts(prompts, frame, hw)  # ids and mask sizes, as track checks them
    model = ctx.load_model()
    provenance = model.provenance("video")
    file_names = _frame_files(source)
    h, w = hw
    images: list[dict[str, Any]] = []
    coco: list[dict[str, Any]] = []
    written: list[str] = []
    empty = absent = tracked = 0
    t0 = time.perf_counter()
    with atomic_output_dir(out) as tmp_dir, _progress(ctx, "tracking", n) as advance:
        tmp = Path(tmp_dir)
        jsonl = (tmp / "results.jsonl").open("w", encoding="utf-8") if "json" in formats else None
        try:
            for fr in model.track(
                source, prompts, prompt_frame=frame, progress=lambda done, total: advance()
            ):
                image_id = fr.frame_index + 1
                images.append(
                    {
                        "id": image_id,
                        "file_name": file_names[fr.frame_index],
                        "height": h,
                        "width": w,
                        "frame_index": fr.frame_index,
                        "frame_name": fr.frame_name,
                    }
                )
                if fr.frame_index >= frame:
                    tracked += 1
                    empty += not all(m.any() for m in fr.masks.values())
                    absent += any(s <= 0 for s in fr.extra["object_scores"].values())
                if "png" in formats:
                    written.append(fr.save_palette(tmp / f"{fr.frame_name}.png").name)
                if "coco" in formats:
                    coco += fr.to_coco(image_id)
                if jsonl is not None:
                    jsonl.write(json.dumps(fr.to_dict()) + "\n")
                if "overlay" in formats:
                    p = tmp / "overlay" / f"{fr.frame_name}.png"
                    p.parent.mkdir(exist_ok=True)
                    save_png(p, fr.overlay(source[fr.frame_index]), text=provenance.png_text())
                    written.append(f"overlay/{p.name}")
        finally:
            if jsonl is not None:
                jsonl.close()
        if jsonl is not None:
            written.append("results.jsonl")
        if "coco" in formats:
            write_json(tmp / "results.json", coco)
            written.append("results.json")
        note = (
            empty_mask_note(empty, tracked, absent, provenance.is_random, frame) if empty else None
        )
        from zoo import __version__

        write_json(
            tmp / "run.json",
            {
                "zoo_version": __version__,
                "task": "video",
                "provenance": provenance.record(),
                "test_mode": provenance.is_random,
                "video": str(video),
                "prompt_frame": frame,
                "objects": [_describe(o) for o in objects],
                "options": ctx.model_settings(),
                "images": images,
                "categories": [{"id": 1, "name": "object"}],
                "empty_frames": empty,
                "tracked_frames": tracked,
                **({"note": note} if note else {}),
                "files": [*written, "run.json"],
            },
            indent=2,
        )
    elapsed = time.perf_counter() - t0
    if note and not ctx.as_json and ctx.console is not None:
        ctx.console.print(f"note: {note}", style="yellow", markup=False, highlight=False)
    return {
        "model": model.name,
        "weights": model.weights,
        "frames": len(images),
        "objects": len(objects),
        "empty_frames": empty,
        "tracked_frames": tracked,
        **({"note": note} if note and ctx.as_json else {}),
        "frames_per_s": round(len(images) / elapsed, 3) if elapsed else None,
        "formats": formats,
        "out": str(out),
    }


def _describe(o: Any) -> dict[str, Any]:
    """run.json's record of one object's prompt (masks summarised by their area)."""
    d: dict[str, Any] = {"object_id": o.obj_id, "frame": o.frame_idx}
    if o.box is not None:
        d["box"] = [float(v) for v in o.box]
    if o.points is not None:
        d["points"] = [[float(x), float(y)] for x, y in o.points]
        d["labels"] = [int(v) for v in o.labels or []]
    if o.mask is not None:
        d["mask_area"] = int(np.count_nonzero(o.mask))
    return d


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
