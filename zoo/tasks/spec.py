"""What a task is: the unit of behaviour every surface is generic over.

A task (``promptable``, ``amodal``, ``shadow``, ``rgbd``, ``video``, ...) names the model
method it calls, the result it returns, the options it adds to ``zoo run``/``zoo batch``/
``zoo serve`` (``--detections``, ``--objects/--shadows``...), and how its inputs are built
from each surface: the command line (:meth:`TaskSpec.from_cli`), a batch manifest row
(:meth:`TaskSpec.from_row`) and an HTTP request (:meth:`TaskSpec.from_request`), all
three producing the same :class:`TaskInputs` through the same parsers (one prompt grammar,
one detections reader, one shadow-prompt builder). It also says how its results are
written and reported, its HTTP request model, its empty result, and what the conformance
kit feeds it.

The core registers the built-in tasks through the same ``zoo_register_tasks`` hook a
plugin uses (:mod:`zoo.tasks.builtin`), so a third party adds a task without editing
``zoo/`` and gets ``zoo run``, ``zoo batch``, a ``POST /v1/<route>`` endpoint and the
conformance kit for it.

A task module must stay cheap to import (it is imported when the registry is built, also
by ``zoo list``): numpy, results and I/O are imported inside methods.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from zoo.errors import InputError
from zoo.options import Options

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "Annotation",
    "ImageRequest",
    "RunInputs",
    "TaskInputs",
    "TaskResponse",
    "TaskSpec",
    "accepted_kwargs",
]


@dataclass
class RunInputs:
    """The input flags every ``zoo run``/``zoo batch`` shares, as the user typed them.

    Media (``--image``, ``--video``, ``--depth``) and the one prompt grammar
    (``--boxes``, ``--points``, ``--labels``, ``--prompts FILE``); a task reads what it
    needs and refuses what it cannot use.
    """

    image: str | None = None
    video: str | None = None
    depth: str | None = None
    boxes: str | None = None
    points: str | None = None
    labels: str | None = None
    prompts: str | None = None

    def given(self) -> list[str]:
        return [k for k, v in vars(self).items() if v is not None]

    def prompt_flags(self) -> list[str]:
        return [f"--{k}" for k in ("boxes", "points", "labels", "prompts") if getattr(self, k)]


@dataclass
class TaskInputs:
    """One call of a task, built by a surface, run by :meth:`TaskSpec.call`.

    ``image`` (decoded RGB) or ``frames`` (a video path or list) is the first argument of
    the model method, ``args`` the positional arguments after it (the prompts, the boxes,
    the depth map...) and ``kwargs`` its keyword arguments (``scores=``, ``prompt_frame=``);
    ``meta`` what the outputs carry but the model does not take (image id, file name,
    detector categories); ``empty`` means there is nothing to ask (an item without boxes);
    ``notes`` are said once to the user (e.g. "1 box was clipped to the image").
    """

    image: np.ndarray | None = None
    frames: Any = None
    size: tuple[int, int] = (0, 0)
    args: list[Any] = field(default_factory=list)
    kwargs: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    empty: bool = False
    notes: list[str] = field(default_factory=list)
    temp_files: list[str] = field(default_factory=list)

    def cleanup(self) -> None:
        """Delete downloaded temporary files (batch items from remote storage)."""
        import contextlib
        import os

        for p in self.temp_files:
            with contextlib.suppress(OSError):
                os.unlink(p)
        self.temp_files.clear()
        self.image = None


class ImageRequest(BaseModel):
    """The HTTP body fields every image task shares (``POST /v1/<route>``)."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(description="a model name as `zoo list` prints it, e.g. sam2:tiny")
    image_id: str = Field(description="what POST /v1/images returned")
    overlay: bool = Field(default=False, description="also return the overlay as a PNG")
    lossless: bool = Field(
        default=False, description="also return the lossless result (to_dict, can be large)"
    )
    options: dict[str, Any] = Field(
        default_factory=dict,
        description="the task's and the family's options (see GET /v1/models/{name})",
    )


