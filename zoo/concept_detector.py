"""A concept model as the detector of a box-prompted task: ``--detector sam3 --text person``.

SAMEO (amodal), OpSeg (shadows) and SAM 2 (promptable) take boxes from some detector; any
family with the ``concept`` task is one. :class:`ConceptDetector` runs its ``find`` on the
image and turns every instance into a COCO results entry (``bbox`` the model's box,
``score``, ``category_id`` = the concept's position + 1, the instance mask as the modal
``segmentation``, ``label`` the concept), read by :func:`zoo.detections.parse_detections`:
from there a detector model and a detections file take the same code path (the same
rules, :func:`~zoo.detections.select_for_image`, the task's detections builder in
``zoo run``, the manifest ``boxes``/``scores``/``category_ids`` columns in ``zoo batch``).
"""

from __future__ import annotations

import threading
from typing import Any

from zoo.errors import InputError

__all__ = ["ConceptDetector", "check_detector_options"]

#: ``--detector-options`` bound: a few loader keywords (``arch=tiny,image_size=224``).
MAX_DETECTOR_OPTIONS = 16


def _loader_kwargs(family: Any, text: str | None) -> dict[str, Any]:
    """``--detector-options "k=v,k=v"``: the detector family's loader options, checked."""
    from zoo.options import validate

    if not text:
        return {}
    raw: dict[str, Any] = {}
    parts = [p.strip() for p in str(text).split(",") if p.strip()]
    if len(parts) > MAX_DETECTOR_OPTIONS:
        raise InputError(f"--detector-options has {len(parts)} entries; at most 16")
    for part in parts:
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise InputError(
                f"--detector-options entry {part!r} is not KEY=VALUE; write e.g. arch=tiny"
            )
        raw[key.strip().replace("-", "_")] = value.strip()
    checked = validate(
        family.options,
        raw,
        command="run",
        where=f"--detector-options for {family.name}",
        info_hint=f"zoo info {family.name}",
    )
    loaders = set(family.options.loader_names())
    other = sorted(set(checked.given()) - loaders)
    if other:
        raise InputError(
            f"--detector-options takes how {family.name} is loaded ({', '.join(sorted(loaders))}),"
            f" not {other[0]}"
        )
    return dict(checked.given())


def check_detector_options(options: Any) -> tuple[Any, dict[str, Any], Any] | None:
    """The detector a task's options ask for: ``(family, loader kwargs, concept prompts)``,
    or ``None``; one-line errors for a family without the concept task, a missing
    ``--text``, ``--detector-options`` it cannot take. Loads nothing."""
    from zoo.prompts import as_concept_prompts
    from zoo.registry import get_registry

    name = getattr(options, "detector", None)
    text = getattr(options, "text", None)
    if name is None:
        if text is not None:
            raise InputError(
                f"--text {text!r} needs a detector here: add --detector FAMILY (a family with "
                "the concept task, e.g. sam3)"
            )
        if getattr(options, "detector_options", None) is not None:
            raise InputError("--detector-options given without --detector FAMILY")
        return None
    reg = get_registry()
    fam, _ = reg.resolve_name(name)
    if "concept" not in [t.name for t in reg.tasks_of(fam)]:
        finders = sorted(f for f, spec in reg.families.items() if "concept" in spec.tasks)
        raise InputError(
            f"--detector {name}: {fam.name} does not find concepts (no concept task); use "
            f"{' or '.join(finders) or 'a family with the concept task'}"
        )
    if text is None:
        raise InputError(f'--detector {name} needs --text "person;car" (what to detect)')
    return (
        fam,
        _loader_kwargs(fam, getattr(options, "detector_options", None)),
        (as_concept_prompts(text)),
    )


class ConceptDetector:
    """Runs a concept model on images and answers with detections (see the module)."""

    def __init__(
        self,
        options: Any,
        *,
        device: str = "auto",
        weights: str | None = None,
        seed: int | None = None,
        model: Any = None,
    ) -> None:
        found = check_detector_options(options)
        if found is None:
            raise InputError("no --detector given")
        self.family, self.loader, self.prompts = found
        self.name = str(options.detector)
        self.threshold = float(getattr(options, "detector_threshold", 0.5))
        self.device, self.weights, self.seed = device, weights, seed
        self.model = model
        self._lock = threading.Lock()
        self.source = f"--detector {self.name}"

    @classmethod
    def from_options(cls, options: Any, load: Any = None) -> ConceptDetector | None:
        """``None`` without ``--detector``; else a detector loading like the run's model
        (``--device``, ``--weights random``, ``--seed`` of the command)."""
        if "detector" not in type(options).model_fields:
            return None  # a task that takes no detector (concept, video...)
        if getattr(options, "detector", None) is None:
            check_detector_options(options)  # --text without --detector: say so
            return None
        if load is None:
            return cls(options)
        return cls(options, device=load.device, weights=load.weights, seed=load.seed)

    def _model(self) -> Any:
        if self.model is None:
            from zoo.loading import load

            self.model = load(
                self.name,
                device=self.device,
                weights=self.weights,
                seed=self.seed,
                progress=False,
                **self.loader,
            )
        return self.model

    def detect(self, image: Any, image_id: Any) -> Any:
        """The detections of one image, as a :class:`~zoo.detections.DetectionFile`."""
        from zoo.detections import parse_detections

        with self._lock:
            result = self._model().find(image, self.prompts, threshold=self.threshold)
        entries = []
        for c in result.to_coco(image_id=1):
            entries.append(
                {
                    "image_id": image_id,
                    "bbox": c["pred_bbox"],
                    "score": c["score"],
                    "category_id": c["category_id"],
                    "segmentation": c["segmentation"],
                    "label": c["concept"],
                }
            )
        return parse_detections(entries, source=self.source)
