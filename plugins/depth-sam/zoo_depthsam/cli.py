"""``zoo run depth-sam`` and ``zoo eval depth-sam``.

Every input is checked (image, depth, aspect ratio, intrinsics, pose, vocabulary,
colormap, mode) before the model is built, so a typo costs a second, not a model load.

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

from zoo.errors import InputError
from zoo.runners import RunContext
from zoo.specs import Task

from .model import MODES, check_mode
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


def sidecar_intrinsics(depth_path: Path) -> Path | None:
    """``intrinsic_depth.txt`` beside the depth, or ScanNet's ``<scene>/intrinsic/``."""
    return _find(depth_path.parent, ("intrinsic_depth.txt",)) or _find(
        depth_path.parent.parent / "intrinsic", ("intrinsic_depth.txt",)
    )


def sidecar_pose(depth_path: Path) -> Path | None:
    """``pose.txt`` beside the depth, or ScanNet's ``<scene>/pose/<frame>.txt``."""
    return _find(depth_path.parent, ("pose.txt",)) or _find(
        depth_path.parent.parent / "pose", (depth_path.stem + ".txt",)
    )


def _vocabulary(ctx: RunContext) -> list[str]:
    from .vocab import _ALIASES, VOCABULARIES, resolve_vocabulary

    classes: str | None = ctx.opt("classes")
    if classes is not None and ctx.given("vocabulary"):
        raise InputError("use either --classes or --vocabulary, not both")
    if classes is not None:
        spec = classes.strip()
        if not spec or not [c for c in spec.replace("\n", ",").split(",") if c.strip()]:
            raise InputError('--classes is empty; give names like --classes "chair,table,floor"')
        # a single name without commas is still a list of one class, not a vocabulary name
        if "," not in spec and not Path(spec).expanduser().is_file() and not spec.endswith(".txt"):
            return resolve_vocabulary([spec])
        return resolve_vocabulary(spec)
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


#: Seconds per prompt point on one CPU core pair (2 threads, this project's machines),
#: measured on the ScanNet fixture: SAM 2 tiny's decoder over a 64-point batch costs about
#: 25 s at a 1024 input and 1 s at 256; with test mode's relaxed thresholds every candidate
#: mask is kept and run-length encoded at the image size (~0.3 s per point at 640x480).
_DECODER_S_PER_POINT_1024 = 0.39
_KEEP_ALL_S_PER_POINT_VGA = 0.3
SLOW_HINT_S = 60.0


def cpu_estimate_s(
    points_per_side: int, image_size: int, sources: int, keep_all: bool, image_pixels: int
) -> float:
    """Rough CPU seconds of mask generation (what the slow-settings hint quotes)."""
    points = points_per_side**2 * sources
    per_point = _DECODER_S_PER_POINT_1024 * (image_size / 1024) ** 2 + 0.005
    if keep_all:
        per_point += _KEEP_ALL_S_PER_POINT_VGA * image_pixels / (640 * 480)
    return points * per_point


def slow_hint(model: Any, device: str, image_pixels: int, sources: int) -> str | None:
    """One line for CPU runs whose settings will take minutes, with faster settings."""
    if device != "cpu":
        return None
    pps, size = int(model.settings.points_per_side), int(model.image_size)
    st = model.settings
    keep_all = st.pred_iou_thresh <= 0 and st.stability_score_thresh <= 0
    est = cpu_estimate_s(pps, size, sources, keep_all, image_pixels)
    if est < SLOW_HINT_S:
        return None
    quick = []
    if pps > 16:
        quick.append("--points-per-side 16")
    if size > 512:
        quick.append("--image-size 512")
    faster = f"; for a quick look add {' '.join(quick)}" if quick else ""
    return (
        f"slow on CPU: {pps}x{pps} prompt points at SAM input {size} is roughly "
        f"{est / 60:.0f} min{faster} (or use a GPU)"
    )


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


def relaxed_note(model: Any) -> str | None:
    """The one line saying which generator thresholds test mode relaxed."""
    relaxed = getattr(model, "test_mode_relaxed", {})
    if not relaxed:
        return None
    parts = ", ".join(
        f"{k} {v['used']:g} (documented {v['documented']:g})" for k, v in relaxed.items()
    )
    flags = " / ".join("--" + k.replace("_", "-") for k in relaxed)
    return (
        f"test mode: mask generator thresholds relaxed to {parts} so random weights still "
        f"give masks; set {flags} to choose"
    )


def zero_masks_note(model: Any, test_mode: bool) -> str:
    """The one line explaining an empty result."""
    st = model.settings
    if test_mode:
        return (
            "0 masks: expected with random weights (SAM's random scores pass no threshold); "
            "leave --pred-iou-thresh/--stability-score-thresh unset in test mode to see the "
            "later stages, or use pretrained weights"
        )
    return (
        f"0 masks: no proposal passed --pred-iou-thresh {st.pred_iou_thresh:g}, "
        f"--stability-score-thresh {st.stability_score_thresh:g} and --min-region-area "
        f"{st.min_region_area}; lower them or try --mode both"
    )