class RLEMask(BaseModel):
    """A COCO run-length encoding: ``{"size": [h, w], "counts": "..."}``."""

    model_config = ConfigDict(extra="forbid")

    size: tuple[int, int]
    counts: str | list[int]


class Annotation(BaseModel):
    """One COCO results entry (``loadRes`` format); tasks add keys (object_id, label...)."""

    model_config = ConfigDict(extra="allow")

    image_id: int
    category_id: int
    segmentation: RLEMask
    score: float
    bbox: list[float]
    area: float


class TaskResponse(BaseModel):
    """The answer of ``POST /v1/<route>`` for an image task."""

    model_config = ConfigDict(extra="allow")

    model: str
    task: str
    weights: str = Field(description="'random' = test mode: not real predictions")
    test_mode: bool
    width: int
    height: int
    image_id: str | None = None
    annotations: list[Annotation]
    overlay_png: str | None = Field(default=None, description="base64 PNG, when asked")
    result: dict[str, Any] | None = Field(default=None, description="to_dict(), when asked")
    timing_ms: dict[str, float] | None = None


class NoOptions(Options):
    """A task without options of its own."""


class TaskSpec:
    """Base class of every task; subclass it and register an instance.

    Class attributes describe the task; methods build inputs and run it. Defaults suit an
    image task whose method is ``method(image, **args, **options)`` and returns one
    :class:`~zoo.results.TaskResult`.
    """

    #: the task's name, as families list it (``FamilySpec.tasks``) and ``--task`` takes it
    name: ClassVar[str] = ""
    #: the model method the task calls
    method: ClassVar[str] = ""
    #: one line: what the task does (``zoo --help``, the API docs)
    summary: ClassVar[str] = ""
    #: ``"module:Class"`` of its result (imported on use)
    result: ClassVar[str] = "zoo.results:TaskResult"
    #: options the task adds to run/batch/serve (and their defaults)
    options: ClassVar[type[Options]] = NoOptions
    #: what one item is: ``image`` (a photo, maybe with a depth map) or ``video``
    media: ClassVar[str] = "image"
    #: ``POST /v1/<route>``; ``None`` = not served over HTTP
    route: ClassVar[str | None] = None
    #: the HTTP body (typed, shown in the OpenAPI page) and answer
    request: ClassVar[type[BaseModel]] = ImageRequest
    response_model: ClassVar[type[BaseModel]] = TaskResponse
    #: the server sets the image (and reuses its cached embedding) before calling
    uses_embedding: ClassVar[bool] = False
    #: families that declare one of these tasks do this one too (``everything`` for
    #: ``promptable``), when their model class has :attr:`method`
    implied_by: ClassVar[tuple[str, ...]] = ()
    #: ``"module:function"`` of the core evaluator for families of this task without their
    #: own (``FamilySpec.evaluator``); ``None``: no core ``zoo eval``
    evaluator: ClassVar[str | None] = None
    #: options of that core evaluator
    eval_options: ClassVar[type[Options] | None] = None
    #: the run flags (RunInputs fields or option names) that mean "this task" when a family
    #: has several (``--objects`` means shadow, ``--video`` means video)
    signals: ClassVar[tuple[str, ...]] = ()
    #: manifest columns (``zoo batch``) this task reads beyond the shared ones (image,
    #: video, image_id, prompts, boxes, points, labels, category_ids, scores, file_name)
    columns: ClassVar[dict[str, str]] = {}
    #: which of those are file locations (resolved against the manifest's folder, fetched
    #: by the worker when remote) and which are plain text (not JSON)
    path_columns: ClassVar[tuple[str, ...]] = ()
    text_columns: ClassVar[tuple[str, ...]] = ()

    source: str = "sam-zoo"

    # ------------------------------------------------------------------ description
    def result_type(self) -> type[Any]:
        from zoo.specs import import_string

        return import_string(self.result)  # type: ignore[no-any-return]

    def path(self) -> str | None:
        return None if self.route is None else f"/v1/{self.route}"

    def describe(self) -> dict[str, Any]:
        """What ``zoo tasks``/``zoo info`` and ``/v1/models`` say about the task."""
        return {
            "name": self.name,
            "method": self.method,
            "summary": self.summary,
            "media": self.media,
            "endpoint": self.path(),
            "options": self.options.describe(),
            "source": self.source,
        }

    def supported_by(self, model_class: Any) -> bool:
        """Whether a model class implements the task's method."""
        return callable(getattr(model_class, self.method, None))

    # ------------------------------------------------------------------ building inputs
    def flag_prompts(self, boxes: Any, points: Any, labels: Any) -> dict[str, Any]:
        """The prompt columns ``zoo batch --boxes/--points/--labels`` give every item without
        its own (the text grammar of ``zoo run``, or Python values), checked now."""
        from zoo.prompts import Prompts, parse_boxes, parse_labels, parse_points

        row: dict[str, Any] = {}
        if boxes:
            row["boxes"] = parse_boxes(boxes) if isinstance(boxes, str) else boxes
        if points:
            row["points"] = parse_points(points) if isinstance(points, str) else points
        if labels:
            row["labels"] = parse_labels(labels) if isinstance(labels, str) else labels
        if row.get("labels") is not None and row.get("points") is None:
            raise InputError('--labels given without --points; add --points "x,y;..."')
        Prompts.build(**row)  # check now: one line, before any work
        return row

    def from_cli(self, run: RunInputs, options: Options) -> TaskInputs:
        """The call that ``zoo run`` was asked for; checked before the model loads."""
        raise InputError(f"`zoo run` does not run the {self.name} task")

    def from_row(
        self, row: Mapping[str, Any], image: np.ndarray | None, location: str, options: Options
    ) -> TaskInputs:
        """One ``zoo batch`` item: a manifest row (prompts, depth...), its decoded image (or,
        for video tasks, ``location``: the local file or folder)."""
        raise InputError(f"`zoo batch` does not run the {self.name} task")

    def from_request(
        self, request: Any, store: Any, path: Mapping[str, str] | None = None
    ) -> TaskInputs:
        """An HTTP request; ``store`` gives uploaded media (``store.image(id)``...), ``path``
        the route's path parameters (``video_id``)."""
        raise InputError(f"the server does not run the {self.name} task")

    def detections_inputs(
        self, inputs: TaskInputs, chosen: list[Any], options: Options
    ) -> TaskInputs:
        """Detector boxes (:class:`zoo.detections.Detection`) for ``inputs``' image as this
        task's call: the ``boxes``/``scores``/``category_ids`` columns a batch item with
        ``--detections`` gets, through :meth:`from_row` (one path for files and models)."""
        row = {
            "boxes": [list(d.box) for d in chosen],
            "scores": [d.score for d in chosen],
            "category_ids": [d.category_id for d in chosen],
        }
        built = self.from_row(row, inputs.image, str(inputs.meta.get("file_name", "")), options)
        built.meta = {**inputs.meta, **built.meta}
        built.notes = [*inputs.notes, *built.notes]
        return built

    def wants(self, run: RunInputs, raw: Mapping[str, Any]) -> bool:
        """Whether the given flags point at this task (see :attr:`signals`)."""
        return any(getattr(run, s, None) is not None or s in raw for s in self.signals)

    def claims(self, run: RunInputs, raw: Mapping[str, Any]) -> bool:
        """Whether the inputs name this task unmistakably: one of its own options was given,
        not only an input several tasks share (``--prompts``). ``zoo run`` ranks such a task
        before the others that :meth:`wants` the inputs."""
        return any(k in raw for k in self.signals)

    # ------------------------------------------------------------------ running
    def call_options(self, options: Options) -> dict[str, Any]:
        """The task options that are keywords of the model method (``multimask``)."""
        return {}

    def call(
        self, model: Any, inputs: TaskInputs, options: Mapping[str, Any] | None = None
    ) -> Iterator[Any]:
        """Run the model method; yields results (one per image; one per frame for video).

        ``options`` are keyword options (the task's and the family's call options); those
        the method does not take are dropped, so one option set serves several families.
        """
        if inputs.empty:
            yield self.empty(model, inputs)
            return
        fn = getattr(model, self.method)
        extra = {k: v for k, v in (options or {}).items() if k not in inputs.kwargs}
        kwargs = {**accepted_kwargs(fn, inputs.kwargs), **accepted_kwargs(fn, extra)}
        first = inputs.frames if self.media == "video" else inputs.image
        out = fn(first, *inputs.args, **kwargs)
        if self.media == "video" or inspect.isgenerator(out):
            yield from out
        else:
            yield self.finish(out, inputs)

    def finish(self, result: Any, inputs: TaskInputs) -> Any:
        """Carry what the inputs know into the result (detector categories...)."""
        return result

    def empty(self, model: Any, inputs: TaskInputs) -> Any:
        """The result when there was nothing to ask (an image without boxes)."""
        raise InputError(f"the {self.name} task has nothing to segment in this item")

    # ------------------------------------------------------------------ outputs
    def save(
        self,
        results: Iterable[Any],
        out: Path,
        inputs: TaskInputs,
        formats: list[str],
        *,
        run_record: dict[str, Any] | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> tuple[list[Any], list[Path]]:
        """Write ``zoo run``'s outputs into ``out`` (atomically); returns the results kept for
        the report and the files written. Image tasks write their one result's layout."""
        (result,) = list(results)
        files = result.save(
            out,
            image=inputs.image,
            formats=formats,
            image_id=int(inputs.meta.get("image_id", 1)),
            file_name=inputs.meta.get("file_name"),
            run=run_record,
        )
        return [result], files

    def categories(self, options: Options) -> list[dict[str, Any]] | None:
        """COCO categories of a batch run with these options (``zoo batch``'s images.json),
        when the task knows them (concept names); ``None``: the input's, else "object"."""
        return None

    def report(self, results: list[Any], inputs: TaskInputs) -> dict[str, Any]:
        """The lines ``zoo run`` prints (``--json``: all of it)."""
        (r,) = results
        return {"masks": len(r)}

    def response(self, results: list[Any], inputs: TaskInputs) -> dict[str, Any]:
        """Keys the HTTP answer adds to the common ones (COCO annotations, provenance)."""
        return {}

    # ------------------------------------------------------------------ conformance kit
    def samples(self, height: int, width: int) -> list[TaskInputs]:
        """Inputs the conformance kit runs every family of this task on."""
        return []

    def check(self, results: list[Any], inputs: TaskInputs) -> None:
        """Assert the results have the documented shape (``AssertionError`` if not)."""
        rtype = self.result_type()
        for r in results:
            assert isinstance(r, rtype), f"{self.name} must return {rtype.__name__}, got {r!r}"
            assert tuple(r.image_size) == tuple(inputs.size), (
                f"result size {r.image_size} differs from the input's {inputs.size}"
            )

    def bad_calls(self, model: Any, height: int, width: int) -> list[tuple[str, Callable[[], Any]]]:
        """Calls that must raise :class:`~zoo.errors.InputError` with a one-line message."""
        return []


def accepted_kwargs(method: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
    """The keywords ``method`` takes (all of them when it has ``**kwargs``)."""
    if not kwargs:
        return {}
    try:
        params = inspect.signature(method).parameters
    except (TypeError, ValueError):
        return dict(kwargs)
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return dict(kwargs)
    return {k: v for k, v in kwargs.items() if k in params}
