"""``zoo run depth-sam --render-only`` and ``zoo eval depth-sam``.

Every other ``zoo run`` is the core rgbd task's (:mod:`zoo.tasks.rgbd`: image, depth,
intrinsics and pose beside it, vocabulary), calling :meth:`DepthSamModel.segment_rgbd
<zoo_depthsam.model.DepthSamModel.segment_rgbd>` with the core's stage bars; the model's
notes and :class:`~zoo_depthsam.results.DepthSamResult`'s files do the rest.
``--render-only`` stays a family runner because it builds no model: the generic run
always loads one (with pretrained weights, a 750 MB download to colour a depth map).

Evaluation reads frames in either layout and scores ``--modes`` side by side from one
set of proposals per frame (the depth and RGB proposals are generated once; ``both`` is
their merge), so the comparison costs one pass, not three:

* frame folders, as in the SAD examples: ``<frame>/color.jpg``, ``depth.png``,
  ``label.png`` (``intrinsic_depth.txt`` and ``pose.txt`` optional);
* ScanNet export folders: ``<scene>/color/<i>.jpg``, ``depth/<i>.png`` and
  ``label-filt/<i>.png`` (or ``label/``).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from zoo_sam2.everything import num_batches

from zoo.context import RunContext
from zoo.errors import InputError
from zoo.specs import Task

from .model import MODES, check_mode
from .notes import relaxed_note, slow_hint
from .progress import Forward

_IMAGE_EXT = (".jpg", ".jpeg", ".png")


@contextmanager
def _user_warnings(sink: list[str]) -> Iterator[None]:
    """Collect UserWarnings (e.g. "8-bit depth PNG: probably not metric") as report lines."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        yield
    for w in caught:
        if issubclass(w.category, UserWarning):
            sink.append(f"warning: {w.message}")


def _find(folder: Path, names: tuple[str, ...]) -> Path | None:
    for n in names:
        p = folder / n
        if p.is_file():
            return p
    return None


def _vocabulary(ctx: RunContext) -> list[str]:
    from .vocab import _ALIASES, VOCABULARIES, parse_classes, resolve_vocabulary

    classes: str | None = ctx.opt("classes")
    if classes is not None and ctx.given("vocabulary"):
        raise InputError("use either --classes or --vocabulary, not both")
    if classes is not None:
        return parse_classes(classes)
    vocab: str = ctx.opt("vocabulary")
    key = _ALIASES.get(vocab.lower(), vocab.lower())
    if key not in VOCABULARIES:
        raise InputError(
            f"unknown --vocabulary {vocab!r}; use scannet20, scannet200 or nyu40 "
            "(or --classes for your own)"
        )
    return resolve_vocabulary(key)


def _check_options(ctx: RunContext) -> None:
    """The model options that are not fully checked by their declared type, and --dtype:
    all of them before anything is read, built or written."""
    from .model import check_settings

    check_settings(
        semantics=ctx.opt("semantics"),
        colormap=ctx.opt("colormap"),
        merge_iou=ctx.opt("merge_iou"),
        max_masks=ctx.opt("max_masks"),
        image_size=ctx.opt("image_size"),
        points_per_side=ctx.opt("points_per_side"),
        points_per_batch=ctx.opt("points_per_batch"),
    )
    dtype = ctx.get("dtype")
    if dtype not in (None, "", "auto", "float32", "fp32"):
        raise InputError(
            f"depth-sam runs in float32 (SAM 2's mask generator feeds float32 images); "
            f"drop --dtype {dtype}"
        )
    scale = ctx.opt("depth_scale")
    if scale is not None and not scale > 0:
        raise InputError(f"--depth-scale must be > 0 metres per unit, got {scale:g}")