# --------------------------------------------------------------------------- run


def run(ctx: RunContext) -> dict[str, Any]:
    """Segment one RGB-D frame and write every output (see :mod:`zoo_depthsam.results`).

    Order matters for the user: every input and option is checked first (one line, exit
    2, nothing written), then a one-line hint if the settings will be slow on CPU, then
    the model is built and each slow stage shows a progress bar; ``--out`` appears only
    when the outputs are complete (an interrupted run leaves no folder).
    """
    from zoo.io.depth import load_depth, load_intrinsics, load_pose, parse_intrinsics
    from zoo.io.images import load_image
    from zoo.model import resolve_device
    from zoo.results import check_formats

    from .geometry import check_aspect
    from .progress import RichStages

    notes: list[str] = []
    render_only: bool = ctx.opt("render_only")
    depth_path = ctx.get("depth")
    if depth_path is None:
        raise InputError(f"`zoo run {ctx.name}` needs --depth PATH (16-bit PNG in mm or .npy in m)")
    image_path = ctx.get("image")
    if image_path is None and not render_only:
        raise InputError(f"`zoo run {ctx.name}` needs --image PATH (or --render-only)")
    formats = check_formats(ctx.get("format", "png,coco,overlay"))
    _check_options(ctx)
    vocab = None if render_only else _vocabulary(ctx)
    intr_opt: str | None = ctx.opt("intrinsics")
    pose_opt: Path | None = ctx.opt("pose")
    if pose_opt is not None and ctx.opt("no_pose"):
        raise InputError("use either --pose or --no-pose, not both")
    out = ctx.out_dir()
    device = resolve_device(ctx.get("device", "auto"))

    depth_path = Path(depth_path)
    with _user_warnings(notes):
        depth, valid = load_depth(depth_path, depth_scale=ctx.opt("depth_scale"))
    for n in notes:  # now, not after minutes of work
        ctx.console.print(f"[yellow]warning:[/] {n.removeprefix('warning: ')}")
    if render_only:
        return _render_only(ctx, depth_path, depth, valid, out, notes)

    image = load_image(image_path)
    check_aspect(image.shape[:2], depth.shape)
    if intr_opt is not None:
        intrinsics: Any = parse_intrinsics(intr_opt)
        intr_src = intr_opt
    else:
        found = sidecar_intrinsics(depth_path)
        intrinsics = load_intrinsics(found) if found else None
        intr_src = str(found) if found else "none (no point cloud; pass --intrinsics)"
    pose = None
    pose_src = "none (camera frame)"
    if pose_opt is not None:
        pose, pose_src = load_pose(pose_opt), str(pose_opt)
    elif not ctx.opt("no_pose"):
        found_pose = sidecar_pose(depth_path)
        if found_pose is not None:
            pose, pose_src = load_pose(found_pose), str(found_pose)

    mode: str = ctx.opt("mode")
    model = _load_model(ctx)  # the last step that can fail on user input
    test_mode = model.weights.startswith("random")
    hint = slow_hint(model, device, image.shape[0] * image.shape[1], 2 if mode == "both" else 1)
    if hint:
        notes.append(hint)
        ctx.console.print(f"[yellow]hint:[/] {hint}")
    relaxed = relaxed_note(model)
    if relaxed:
        notes.append(relaxed)
        ctx.console.print(f"[yellow]note:[/] {relaxed}")
    stages = RichStages(ctx.console, enabled=not ctx.as_json)
    result = model.segment_rgbd(
        image,
        depth,
        intrinsics=intrinsics,
        vocabulary=vocab,
        pose=pose,
        mode=mode,
        progress=stages,
    )
    if len(result) == 0:
        empty = zero_masks_note(model, test_mode)
        notes.append(empty)
        ctx.console.print(f"[yellow]note:[/] {empty}")
    result.extra.update(
        {"depth": str(depth_path), "intrinsics": intr_src, "pose": pose_src, "notes": notes}
    )
    with stages.stage("writing outputs", 1, "folder") as advance:
        files = result.save(
            out, image=image, formats=formats, image_id=1, file_name=Path(str(image_path)).name
        )
        advance(1)
    counts: dict[str, int] = {}
    for lab in result.labels:
        counts[lab] = counts.get(lab, 0) + 1
    return {
        "model": model.name,
        "weights": model.weights,
        "mode": result.mode,
        "masks": len(result),
        "classes": dict(sorted(counts.items(), key=lambda kv: -kv[1])),
        "points": None if result.points_xyz is None else len(result.points_xyz),
        "intrinsics": intr_src,
        "pose": pose_src,
        "seconds": {k: round(v, 3) for k, v in result.timings.items()},
        # printed already as they happened; JSON readers get them (and the settings) here
        **({"generator": result.generator, "notes": notes} if ctx.as_json else {}),
        "files": [str(f) for f in files],
    }


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
    from zoo.io.atomic import atomic_output_dir
    from zoo.io.masks import save_palette_png, write_json
    from zoo.metrics import MMSEG_MIOU, per_class_iou
    from zoo.model import resolve_device

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
