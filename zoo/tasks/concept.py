"""``concept``: every instance of each concept in an image (SAM 3's task).

A concept is a noun phrase (``--text "dog;red car"``) and/or exemplar boxes around
instances (``--exemplar-boxes "x1,y1,x2,y2"``; ``"red car:x1,y1,x2,y2"`` ties a box to one
of several concepts, ``--exemplar-labels "1,0"`` marks negatives). The model method is
``find(image, concepts, exemplars, *, threshold)`` and returns a
:class:`~zoo.results.ConceptResult` (one instance per detection, a presence score per
concept; COCO ``category_id`` = the concept's position + 1).

Every surface builds the same :class:`~zoo.prompts.ConceptPrompts` through
:func:`zoo.prompts.as_concept_prompts` (one set of rules and messages) and clips exemplar
boxes crossing the image edge like every other box. The grammar lives here and is shared
with :mod:`zoo.tasks.concept_video`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from zoo.errors import InputError
from zoo.evaluation_concept import ConceptEvalOptions
from zoo.options import Options, option
from zoo.prompts import MAX_CONCEPT_CHARS, MAX_CONCEPTS, MAX_EXEMPLARS

from .common import cli_image, image_inputs, refuse, stored_image
from .spec import ImageRequest, RunInputs, TaskInputs, TaskResponse, TaskSpec

#: Characters of ``--text`` / ``--exemplar-boxes`` as typed (32 concepts of 200 characters).
MAX_FLAG_CHARS = 8000
DEFAULT_THRESHOLD = 0.5

EXEMPLAR_EXAMPLE = '"x1,y1,x2,y2;..." (or "CONCEPT:x1,y1,x2,y2" with several concepts)'


class ConceptPromptOptions(Options):
    """The concept flags both concept tasks read (``--text``, ``--exemplar-boxes``...)."""

    text: str | None = option(
        None,
        help='concepts to find, ";" between them: "dog;red car" (each a category)',
        commands=("run", "batch"),
    )
    exemplar_boxes: str | None = option(
        None,
        help="example boxes of the concept, x1,y1,x2,y2 pixels ';' between boxes; "
        '"CONCEPT:x1,y1,x2,y2" says which concept a box shows when there are several',
        commands=("run", "batch"),
    )
    exemplar_labels: str | None = option(
        None,
        help='one per exemplar box: 1 an instance (default), 0 not one ("1,0")',
        commands=("run", "batch"),
    )


class ConceptOptions(ConceptPromptOptions):
    threshold: float = option(
        DEFAULT_THRESHOLD,
        help="keep instances scoring above this (instance score x presence), 0..1",
        ge=0.0,
        le=1.0,
        commands=("run", "batch", "serve"),
    )


class ExemplarJSON(BaseModel):
    """One exemplar box in a request (the rules are :class:`zoo.prompts.Exemplar`'s)."""

    model_config = ConfigDict(extra="forbid")

    box: tuple[float, float, float, float] = Field(description="x1, y1, x2, y2 in pixels")
    label: int = Field(default=1, ge=0, le=1, description="1 an instance, 0 not one")
    concept: (
        Annotated[int, Field(ge=0, lt=MAX_CONCEPTS)]
        | Annotated[str, Field(max_length=MAX_CONCEPT_CHARS)]
        | None
    ) = Field(default=None, description="which concept (its text or index)")


ConceptText = Annotated[str, Field(min_length=1, max_length=MAX_CONCEPT_CHARS)]


class ConceptRequest(ImageRequest):
    concepts: list[ConceptText] = Field(
        default_factory=list,
        max_length=MAX_CONCEPTS,
        description='noun phrases, one category each: ["dog", "red car"]',
    )
    exemplars: list[ExemplarJSON] = Field(
        default_factory=list, max_length=MAX_EXEMPLARS, description="example boxes"
    )
    threshold: float | None = Field(
        default=None, ge=0.0, le=1.0, description=f"score threshold (default {DEFAULT_THRESHOLD})"
    )


class ConceptResponse(TaskResponse):
    embedding: str = Field(description="computed, cached (restored) or current")
    concepts: list[str]
    presence: list[float] = Field(description="per concept: is it in the image at all")
    scores: list[float]


# --------------------------------------------------------------------------- the grammar


def parse_exemplars(boxes: str | None, labels: str | None) -> list[dict[str, Any]] | None:
    """``--exemplar-boxes``/``--exemplar-labels`` -> exemplar dicts (``None`` if absent)."""
    from zoo.prompts import parse_boxes, parse_labels

    if boxes is None:
        if labels is not None:
            raise InputError("--exemplar-labels given without --exemplar-boxes; add the boxes")
        return None
    if len(boxes) > MAX_FLAG_CHARS:
        raise InputError(f"--exemplar-boxes is over {MAX_FLAG_CHARS} characters; give fewer")
    out: list[dict[str, Any]] = []
    for part in (p.strip() for p in boxes.split(";") if p.strip()):
        concept, sep, box = part.rpartition(":")
        ex: dict[str, Any] = {
            "box": parse_boxes(box if sep else part, "--exemplar-boxes")[0],
        }
        if sep:
            name = concept.strip()
            ex["concept"] = int(name) if name.isdigit() else name
        out.append(ex)
    if not out:
        raise InputError(f"--exemplar-boxes is empty; write {EXEMPLAR_EXAMPLE}")
    if labels is not None:
        labs = parse_labels(labels, "--exemplar-labels")
        if len(labs) != len(out):
            raise InputError(
                f"{len(out)} --exemplar-boxes but {len(labs)} --exemplar-labels; give one "
                "label per box"
            )
        for ex, lab in zip(out, labs, strict=True):
            ex["label"] = lab
    return out


def concepts_from_options(options: Options, *, required: bool = True) -> Any:
    """:class:`~zoo.prompts.ConceptPrompts` from ``--text``/``--exemplar-boxes`` (``None``
    when neither was given and ``required`` is false)."""
    from zoo.prompts import as_concept_prompts

    text = getattr(options, "text", None)
    if text is not None and len(text) > MAX_FLAG_CHARS:
        raise InputError(f"--text is over {MAX_FLAG_CHARS} characters; give fewer concepts")
    exemplars = parse_exemplars(
        getattr(options, "exemplar_boxes", None), getattr(options, "exemplar_labels", None)
    )
    if text is None and exemplars is None:
        if not required:
            return None
        raise InputError(
            'nothing to find; add --text "dog;red car" and/or --exemplar-boxes "x1,y1,x2,y2"'
        )
    return as_concept_prompts(text, exemplars)


def concepts_from_row(row: Mapping[str, Any], options: Options) -> Any:
    """A manifest row's ``text``/``exemplars`` columns, else the options for every item;
    ``None`` when the row asks for nothing (``"text": []``)."""
    from zoo.prompts import as_concept_prompts

    text, exemplars = row.get("text"), row.get("exemplars")
    if isinstance(text, str) and text.lstrip().startswith("["):
        try:
            text = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(f"column 'text' is not valid JSON ({exc.msg})") from None
    if text is None and exemplars is None:
        return concepts_from_options(options, required=False) or _no_concept()
    if not text and not exemplars:
        return None
    return as_concept_prompts(text or None, exemplars or None)


def _no_concept() -> Any:
    raise InputError(
        'no concept for this item; give --text "dog" (or --exemplar-boxes) for all items, or '
        "a text/exemplars column"
    )


def refuse_object_prompts(run: RunInputs, task: str) -> None:
    """``--boxes``/``--points`` are object prompts (promptable); say where exemplars go."""
    for flag in ("boxes", "points", "labels", "prompts"):
        if getattr(run, flag, None) is not None:
            raise InputError(
                f"--{flag} does not apply to the {task} task: boxes around examples of a "
                "concept go in --exemplar-boxes; for one mask per box drop --text (or add "
                "--task promptable)"
            )


def concept_categories(options: Options) -> list[dict[str, Any]] | None:
    """COCO categories of a run whose concepts were given once (``--text``)."""
    prompts = concepts_from_options(options, required=False)
    if prompts is None:
        return None
    return [{"id": k + 1, "name": c} for k, c in enumerate(prompts.concepts)]


# --------------------------------------------------------------------------- the task


class ConceptTask(TaskSpec):
    name = "concept"
    method = "find"
    summary = "every instance of each concept (text and/or exemplar boxes)"
    result = "zoo.results:ConceptResult"
    options = ConceptOptions
    route = "concepts"
    request = ConceptRequest
    response_model = ConceptResponse
    uses_embedding = True
    evaluator = "zoo.evaluation_concept:evaluate_concept"
    eval_options = ConceptEvalOptions
    signals = ("text", "exemplar_boxes")
    columns: ClassVar[dict[str, str]] = {
        "text": 'concepts of this item: "dog;red car" or ["dog", "red car"]',
        "exemplars": '[{"box": [x1,y1,x2,y2], "label": 1, "concept": "dog"}, ...]',
    }
    text_columns = ("text",)

    def _fit(self, inputs: TaskInputs, prompts: Any) -> TaskInputs:
        h, w = inputs.size
        fitted, notes = prompts.fit(h, w)
        inputs.args = [fitted]
        inputs.meta["concepts"] = list(fitted.concepts)
        inputs.notes += notes
        return inputs

    def from_cli(self, run: RunInputs, options: Options) -> TaskInputs:
        refuse(
            run,
            ("video", "depth"),
            self.name,
            "give --image (concepts through a video: --video DIR --text ...)",
        )
        refuse_object_prompts(run, self.name)
        prompts = concepts_from_options(options)
        return self._fit(cli_image(run, self.name), prompts)

    def from_row(
        self, row: Mapping[str, Any], image: Any, location: str, options: Options
    ) -> TaskInputs:
        inputs = image_inputs(image, location)
        if any(row.get(k) is not None for k in ("prompts", "boxes", "points")):
            raise InputError(
                "the concept task takes text and exemplars, not boxes/points/prompts columns; "
                "use --task promptable for one mask per box"
            )
        prompts = concepts_from_row(row, options)
        if prompts is None:
            inputs.empty = True
            return inputs
        return self._fit(inputs, prompts)

    def from_request(
        self, request: Any, store: Any, path: Mapping[str, str] | None = None
    ) -> TaskInputs:
        from zoo.prompts import as_concept_prompts

        inputs = stored_image(store, request.image_id)
        prompts = as_concept_prompts(
            list(request.concepts) or None,
            [e.model_dump(exclude_none=True) for e in request.exemplars] or None,
        )
        if request.threshold is not None:
            inputs.kwargs["threshold"] = float(request.threshold)
        return self._fit(inputs, prompts)

    def call_options(self, options: Options) -> dict[str, Any]:
        return {"threshold": float(getattr(options, "threshold", DEFAULT_THRESHOLD))}

    def categories(self, options: Options) -> list[dict[str, Any]] | None:
        return concept_categories(options)

    def empty(self, model: Any, inputs: TaskInputs) -> Any:
        import numpy as np

        from zoo.prompts import VISUAL_CONCEPT
        from zoo.results import ConceptResult

        h, w = inputs.size
        concepts = inputs.meta.get("concepts") or [VISUAL_CONCEPT]
        return ConceptResult(
            concepts=concepts,
            masks=np.zeros((0, h, w), dtype=bool),
            boxes=np.zeros((0, 4), dtype=np.float32),
            scores=np.zeros(0, dtype=np.float32),
            concept_ids=np.zeros(0, dtype=np.int64),
            presence=np.zeros(len(concepts), dtype=np.float32),
            image_size=(h, w),
            provenance=model.provenance(self.name),
        )

    def report(self, results: list[Any], inputs: TaskInputs) -> dict[str, Any]:
        import numpy as np

        (r,) = results
        counts = np.bincount(r.concept_ids.astype(np.int64), minlength=len(r.concepts))
        return {
            "instances": len(r),
            "concepts": {
                c: {"instances": int(counts[k]), "presence": round(float(r.presence[k]), 4)}
                for k, c in enumerate(r.concepts)
            },
            "scores": [round(float(s), 4) for s in r.scores],
        }

    def response(self, results: list[Any], inputs: TaskInputs) -> dict[str, Any]:
        (r,) = results
        return {
            "concepts": list(r.concepts),
            "presence": [float(p) for p in r.presence],
            "scores": [float(s) for s in r.scores],
        }

    # ------------------------------------------------------------------ conformance
    def samples(self, height: int, width: int) -> list[TaskInputs]:
        from zoo.prompts import as_concept_prompts
        from zoo.testing.synthetic import synthetic_boxes, synthetic_image

        inputs = image_inputs(synthetic_image(height, width))
        box = [float(v) for v in synthetic_boxes(height, width)[0]]
        inputs.args = [as_concept_prompts(["object", "red box"], [{"box": box, "concept": 1}])]
        inputs.kwargs["threshold"] = 0.0  # keep every candidate: random weights score low
        return [inputs]

    def check(self, results: list[Any], inputs: TaskInputs) -> None:
        import numpy as np

        super().check(results, inputs)
        (r,) = results
        prompts = inputs.args[0]
        h, w = inputs.size
        assert r.concepts == prompts.concepts, "one category per concept, in order"
        n = len(r)
        assert n > 0, "threshold 0 must keep every candidate instance"
        assert r.masks.shape == (n, h, w) and r.masks.dtype == np.bool_, "bool N x H x W masks"
        assert r.boxes.shape == (n, 4) and np.isfinite(r.boxes).all(), "one finite box each"
        assert r.scores.shape == (n,) and ((r.scores >= 0) & (r.scores <= 1)).all()
        assert set(r.concept_ids.tolist()) == set(range(len(prompts.concepts)))
        assert r.presence.shape == (len(prompts.concepts),) and np.isfinite(r.presence).all()
        cats = sorted({c["category_id"] for c in r.to_coco(image_id=1)})
        assert cats == list(range(1, len(prompts.concepts) + 1)), "category = concept + 1"

    def bad_calls(self, model: Any, height: int, width: int) -> list[tuple[str, Callable[[], Any]]]:
        from zoo.testing.synthetic import synthetic_image

        img = synthetic_image(height, width)
        h, w = height, width
        return [
            ("no concept and no exemplar", lambda: model.find(img, None, None)),
            ("empty concept text", lambda: model.find(img, "  ")),
            (
                "exemplar entirely outside the image",
                lambda: model.find(img, "dog", [{"box": [w * 2, h * 2, w * 3, h * 3]}]),
            ),
            ("exemplar with x2<x1", lambda: model.find(img, "dog", [{"box": [50, 10, 10, 40]}])),
            ("threshold above 1", lambda: model.find(img, "dog", threshold=1.5)),
            ("missing image file", lambda: model.find("/nonexistent/zoo.png", "dog")),
        ]
