"""What every task result shares: provenance, the output folder layout, COCO, the codec.

A task result (promptable masks, amodal instances, shadow pairs, RGB-D masks, one video
frame) describes only *what it contains* - its COCO instances, its mask files, how to draw
itself; this base turns that into the same outputs for every family:

=============== ==================================================================
``*.png``        one PNG per mask, provenance in tEXt chunks (``zoo:weights``...)
``results.json`` a plain COCO *results* array (integer ``image_id``): ``COCO.loadRes``
                 reads it as is
``run.json``     the sidecar: provenance, test-mode flag, the image's id, file name and
                 size, categories, the files written, task-specific records
``result.json``  (``--format json``) the lossless :meth:`TaskResult.to_dict`
``overlay.png``  the image with the result drawn (a banner in test mode)
=============== ==================================================================

Everything is written into a temporary folder and moved into place at the end, so a
failure leaves nothing half-written. In test mode (random weights) every file says so.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from zoo.errors import InputError

#: What a test-mode output says about itself, wherever it can carry text.
TEST_MODE_NOTE = "weights=random: TEST MODE, not a real prediction"
FORMATS = ("png", "coco", "json", "overlay")
DEFAULT_FORMATS = ("png", "coco", "overlay")
RESULT_SCHEMA_VERSION = 1


class Provenance(BaseModel):
    """Which model and which weights produced a result; written into every output file.

    ``weights`` starting with ``random`` is the test mode; such outputs are labelled
    everywhere so nobody mistakes a test run for a real prediction.
    """

    model: str
    weights: str
    task: str
    zoo_version: str = ""
    files: dict[str, str] = Field(
        default_factory=dict, description="checkpoint name -> the URI or path it came from"
    )
    backend: str = Field(
        default="torch", description="what ran the network: torch, or onnxruntime (exported)"
    )

    @property
    def is_random(self) -> bool:
        return self.weights.startswith("random")

    @property
    def label(self) -> str:
        if self.is_random:
            return f"{self.model} - weights=random (TEST MODE, not a real prediction)"
        return f"{self.model} ({self.weights})"

    def png_text(self) -> dict[str, str]:
        """tEXt chunks for every PNG written from this result."""
        text = {"zoo:model": self.model, "zoo:weights": self.weights}
        if self.is_random:
            text["zoo:note"] = TEST_MODE_NOTE
        return text

    def record(self) -> dict[str, Any]:
        """The JSON form written beside results (``run.json``), with the test-mode flag."""
        out: dict[str, Any] = {**self.model_dump(mode="json"), "test_mode": self.is_random}
        if self.is_random:
            out["note"] = TEST_MODE_NOTE
        return out


class ArrayModel(BaseModel):
    """pydantic model holding numpy arrays (validated by the subclasses)."""

    model_config = ConfigDict(arbitrary_types_allowed=True, protected_namespaces=())


@dataclass
class CocoInstance:
    """One entry of ``results.json``: a mask with its score, category and extra keys."""

    mask: np.ndarray
    score: float
    category_id: int = 1
    extra: dict[str, Any] = field(default_factory=dict)


_KINDS: dict[str, type[TaskResult]] = {}


def check_formats(formats: str | Iterable[str]) -> list[str]:
    """``"png,coco"`` or a list -> validated list; an unknown name is a one-line error."""
    items = formats.split(",") if isinstance(formats, str) else list(formats)
    out = [f.strip().lower() for f in items if f and f.strip()]
    bad = [f for f in out if f not in FORMATS]
    if bad:
        raise InputError(f"unknown --format {bad[0]!r}; use a comma list of {', '.join(FORMATS)}")
    if not out:
        raise InputError(f"--format is empty; use a comma list of {', '.join(FORMATS)}")
    return out


class TaskResult(ArrayModel):
    """Base of every task's result. Subclasses fill :meth:`coco_instances` and :meth:`draw`.

    ``extra`` holds anything a family adds (timings, a detector's raw output...); it is
    written to ``run.json`` and round-trips through :meth:`to_dict`.
    """

    task: ClassVar[str]
    #: stem of the per-mask PNG files (``mask_000.png``)
    file_stem: ClassVar[str] = "mask"

    provenance: Provenance
    image_size: tuple[int, int]
    extra: dict[str, Any] = Field(default_factory=dict)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _KINDS[f"{cls.__module__}:{cls.__qualname__}"] = cls

    # ---------------------------------------------------------------- what subclasses say
    def coco_instances(self) -> list[CocoInstance]:
        """The masks of this result as COCO instances (in output order)."""
        raise NotImplementedError

    def draw(self, image: np.ndarray) -> np.ndarray:
        """The image with this result drawn on it (no test-mode banner: :meth:`overlay`)."""
        raise NotImplementedError

    def mask_files(self) -> list[tuple[str, np.ndarray]]:
        """``(file stem, mask)`` for each PNG: ``mask_000`` ... by default."""
        return [(f"{self.file_stem}_{i:03d}", c.mask) for i, c in enumerate(self.coco_instances())]

    def run_record(self) -> dict[str, Any]:
        """Task-specific keys of ``run.json`` (categories, association records...)."""
        return {}

    def write_extra(
        self, folder: Path, image: np.ndarray | None, formats: Sequence[str]
    ) -> list[Path]:
        """Further files a task or family writes (point clouds, renders); inside ``folder``."""
        return []

    # ---------------------------------------------------------------- shared behaviour
    def __len__(self) -> int:
        return len(self.coco_instances())

    def to_coco(self, image_id: int = 1) -> list[dict[str, Any]]:
        """COCO results entries (RLE masks) that pycocotools' ``loadRes`` accepts."""
        from zoo.io.masks import coco_results

        if isinstance(image_id, bool) or not isinstance(image_id, (int, np.integer)):
            raise InputError(
                f"image_id must be an integer (COCO results), got {image_id!r}; the file name "
                "goes into run.json"
            )
        inst = self.coco_instances()
        if not inst:
            return []
        tag: dict[str, Any] = {"weights": self.provenance.weights}
        if self.provenance.is_random:
            tag["test_mode"] = True
        return coco_results(
            np.stack([c.mask for c in inst]),
            [c.score for c in inst],
            image_id=int(image_id),
            category_ids=[c.category_id for c in inst],
            extra=[{**c.extra, **tag} for c in inst],
        )

    def overlay(self, image: Any) -> np.ndarray:
        """The image with the result drawn; test-mode outputs carry a banner saying so."""
        from zoo.io.images import load_image
        from zoo.io.overlay import draw_label_text

        img = load_image(image)
        h, w = self.image_size
        if img.shape[:2] != (h, w):
            raise InputError(
                f"the image is {img.shape[1]}x{img.shape[0]} but the result is {w}x{h}; "
                "pass the image the result was computed on"
            )
        out = self.draw(img)
        return draw_label_text(out, self.provenance.label) if self.provenance.is_random else out

    def run_json(
        self, image_id: int, file_name: str | None, files: Sequence[str]
    ) -> dict[str, Any]:
        h, w = self.image_size
        from zoo import __version__

        return {
            "zoo_version": __version__,
            "task": str(self.task),
            "provenance": self.provenance.record(),
            "images": [{"id": int(image_id), "file_name": file_name, "height": h, "width": w}],
            "files": list(files),
            **({"extra": self.extra} if self.extra else {}),
            **self.run_record(),
        }

    def save(
        self,
        out_dir: str | Path,
        image: Any = None,
        formats: str | Sequence[str] = DEFAULT_FORMATS,
        image_id: int = 1,
        file_name: str | None = None,
        run: dict[str, Any] | None = None,
    ) -> list[Path]:
        """Write the result into ``out_dir`` (layout in the module docstring), atomically.

        ``image`` (array or path) enables ``overlay.png``; ``file_name`` defaults to the
        image's path name and goes into ``run.json`` next to the integer ``image_id``;
        ``run`` adds keys to ``run.json`` (``zoo run`` records its arguments and seed).
        """
        from zoo.io.atomic import atomic_output_dir
        from zoo.io.images import load_image, save_png
        from zoo.io.masks import write_json

        fmts = check_formats(formats)
        img = load_image(image) if image is not None else None
        if file_name is None and isinstance(image, (str, Path)):
            file_name = Path(image).name
        text = self.provenance.png_text()
        with atomic_output_dir(out_dir) as tmp_dir:
            tmp = Path(tmp_dir)
            written: list[Path] = []
            if "png" in fmts:
                for stem, mask in self.mask_files():
                    p = tmp / f"{stem}.png"
                    save_png(p, np.asarray(mask, dtype=bool), text=text)
                    written.append(p)
            if "coco" in fmts:
                p = tmp / "results.json"
                write_json(p, self.to_coco(image_id))
                written.append(p)
            if "json" in fmts:
                p = tmp / "result.json"
                write_json(p, self.to_dict())
                written.append(p)
            if "overlay" in fmts and img is not None:
                p = tmp / "overlay.png"
                save_png(p, self.overlay(img), text=text)
                written.append(p)
            written += self.write_extra(tmp, img, fmts)
            names = [str(p.relative_to(tmp)) for p in written]
            record = self.run_json(image_id, file_name, names)
            if run:
                record = {**record, **{k: v for k, v in run.items() if k not in record}}
            write_json(tmp / "run.json", record, indent=2)
            written.append(tmp / "run.json")
        out = Path(out_dir)
        return [out / p.relative_to(tmp) for p in written]

    # ---------------------------------------------------------------- wire format
    def to_dict(self) -> dict[str, Any]:
        """Lossless, JSON-safe form (masks as RLE, other arrays exact); see :mod:`.codec`."""
        from .codec import encode

        cls = type(self)
        return {
            "kind": f"{cls.__module__}:{cls.__qualname__}",
            "schema": RESULT_SCHEMA_VERSION,
            **encode(self),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TaskResult:
        """Rebuild a result from :meth:`to_dict` output (the right subclass, by ``kind``).

        A kind is imported only from the core or an installed zoo plugin's package, so a
        payload cannot make this process import arbitrary modules.
        """
        from .codec import decode

        if not isinstance(data, dict) or "kind" not in data:
            raise InputError("not a zoo result payload (no 'kind'); pass what to_dict() returned")
        kind = str(data["kind"])
        target = _KINDS.get(kind) or _import_kind(kind)
        if not issubclass(target, cls):
            raise InputError(f"payload holds a {target.__name__}, not a {cls.__name__}")
        fields = {k: v for k, v in data.items() if k not in ("kind", "schema")}
        return target.model_validate(decode(fields))


def _import_kind(kind: str) -> type[TaskResult]:
    module, _, qualname = kind.partition(":")
    top = module.split(".")[0]
    if top != "zoo" and top not in _plugin_packages():
        raise InputError(
            f"result kind {kind!r} does not belong to sam-zoo or an installed zoo plugin"
        )
    try:
        obj: Any = importlib.import_module(module)
        for part in qualname.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError):
        raise InputError(
            f"result kind {kind!r} is unknown here; is its plugin installed?"
        ) from None
    if not (isinstance(obj, type) and issubclass(obj, TaskResult)):
        raise InputError(f"{kind!r} is not a result type")
    return obj


def _plugin_packages() -> set[str]:
    from importlib import metadata

    return {
        ep.value.split(":")[0].split(".")[0] for ep in metadata.entry_points(group="zoo.plugins")
    }


def result_from_dict(data: dict[str, Any]) -> TaskResult:
    """Any task's result from its :meth:`TaskResult.to_dict` form."""
    return TaskResult.from_dict(data)