def _load_model(ctx: RunContext) -> Any:
    """The command's model; generator thresholds the user did not set are left to the
    model, which uses SAD's values with real weights and relaxes them in test mode.

    In test mode a spinner covers the imports and the build (5-15 s on a CPU); with real
    weights the core's download bars may be on screen, and two live displays would fight.
    """
    from .progress import RichStages

    unset = {k: None for k in ("pred_iou_thresh", "stability_score_thresh") if not ctx.given(k)}
    test_mode = str(ctx.get("weights") or "") == "random"
    stages = RichStages(ctx.console, enabled=test_mode and not ctx.as_json)
    with stages.spinner(f"building {ctx.name} (SAM 2.1 + CLIP ViT-B/16, random init)"):
        return ctx.load_model(**unset)


# --------------------------------------------------------------------------- run


def run(ctx: RunContext) -> dict[str, Any] | None:
    """``--render-only``: the colour-mapped depth SAM would see, and nothing else (no
    model, no image). Any other run is handed back to the rgbd task (``None``)."""
    if not ctx.opt("render_only"):
        return None
    from zoo.io.depth import load_depth

    depth_path = ctx.get("depth")
    if depth_path is None:
        raise InputError(f"`zoo run {ctx.name} --render-only` needs --depth PATH")
    out = ctx.out_dir()
    notes: list[str] = []
    with _user_warnings(notes):
        depth, valid = load_depth(Path(depth_path), depth_scale=ctx.opt("depth_scale"))
    for n in notes:
        ctx.console.print(f"[yellow]warning:[/] {n.removeprefix('warning: ')}")
    return _render_only(ctx, Path(depth_path), depth, valid, out, notes)


def _render_only(
    ctx: RunContext,
    depth_path: Path,
    depth: np.ndarray,
    valid: np.ndarray,
    out: Path,
    notes: list[str],
) -> dict[str, Any]:
    """``--render-only``: the colour-mapped depth SAM would see, and nothing else."""
    from zoo.io.atomic import atomic_output_dir
    from zoo.io.images import save_png

    from .render import render_depth

    colormap: str = ctx.opt("colormap")
    inverse = not ctx.opt("linear_depth")
    rendered = render_depth(depth, valid, colormap=colormap, inverse=inverse)
    text = {
        "zoo:model": "none (depth rendering only)",
        "zoo:colormap": colormap,
        "zoo:depth_coding": "inverse" if inverse else "linear",
    }
    with atomic_output_dir(out) as tmp:
        save_png(Path(tmp) / "depth_render.png", rendered, text=text)
    return {
        "depth": str(depth_path),
        "colormap": colormap,
        "depth_coding": "inverse" if inverse else "linear",
        "valid_pixels": int(valid.sum()),
        "warnings": notes,
        "files": [str(out / "depth_render.png")],
    }


# --------------------------------------------------------------------------- eval


@dataclass
class Frame:
    name: str
    color: Path
    depth: Path
    label: Path


def _rel(d: Path, root: Path) -> str:
    rel = d.relative_to(root).as_posix()
    return d.name if rel == "." else rel


def _frame_folder(d: Path, root: Path) -> Frame | None:
    color = _find(d, tuple(f"color{e}" for e in _IMAGE_EXT))
    depth = _find(d, ("depth.png", "depth.npy", "depth.npz"))
    label = _find(d, ("label.png", "label-filt.png", "labels.png"))
    if color and depth and label:
        return Frame(_rel(d, root), color, depth, label)
    return None


def _scene_folder(d: Path, root: Path) -> list[Frame]:
    cdir, ddir = d / "color", d / "depth"
    ldir = next((d / n for n in ("label-filt", "label", "labels") if (d / n).is_dir()), None)
    if not (cdir.is_dir() and ddir.is_dir() and ldir is not None):
        return []
    frames = []
    for c in sorted(cdir.iterdir(), key=lambda p: (len(p.stem), p.stem)):
        if c.suffix.lower() not in _IMAGE_EXT:
            continue
        dp = _find(ddir, (c.stem + ".png", c.stem + ".npy"))
        lp = _find(ldir, (c.stem + ".png",))
        if dp and lp:
            frames.append(Frame(f"{_rel(d, root)}/{c.stem}", c, dp, lp))
    return frames


