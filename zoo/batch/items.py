"""One unit of batch work: an image (or a video) and what to ask about it.

An :class:`Item` is what every source yields and every engine consumes. It is small and
JSON-safe (a key, a location, the manifest row's prompt columns), so it travels to worker
processes and Ray actors as is; pixels are read later, in the worker.

The ``key`` is the item's identity across runs: the COCO image id for a COCO input, the
row's ``image_id`` in a manifest, else its 1-based position in the input. Outputs are
named by it, ``--resume`` skips keys whose output exists, and it is the ``image_id`` of the
merged COCO results. A source must therefore enumerate the same input in the same order
every time (folders are walked in sorted order).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any

from zoo.errors import InputError

__all__ = ["MANIFEST_COLUMNS", "Item", "check_columns", "item_from_row", "manifest_columns"]

#: The columns every manifest may have, whatever the task (tasks add their own:
#: :attr:`zoo.tasks.TaskSpec.columns`, e.g. ``depth`` for rgbd, ``objects`` for shadow).
MANIFEST_COLUMNS: dict[str, str] = {
    "image": "image path or URI (relative paths: from the manifest's folder)",
    "video": "video file or frame folder, path or URI (video families)",
    "image_id": "integer id of the item (default: its row number); COCO image_id of outputs",
    "prompts": 'prompts JSON: [{"box": [x1,y1,x2,y2]}, {"points": [[x,y]], "labels": [1]}] or '
    '{"boxes": [...]}; shadow families: [{"object": {...}, "shadow": {...}}]',
    "boxes": "[[x1,y1,x2,y2], ...]: one object per box",
    "points": "[[x,y], ...] clicks of one object (labels default to 1)",
    "labels": "[1, 0, ...] one per point: 1 foreground, 0 background",
    "category_ids": "one category id per box, carried into the results",
    "scores": "one detector score per box (amodal families rank by score x IoU)",
    "file_name": "name recorded for the item in images.json (default: the image's name)",
}
_ALIASES = {"path": "image", "uri": "image", "url": "image", "id": "image_id"}


def _task_columns() -> tuple[dict[str, str], set[str], set[str]]:
    """(columns, path columns, text columns) that the registered tasks add."""
    from zoo.registry import get_registry

    cols: dict[str, str] = {}
    paths: set[str] = set()
    texts: set[str] = set()
    for spec in get_registry().tasks.values():
        for name, text in spec.columns.items():
            cols.setdefault(name, f"{spec.name}: {text}")
        paths |= set(spec.path_columns)
        texts |= set(spec.text_columns)
    return cols, paths, texts


def manifest_columns() -> dict[str, str]:
    """Every column a manifest may have: the shared ones and the tasks'."""
    return {**MANIFEST_COLUMNS, **_task_columns()[0]}


def check_columns(columns: list[str], where: str) -> None:
    """A one-line error for the first unknown column (``where`` names the file)."""
    known = manifest_columns()
    for c in columns:
        if c not in known and c not in _ALIASES:
            raise InputError(f"{where}: unknown column {c!r}; a manifest has {', '.join(known)}")


@dataclass
class Item:
    """An image or video to process, with its own prompt columns (``row``)."""

    key: int
    uri: str
    video: bool = False
    row: dict[str, Any] = field(default_factory=dict)
    #: a problem found while reading the row (bad prompt JSON...): the item fails with it
    error: str | None = None

    @property
    def file_name(self) -> str:
        name = self.row.get("file_name")
        return str(name) if name else os.path.basename(self.uri.rstrip("/")) or self.uri

    def to_json(self) -> str:
        return json.dumps(
            {
                "key": self.key,
                "uri": self.uri,
                "video": self.video,
                "row": self.row,
                "error": self.error,
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str) -> Item:
        d = json.loads(text)
        return cls(int(d["key"]), str(d["uri"]), bool(d["video"]), dict(d["row"]), d["error"])


def is_remote(uri: str) -> bool:
    return "://" in uri and not uri.startswith("file://")


def _resolve(value: str, base: str | None) -> str:
    """A manifest location relative to the manifest's folder; URIs and absolute paths as is.

    Locations are data: no ``~`` or ``$VAR`` expansion, no ``example:`` names.
    """
    if "://" in value or os.path.isabs(value) or base is None:
        return value
    if "://" in base:
        return base.rstrip("/") + "/" + value
    return os.path.join(base, value)


def item_from_row(row: dict[str, Any], position: int, base: str | None, where: str) -> Item:
    """A manifest row -> :class:`Item`; a row that cannot be an item carries ``error``."""
    row = {_ALIASES.get(k, k): v for k, v in row.items() if v is not None}
    task_cols, path_cols, text_cols = _task_columns()
    known = {**MANIFEST_COLUMNS, **task_cols}
    unknown = [k for k in row if k not in known]
    key = position
    problems: list[str] = []
    if unknown:
        problems.append(f"unknown column {unknown[0]!r}")
    if "image_id" in row:
        try:
            key = int(row.pop("image_id"))
            if key < 0:
                raise ValueError
        except (TypeError, ValueError):
            problems.append("image_id is not a non-negative integer")
    for k in [c for c in known if c not in ("image", "video", "file_name", *text_cols)]:
        value = row.get(k)
        if not isinstance(value, str):
            continue
        if k in path_cols and not value.lstrip().startswith(("[", "{")):
            if "," not in value:
                row[k] = _resolve(value, base)
            continue
        try:  # Parquet and CSV-made manifests often carry JSON as text
            row[k] = json.loads(value)
        except json.JSONDecodeError as exc:
            problems.append(f"column {k!r} is not valid JSON ({exc.msg})")
    video = "video" in row
    uri = row.pop("video" if video else "image", None)
    if not isinstance(uri, str) or not uri:
        problems.append("the row has no 'image' (or 'video') location")
        uri = ""
    item = Item(key, _resolve(uri, base) if uri else uri, video, _plain(row))
    if problems:
        item.error = f"{where} row {position}: " + "; ".join(problems)
    return item


def _plain(value: Any) -> Any:
    """Parquet hands numpy arrays and scalars; keep rows JSON-safe."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    tolist = getattr(value, "tolist", None)
    if callable(tolist):
        return _plain(tolist())
    return value
