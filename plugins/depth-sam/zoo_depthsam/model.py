"""``depth-sam`` as an ``rgbd`` zoo model: render depth, propose masks, classify, lift to 3D.

One call, :meth:`DepthSamModel.segment_rgbd`, runs SAD's pipeline:

1. **render** the metric depth through a colormap (:mod:`zoo_depthsam.render`);
2. **propose** class-agnostic masks with SAM 2.1's automatic mask generator on the
   rendering (``mode="depth"``), on the RGB image (``"rgb"``) or on both, merged by mask
   NMS (``"both"``) (:mod:`zoo_depthsam.masks`);
3. **classify** each mask against an open vocabulary with CLIP
   (:mod:`zoo_depthsam.classify`);
4. **lift** the labelled masks to a coloured point cloud with the depth intrinsics and an
   optional camera-to-world pose (:mod:`zoo_depthsam.geometry`).

The stages are also public methods (:meth:`propose`, :meth:`classify`, :meth:`compose`,
:meth:`lift`) so evaluation can compute the depth and RGB proposals of a frame once and
score ``depth``, ``rgb`` and ``both`` from them.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import asdict, replace
from typing import Any

import numpy as np
from zoo_sam2.everything import make_generator, num_batches

from zoo.errors import InputError
from zoo.loading import LoadContext
from zoo.model import ZooModel
from zoo.specs import Task

from .draw import paint
from .geometry import (
    backproject,
    check_aspect,
    check_intrinsics,
    check_pose,
    resize_image,
    resize_nearest,
    voxel_downsample,
)
from .masks import GeneratorSettings, MaskSet, generate, merge_nms
from .plugin import DEFAULT_PRED_IOU_THRESH, DEFAULT_STABILITY_THRESH
from .progress import Silent, Stages
from .render import DEFAULT_COLORMAP, get_colormap, render_depth
from .results import DepthSamResult
from .vocab import DEFAULT_TEMPLATES, choose_vocabulary

MODES = ("depth", "rgb", "both")
SEMANTICS = ("mask", "pixel")

#: SAD's generator thresholds, and what test mode uses instead when the caller sets none.
#: Random SAM predicts IoUs around 0.5 and stability 0 (its logits never leave (-1, 1)),
#: so at SAD's values not one mask survives and the rest of the pipeline (CLIP, 3-D,
#: the files) would go untested; at 0 every candidate passes and box NMS keeps a few.
DOCUMENTED_THRESHOLDS = {
    "pred_iou_thresh": DEFAULT_PRED_IOU_THRESH,
    "stability_score_thresh": DEFAULT_STABILITY_THRESH,
}
TEST_MODE_THRESHOLDS = {"pred_iou_thresh": 0.0, "stability_score_thresh": 0.0}

#: Loader settings besides the thresholds (their defaults are in ``create``).
_SETTINGS = (
    "size",
    "image_size",
    "clip_model",
    "templates",
    "clip_batch_size",
    "points_per_side",
    "points_per_batch",
    "pred_iou_thresh",
    "stability_score_thresh",
    "box_nms_thresh",
    "min_region_area",
    "linear_depth",
    "mode",
    "colormap",
    "semantics",
    "merge_iou",
    "max_masks",
    "voxel_size",
    "max_invalid_fraction",
    "dense_short_side",
)


def check_mode(mode: str) -> str:
    m = str(mode).lower()
    if m not in MODES:
        raise InputError(f"unknown mode {mode!r}; use depth, rgb or both")
    return m


def check_settings(
    *,
    mode: str = "depth",
    semantics: str = "mask",
    colormap: str = DEFAULT_COLORMAP,
    merge_iou: float = 0.7,
    max_masks: int | None = None,
    voxel_size: float = 0.0,
    image_size: int | None = None,
    points_per_side: int = 64,
    points_per_batch: int = 64,
) -> None:
    """Every pipeline setting checked at once, before anything slow is built."""
    check_mode(mode)
    if semantics not in SEMANTICS:
        raise InputError(f"unknown semantics {semantics!r}; use mask or pixel")
    get_colormap(colormap)
    if not 0.0 < merge_iou <= 1.0:
        raise InputError(f"merge_iou must lie in (0, 1], got {merge_iou}")
    if max_masks is not None and int(max_masks) < 0:
        raise InputError(f"max_masks must be >= 0, got {max_masks}")
    if voxel_size < 0:
        raise InputError(f"voxel_size must be >= 0 metres, got {voxel_size}")
    if image_size is not None and (int(image_size) <= 0 or int(image_size) % 64):
        raise InputError(f"image_size must be a positive multiple of 64, got {image_size}")
    if points_per_side < 1 or points_per_batch < 1:
        raise InputError("points_per_side and points_per_batch must be >= 1")


class DepthSamModel(ZooModel):
    tasks = (Task.RGBD,)

    def __init__(
        self,
        sam_model: Any,
        classifier: Any,
        *,
        settings: GeneratorSettings,
        mode: str = "depth",
        colormap: str = DEFAULT_COLORMAP,
        inverse_depth: bool = True,
        semantics: str = "mask",
        merge_iou: float = 0.7,
        max_masks: int | None = None,
        voxel_size: float = 0.0,
        max_invalid_fraction: float = 0.5,
        dense_short_side: int = 448,
        test_mode_relaxed: dict[str, dict[str, float]] | None = None,
    ) -> None:
        check_settings(
            mode=mode,
            semantics=semantics,
            colormap=colormap,
            merge_iou=merge_iou,
            max_masks=max_masks,
            voxel_size=voxel_size,
        )
        self.sam = sam_model
        self.classifier = classifier
        self.settings = settings
        self.mode = check_mode(mode)
        self.colormap = colormap
        self.inverse_depth = bool(inverse_depth)
        self.semantics = semantics
        self.merge_iou = float(merge_iou)
        self.max_masks = None if max_masks in (None, 0) else int(max_masks)  # type: ignore[arg-type]
        self.voxel_size = float(voxel_size)
        self.max_invalid_fraction = float(max_invalid_fraction)
        self.dense_short_side = int(dense_short_side)
        #: generator thresholds test mode changed: {name: {"documented": x, "used": y}}
        self.test_mode_relaxed = dict(test_mode_relaxed or {})
        self._generators: dict[GeneratorSettings, Any] = {}

    # ------------------------------------------------------------------ building
    @classmethod
    def create(
        cls,
        ctx: LoadContext,
        *,
        size: str | None = None,
        image_size: int | None = None,
        clip_model: str = "ViT-B-16",
        templates: Sequence[str] | None = None,
        clip_batch_size: int = 32,
        points_per_side: int = 64,
        points_per_batch: int = 64,
        pred_iou_thresh: float | None = None,
        stability_score_thresh: float | None = None,
        box_nms_thresh: float = 0.7,
        min_region_area: int = 100,
        linear_depth: bool = False,
        mode: str = "depth",
        colormap: str = DEFAULT_COLORMAP,
        semantics: str = "mask",
        merge_iou: float = 0.7,
        max_masks: int | None = None,
        voxel_size: float = 0.0,
        max_invalid_fraction: float = 0.5,
        dense_short_side: int = 448,
        **unknown: Any,
    ) -> DepthSamModel:
        """Build SAM 2.1 from ``ctx.path("sam2")`` and CLIP from ``ctx.path("clip")``.

        Both paths are ``None`` in test mode (random init, seeded by the core). A threshold
        left at ``None`` is SAD's value (0.7 predicted IoU, 0.8 stability) with real
        weights and 0 in test mode, where SAD's values let no mask through; the change is
        kept in :attr:`test_mode_relaxed` and reported with every result.
        """
        if unknown:  # zoo.load refuses undeclared names first; this is for direct calls
            key = sorted(unknown)[0]
            raise InputError(f"unknown depth-sam setting {key!r}; known: {', '.join(_SETTINGS)}")
        if ctx.dtype is not None:
            import torch

            if ctx.dtype != torch.float32:
                raise InputError(
                    "depth-sam runs in float32 (SAM 2's mask generator feeds float32 images); "
                    "drop --dtype"
                )
        check_settings(
            mode=mode,
            semantics=semantics,
            colormap=colormap,
            merge_iou=merge_iou,
            max_masks=max_masks,
            voxel_size=voxel_size,
            image_size=image_size,
            points_per_side=points_per_side,
            points_per_batch=points_per_batch,
        )
        test_mode = ctx.weights_label.startswith("random")
        given = {
            "pred_iou_thresh": pred_iou_thresh,
            "stability_score_thresh": stability_score_thresh,
        }
        thresholds: dict[str, float] = {}
        relaxed: dict[str, dict[str, float]] = {}
        for key, value in given.items():
            if value is not None:
                thresholds[key] = float(value)
            elif test_mode:
                thresholds[key] = TEST_MODE_THRESHOLDS[key]
                relaxed[key] = {
                    "documented": DOCUMENTED_THRESHOLDS[key],
                    "used": TEST_MODE_THRESHOLDS[key],
                }
            else:
                thresholds[key] = DOCUMENTED_THRESHOLDS[key]

        from zoo_sam2.build import build_sam2_model

        from .classify import ClipClassifier

        size = size or (ctx.variant.tag if ctx.variant else "tiny")
        sam = build_sam2_model(
            size,
            ctx.path("sam2"),
            device=ctx.device,
            image_size=image_size,
            model_name=f"{ctx.name} (sam2 file)",
        )
        classifier = ClipClassifier.build(
            clip_model,
            ctx.path("clip"),
            device=ctx.device,
            templates=tuple(templates) if templates else DEFAULT_TEMPLATES,
            batch_size=clip_batch_size,
        )
        settings = GeneratorSettings(
            points_per_side=int(points_per_side),
            points_per_batch=int(points_per_batch),
            pred_iou_thresh=thresholds["pred_iou_thresh"],
            stability_score_thresh=thresholds["stability_score_thresh"],
            box_nms_thresh=float(box_nms_thresh),
            min_region_area=int(min_region_area),
        )
        return cls(
            sam,
            classifier,
            settings=settings,
            mode=mode,
            colormap=colormap,
            inverse_depth=not linear_depth,
            semantics=semantics,
            merge_iou=merge_iou,
            max_masks=max_masks,
            voxel_size=voxel_size,
            max_invalid_fraction=max_invalid_fraction,
            dense_short_side=dense_short_side,
            test_mode_relaxed=relaxed,
        )

    @property
    def weights_random(self) -> bool:
        """Test mode (``weights="random"``): random SAM scores pass no documented threshold."""
        return str(getattr(self, "weights", "")).startswith("random")

    @property
    def image_size(self) -> int:
        """SAM's input side (1024 unless built smaller)."""
        return int(self.sam.image_size)

    def generator_record(self, settings: GeneratorSettings | None = None) -> dict[str, Any]:
        """The generator settings of a call, as written to ``run.json``."""
        st = settings or self.settings
        rec: dict[str, Any] = {**asdict(st), "image_size": self.image_size}
        relaxed = {k: v for k, v in self.test_mode_relaxed.items() if getattr(st, k) == v["used"]}
        if relaxed:
            rec["test_mode_relaxed"] = relaxed
        return rec

    def modules(self) -> list[Any]:
        return [self.sam, self.classifier.model]

    # ------------------------------------------------------------------ inputs
    @staticmethod
    def load_inputs(
        image: Any, depth: Any, depth_scale: float | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(rgb uint8 HxWx3, depth metres float32 hxw, valid bool hxw)``, checked."""
        from zoo.io.depth import load_depth
        from zoo.io.images import load_image

        img = load_image(image)
        d, valid = load_depth(depth, depth_scale=depth_scale)
        check_aspect(img.shape[:2], d.shape)
        return img, d, valid

    def render(self, depth: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
        """The colour image of ``depth`` that SAM sees in depth mode."""
        return render_depth(depth, valid, colormap=self.colormap, inverse=self.inverse_depth)

    # ------------------------------------------------------------------ stages
    def _generator(self, settings: GeneratorSettings) -> Any:
        gen = self._generators.get(settings)
        if gen is None:
            gen = make_generator(self.sam, settings)
            self._generators[settings] = gen
        return gen

    def propose(
        self,
        image: np.ndarray,
        rendered: np.ndarray | None,
        valid: np.ndarray,
        sources: Sequence[str],
        *,
        settings: GeneratorSettings | None = None,
        timings: dict[str, float] | None = None,
        progress: Stages | None = None,
    ) -> dict[str, MaskSet]:
        """Proposals per source ("depth", "rgb"), each at the RGB image's size.

        Depth proposals that are mostly invalid pixels (SAM happily segments the black
        "no measurement" holes) are dropped: they follow sensor dropout, not geometry.
        """
        import torch

        st = settings or self.settings
        gen = self._generator(st)
        out: dict[str, MaskSet] = {}
        hw = image.shape[:2]
        stages = progress or Silent()
        for src in sources:
            t0 = time.perf_counter()
            with (
                torch.inference_mode(),
                stages.stage(f"SAM masks on {src}", num_batches(st), "batch") as advance,
            ):
                if src == "depth":
                    assert rendered is not None
                    ms = generate(gen, rendered, st, "depth", on_batch=advance)
                    if len(ms):
                        inside = ms.masks.reshape(len(ms), -1)
                        bad = (inside & ~valid.reshape(1, -1)).sum(1) / np.maximum(inside.sum(1), 1)
                        ms = ms.select(np.flatnonzero(bad <= self.max_invalid_fraction))
                    ms = ms.resized(hw)
                else:
                    ms = generate(gen, image, st, "rgb", on_batch=advance)
            out[src] = ms.renumbered()
            if timings is not None:
                timings[f"masks_{src}"] = time.perf_counter() - t0
        return out

    def select(self, proposals: dict[str, MaskSet], mode: str, hw: Sequence[int]) -> MaskSet:
        """The masks of one mode: one source's set, or both merged by mask NMS; then the
        ``max_masks`` best by predicted IoU, ordered by score."""
        sets = [proposals[s] for s in (("depth", "rgb") if mode == "both" else (mode,))]
        ms = merge_nms(sets, self.merge_iou) if mode == "both" else sets[0]
        if len(ms) == 0:
            return MaskSet.empty(hw)
        order = np.argsort(-ms.scores, kind="stable")
        if self.max_masks is not None:
            order = order[: self.max_masks]
        return ms.select(order)

    def dense_probs(self, image: np.ndarray, vocabulary: Sequence[str]) -> np.ndarray:
        """``C x H x W`` per-pixel CLIP class probabilities (``semantics="pixel"``)."""
        return self.classifier.dense_probs(image, vocabulary, self.dense_short_side)

    def classify(
        self,
        image: np.ndarray,
        masks: np.ndarray,
        vocabulary: Sequence[str],
        dense_probs: np.ndarray | None = None,
        progress: Stages | None = None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """``(class_ids, class_scores, dense class map or None)`` for the masks.

        With ``semantics="pixel"`` the per-pixel map is computed (or taken from
        ``dense_probs``, so several mask sets of one image share it) and every mask takes
        its majority class; otherwise each mask crop is classified.
        """
        c = len(vocabulary)
        stages = progress or Silent()
        clf = self.classifier
        if clf is not None and not clf.text_cached(vocabulary):
            with stages.stage(
                "CLIP text of the classes", clf.num_prompts(vocabulary), "prompt"
            ) as advance:
                clf.text_features(vocabulary, on_batch=advance)
        if self.semantics == "pixel":
            from .classify import majority_vote

            with stages.stage("CLIP dense class map", 1, "map") as advance:
                probs = (
                    dense_probs if dense_probs is not None else self.dense_probs(image, vocabulary)
                )
                advance(1)
            dense = probs.argmax(axis=0).astype(np.int32)
            ids, scores = majority_vote(dense, probs, masks, c)
            return ids, scores, dense
        with stages.stage("CLIP classes of masks", len(masks), "mask") as advance:
            probs = self.classifier.classify_masks(image, masks, vocabulary, on_batch=advance)
        if len(masks) == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.float32), None
        ids = probs.argmax(axis=1)
        return ids.astype(np.int64), probs[np.arange(len(ids)), ids].astype(np.float32), None

    @staticmethod
    def compose(
        masks: np.ndarray, class_ids: np.ndarray, hw: Sequence[int], dense: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(semantic_map, instance_map)``, int32 at ``hw``, -1 where nothing is painted.

        The semantic map starts from the dense per-pixel map when there is one (SAD's
        recipe: masks overwrite it with their majority class), else from "unlabelled".
        """
        h, w = int(hw[0]), int(hw[1])
        base = dense.astype(np.int32) if dense is not None else np.full((h, w), -1, np.int32)
        semantic = paint(masks, class_ids.astype(np.int32), base)
        instance = paint(
            masks, np.arange(len(masks), dtype=np.int32), np.full((h, w), -1, np.int32)
        )
        return semantic, instance

    def lift(
        self,
        image: np.ndarray,
        depth: np.ndarray,
        valid: np.ndarray,
        intrinsics: Any,
        instance_map: np.ndarray,
        semantic_map: np.ndarray,
        pose: Any = None,
        voxel_size: float | None = None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Back-project valid depth pixels: ``(xyz float32, rgb uint8, instance, label)``.

        Everything happens at the depth resolution (the intrinsics are the depth
        camera's): the RGB image is resized to it for colours, the maps by nearest.
        """
        xyz, flat = backproject(depth, valid, intrinsics, pose)
        dhw = depth.shape
        rgb = resize_image(image, dhw).reshape(-1, 3)[flat]
        inst = resize_nearest(instance_map, dhw).ravel()[flat]
        lab = resize_nearest(semantic_map, dhw).ravel()[flat]
        vs = self.voxel_size if voxel_size is None else float(voxel_size)
        if vs < 0:
            raise InputError(f"voxel_size must be >= 0 metres, got {vs}")
        if vs > 0:
            xyz, rgb_v, (inst, lab) = voxel_downsample(xyz, vs, rgb=rgb, labels=(inst, lab))
            assert rgb_v is not None
            rgb = rgb_v
        return (
            xyz.astype(np.float32),
            rgb.astype(np.uint8),
            inst.astype(np.int32),
            lab.astype(np.int32),
        )

    # ------------------------------------------------------------------ task
    def segment_rgbd(
        self,
        image: Any,
        depth: Any,
        intrinsics: Any = None,
        vocabulary: Any = None,
        *,
        classes: Any = None,
        pose: Any = None,
        mode: str | None = None,
        depth_scale: float | None = None,
        settings: GeneratorSettings | None = None,
        voxel_size: float | None = None,
        progress: Stages | None = None,
    ) -> DepthSamResult:
        """Segment an RGB-D frame into labelled masks (and a labelled cloud with intrinsics).

        Args:
            image: RGB image (path or HxWx3 array).
            depth: depth (16-bit PNG in millimetres, .npy/.npz in metres, or an HxW array;
                float arrays are metres, 0 = invalid). Same aspect ratio as ``image``.
            intrinsics: ``(fx, fy, cx, cy)`` of the depth image (or a 3x3/4x4 matrix, or a
                file); ``None`` skips the point cloud.
            vocabulary: class names, a vocabulary name (``scannet20`` default,
                ``scannet200``, ``nyu40``), a file or ``"a,b,c"``.
            classes: your own classes instead of ``vocabulary`` (``"chair,table"``, a list
                or a text file; a single name is one class, not a vocabulary name).
            pose: optional 4x4 camera-to-world matrix (or a file holding one, e.g.
                ScanNet's ``pose.txt``) for world-frame points.
            mode: ``depth``, ``rgb`` or ``both`` (default: the model's).
            depth_scale: metres per stored unit (default 0.001 for integers, 1 for floats).
            settings: override the mask generator settings for this call.
            voxel_size: point-cloud voxel size in metres (default: the model's; 0 = off).
            progress: where to report the slow stages and, when it has ``note(text)``,
                the lines to say before them (``zoo run`` hands the core's
                :class:`zoo.progress.StageBars`; default: silent).

        ``result.extra["notes"]`` holds what the call had to say: a slow-settings hint on
        CPU, thresholds relaxed for test mode, why there are 0 masks
        (:mod:`zoo_depthsam.notes`).
        """
        from .notes import relaxed_note, slow_hint, zero_masks_note

        stages = progress or Silent()
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        m = check_mode(mode or self.mode)
        vocab = choose_vocabulary(vocabulary, classes)
        k = check_intrinsics(intrinsics) if intrinsics is not None else None
        if isinstance(pose, (str, os.PathLike)):
            from zoo.io.depth import load_pose

            pose = load_pose(pose)
        pose_m = check_pose(pose) if pose is not None else None
        img, d, valid = self.load_inputs(image, depth, depth_scale)
        hw = img.shape[:2]
        timings["load"] = time.perf_counter() - t0

        sources = ("depth", "rgb") if m == "both" else (m,)
        gen = self.generator_record(settings)
        device = str(getattr(self, "device", "cpu"))
        notes = [
            n
            for n in (
                slow_hint(self, device, hw[0] * hw[1], len(sources), settings),
                relaxed_note(self, gen.get("test_mode_relaxed", {})),
            )
            if n
        ]
        say: Any = getattr(stages, "note", None)
        if callable(say):
            for n in notes:
                say(n)  # before the slow part, not after it

        t0 = time.perf_counter()
        rendered = self.render(d, valid)
        timings["render"] = time.perf_counter() - t0

        proposals = self.propose(
            img, rendered, valid, sources, settings=settings, timings=timings, progress=stages
        )
        t0 = time.perf_counter()
        ms = self.select(proposals, m, hw)
        timings["merge"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        class_ids, class_scores, dense = self.classify(img, ms.masks, vocab, progress=stages)
        semantic, instance = self.compose(ms.masks, class_ids, hw, dense)
        timings["classify"] = time.perf_counter() - t0

        xyz = rgb = inst = lab = None
        if k is not None:
            t0 = time.perf_counter()
            with stages.stage("3-D labelled points", 1, "cloud") as advance:
                xyz, rgb, inst, lab = self.lift(
                    img, d, valid, k, instance, semantic, pose_m, voxel_size
                )
                advance(1)
            timings["3d"] = time.perf_counter() - t0
        if len(ms) == 0:
            notes.append(zero_masks_note(self, self.weights_random, settings))
        return DepthSamResult(
            masks=ms.masks.astype(bool),
            labels=[vocab[i] for i in class_ids],
            scores=(ms.scores * class_scores).astype(np.float32),
            image_size=(int(hw[0]), int(hw[1])),
            provenance=self.provenance(Task.RGBD),
            points_xyz=xyz,
            points_rgb=rgb,
            points_instance=inst,
            vocabulary=vocab,
            class_ids=class_ids,
            mask_scores=ms.scores.astype(np.float32),
            class_scores=class_scores.astype(np.float32),
            sources=list(ms.source),
            semantic_map=semantic,
            instance_map=instance,
            rendered_depth=rendered,
            depth_size=(int(d.shape[0]), int(d.shape[1])),
            points_label=lab,
            mode=m,
            pose_applied=pose_m is not None and k is not None,
            generator=gen,
            timings=timings,
            extra={"notes": notes} if notes else {},
        )

    def with_settings(self, **changes: Any) -> GeneratorSettings:
        """A copy of the generator settings with some fields changed (benchmarks, eval)."""
        return replace(self.settings, **changes)
