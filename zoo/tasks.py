"""Task interfaces: what a model promises, and the pydantic schemas of its inputs and outputs.

A family declares the tasks it implements (in its card and its ``FamilySpec``); the CLI,
the conformance kit and user code only ever talk to a model through these interfaces, so a
new method plugs in without the core knowing anything about it.

Coordinates are always pixels of the *input image* (x right, y down), boxes are
``x1, y1, x2, y2``. Every validation failure raises :class:`zoo.errors.InputError` naming
the offending field, because these schemas are the first thing user input meets.

This module imports numpy and pydantic only (no torch): ``zoo list`` must stay cheap.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from zoo.errors import InputError
from zoo.specs import Task  # defined there so registration never imports numpy

# --------------------------------------------------------------------------- prompts


def _finite(values: Sequence[float], what: str) -> None:
    for v in values:
        if not math.isfinite(float(v)):
            raise ValueError(f"{what} contains a non-finite value ({v}); use plain numbers")


class ObjectPrompt(BaseModel):
    """The prompt for one object: any mix of a box, clicks and a low-res mask.

    One object prompt yields one mask (or one amodal mask, one track...). Several boxes
    are several objects, so they are several ``ObjectPrompt``s and go through the decoder
    as one batch.
    """

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    box: tuple[float, float, float, float] | None = None
    points: list[tuple[float, float]] | None = None
    labels: list[int] | None = None
    mask: np.ndarray | None = Field(default=None, description="HxW bool/float mask prompt")
    object_id: int | None = None

    @field_validator("box")
    @classmethod
    def _box_ok(cls, box: tuple[float, float, float, float] | None) -> Any:
        if box is None:
            return box
        _finite(box, "box")
        x1, y1, x2, y2 = box
        if x2 <= x1 or y2 <= y1:
            raise ValueError(
                f"box ({x1:g},{y1:g},{x2:g},{y2:g}) has x2<=x1 or y2<=y1; "
                "write boxes as x1,y1,x2,y2"
            )
        return box

    @field_validator("points")
    @classmethod
    def _points_ok(cls, pts: list[tuple[float, float]] | None) -> Any:
        if pts is None:
            return pts
        if len(pts) == 0:
            raise ValueError("points is empty; give at least one x,y point or omit it")
        for p in pts:
            _finite(p, "points")
        return pts

    @field_validator("labels")
    @classmethod
    def _labels_ok(cls, labels: list[int] | None) -> Any:
        if labels is None:
            return labels
        bad = [lab for lab in labels if lab not in (0, 1)]
        if bad:
            raise ValueError(f"labels must be 1 (foreground) or 0 (background), got {bad[0]}")
        return labels

    @model_validator(mode="after")
    def _consistent(self) -> ObjectPrompt:
        if self.points is not None and self.labels is None:
            raise ValueError(
                f"{len(self.points)} points were given without labels; add labels (1 per point)"
            )
        if self.labels is not None and self.points is None:
            raise ValueError("labels were given without points; add points or drop labels")
        if (
            self.points is not None
            and self.labels is not None
            and len(self.points) != len(self.labels)
        ):
            raise ValueError(
                f"{len(self.points)} points but {len(self.labels)} labels; give one label per point"
            )
        if self.box is None and self.points is None and self.mask is None:
            raise ValueError("empty prompt: give a box, points with labels, or a mask")
        return self

    def check_inside(self, height: int, width: int, *, where: str = "") -> None:
        """Reject prompts outside the image: almost always swapped x/y or the wrong image."""
        tag = f"{where} " if where else ""
        if self.box is not None:
            x1, y1, x2, y2 = self.box
            if x1 < 0 or y1 < 0 or x2 > width or y2 > height:
                raise InputError(
                    f"{tag}box ({x1:g},{y1:g},{x2:g},{y2:g}) lies outside the {width}x{height} "
                    "image; boxes are x1,y1,x2,y2 in pixels of this image"
                )
        for x, y in self.points or []:
            if not (0 <= x <= width and 0 <= y <= height):
                raise InputError(
                    f"{tag}point ({x:g},{y:g}) lies outside the {width}x{height} image; "
                    "points are x,y in pixels"
                )
        if self.mask is not None and self.mask.ndim != 2:
            raise InputError(f"{tag}mask prompt must be a 2-D HxW array, got {self.mask.shape}")


def _raise_input_error(exc: ValidationError, what: str) -> None:
    err = exc.errors()[0]
    loc = ".".join(str(p) for p in err.get("loc", ())) or what
    msg = str(err.get("msg", "invalid value")).removeprefix("Value error, ")
    raise InputError(f"bad {what} ({loc}): {msg}") from None


class Prompts(BaseModel):
    """A batch of object prompts for one image (or one video's prompt frame)."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    objects: list[ObjectPrompt]

    @field_validator("objects")
    @classmethod
    def _non_empty(cls, objs: list[ObjectPrompt]) -> list[ObjectPrompt]:
        if not objs:
            raise ValueError("empty prompt: give at least one box, point or mask")
        return objs

    def __len__(self) -> int:
        return len(self.objects)

    def __iter__(self) -> Iterator[ObjectPrompt]:  # type: ignore[override]
        return iter(self.objects)

    @classmethod
    def build(
        cls,
        boxes: Sequence[Sequence[float]] | np.ndarray | None = None,
        points: Sequence[Sequence[float]] | np.ndarray | None = None,
        labels: Sequence[int] | np.ndarray | None = None,
    ) -> Prompts:
        """Friendly constructor: N boxes are N objects; points+labels are one object.

        When both are given with exactly one box, the points refine that box (SAM's
        box-plus-clicks mode); with several boxes and points that is ambiguous, so we refuse.
        """
        try:
            box_list = (
                [tuple(float(v) for v in b) for b in np.asarray(boxes, dtype=float)]
                if (boxes is not None and len(boxes) > 0)
                else []
            )
            for b in box_list:
                if len(b) != 4:
                    raise InputError(f"a box needs 4 numbers x1,y1,x2,y2, got {len(b)}")
            pts = None
            if points is not None and len(points) > 0:
                arr = np.asarray(points, dtype=float)
                if arr.ndim != 2 or arr.shape[1] != 2:
                    raise InputError(f"points must be x,y pairs, got shape {arr.shape}")
                pts = [(float(x), float(y)) for x, y in arr]
            labs = None if labels is None or len(labels) == 0 else [int(v) for v in labels]
            if pts is None and labs is not None:
                raise InputError("labels were given without points; add --points or drop --labels")
            if pts is not None and box_list and len(box_list) > 1:
                raise InputError(
                    "points with several boxes is ambiguous; use a --prompts JSON file with one "
                    "object per entry"
                )
            objects: list[ObjectPrompt] = []
            if box_list and pts is not None:
                objects.append(ObjectPrompt(box=box_list[0], points=pts, labels=labs))  # type: ignore[arg-type]
            else:
                objects.extend(ObjectPrompt(box=b) for b in box_list)  # type: ignore[arg-type]
                if pts is not None:
                    objects.append(ObjectPrompt(points=pts, labels=labs))
            return cls(objects=objects)
        except ValidationError as exc:
            _raise_input_error(exc, "prompt")
            raise  # pragma: no cover - _raise_input_error always raises

    @classmethod
    def from_json(cls, data: Any) -> Prompts:
        """Parse a ``--prompts FILE.json`` payload: a list of objects, or {"objects": [...]}."""
        if isinstance(data, dict) and "objects" in data:
            data = data["objects"]
        if isinstance(data, dict):
            data = [data]
        if not isinstance(data, list):
            raise InputError(
                'prompts JSON must be a list like [{"box": [x1,y1,x2,y2]}, '
                '{"points": [[x,y]], "labels": [1]}]'
            )
        objects = []
        for i, o in enumerate(data):
            if not isinstance(o, dict):
                raise InputError(f'prompts JSON entry {i} must be an object like {{"box": [...]}}')
            try:
                objects.append(ObjectPrompt(**o))
            except ValidationError as exc:
                _raise_input_error(exc, f"prompts JSON entry {i}")
        try:
            return cls(objects=objects)
        except ValidationError as exc:
            _raise_input_error(exc, "prompts JSON")
        raise AssertionError("unreachable")  # pragma: no cover

    def check_inside(self, height: int, width: int) -> None:
        for i, obj in enumerate(self.objects):
            obj.check_inside(height, width, where=f"prompt {i}:")

    @property
    def boxes(self) -> np.ndarray | None:
        """All boxes as Nx4 float32 when every object is a plain box (the batched fast path)."""
        if all(o.box is not None for o in self.objects):
            return np.array([o.box for o in self.objects], dtype=np.float32)
        return None


def as_prompts(prompts: Prompts | ObjectPrompt | dict[str, Any] | list[Any]) -> Prompts:
    """Accept the forms users naturally write in Python and normalise them."""
    if isinstance(prompts, Prompts):
        return prompts
    if isinstance(prompts, ObjectPrompt):
        return Prompts(objects=[prompts])
    if isinstance(prompts, dict) and set(prompts) <= {"boxes", "points", "labels"}:
        return Prompts.build(**prompts)
    return Prompts.from_json(prompts)


class ShadowPrompt(BaseModel):
    """One object-and-shadow instance: a prompt for the object, for its shadow, or both."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    object: ObjectPrompt | None = None
    shadow: ObjectPrompt | None = None

    @model_validator(mode="after")
    def _some(self) -> ShadowPrompt:
        if self.object is None and self.shadow is None:
            raise ValueError("an instance needs an object prompt, a shadow prompt, or both")
        return self


def as_shadow_prompts(prompts: Any) -> list[ShadowPrompt]:
    """Accept ``[{"object": {"box": [...]}, "shadow": {"box": [...]}}, ...]`` or ShadowPrompts."""
    if isinstance(prompts, ShadowPrompt):
        return [prompts]
    if not isinstance(prompts, (list, tuple)) or not prompts:
        raise InputError("empty prompt: give at least one object or shadow prompt")
    out = []
    try:
        for p in prompts:
            out.append(p if isinstance(p, ShadowPrompt) else ShadowPrompt(**p))
    except ValidationError as exc:
        _raise_input_error(exc, "shadow prompt")
    return out


# --------------------------------------------------------------------------- results


class Provenance(BaseModel):
    """Which model and which weights produced a result; written into every output file.

    ``weights="random"`` outputs are labelled so nobody mistakes a test run for a real one.
    """

    model: str
    weights: str
    task: Task
    zoo_version: str = ""

    @property
    def is_random(self) -> bool:
        return self.weights == "random"

    @property
    def label(self) -> str:
        if self.is_random:
            return f"{self.model} - weights=random (TEST MODE, not a real prediction)"
        return f"{self.model} ({self.weights})"


class _ArrayModel(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True, protected_namespaces=())


class SegmentationResult(_ArrayModel):
    """Masks for one image: ``masks`` N x H x W bool, one per object prompt (or per proposal)."""

    masks: np.ndarray
    scores: np.ndarray
    low_res_logits: np.ndarray | None = None
    image_size: tuple[int, int]
    provenance: Provenance
    prompts: Prompts | None = None
    category_ids: list[int] | None = None
    extra: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _shapes(self) -> SegmentationResult:
        h, w = self.image_size
        if self.masks.ndim != 3 or self.masks.shape[1:] != (h, w):
            raise ValueError(f"masks must be N x {h} x {w}, got {self.masks.shape}")
        if self.masks.dtype != np.bool_:
            raise ValueError(f"masks must be bool, got {self.masks.dtype}")
        if self.scores.shape != (self.masks.shape[0],):
            raise ValueError(f"scores must have shape ({self.masks.shape[0]},)")
        return self

    def __len__(self) -> int:
        return int(self.masks.shape[0])

    def to_coco(
        self, image_id: int | str = 0, file_name: str | None = None
    ) -> list[dict[str, Any]]:
        """COCO results entries (RLE masks) that pycocotools' ``loadRes`` accepts."""
        from zoo.io.masks import coco_results

        extra = {"model": self.provenance.model, "weights": self.provenance.weights}
        if file_name:
            extra["file_name"] = file_name
        return coco_results(
            self.masks, self.scores, image_id=image_id, category_ids=self.category_ids, extra=extra
        )

    def overlay(self, image: Any) -> np.ndarray:
        """The image with each mask tinted and outlined, prompts drawn, provenance captioned."""
        from zoo.io.images import load_image
        from zoo.io.overlay import overlay_masks

        img = load_image(image)
        boxes = None
        points = labels = None
        if self.prompts is not None:
            bx = [o.box for o in self.prompts.objects if o.box is not None]
            boxes = np.array(bx, dtype=float) if bx else None
            pts = [p for o in self.prompts.objects for p in (o.points or [])]
            labs = [lab for o in self.prompts.objects for lab in (o.labels or [])]
            if pts:
                points, labels = np.array(pts, dtype=float), np.array(labs)
        return overlay_masks(
            img,
            self.masks,
            boxes=boxes,
            points=points,
            labels=labels,
            label_text=self.provenance.label if self.provenance.is_random else None,
        )

    def save(
        self,
        out_dir: str | Path,
        image: Any = None,
        formats: Sequence[str] = ("png", "coco"),
        stem: str = "mask",
        image_id: int | str = 0,
    ) -> list[Path]:
        """Write masks (PNG per mask), a COCO results JSON and, given the image, an overlay.

        All files go through a temp folder and appear together, so a failure leaves nothing
        half-written in ``out_dir``.
        """
        from zoo.io.atomic import atomic_output_dir
        from zoo.io.images import save_png
        from zoo.io.masks import write_json

        written: list[Path] = []
        with atomic_output_dir(out_dir) as tmp:
            tmp = Path(tmp)
            if "png" in formats:
                text = {"zoo:model": self.provenance.model, "zoo:weights": self.provenance.weights}
                if self.provenance.is_random:
                    text["zoo:note"] = "weights=random: TEST MODE, not a real prediction"
                for i, m in enumerate(self.masks):
                    p = tmp / f"{stem}_{i:03d}.png"
                    save_png(p, m.astype(np.uint8) * 255, text=text)
                    written.append(p)
            if "coco" in formats or "json" in formats:
                p = tmp / "results.json"
                write_json(
                    p,
                    {
                        "provenance": self.provenance.model_dump(mode="json"),
                        "image_size": list(self.image_size),
                        "annotations": self.to_coco(image_id=image_id),
                    },
                )
                written.append(p)
            if image is not None:
                p = tmp / "overlay.png"
                save_png(p, self.overlay(image), text={"zoo:weights": self.provenance.weights})
                written.append(p)
        out = Path(out_dir)
        return [out / p.name for p in written]


class AmodalInstance(_ArrayModel):
    amodal_mask: np.ndarray
    visible_mask: np.ndarray | None = None
    score: float
    box: tuple[float, float, float, float]
    category_id: int | None = None


class AmodalResult(_ArrayModel):
    instances: list[AmodalInstance]
    image_size: tuple[int, int]
    provenance: Provenance


class ShadowInstance(_ArrayModel):
    association_id: int
    object_mask: np.ndarray | None
    shadow_mask: np.ndarray | None
    object_score: float | None = None
    shadow_score: float | None = None


class ShadowResult(_ArrayModel):
    instances: list[ShadowInstance]
    image_size: tuple[int, int]
    provenance: Provenance


class RGBDResult(_ArrayModel):
    masks: np.ndarray
    labels: list[str]
    scores: np.ndarray
    image_size: tuple[int, int]
    provenance: Provenance
    points_xyz: np.ndarray | None = None
    points_rgb: np.ndarray | None = None
    points_instance: np.ndarray | None = None


class VideoFrameResult(_ArrayModel):
    """One frame of a track: ``masks`` maps object id -> H x W bool mask."""

    frame_index: int
    frame_name: str
    masks: dict[int, np.ndarray]
    scores: dict[int, float] = Field(default_factory=dict)
    provenance: Provenance


# --------------------------------------------------------------------------- interfaces


@runtime_checkable
class PromptableModel(Protocol):
    def set_image(self, image: Any) -> None: ...

    def segment(
        self, image: Any, prompts: Any, *, multimask: bool = False
    ) -> SegmentationResult: ...


@runtime_checkable
class AmodalModel(Protocol):
    def segment_amodal(self, image: Any, boxes: Any) -> AmodalResult: ...


@runtime_checkable
class ShadowModel(Protocol):
    def segment_shadows(self, image: Any, prompts: Any) -> ShadowResult: ...


@runtime_checkable
class RGBDModel(Protocol):
    def segment_rgbd(
        self, image: Any, depth: Any, intrinsics: Any = None, vocabulary: Any = None
    ) -> RGBDResult: ...


@runtime_checkable
class VideoModel(Protocol):
    def track(self, frames: Any, prompts: Any) -> Iterator[VideoFrameResult]: ...


@runtime_checkable
class AdaptModel(Protocol):
    def adapt(self, dataset: Any, prompt_kind: str, config: Any) -> Any: ...


TASK_PROTOCOLS: dict[Task, type] = {
    Task.PROMPTABLE: PromptableModel,
    Task.AMODAL: AmodalModel,
    Task.SHADOW: ShadowModel,
    Task.RGBD: RGBDModel,
    Task.VIDEO: VideoModel,
    Task.ADAPT: AdaptModel,
}
