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

from zoo.errors import InputError
from zoo.runners import RunContext

from .model import MODES, check_mode

_IMAGE_EXT = (".jpg", ".jpeg", ".png")


@contextmanager
def _user_warnings(sink: list[str]) -> Iterator[None]:
    """Collect UserWarnings (e.g. "8-bit depth PNG: probably not metric") as report lines."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        yield
    for w in caught:
        if issubclass(w.category, UserWarning):
            sink.append(str(w.message))


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


def _model_config(ctx: RunContext) -> dict[str, Any]:
    """Family options that map to loader settings; only those given override the variant."""
    cfg: dict[str, Any] = {}
    spec: list[tuple[str, str, Any]] = [
        ("semantics", "semantics", str),
        ("points_per_side", "points_per_side", int),
        ("pred_iou_thresh", "pred_iou_thresh", float),
        ("stability_thresh", "stability_score_thresh", float),
        ("min_region", "min_region_area", int),
        ("merge_iou", "merge_iou", float),
        ("max_masks", "max_masks", int),
        ("image_size", "image_size", int),
        ("colormap", "colormap", str),
    ]
    for opt, key, cast in spec:
        v = ctx.opt(opt, cast, None)
        if v is not None:
            cfg[key] = v
    if ctx.flag("linear_depth"):
        cfg["inverse_depth"] = False
    if "colormap" in cfg:
        from .render import get_colormap

        get_colormap(cfg["colormap"])
    if cfg.get("semantics") not in (None, "mask", "pixel"):
        raise InputError(f"unknown --semantics {cfg['semantics']!r}; use mask or pixel")
    if "image_size" in cfg and (cfg["image_size"] <= 0 or cfg["image_size"] % 64):
        raise InputError(f"--image-size must be a positive multiple of 64, got {cfg['image_size']}")
    return cfg


def _vocabulary(ctx: RunContext) -> list[str]:
    from .vocab import resolve_vocabulary

    classes = ctx.opt("classes", str, None)
    vocab = ctx.opt("vocabulary", str, None)
    if classes is not None and vocab is not None:
        raise InputError("use either --classes or --vocabulary, not both")
    if classes is not None:
        spec = classes.strip()
        if not spec or not [c for c in spec.replace("\n", ",").split(",") if c.strip()]:
            raise InputError('--classes is empty; give names like --classes "chair,table,floor"')
        # a single name without commas is still a list of one class, not a vocabulary name
        if "," not in spec and not Path(spec).expanduser().is_file() and not spec.endswith(".txt"):
            return resolve_vocabulary([spec])
        return resolve_vocabulary(spec)
    if vocab is not None:
        from .vocab import _ALIASES, VOCABULARIES

        key = _ALIASES.get(vocab.lower(), vocab.lower())
        if key not in VOCABULARIES:
            raise InputError(
                f"unknown --vocabulary {vocab!r}; use scannet20, scannet200 or nyu40 "
                "(or --classes for your own)"
            )
    return resolve_vocabulary(vocab)


# --------------------------------------------------------------------------- run


def run(ctx: RunContext) -> dict[str, Any]:
    """Segment one RGB-D frame and write every output (see :mod:`zoo_depthsam.outputs`)."""
    from zoo.io.depth import load_depth, load_intrinsics, load_pose, parse_intrinsics
    from zoo.io.images import load_image

    from .geometry import check_aspect
    from .render import DEFAULT_COLORMAP, render_depth

    notes: list[str] = []
    render_only = ctx.flag("render_only")
    mode = check_mode(ctx.opt("mode", str, "depth"))
    depth_scale = ctx.opt("depth_scale", float, None)
    intr_opt = ctx.opt("intrinsics", str, None)
    pose_opt = ctx.opt("pose", str, None)
    no_pose = ctx.flag("no_pose")
    voxel = ctx.opt("voxel_size", float, 0.0)
    if voxel < 0:
        raise InputError(f"--voxel-size must be >= 0 metres, got {voxel}")
    cfg = _model_config(ctx)
    vocab = None if render_only else _vocabulary(ctx)
    ctx.done()

    depth_path = ctx.get("depth")
    if depth_path is None:
        raise InputError(f"`zoo run {ctx.name}` needs --depth PATH (16-bit PNG in mm or .npy in m)")
    depth_path = Path(depth_path)
    with _user_warnings(notes):
        depth, valid = load_depth(depth_path, depth_scale=depth_scale)
    colormap = cfg.get("colormap", DEFAULT_COLORMAP)
    inverse = cfg.get("inverse_depth", True)

    if render_only:
        rendered = render_depth(depth, valid, colormap=colormap, inverse=inverse)
        out = ctx.out_dir()
        from zoo.io.atomic import atomic_output_dir
        from zoo.io.images import save_png

        with atomic_output_dir(out) as tmp:
            save_png(Path(tmp) / "depth_render.png", rendered)
        for n in notes:
            ctx.console.print(f"[yellow]warning:[/] {n}")
        return {
            "depth": str(depth_path),
            "colormap": colormap,
            "depth_coding": "inverse" if inverse else "linear",
            "valid_pixels": int(valid.sum()),
            "warnings": notes,
            "files": [str(out / "depth_render.png")],
        }

    image_path = ctx.get("image")
    if image_path is None:
        raise InputError(f"`zoo run {ctx.name}` needs --image PATH (or --render-only)")
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
    if pose_opt is not None and no_pose:
        raise InputError("use either --pose or --no-pose, not both")
    if pose_opt is not None:
        pose, pose_src = load_pose(pose_opt), pose_opt
    elif not no_pose:
        found_pose = sidecar_pose(depth_path)
        if found_pose is not None:
            pose, pose_src = load_pose(found_pose), str(found_pose)
    out = ctx.out_dir()

    model = ctx.load_model(**cfg)
    result = model.segment_rgbd(
        image,
        depth,
        intrinsics=intrinsics,
        vocabulary=vocab,
        pose=pose,
        mode=mode,
        voxel_size=voxel,
    )
    files = result.save(
        out,
        image,
        image_id=Path(str(image_path)).stem,
        pose_applied=pose is not None,
        extra_json={"intrinsics": intr_src, "pose": pose_src, "warnings": notes},
    )
    for n in notes:
        ctx.console.print(f"[yellow]warning:[/] {n}")
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
        "warnings": notes,
        "files": [str(f) for f in files],
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
    from rich.progress import Progress

    from zoo.io.atomic import atomic_output_dir
    from zoo.io.masks import save_palette_png, write_json
    from zoo.metrics import per_class_iou

    from .geometry import resize_nearest
    from .vocab import label_lookup

    modes_opt = ctx.opt("modes", str, None)
    mode_opt = ctx.opt("mode", str, None)  # `--mode rgb` works too (one or a comma list)
    if modes_opt is not None and mode_opt is not None:
        raise InputError("use either --modes or --mode, not both")
    modes_opt = modes_opt or mode_opt or "depth,rgb,both"
    modes = [check_mode(m.strip()) for m in modes_opt.split(",") if m.strip()]
    if not modes:
        raise InputError(f"--modes is empty; use a comma list of {', '.join(MODES)}")
    label_format = ctx.opt("label_format", str, "nyu40")
    max_frames = ctx.opt("max_frames", int, 0)
    depth_scale = ctx.opt("depth_scale", float, None)
    cfg = _model_config(ctx)
    vocab = _vocabulary(ctx)
    ctx.done()
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

    model = ctx.load_model(**cfg)
    sources = sorted({s for m in modes for s in (("depth", "rgb") if m == "both" else (m,))})
    preds: dict[str, list[np.ndarray]] = {m: [] for m in modes}
    gts: list[np.ndarray] = []
    notes: list[str] = []
    per_frame: list[dict[str, Any]] = []
    with Progress(console=ctx.console, transient=True, disable=ctx.as_json) as bar:
        task = bar.add_task("evaluating depth-sam", total=len(frames))
        for fr in frames:
            with _user_warnings(notes):
                img, d, valid = model.load_inputs(fr.color, fr.depth, depth_scale)
            gt = read_labels(fr.label, lookup)
            hw = img.shape[:2]
            rendered = model.render(d, valid) if "depth" in sources else None
            proposals = model.propose(img, rendered, valid, sources)
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
            bar.advance(task)

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
        "vocabulary_size": c,
        "label_format": label_format,
        **{f"mIoU_{m}": _num(results[m][1]) for m in modes},
        "table": {
            "title": f"{model.name}: IoU per class over {len(frames)} frame(s) ({model.weights})",
            "columns": ["class", *[f"IoU {m}" for m in modes]],
            "rows": rows,
        },
    }
    if notes:
        report["warnings"] = sorted(set(notes))
    if out is not None:
        with atomic_output_dir(out) as tmp:
            tmp = Path(tmp)
            for row in per_frame:
                for m in modes:
                    sem = row.pop(f"_sem_{m}")
                    name = row["frame"].replace("/", "__")
                    (tmp / f"pred_{m}").mkdir(exist_ok=True)
                    save_palette_png(tmp / f"pred_{m}" / f"{name}.png", (sem + 1).astype(np.uint8))
            write_json(
                tmp / "metrics.json",
                {
                    "model": model.name,
                    "weights": model.weights,
                    "vocabulary": vocab,
                    "label_format": label_format,
                    "metrics": metrics,
                    "frames": per_frame,
                },
                indent=1,
            )
        report["files"] = [str(out / "metrics.json")]
    return report


def _num(v: float) -> float | None:
    return None if v is None or np.isnan(v) else round(float(v), 4)


def _fmt(v: float) -> Any:
    return "-" if np.isnan(v) else float(v)
