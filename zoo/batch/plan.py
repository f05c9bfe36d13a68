"""What a batch run does, as one JSON-safe object that every worker rebuilds itself from.

A :class:`Plan` is decided once, in the driver, after every option was checked; worker
processes and Ray actors receive it as a plain dict, load the model from it and open the
input from it. Its :meth:`fingerprint` covers everything that changes the outputs (model,
weights, options, prompts, input, formats), so re-running the same command in the same
``--out`` resumes, and a different command there is refused instead of mixing two runs.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from zoo.errors import InputError

from .decode import DEFAULT_MAX_PIXELS

__all__ = ["BATCH_FORMATS", "RUNTIME_FIELDS", "Plan", "check_batch_formats"]

#: ``--format`` names of ``zoo batch`` (``coco`` is the default).
BATCH_FORMATS = ("coco", "jsonl", "parquet", "png", "overlay")

#: Fields that do not change what is written (how it runs, not what it computes).
RUNTIME_FIELDS = ("out", "torch_threads", "device", "keep_results")


def check_batch_formats(text: str | list[str]) -> list[str]:
    items = text.split(",") if isinstance(text, str) else list(text)
    out = [f.strip().lower() for f in items if f.strip()]
    bad = [f for f in out if f not in BATCH_FORMATS]
    if bad or not out:
        shown = repr(bad[0]) if bad else "(empty)"
        raise InputError(
            f"unknown --format {shown}; use a comma list of {', '.join(BATCH_FORMATS)}"
        )
    return out


@dataclass
class Plan:
    """Everything a worker needs; see the module docstring."""

    name: str
    task: str
    input: str
    formats: list[str] = field(default_factory=lambda: ["coco"])
    out: str | None = None
    device: str = "auto"
    weights: str | None = None
    checkpoint: Any = None
    dtype: str | None = None
    seed: int | None = None
    #: ``torch`` or ``onnxruntime`` (the exported graphs; see zoo.export.backend)
    backend: str = "torch"
    #: loader keywords the user set (``image_size``...): to ``zoo.load``
    model_options: dict[str, Any] = field(default_factory=dict)
    #: the family's other options the user set: keywords of the task method
    call: dict[str, Any] = field(default_factory=dict)
    #: the task's options the user set (``multimask``, ``everything`` settings...)
    task_options: dict[str, Any] = field(default_factory=dict)
    #: prompt columns for every item without its own (``--boxes``/``--points``/``--prompts``)
    fixed: dict[str, Any] = field(default_factory=dict)
    detections: str | None = None
    images_dir: str | None = None
    score_thr: float | None = None
    max_pixels: int = DEFAULT_MAX_PIXELS
    torch_threads: int | None = None
    #: keep the lossless ``to_dict`` of each result in its record (``jsonl``, Python API)
    keep_results: bool = False

    # ------------------------------------------------------------------ wire form
    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        if isinstance(d["checkpoint"], dict):
            d["checkpoint"] = {k: str(v) for k, v in d["checkpoint"].items()}
        elif d["checkpoint"] is not None:
            d["checkpoint"] = str(d["checkpoint"])
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Plan:
        return cls(**d)

    def fingerprint(self) -> str:
        d = {k: v for k, v in self.to_dict().items() if k not in RUNTIME_FIELDS}
        text = json.dumps(d, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def task_spec(self) -> Any:
        """The registered task this plan runs."""
        from zoo.registry import get_registry

        return get_registry().task(self.task)

    def task_options_instance(self) -> Any:
        """The task's options as the typed instance its builders read."""
        return self.task_spec().options.model_validate(self.task_options)

    @property
    def video(self) -> bool:
        return self.task_spec().media == "video"

    # ------------------------------------------------------------------ in a worker
    def load_model(self, device: str | None = None) -> Any:
        """The model, loaded the way ``zoo run`` loads it (typed ``model=True`` options)."""
        from zoo.loading import load

        if self.torch_threads:
            import torch

            torch.set_num_threads(int(self.torch_threads))
        return load(
            self.name,
            device=device or self.device,
            weights=self.weights,
            checkpoint=self.checkpoint,
            dtype=self.dtype,
            seed=self.seed,
            backend=self.backend,
            progress=False,
            **self.model_options,
        )

    def open_source(self, exclude: str | None = None) -> Any:
        from .sources import open_source

        return open_source(
            self.input,
            video=self.video,
            images_dir=self.images_dir,
            score_thr=self.score_thr,
            exclude=exclude if exclude is not None else self.out,
        )

    def load_detections(self) -> Any:
        """The detections file (:class:`zoo.detections.DetectionFile`), if one was given."""
        if self.detections is None:
            return None
        from zoo.detections import read_detections

        return read_detections(self.detections, self.score_thr)