def discover_frames(root: Path) -> list[Frame]:
    """All labelled RGB-D frames under ``root`` (either layout, any depth of nesting)."""
    if not root.is_dir():
        raise InputError(
            f"--dataset {root} is not a folder; pass a folder of ScanNet-layout frames"
        )
    frames: list[Frame] = []
    for d in [root, *sorted(p for p in root.rglob("*") if p.is_dir())]:
        f = _frame_folder(d, root)
        if f is not None:
            frames.append(f)
        else:
            frames += _scene_folder(d, root)
    return frames


def read_labels(path: Path, lookup: dict[int, int]) -> np.ndarray:
    """A label PNG mapped to vocabulary indices; everything unmapped becomes 255 (ignored)."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            raw = np.array(im)
    except OSError as exc:
        raise InputError(f"cannot read label PNG {path} ({exc}); re-export it") from exc
    if raw.ndim != 2:
        raise InputError(
            f"label PNG {path} has shape {raw.shape}; expected a single-channel id map"
        )
    raw = raw.astype(np.int64)
    out = np.full(raw.shape, 255, dtype=np.int64)
    for value, idx in lookup.items():
        out[raw == value] = idx
    return out


def evaluate(ctx: RunContext) -> dict[str, Any]:
    """Per-class IoU and mIoU over the vocabulary for each of ``--modes``, side by side."""
    from zoo.devices import resolve_device
    from zoo.io.atomic import atomic_output_dir
    from zoo.io.masks import save_palette_png, write_json
    from zoo.metrics import MMSEG_MIOU, per_class_iou

    from .geometry import resize_nearest
    from .progress import RichStages
    from .vocab import label_lookup

    modes_opt: str = ctx.opt("modes") or "depth,rgb,both"
    modes = [check_mode(m.strip()) for m in modes_opt.split(",") if m.strip()]
    if not modes:
        raise InputError(f"--modes is empty; use a comma list of {', '.join(MODES)}")
    label_format: str = ctx.opt("label_format")
    max_frames: int = ctx.opt("max_frames")
    depth_scale: float | None = ctx.opt("depth_scale")
    _check_options(ctx)
    vocab = _vocabulary(ctx)
    lookup = label_lookup(label_format, vocab)
    root = ctx.get("dataset")
    if root is None:
        raise InputError(f"`zoo eval {ctx.name}` needs --dataset DIR")
    frames = discover_frames(Path(root))
    if not frames:
        raise InputError(
            f"no labelled frames under {root}; expected <frame>/color.jpg + depth.png + label.png "
            "or <scene>/color/, depth/, label-filt/"
        )
    if max_frames > 0:
        frames = frames[:max_frames]
    out = ctx.out_dir() if ctx.get("out") is not None else None
    device = resolve_device(ctx.get("device", "auto"))
    sources = sorted({s for m in modes for s in (("depth", "rgb") if m == "both" else (m,))})
    model = _load_model(ctx)
    hint = slow_hint(model, device, 640 * 480, len(sources))
    if hint:
        ctx.console.print(f"[yellow]hint:[/] {hint} per frame")
    relaxed = relaxed_note(model)
    if relaxed:
        ctx.console.print(f"[yellow]note:[/] {relaxed}")
    preds: dict[str, list[np.ndarray]] = {m: [] for m in modes}
    gts: list[np.ndarray] = []
    notes: list[str] = []
    per_frame: list[dict[str, Any]] = []
    batches = num_batches(model.settings) * len(sources) * len(frames)
    bar = RichStages(ctx.console, enabled=not ctx.as_json)
    with bar.stage(f"evaluating {len(frames)} frame(s)", batches, "batch") as advance:
        forward = Forward(advance)
        for fr in frames:
            with _user_warnings(notes):
                img, d, valid = model.load_inputs(fr.color, fr.depth, depth_scale)
            gt = read_labels(fr.label, lookup)
            hw = img.shape[:2]
            rendered = model.render(d, valid) if "depth" in sources else None
            proposals = model.propose(img, rendered, valid, sources, progress=forward)
            dense_probs = model.dense_probs(img, vocab) if model.semantics == "pixel" else None
            per_source = {
                s: model.classify(img, ms.masks, vocab, dense_probs) for s, ms in proposals.items()
            }
            dense = next(iter(per_source.values()))[2] if per_source else None
            row: dict[str, Any] = {"frame": fr.name}
            for m in modes:
                ms = model.select(proposals, m, hw)
                pairs = zip(ms.source, ms.ids, strict=True)
                cls = np.array([per_source[s][0][i] for s, i in pairs], dtype=np.int64)
                sem, _ = model.compose(ms.masks, cls, hw, dense)
                sem = resize_nearest(sem, gt.shape)
                preds[m].append(np.where(sem < 0, 255, sem))
                row[f"masks_{m}"] = len(ms)
                row[f"_sem_{m}"] = sem
            gts.append(gt)
            per_frame.append(row)

    c = len(vocab)
    results = {m: per_class_iou(preds[m], gts, c, ignore_index=255) for m in modes}
    present = np.array([any((g == k).any() for g in gts) for k in range(c)])
    rows = []
    for k in range(c):
        if not present[k] and all(np.isnan(results[m][0][k]) for m in modes):
            continue
        rows.append([vocab[k], *[_fmt(results[m][0][k]) for m in modes]])
    rows.append(["mIoU", *[_fmt(results[m][1]) for m in modes]])
    metrics = {
        m: {
            "mIoU": _num(results[m][1]),
            "per_class_iou": {vocab[k]: _num(results[m][0][k]) for k in range(c)},
        }
        for m in modes
    }
    report: dict[str, Any] = {
        "model": model.name,
        "weights": model.weights,
        "frames": len(frames),
        "protocol": MMSEG_MIOU,
        "vocabulary_size": c,
        "label_format": label_format,
        **{f"mIoU_{m}": _num(results[m][1]) for m in modes},
        "table": {
            "title": f"{model.name}: IoU per class over {len(frames)} frame(s) ({model.weights})",
            "columns": ["class", *[f"IoU {m}" for m in modes]],
            "rows": rows,
        },
    }
    if relaxed:
        notes.append(relaxed)
    if notes:
        report["notes"] = sorted(set(notes))
    if out is not None:
        prov = model.provenance(Task.RGBD)
        text = prov.png_text()
        with atomic_output_dir(out) as tmp:
            tmp = Path(tmp)
            for row in per_frame:
                for m in modes:
                    sem = row.pop(f"_sem_{m}")
                    name = row["frame"].replace("/", "__")
                    (tmp / f"pred_{m}").mkdir(exist_ok=True)
                    save_palette_png(
                        tmp / f"pred_{m}" / f"{name}.png", (sem + 1).astype(np.uint8), text=text
                    )
            write_json(
                tmp / "metrics.json",
                {
                    "provenance": prov.record(),
                    "test_mode": prov.is_random,
                    "model": model.name,
                    "weights": model.weights,
                    "protocol": MMSEG_MIOU,
                    "vocabulary": vocab,
                    "label_format": label_format,
                    "generator": model.generator_record(),
                    "metrics": metrics,
                    "frames": per_frame,
                    "notes": sorted(set(notes)),
                },
                indent=1,
            )
        report["files"] = [str(out / "metrics.json")]
    return report


def _num(v: float) -> float | None:
    return None if v is None or np.isnan(v) else round(float(v), 4)


def _fmt(v: float) -> Any:
    return "-" if np.isnan(v) else float(v)
