"""Pieces the built-in tasks share: reading ``--image``, refusing flags a task cannot use,
turning manifest columns into prompts, and the request bodies' prompt fields."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zoo.errors import InputError
from zoo.options import Options, option

from .spec import RunInputs, TaskInputs

if TYPE_CHECKING:
    import numpy as np

    from zoo.prompts import Prompts


def refuse(run: RunInputs, flags: Sequence[str], task: str, instead: str) -> None:
    """One line when the user gave a flag the task cannot use (``--depth`` to sam2...)."""
    for f in flags:
        if getattr(run, f, None) is not None:
            raise InputError(f"--{f} does not apply to the {task} task; {instead}")


def cli_image(run: RunInputs, task: str, *, name: str = "") -> TaskInputs:
    """``--image`` read and decoded (one line if missing or unreadable)."""
    from zoo.io.images import load_image

    if run.image is None:
        who = f"`zoo run {name}`" if name else f"the {task} task"
        raise InputError(f"{who} needs --image PATH")
    image = load_image(run.image)
    h, w = image.shape[:2]
    return TaskInputs(
        image=image, size=(int(h), int(w)), meta={"file_name": Path(str(run.image)).name}
    )


def row_prompts(row: Mapping[str, Any]) -> Prompts | None:
    """A manifest row's prompts: its ``prompts`` column (any JSON prompt form) or its
    ``boxes``/``points``/``labels`` columns; ``None`` when it has none."""
    from zoo.prompts import Prompts, as_prompts

    if row.get("prompts") is not None:
        return as_prompts(row["prompts"])
    if any(row.get(k) is not None for k in ("boxes", "points")):
        points = row.get("points")
        labels = row.get("labels")
        if points is not None and labels is None:
            labels = [1] * len(points)
        return Prompts.build(boxes=row.get("boxes"), points=points, labels=labels)
    return None


def row_extras(row: Mapping[str, Any], n: int, inputs: TaskInputs) -> None:
    """``category_ids``/``scores`` columns (one per prompt) into the inputs' meta."""
    for key in ("category_ids", "scores"):
        if row.get(key) is not None:
            vals = list(row[key])
            if len(vals) != n:
                raise InputError(f"{len(vals)} {key} for {n} prompts; give one per box")
            inputs.meta[key] = (
                [int(v) for v in vals] if key == "category_ids" else [float(v) for v in vals]
            )


def image_inputs(image: np.ndarray, location: str | None = None) -> TaskInputs:
    h, w = image.shape[:2]
    meta = {"file_name": os.path.basename(location)} if location else {}
    return TaskInputs(image=image, size=(int(h), int(w)), meta=meta)


def stored_image(store: Any, image_id: str) -> TaskInputs:
    """The server's uploaded image as task inputs."""
    stored = store.image(image_id)
    return TaskInputs(
        image=stored.pixels, size=(stored.height, stored.width), meta={"image_id_text": image_id}
    )


class DetectorOptions(Options):
    """A concept model as the detector of a box-prompted task (:mod:`zoo.concept_detector`):
    ``--detector sam3 --text "person;car"``; its boxes take the detections-file path."""

    detector: str | None = option(
        None,
        help="a family with the concept task (e.g. sam3) that finds the boxes from --text",
        commands=("run", "batch"),
    )
    text: str | None = option(
        None,
        help='with --detector: what to detect, ";" between concepts ("person;car")',
        commands=("run", "batch"),
    )
    detector_threshold: float = option(
        0.5,
        help="with --detector: keep detections scoring above this, 0..1",
        ge=0.0,
        le=1.0,
        commands=("run", "batch"),
    )
    detector_options: str | None = option(
        None,
        help='with --detector: its loader options "KEY=VALUE,..." (e.g. "arch=tiny")',
        commands=("run", "batch"),
    )


def detector_inputs(spec: Any, run: RunInputs, options: Options, detector: Any) -> TaskInputs:
    """``zoo run --image --detector``: the concept model's detections of the image, through
    the path a detections file takes (:func:`zoo.detections.select_for_image`, then the
    task's :meth:`~zoo.tasks.TaskSpec.detections_inputs`)."""
    from zoo.detections import select_for_image

    for flag in ("boxes", "points", "labels", "prompts"):
        if getattr(run, flag, None) is not None:
            raise InputError(f"use either --{flag} or --detector, not both")
    for opt in ("detections", "objects", "shadows"):
        if getattr(options, opt, None) is not None:
            raise InputError(f"use either --{opt} or --detector, not both")
    inputs = cli_image(run, spec.name)
    dets = detector.detect(inputs.image, Path(str(run.image)).name)
    _, chosen = select_for_image(dets, str(run.image), None)
    inputs.notes += dets.notes()
    inputs.meta["detections_kept"] = len(chosen)
    return spec.detections_inputs(inputs, chosen, options)
