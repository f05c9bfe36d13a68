"""``zoo-fake``: a tiny family doing every built-in task with numpy only, for core tests.

Core tests (run, batch, serve, prompts, options) need a model, not a network: this one
answers in milliseconds, deterministically, and is registered exactly as a third-party
plugin is (a distribution with a ``zoo.plugins`` entry point, written at test time by
``tests/conftest.py``). Masks are brightness thresholds inside each box (or around each
click), so tests can predict them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import numpy as np

from zoo.hookspecs import RegisterFamily, hookimpl
from zoo.model import ZooModel
from zoo.options import Options, option
from zoo.specs import FamilySpec, VariantSpec

ZOO_PLUGIN_API = 3
CARD = Path(__file__).with_name("zoo_fake.md")


class FakeOptions(Options):
    threshold: int = option(100, help="brightness threshold (loader)", loader=True, ge=0, le=255)
    image_size: int | None = option(None, help="accepted and recorded", loader=True, ge=64, le=4096)
    grow: int = option(0, help="dilate masks by this many pixels", ge=0, le=32)
    shape: Literal["box", "blob"] = option("blob", help="blob: bright pixels; box: the box")
    delay: float = option(0.0, help="seconds to sleep per call (a slow model)", ge=0, le=600)


class FakeModel(ZooModel):
    tasks = ("promptable", "amodal", "shadow", "rgbd", "video")
    image_state_attrs = ("_gray",)

    def __init__(self, threshold: int, image_size: int | None) -> None:
        self.threshold = threshold
        self.image_size = image_size
        self._gray: np.ndarray | None = None
        self.encoder_calls = 0

    @classmethod
    def create(
        cls, ctx: Any, threshold: int = 100, image_size: int | None = None, **config: Any
    ) -> FakeModel:
        return cls(threshold, image_size)

    def modules(self) -> list[Any]:
        return []

    # ------------------------------------------------------------------ helpers
    def set_image(self, image: Any) -> None:
        from zoo.io.images import load_image

        self._gray = load_image(image).mean(axis=2)
        self.encoder_calls += 1

    def _masks(self, boxes: np.ndarray, grow: int = 0, shape: str = "blob") -> np.ndarray:
        assert self._gray is not None
        h, w = self._gray.shape
        out = np.zeros((len(boxes), h, w), bool)
        for i, (x1, y1, x2, y2) in enumerate(np.asarray(boxes, float)):
            a, b = round(float(y1)), round(float(y2))
            c, d = round(float(x1)), round(float(x2))
            a, c = max(0, a - grow), max(0, c - grow)
            b, d = min(h, b + grow), min(w, d + grow)
            if shape == "box":
                out[i, a:b, c:d] = True
            else:
                out[i, a:b, c:d] = self._gray[a:b, c:d] > self.threshold
        return out

    def _boxes(self, prompts: Any, h: int, w: int) -> np.ndarray:
        boxes = []
        for o in prompts:
            if o.box is not None:
                boxes.append(o.box)
            elif o.points:
                x, y = o.points[0]
                boxes.append((x - 8, y - 8, x + 8, y + 8))
            else:
                ys, xs = np.nonzero(np.asarray(o.mask) > 0)
                boxes.append((xs.min(), ys.min(), xs.max() + 1, ys.max() + 1))
        return np.array(boxes, float).reshape(-1, 4)

    # ------------------------------------------------------------------ tasks
    def segment(
        self,
        image: Any = None,
        prompts: Any = None,
        *,
        multimask: bool = False,
        grow: int = 0,
        shape: str = "blob",
        delay: float = 0.0,
    ) -> Any:
        import time

        time.sleep(delay)
        from zoo.prompts import as_prompts
        from zoo.results import SegmentationResult

        if image is not None:
            self.set_image(image)
        assert self._gray is not None
        h, w = self._gray.shape
        p, _ = as_prompts(prompts).fit(h, w)
        masks = self._masks(self._boxes(p, h, w), grow, shape)
        return SegmentationResult(
            masks=masks,
            scores=np.full(len(masks), 0.5 if multimask else 0.9, np.float32),
            image_size=(h, w),
            provenance=self.provenance("promptable"),
            prompts=p,
        )

    def segment_amodal(self, image: Any, boxes: Any, *, scores: Any = None, grow: int = 0) -> Any:
        from zoo.prompts import Prompts
        from zoo.results import AmodalInstance, AmodalResult

        self.set_image(image)
        assert self._gray is not None
        h, w = self._gray.shape
        p, _ = Prompts.build(boxes=np.asarray(boxes, float)).fit(h, w)
        arr = p.boxes
        masks = self._masks(arr, grow, "box")
        det = list(scores) if scores is not None else [1.0] * len(masks)
        insts = [
            AmodalInstance(
                amodal_mask=m,
                score=0.8 * float(s),
                box=tuple(float(v) for v in b),
                pred_iou=0.8,
                det_score=None if scores is None else float(s),
            )
            for m, b, s in zip(masks, arr, det, strict=True)
        ]
        return AmodalResult(
            instances=insts, image_size=(h, w), provenance=self.provenance("amodal")
        )

    def segment_shadows(self, image: Any, prompts: Any, *, multimask: bool = False) -> Any:
        from zoo.prompts import as_shadow_prompts, fit_shadow_prompts
        from zoo.results import ShadowInstance, ShadowResult

        self.set_image(image)
        assert self._gray is not None
        h, w = self._gray.shape
        pairs, _ = fit_shadow_prompts(as_shadow_prompts(prompts), h, w)
        insts = []
        for i, pair in enumerate(pairs):
            obj = self._masks(self._boxes([pair.object], h, w))[0] if pair.object else None
            sh = self._masks(self._boxes([pair.shadow], h, w), 0, "box")[0] if pair.shadow else None
            insts.append(
                ShadowInstance(
                    association_id=i + 1,
                    object_mask=obj,
                    shadow_mask=sh,
                    object_score=None if obj is None else 0.7,
                    shadow_score=None if sh is None else 0.6,
                )
            )
        return ShadowResult(
            instances=insts, image_size=(h, w), provenance=self.provenance("shadow")
        )

    def segment_rgbd(
        self, image: Any, depth: Any, intrinsics: Any = None, vocabulary: Any = None
    ) -> Any:
        from zoo.errors import InputError
        from zoo.io.depth import load_depth
        from zoo.results import RGBDResult

        self.set_image(image)
        assert self._gray is not None
        h, w = self._gray.shape
        d = depth if isinstance(depth, np.ndarray) else load_depth(Path(str(depth)))[0]
        if not np.isfinite(d).any() or not (d > 0).any():
            raise InputError("the depth map has no valid pixel; check the file and its scale")
        vocab = list(vocabulary) if isinstance(vocabulary, (list, tuple)) else ["near", "far"]
        near = (d > 0) & (d < np.median(d[d > 0]))
        masks = np.stack([near, (d > 0) & ~near])
        return RGBDResult(
            masks=masks,
            labels=[vocab[0], vocab[-1]],
            scores=np.array([0.9, 0.8], np.float32),
            image_size=(h, w),
            provenance=self.provenance("rgbd"),
        )

    def track(self, frames: Any, prompts: Any, *, prompt_frame: int = 0) -> Iterator[Any]:
        from zoo.errors import InputError
        from zoo.io.frames import open_frames
        from zoo.prompts import as_prompts
        from zoo.results import VideoFrameResult

        source = frames if isinstance(frames, list) else open_frames(Path(str(frames)))
        if len(source) == 0:
            raise InputError("the video has no frames")
        p = as_prompts(prompts)
        for i in range(len(source)):
            frame = source[i]
            self.set_image(frame)
            assert self._gray is not None
            h, w = self._gray.shape
            boxes = self._boxes(p, h, w)
            masks = self._masks(boxes, 0, "box")
            ids = [o.object_id if o.object_id is not None else k + 1 for k, o in enumerate(p)]
            yield VideoFrameResult(
                frame_index=i,
                frame_name=f"{i:05d}",
                masks=dict(zip(ids, masks, strict=True)),
                scores=dict.fromkeys(ids, 0.9),
                image_size=(h, w),
                provenance=self.provenance("video"),
            )


@hookimpl
def zoo_register_families(register: RegisterFamily) -> None:
    register(
        FamilySpec(
            name="zoo-fake",
            tasks=["promptable", "amodal", "shadow", "rgbd", "video"],
            loader="zoo_fake:FakeModel",
            card=str(CARD),
            default_tag="v1",
            description="a numpy stand-in for core tests",
            requires_weights=False,
            options=FakeOptions,
            variants=[
                VariantSpec(family="zoo-fake", tag="v1", config={"threshold": 100}),
                VariantSpec(family="zoo-fake", tag="dark", config={"threshold": 20}),
            ],
            license="Apache-2.0",
        )
    )
