"""Prompt schemas: what a user asks a model to segment, validated where input first arrives.

Coordinates are always pixels of the *input image* (x right, y down), boxes are
``x1, y1, x2, y2``. Every validation failure raises :class:`zoo.errors.InputError` naming
the offending field. Prompts round-trip through JSON (:meth:`Prompts.to_json` /
:meth:`Prompts.from_json`, mask prompts as COCO RLE), which is how manifests, the batch
engine and the HTTP server carry them.

This module imports numpy and pydantic only (no torch).
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from zoo.errors import InputError

#: Clicks on one object: SAM needs a handful; thousands only hold a model busy for minutes.
MAX_POINTS = 256


def _finite(values: Sequence[float], what: str) -> None:
    for v in values:
        if not math.isfinite(float(v)):
            raise ValueError(f"{what} contains a non-finite value ({v}); use plain numbers")


def _valid_box(box: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
    """The one box rule of every prompt kind (objects, exemplars): finite, x2>x1, y2>y1."""
    _finite(box, "box")
    x1, y1, x2, y2 = box
    if x2 <= x1 or y2 <= y1:
        raise ValueError(
            f"box ({x1:g},{y1:g},{x2:g},{y2:g}) has x2<=x1 or y2<=y1; write boxes as x1,y1,x2,y2"
        )
    return box


def _check_box_touches(box: Sequence[float], height: int, width: int, what: str) -> None:
    """Refuse a box entirely outside the image (swapped x/y, the wrong image); one that only
    crosses the edge is clipped by :func:`_clip_box`."""
    x1, y1, x2, y2 = box
    if x2 <= 0 or y2 <= 0 or x1 >= width or y1 >= height:
        raise InputError(
            f"{what} ({x1:g},{y1:g},{x2:g},{y2:g}) lies entirely outside the {width}x{height} "
            "image; boxes are x1,y1,x2,y2 in pixels of this image"
        )


def _clip_box(box: Sequence[float], height: int, width: int) -> tuple[float, float, float, float]:
    """A box cut to the image, as SAM, sam2 and ultralytics do."""
    x1, y1, x2, y2 = box
    return (max(0.0, x1), max(0.0, y1), min(float(width), x2), min(float(height), y2))


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
        return box if box is None else _valid_box(box)

    @field_validator("points")
    @classmethod
    def _points_ok(cls, pts: list[tuple[float, float]] | None) -> Any:
        if pts is None:
            return pts
        if len(pts) == 0:
            raise ValueError("points is empty; give at least one x,y point or omit it")
        if len(pts) > MAX_POINTS:
            raise ValueError(
                f"{len(pts)} points on one object; at most {MAX_POINTS} (a few clicks are what "
                "the model needs)"
            )
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

    @model_validator(mode="before")
    @classmethod
    def _positive_by_default(cls, data: Any) -> Any:
        """Clicks without labels are foreground clicks (as in SAM's demos and ultralytics)."""
        if isinstance(data, dict) and data.get("points") is not None and data.get("labels") is None:
            try:
                n = len(data["points"])
            except TypeError:
                return data
            data = {**data, "labels": [1] * n}
        return data

    @model_validator(mode="after")
    def _consistent(self) -> ObjectPrompt:
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
        """Reject what cannot be meant for this image: a box entirely outside it, a point
        outside it (almost always swapped x/y or the wrong image), a mask that is not the
        image's size.

        A box that only crosses the edge is fine here; :meth:`clipped` cuts it to the image.
        """
        tag = f"{where} " if where else ""
        if self.box is not None:
            _check_box_touches(self.box, height, width, f"{tag}box")
        for x, y in self.points or []:
            if not (0 <= x <= width and 0 <= y <= height):
                raise InputError(
                    f"{tag}point ({x:g},{y:g}) lies outside the {width}x{height} image; "
                    "points are x,y in pixels"
                )
        if self.mask is not None and self.mask.ndim != 2:
            raise InputError(f"{tag}mask prompt must be a 2-D HxW array, got {self.mask.shape}")
        if self.mask is not None and self.mask.shape != (height, width):
            raise InputError(
                f"{tag}mask prompt is {self.mask.shape[1]}x{self.mask.shape[0]} but the image "
                f"is {width}x{height}; give a mask the size of the image"
            )

    def clipped(self, height: int, width: int) -> tuple[ObjectPrompt, bool]:
        """This prompt with its box cut to the image (as SAM, sam2 and ultralytics do), and
        whether anything was cut. Call :meth:`check_inside` first."""
        if self.box is None:
            return self, False
        box = _clip_box(self.box, height, width)
        if box == tuple(self.box):
            return self, False
        return self.model_copy(update={"box": box}), True


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
            if isinstance(o.get("mask"), dict):  # a mask prompt carried as COCO RLE
                from zoo.io.masks import decode_rle

                try:
                    o = {**o, "mask": decode_rle(o["mask"])}
                except Exception as exc:
                    raise InputError(
                        f"prompts JSON entry {i}: mask is not a COCO RLE ({exc}); give "
                        '{"size": [h, w], "counts": "..."}'
                    ) from None
            try:
                objects.append(ObjectPrompt(**o))
            except ValidationError as exc:
                _raise_input_error(exc, f"prompts JSON entry {i}")
        try:
            return cls(objects=objects)
        except ValidationError as exc:
            _raise_input_error(exc, "prompts JSON")
        raise AssertionError("unreachable")  # pragma: no cover

    def to_json(self) -> list[dict[str, Any]]:
        """JSON-safe list that :meth:`from_json` reads back exactly (masks as COCO RLE)."""
        out = []
        for o in self.objects:
            d: dict[str, Any] = {}
            if o.box is not None:
                d["box"] = [float(v) for v in o.box]
            if o.points is not None:
                d["points"] = [[float(x), float(y)] for x, y in o.points]
                d["labels"] = [int(v) for v in o.labels or []]
            if o.mask is not None:
                from zoo.io.masks import encode_rle

                d["mask"] = encode_rle(np.asarray(o.mask) > 0)
            if o.object_id is not None:
                d["object_id"] = int(o.object_id)
            out.append(d)
        return out

    def check_inside(self, height: int, width: int) -> None:
        for i, obj in enumerate(self.objects):
            obj.check_inside(height, width, where=f"prompt {i}:")

    def fit(self, height: int, width: int) -> tuple[Prompts, list[str]]:
        """Check against the image and clip boxes that cross its edge: the one rule every
        task and surface applies. Returns the prompts to use and the note to show once."""
        self.check_inside(height, width)
        out: list[ObjectPrompt] = []
        cut = 0
        for obj in self.objects:
            o, changed = obj.clipped(height, width)
            out.append(o)
            cut += changed
        if not cut:
            return self, []
        note = f"{cut} box{'es were' if cut > 1 else ' was'} clipped to the {width}x{height} image"
        return Prompts(objects=out), [note]

    def shape_groups(self) -> dict[tuple[bool, int, bool], list[int]]:
        """Indices of the objects that can share one decoder call: same kinds of prompt
        (box or not, number of points, mask or not), in order of first appearance."""
        groups: dict[tuple[bool, int, bool], list[int]] = {}
        for i, o in enumerate(self.objects):
            key = (o.box is not None, len(o.points or []), o.mask is not None)
            groups.setdefault(key, []).append(i)
        return groups

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
    """The one reader of shadow prompts (Python, ``--prompts FILE``, manifests, HTTP).

    ``[{"object": {"box": [...]}, "shadow": {"points": [[x, y]], "labels": [1]}}, ...]``
    (or ``{"instances": [...]}``, or ``ShadowPrompt`` objects); each side is read like any
    object prompt (:meth:`Prompts.from_json`: RLE mask prompts, the same messages).
    """
    if isinstance(prompts, ShadowPrompt):
        return [prompts]
    if isinstance(prompts, dict) and "instances" in prompts:
        prompts = prompts["instances"]
    if isinstance(prompts, dict):
        prompts = [prompts]
    if not isinstance(prompts, (list, tuple)) or not prompts:
        raise InputError(
            'empty prompt: give at least one instance like {"object": {"box": [x1,y1,x2,y2]}, '
            '"shadow": {"box": [...]}}'
        )
    out = []
    for i, inst in enumerate(prompts):
        if isinstance(inst, ShadowPrompt):
            out.append(inst)
            continue
        if not isinstance(inst, dict):
            raise InputError(f'instance {i} must be an object like {{"object": {{"box": [...]}}}}')
        unknown = set(inst) - {"object", "shadow"}
        if unknown:
            raise InputError(
                f"instance {i} has unknown key {sorted(unknown)[0]!r}; use 'object' and 'shadow'"
            )
        sides: dict[str, ObjectPrompt] = {}
        for role in ("object", "shadow"):
            side = inst.get(role)
            if side is None:
                continue
            if isinstance(side, ObjectPrompt):
                sides[role] = side
                continue
            try:
                sides[role] = Prompts.from_json([side]).objects[0]
            except InputError as exc:
                raise InputError(f"instance {i} {role}: {exc}") from None
        if not sides:
            raise InputError(f"instance {i} needs an object prompt, a shadow prompt, or both")
        out.append(ShadowPrompt(**sides))
    return out


def shadow_prompts_from_boxes(
    objects: Sequence[Sequence[float]] | None, shadows: Sequence[Sequence[float]] | None
) -> list[ShadowPrompt]:
    """``--objects``/``--shadows`` box lists (or manifest columns) paired by order: object
    ``i`` with shadow ``i``. One side alone gives one-sided instances."""
    if objects is None and shadows is None:
        raise InputError(
            'no prompt given; add --objects "x1,y1,x2,y2;..." and/or --shadows "x1,y1,x2,y2;..." '
            "(paired by order) or --prompts FILE"
        )
    if objects is not None and shadows is not None and len(objects) != len(shadows):
        raise InputError(
            f"got {len(objects)} --objects boxes but {len(shadows)} --shadows boxes; they pair "
            "by order, so give one shadow per object (or use --prompts FILE for one-sided "
            "instances)"
        )
    n = len(objects if objects is not None else shadows or [])
    pairs = []
    for i in range(n):
        inst: dict[str, Any] = {}
        if objects is not None:
            inst["object"] = {"box": list(objects[i])}
        if shadows is not None:
            inst["shadow"] = {"box": list(shadows[i])}
        pairs.append(inst)
    return as_shadow_prompts(pairs)


def fit_shadow_prompts(
    prompts: list[ShadowPrompt], height: int, width: int
) -> tuple[list[ShadowPrompt], list[str]]:
    """:meth:`Prompts.fit` for shadow instances: check each side, clip boxes to the image."""
    out = []
    cut = 0
    for i, inst in enumerate(prompts):
        sides: dict[str, ObjectPrompt] = {}
        for role in ("object", "shadow"):
            side = getattr(inst, role)
            if side is None:
                continue
            side.check_inside(height, width, where=f"instance {i} {role}:")
            side, changed = side.clipped(height, width)
            cut += changed
            sides[role] = side
        out.append(ShadowPrompt(**sides))
    notes = [f"{cut} box{'es were' if cut > 1 else ' was'} clipped to the {width}x{height} image"]
    return out, notes if cut else []


# --------------------------------------------------------------------------- concepts


#: The text SAM 3 pairs with exemplar boxes when no noun phrase is given (upstream's choice).
VISUAL_CONCEPT = "visual"
#: Bounds of one concept call: each concept is a detector pass, each exemplar a box token.
MAX_CONCEPTS = 32
MAX_EXEMPLARS = 64
#: Characters in one concept text (SAM 3 reads at most 30 tokens of it anyway).
MAX_CONCEPT_CHARS = 200


class Exemplar(BaseModel):
    """A visual example of a concept: a box around one instance (``label`` 1) or around
    something that is *not* an instance (``label`` 0, a negative exemplar).

    ``concept`` says which concept it illustrates (its index or its text); it may be left out
    when the call has a single concept (or none: the exemplars then are the concept).
    """

    model_config = ConfigDict(extra="forbid")

    box: tuple[float, float, float, float]
    label: int = 1
    concept: int | str | None = None

    @field_validator("box")
    @classmethod
    def _box_ok(cls, box: tuple[float, float, float, float]) -> Any:
        return _valid_box(box)

    @field_validator("label")
    @classmethod
    def _label_ok(cls, label: int) -> int:
        if label not in (0, 1):
            raise ValueError(f"label must be 1 (an instance) or 0 (not an instance), got {label}")
        return label


class ConceptPrompts(BaseModel):
    """What to find in an image: ``concepts`` (noun phrases, one category each, in order)
    and ``exemplars`` (boxes, each tied to one concept by its index).

    Built by :func:`as_concept_prompts`, which resolves each exemplar's ``concept`` to an
    index; a call with exemplars and no text gets the single concept ``"visual"``.
    """

    model_config = ConfigDict(extra="forbid")

    concepts: list[str]
    exemplars: list[Exemplar] = Field(default_factory=list)

    @model_validator(mode="after")
    def _resolved(self) -> ConceptPrompts:
        if not self.concepts:
            raise ValueError("give at least one concept (a noun phrase) or an exemplar box")
        for i, ex in enumerate(self.exemplars):
            if not isinstance(ex.concept, int) or not 0 <= ex.concept < len(self.concepts):
                raise ValueError(
                    f"exemplar {i} is not tied to one of the {len(self.concepts)} concepts"
                )
        return self

    def exemplars_of(self, index: int) -> list[Exemplar]:
        """The exemplars of concept ``index``, in the order given."""
        return [e for e in self.exemplars if e.concept == index]

    def check_inside(self, height: int, width: int) -> None:
        """Reject exemplar boxes entirely outside the image (swapped x/y or the wrong image);
        one that only crosses the edge is fine here (:meth:`fit` clips it)."""
        for i, ex in enumerate(self.exemplars):
            _check_box_touches(ex.box, height, width, f"exemplar {i} box")

    def fit(self, height: int, width: int) -> tuple[ConceptPrompts, list[str]]:
        """:meth:`Prompts.fit` for exemplars: check against the image, clip boxes crossing
        its edge (the one rule of every task); returns the prompts and the note to show."""
        self.check_inside(height, width)
        out = []
        cut = 0
        for ex in self.exemplars:
            box = _clip_box(ex.box, height, width)
            changed = box != tuple(ex.box)
            cut += changed
            out.append(ex.model_copy(update={"box": box}) if changed else ex)
        if not cut:
            return self, []
        note = (
            f"{cut} exemplar box{'es were' if cut > 1 else ' was'} clipped to the "
            f"{width}x{height} image"
        )
        return self.model_copy(update={"exemplars": out}), [note]

    def to_json(self) -> dict[str, Any]:
        """JSON-safe form that :func:`as_concept_prompts` reads back exactly."""
        return {
            "concepts": list(self.concepts),
            "exemplars": [
                {"box": [float(v) for v in e.box], "label": int(e.label), "concept": e.concept}
                for e in self.exemplars
            ],
        }


def _concept_list(concepts: Any) -> list[str]:
    if concepts is None:
        return []
    if isinstance(concepts, str):
        items: list[Any] = concepts.split(";")
        if not concepts.strip():
            raise InputError('the concept text is empty; give a noun phrase such as "dog"')
    elif isinstance(concepts, (list, tuple)):
        items = list(concepts)
    else:
        raise InputError(
            f"concepts must be a text or a list of texts, got {type(concepts).__name__}; "
            'e.g. concepts=["dog", "red car"] or "dog;red car"'
        )
    if len(items) > MAX_CONCEPTS:
        raise InputError(
            f"{len(items)} concepts in one call; at most {MAX_CONCEPTS} (split the work)"
        )
    out: list[str] = []
    for i, c in enumerate(items):
        if not isinstance(c, str):
            raise InputError(f"concept {i} is a {type(c).__name__}, not a text; give noun phrases")
        text = " ".join(c.split())
        if not text:
            raise InputError(f'concept {i} is empty; give noun phrases such as "dog;red car"')
        if len(text) > MAX_CONCEPT_CHARS:
            raise InputError(
                f"concept {i} is {len(text)} characters long; at most {MAX_CONCEPT_CHARS} "
                "(a short noun phrase)"
            )
        if text in out:
            raise InputError(f"concept {text!r} is given twice; give each concept once")
        out.append(text)
    return out


def _exemplar_list(exemplars: Any) -> list[Exemplar]:
    if exemplars is None:
        return []
    if isinstance(exemplars, (dict, Exemplar)):
        exemplars = [exemplars]
    if not isinstance(exemplars, (list, tuple)):
        raise InputError(
            'exemplars must be a list like [{"box": [x1, y1, x2, y2], "label": 1}], got '
            f"{type(exemplars).__name__}"
        )
    if len(exemplars) > MAX_EXEMPLARS:
        raise InputError(
            f"{len(exemplars)} exemplars in one call; at most {MAX_EXEMPLARS} (a few examples "
            "of each concept are enough)"
        )
    out = []
    for i, e in enumerate(exemplars):
        if isinstance(e, Exemplar):
            out.append(e)
            continue
        if not isinstance(e, dict):
            raise InputError(f'exemplar {i} must be an object like {{"box": [x1, y1, x2, y2]}}')
        try:
            out.append(Exemplar(**e))
        except ValidationError as exc:
            _raise_input_error(exc, f"exemplar {i}")
    return out


def as_concept_prompts(concepts: Any = None, exemplars: Any = None) -> ConceptPrompts:
    """Normalise what users write: ``"dog;red car"`` or ``["dog", "red car"]``, plus
    ``[{"box": [x1, y1, x2, y2], "label": 1, "concept": "dog"}]``.

    A :class:`ConceptPrompts` passes through unchanged. Every problem is an
    :class:`~zoo.errors.InputError` naming the concept or exemplar at fault.
    """
    if isinstance(concepts, ConceptPrompts):
        if exemplars is not None:
            raise InputError("give exemplars inside the ConceptPrompts, not beside it")
        return concepts
    if isinstance(concepts, dict) and exemplars is None and "concepts" in concepts:
        exemplars = concepts.get("exemplars")
        concepts = concepts["concepts"]
    names = _concept_list(concepts)
    exs = _exemplar_list(exemplars)
    if not names and not exs:
        raise InputError(
            'nothing to find: give a concept (e.g. "dog") or an exemplar box '
            '([{"box": [x1, y1, x2, y2]}])'
        )
    if not names:
        named = [e.concept for e in exs if e.concept not in (None, 0, VISUAL_CONCEPT)]
        if named:
            raise InputError(
                f"an exemplar names concept {named[0]!r}, but no concepts were given; add it "
                "to the concepts or drop the exemplar's concept"
            )
        names = [VISUAL_CONCEPT]
    resolved = []
    for i, e in enumerate(exs):
        c = e.concept
        if c is None:
            if len(names) > 1:
                raise InputError(
                    f"exemplar {i} does not say which of the {len(names)} concepts it shows; "
                    f'add "concept": {names[0]!r} (a concept text or its index)'
                )
            index = 0
        elif isinstance(c, str):
            text = " ".join(c.split())
            if text not in names:
                raise InputError(
                    f"exemplar {i} names concept {c!r}, which is not among the concepts "
                    f"({', '.join(names)})"
                )
            index = names.index(text)
        else:
            if not 0 <= c < len(names):
                raise InputError(
                    f"exemplar {i} names concept index {c}, but there are {len(names)} concepts "
                    f"(0..{len(names) - 1})"
                )
            index = int(c)
        resolved.append(e.model_copy(update={"concept": index}))
    return ConceptPrompts(concepts=names, exemplars=resolved)


# --------------------------------------------------------------------------- wire schemas


class RLEJSON(BaseModel):
    """A COCO run-length encoding: ``{"size": [h, w], "counts": "..."}``."""

    model_config = ConfigDict(extra="forbid")

    size: tuple[int, int]
    counts: str | list[int]


class ObjectPromptJSON(BaseModel):
    """The JSON form of :class:`ObjectPrompt`: what :meth:`Prompts.to_json` writes and
    :meth:`Prompts.from_json` reads (the HTTP API, manifests).

    Types only: the rules (``x2 > x1``, one label per point, inside the image) stay in
    :class:`ObjectPrompt`, which ``from_json`` applies, so the server, the CLI and Python
    report a bad prompt with the same words.
    """

    model_config = ConfigDict(extra="forbid")

    box: tuple[float, float, float, float] | None = Field(
        default=None, description="x1, y1, x2, y2 in pixels of the image"
    )
    points: list[tuple[float, float]] | None = Field(
        default=None,
        max_length=MAX_POINTS,
        description=f"clicks as [x, y] pixels (at most {MAX_POINTS}); labels default to 1",
    )
    labels: list[int] | None = Field(
        default=None, description="one per point: 1 foreground, 0 background"
    )
    mask: RLEJSON | None = Field(default=None, description="a mask prompt as COCO RLE")
    object_id: int | None = None


class BoxesPromptJSON(BaseModel):
    """The short form of many prompts: ``{"boxes": [[x1, y1, x2, y2], ...]}`` (one object
    per box) or ``{"points": [[x, y], ...], "labels": [1, 0]}`` (one object), as in Python's
    ``model.segment(image, {"boxes": ...})``."""

    model_config = ConfigDict(extra="forbid")

    boxes: list[tuple[float, float, float, float]] | None = Field(
        default=None,
        min_length=1,
        max_length=256,
        description="one object per box: x1, y1, x2, y2 pixels",
    )
    points: list[tuple[float, float]] | None = Field(
        default=None, description=f"clicks of one object as [x, y] pixels (at most {MAX_POINTS})"
    )
    labels: list[int] | None = Field(
        default=None, description="one per point: 1 foreground (default), 0 background"
    )


class ShadowPromptJSON(BaseModel):
    """The JSON form of :class:`ShadowPrompt`: an object prompt, a shadow prompt, or both."""

    model_config = ConfigDict(extra="forbid")

    object: ObjectPromptJSON | None = None
    shadow: ObjectPromptJSON | None = None


# --------------------------------------------------------------------------- text grammar
#
# The one grammar for prompts typed on a command line (``zoo run``, ``zoo batch``):
# ``--boxes "x1,y1,x2,y2;x1,y1,x2,y2"``, ``--points "x,y;x,y"``, ``--labels "1,0"``.
# Inside one box or point, commas or whitespace separate numbers; ``;`` separates boxes.
# Digits are never joined: ``"1 0,20,300,400"`` is five numbers, hence an error.

_NUMBER_SPLIT = re.compile(r"[,\s]+")


def _numbers(part: str, what: str, example: str) -> list[float]:
    items = [t for t in _NUMBER_SPLIT.split(part.strip()) if t]
    try:
        return [float(t) for t in items]
    except ValueError:
        raise InputError(f"malformed {what} {part.strip()!r}; write {example}") from None


def _parts(text: str) -> list[str]:
    return [p for p in str(text).split(";") if p.strip()]


def parse_boxes(text: str, flag: str = "--boxes") -> list[list[float]]:
    """``"x1,y1,x2,y2;x1,y1,x2,y2"`` (or ``"x1 y1 x2 y2"``) -> a list of 4-number boxes."""
    example = '"x1,y1,x2,y2;x1,y1,x2,y2"'
    boxes = []
    for part in _parts(text):
        vals = _numbers(part, "box", example)
        if len(vals) != 4:
            raise InputError(
                f"box {part.strip()!r} in {flag} has {len(vals)} numbers; a box is x1,y1,x2,y2 "
                f"(boxes are separated by ';')"
            )
        boxes.append(vals)
    if not boxes:
        raise InputError(f"{flag} is empty; write boxes as {example}")
    return boxes


def parse_points(text: str, flag: str = "--points") -> list[list[float]]:
    """``"x,y;x,y"`` (or ``"x y;x y"``) -> a list of points."""
    pts = []
    for part in _parts(text):
        vals = _numbers(part, "point", '"x,y;x,y"')
        if len(vals) != 2:
            raise InputError(
                f"point {part.strip()!r} in {flag} has {len(vals)} numbers; a point is x,y "
                "(points are separated by ';')"
            )
        pts.append(vals)
    if not pts:
        raise InputError(f'{flag} is empty; write points as "x,y;x,y"')
    return pts


def parse_labels(text: str, flag: str = "--labels") -> list[int]:
    """``"1,0,1"`` (commas, semicolons or spaces) -> ``[1, 0, 1]``."""
    items = [t for t in re.split(r"[,;\s]+", str(text).strip()) if t]
    try:
        return [int(t) for t in items]
    except ValueError:
        raise InputError(f'malformed {flag} {text!r}; write labels as "1,0,1"') from None


def prompts_from_flags(
    boxes: str | None = None,
    points: str | None = None,
    labels: str | None = None,
    prompts_file: str | os.PathLike[str] | None = None,
    *,
    required: bool = True,
) -> Prompts | None:
    """``--boxes/--points/--labels`` or ``--prompts FILE.json`` -> :class:`Prompts`.

    ``--points`` without ``--labels`` are foreground clicks (label 1), as in SAM's demos.
    """
    if prompts_file is not None:
        if boxes or points or labels:
            raise InputError("use either --prompts FILE or --boxes/--points, not both")
        from zoo.io.jsonfiles import read_json

        return as_prompts(read_json(prompts_file, "prompts file", "--prompts"))
    box_list = parse_boxes(boxes) if boxes else None
    pts = parse_points(points) if points else None
    labs = parse_labels(labels) if labels else None
    if pts is None and labs is not None:
        raise InputError('--labels given without --points; add --points "x,y;..."')
    if pts is not None and labs is None:
        labs = [1] * len(pts)
    if box_list is None and pts is None:
        if not required:
            return None
        raise InputError(
            'no prompt given; add --boxes "x1,y1,x2,y2", --points "x,y" (and --labels "1,0") '
            "or --prompts FILE"
        )
    return Prompts.build(boxes=box_list, points=pts, labels=labs)
