"""What an evaluator hands back, and how the core writes and shows it.

An evaluator (a family's ``FamilySpec.evaluator``, or a task's core evaluator) returns an
:class:`EvalReport`: which protocol it followed, the metrics per model, a table for people,
counts, notes, and any further files (predictions). The core does the rest the same way for
every family: ``metrics.json`` (with the protocol, provenance and test-mode flag) and the
extra files written atomically into ``--out``, the table and counts printed, ``--json``
printing the whole record.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["EvalReport", "Table"]


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

    ``metrics``: ``{model name: {metric: value}}``; ``models``: ``{model name: weights}``
    (provenance); ``summary``: dataset counts and settings (printed as lines, recorded);
    ``files``: ``{file name: JSON-able}`` written beside ``metrics.json``; ``record``:
    further keys for ``metrics.json`` only (per-sequence tables...).
    """

    protocol: str
    metrics: dict[str, dict[str, Any]]
    models: dict[str, str]
    table: Table | None = None
    summary: dict[str, Any] = field(default_factory=dict)
    files: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    record: dict[str, Any] = field(default_factory=dict)

    @property
    def test_mode(self) -> bool:
        return any(str(w).startswith("random") for w in self.models.values())

    def to_dict(self) -> dict[str, Any]:
        """``metrics.json``: protocol, provenance, metrics, counts (JSON-safe)."""
        from zoo import __version__

        out: dict[str, Any] = {
            "protocol": self.protocol,
            "zoo_version": __version__,
            "models": dict(self.models),
            "test_mode": self.test_mode,
            "metrics": self.metrics,
            **self.summary,
            **self.record,
        }
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
                write_json(Path(tmp) / name, data)
        return [out / n for n in names]

    def shown(self) -> dict[str, Any]:
        """What the command prints for people: the table, the protocol and the summary."""
        out: dict[str, Any] = {}
        if self.table is not None:
            out["table"] = self.table.to_dict()
        out["protocol"] = self.protocol
        out.update(self.summary)
        return out
