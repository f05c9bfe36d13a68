"""What an evaluator hands back, and how the core writes and shows it.

An evaluator (a family's ``FamilySpec.evaluator``, or a task's core evaluator) returns an
:class:`EvalReport`: which protocol it followed, the metrics per model, a table for people,
counts, notes, and any further files (predictions). The core does the rest the same way for
every family: ``metrics.json`` (with the protocol, provenance and test-mode flag) and the
extra files written atomically into ``--out``, the table and counts printed, ``--json``
printing the whole record.

One unit for every family: metrics are fractions (1.0 is perfect, as pycocotools and
davis2017-evaluation give them), never percentages; the printed table's title says so
(:data:`METRIC_UNIT`) and ``metrics.json`` records it under ``"unit"``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["METRIC_UNIT", "EvalReport", "FileWriter", "Table"]

#: The one unit ``zoo eval`` reports metrics in, for every family.
METRIC_UNIT = "fraction"
#: How the printed table's title says it.
UNIT_NOTE = "metrics as fractions, 1.0 = perfect"

#: A file that is not JSON (a mask PNG...): called with the path to write, inside the
#: temporary folder that becomes ``--out``.
FileWriter = Callable[[Path], None]


@dataclass
class Table:
    """A table for people: a title, column names and rows of values."""

    title: str
    columns: list[str]
    rows: list[list[Any]]

    def to_dict(self) -> dict[str, Any]:
        return {"title": self.title, "columns": list(self.columns), "rows": self.rows}


@dataclass
class EvalReport:
    """The outcome of ``zoo eval`` (see the module docstring).

    ``metrics``: ``{model name: {metric: value}}`` (fractions, :data:`METRIC_UNIT`);
    ``models``: ``{model name: weights}``; ``summary``: dataset counts and settings (printed
    as lines, recorded); ``files``: ``{relative path: JSON-able or FileWriter}`` written
    beside ``metrics.json``; ``record``: further keys for ``metrics.json`` only
    (per-sequence tables...). ``provenance`` (each loaded model's record: weights, files,
    backend, seed) and ``arguments`` (the command's inputs and options) are filled in by
    the core (:func:`zoo.evaluating.evaluate_model`), not by the evaluator.
    """

    protocol: str
    metrics: dict[str, dict[str, Any]]
    models: dict[str, str]
    table: Table | None = None
    summary: dict[str, Any] = field(default_factory=dict)
    files: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    record: dict[str, Any] = field(default_factory=dict)
    provenance: list[dict[str, Any]] = field(default_factory=list)
    arguments: dict[str, Any] = field(default_factory=dict)

    @property
    def test_mode(self) -> bool:
        return any(str(w).startswith("random") for w in self.models.values())

    def to_dict(self) -> dict[str, Any]:
        """``metrics.json``: protocol, provenance, metrics, counts (JSON-safe)."""
        from zoo import __version__
        from zoo.results.base import TEST_MODE_NOTE

        out: dict[str, Any] = {
            "protocol": self.protocol,
            "zoo_version": __version__,
            "models": dict(self.models),
            "test_mode": self.test_mode,
            **({"test_mode_note": TEST_MODE_NOTE} if self.test_mode else {}),
            "unit": METRIC_UNIT,
            "metrics": self.metrics,
            **self.summary,
            **self.record,
        }
        if self.arguments:
            out["arguments"] = dict(self.arguments)
        if self.provenance:
            out["provenance"] = list(self.provenance)
        if self.notes:
            out["notes"] = list(self.notes)
        return out

    def write(self, out: Path) -> list[Path]:
        """``metrics.json`` and the extra files into ``out``, atomically."""
        from zoo.io.atomic import atomic_output_dir
        from zoo.io.masks import write_json

        names = ["metrics.json", *self.files]
        with atomic_output_dir(out) as tmp:
            write_json(Path(tmp) / "metrics.json", self.to_dict(), indent=2)
            for name, data in self.files.items():
                path = Path(tmp) / name
                path.parent.mkdir(parents=True, exist_ok=True)
                if callable(data):
                    data(path)
                else:
                    write_json(path, data)
        return [out / n for n in names]

    def shown(self) -> dict[str, Any]:
        """What the command prints for people: the table, the protocol and the summary."""
        out: dict[str, Any] = {}
        if self.table is not None:
            table = self.table.to_dict()
            table["title"] = f"{table['title']}; {UNIT_NOTE}" if table["title"] else UNIT_NOTE
            out["table"] = table
        out["protocol"] = self.protocol
        out.update(self.summary)
        return out
