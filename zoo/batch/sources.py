"""Where items come from: ``--input`` as a folder, a glob, a list, a manifest or COCO JSON.

Every source streams :class:`~zoo.batch.items.Item` s in a fixed order and never holds the
whole input in memory (a COCO JSON is the exception: it is one JSON document). Before any
work, :func:`open_source` checks what can be checked cheaply - the input exists and is
readable, a manifest's columns are known, a COCO file is COCO - so a bad ``--input`` is a
one-line error and nothing is created. Problems of single rows (a malformed prompt) are the
item's, reported in ``errors.jsonl``.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zoo.errors import InputError

from .items import Item, check_columns, item_from_row
from .remote import find, open_remote, scheme_of

__all__ = ["VIDEO_SUFFIXES", "Source", "open_source"]

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v")
_GLOB = re.compile(r"[*?\[]")


@dataclass
class Source:
    """A description plus a way to iterate (and, separately, to count) the items."""

    kind: str
    location: str
    video: bool = False
    base: str | None = None
    images_dir: str | None = None
    score_thr: float | None = None
    exclude: str | None = None
    categories: list[dict[str, Any]] = field(default_factory=list)
    _coco: Any = None

    # ------------------------------------------------------------------ iteration
    def items(self) -> Iterator[Item]:
        gen = {
            "folder": self._folder,
            "glob": self._glob,
            "remote-folder": self._remote_folder,
            "list": self._list,
            "jsonl": self._jsonl,
            "parquet": self._parquet,
            "coco": self._coco_items,
            "image": self._single,
        }[self.kind]
        return gen()

    def count(self) -> int:
        """How many items (a cheap pass over the input; used for the progress bar's ETA)."""
        if self.kind == "coco":
            return len(self._coco.images)
        if self.kind == "parquet":
            return int(self._parquet_file().metadata.num_rows)
        return sum(1 for _ in self._locations()) if self.kind != "jsonl" else self._lines()

    def _item(self, uri: str, position: int) -> Item:
        return Item(position, uri, self.video)

    def _single(self) -> Iterator[Item]:
        yield self._item(self.location, 1)

    def _wanted(self, name: str) -> bool:
        return name.lower().endswith(VIDEO_SUFFIXES if self.video else IMAGE_SUFFIXES)

    def _walk(self, folder: str) -> Iterator[str]:
        """Files under ``folder`` in sorted order, one directory listing at a time."""
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError:
            return
        for e in entries:
            if e.name.startswith(".") or (self.exclude and e.path == self.exclude):
                continue
            if e.is_dir(follow_symlinks=False):
                if self.video and _has_frames(e.path):
                    yield e.path  # a frame folder is one video
                else:
                    yield from self._walk(e.path)
            elif e.is_file() and self._wanted(e.name):
                yield e.path

    def _locations(self) -> Iterator[str]:
        if self.kind == "folder":
            yield from self._walk(self.location)
        elif self.kind == "glob":
            root, rx = _glob_parts(self.location)
            for p in self._walk(root):
                if rx.fullmatch(os.path.relpath(p, root).replace(os.sep, "/")):
                    yield p
        elif self.kind == "remote-folder":
            suffixes = VIDEO_SUFFIXES if self.video else IMAGE_SUFFIXES
            yield from find(self.location, suffixes)
        elif self.kind == "list":
            with _open_text(self.location) as fh:
                for line in fh:
                    text = line.strip()
                    if text and not text.startswith("#"):
                        yield _join(self.base, text)
        elif self.kind == "image":
            yield self.location

    def _folder(self) -> Iterator[Item]:
        for i, p in enumerate(self._locations(), start=1):
            yield self._item(p, i)

    _glob = _remote_folder = _list = _folder

    # ------------------------------------------------------------------ manifests
    def _lines(self) -> int:
        with _open_text(self.location) as fh:
            return sum(1 for line in fh if line.strip())

    def _jsonl(self) -> Iterator[Item]:
        with _open_text(self.location) as fh:
            position = 0
            for line in fh:
                if not line.strip():
                    continue
                position += 1
                try:
                    row = json.loads(line)
                    if not isinstance(row, dict):
                        raise ValueError("not a JSON object")
                except ValueError as exc:
                    msg = getattr(exc, "msg", str(exc))
                    yield Item(
                        position,
                        "",
                        self.video,
                        error=f"{self.location} row {position}: not valid JSON ({msg})",
                    )
                    continue
                yield self._with_task_video(item_from_row(row, position, self.base, self.location))

    def _with_task_video(self, item: Item) -> Item:
        if self.video and not item.video and item.uri:
            item.video = True  # a video family's manifest may call its column "image"
        return item

    def _parquet_file(self) -> Any:
        try:
            import pyarrow.parquet as pq
        except ImportError:
            raise InputError(
                "reading a Parquet manifest needs pyarrow; pip install 'sam-zoo[parquet]'"
            ) from None
        try:
            if scheme_of(self.location):
                import pyarrow as pa

                from .remote import read_bytes

                return pq.ParquetFile(pa.BufferReader(read_bytes(self.location)))
            return pq.ParquetFile(self.location)
        except (OSError, ValueError) as exc:
            raise InputError(
                f"--input {self.location} is not a readable Parquet file ({exc})"
            ) from None

    def _parquet(self) -> Iterator[Item]:
        pf = self._parquet_file()
        position = 0
        for batch in pf.iter_batches(batch_size=1024):
            for row in batch.to_pylist():
                position += 1
                yield self._with_task_video(item_from_row(row, position, self.base, self.location))

    # ------------------------------------------------------------------ COCO
    def _coco_items(self) -> Iterator[Item]:
        from zoo.data.adapters import xywh_to_xyxy

        coco = self._coco
        for image_id, entry, anns in coco.iter_images():
            uri = _join(self.images_dir, str(entry["file_name"]))
            boxes, cats, scores = [], [], []
            error = None
            for ann in anns:
                if ann.get("iscrowd"):
                    continue
                score = ann.get("score")
                if self.score_thr is not None and score is not None and score < self.score_thr:
                    continue
                try:
                    boxes.append(list(xywh_to_xyxy(ann.get("bbox"), f"annotation {ann['id']}")))
                except InputError as exc:
                    error = f"{coco.source}: {exc}"
                cats.append(int(ann.get("category_id", 1)))
                if score is not None:
                    scores.append(float(score))
            row: dict[str, Any] = {
                "file_name": str(entry["file_name"]),
                "boxes": boxes,
                "category_ids": cats,
            }
            if scores and len(scores) == len(boxes):
                row["scores"] = scores
            yield Item(image_id, uri, self.video, row, error)


def _has_frames(folder: str) -> bool:
    try:
        return any(e.name.lower().endswith(IMAGE_SUFFIXES) for e in os.scandir(folder))
    except OSError:
        return False


def _join(base: str | None, value: str) -> str:
    if base is None or "://" in value or os.path.isabs(value):
        return value
    return base.rstrip("/") + "/" + value if "://" in base else os.path.join(base, value)


def _glob_parts(pattern: str) -> tuple[str, re.Pattern[str]]:
    """``data/**/img_*.jpg`` -> (``data``, a regex over paths relative to it)."""
    parts = pattern.replace(os.sep, "/").split("/")
    k = next(i for i, p in enumerate(parts) if _GLOB.search(p))
    root = "/".join(parts[:k]) or "."
    rx = ""
    rest = parts[k:]
    for i, part in enumerate(rest):
        last = i == len(rest) - 1
        if part == "**":
            rx += ".*" if last else "(?:.*/)?"
            continue
        out = ""
        j = 0
        while j < len(part):
            c = part[j]
            if c == "*":
                out += "[^/]*"
            elif c == "?":
                out += "[^/]"
            elif c == "[":
                end = part.find("]", j + 1)
                if end < 0:
                    out += re.escape(c)
                else:
                    out += "[" + part[j + 1 : end].replace("!", "^", 1) + "]"
                    j = end
            else:
                out += re.escape(c)
            j += 1
        rx += out + ("" if last else "/")
    return root, re.compile(rx)


class _TextFile:
    def __init__(self, location: str) -> None:
        self.location = location
        self._cm: Any = None

    def __enter__(self) -> Any:
        if scheme_of(self.location):
            import io

            self._cm = open_remote(self.location, "rb")
            return io.TextIOWrapper(self._cm.__enter__(), encoding="utf-8")
        self._cm = open(self.location, encoding="utf-8")
        return self._cm.__enter__()

    def __exit__(self, *exc: Any) -> None:
        self._cm.__exit__(*exc)


def _open_text(location: str) -> _TextFile:
    return _TextFile(location)


def open_source(
    location: str,
    *,
    video: bool = False,
    images_dir: str | None = None,
    score_thr: float | None = None,
    exclude: str | None = None,
) -> Source:
    """Classify and check ``--input`` (one-line ``InputError`` when it cannot be used)."""
    text = os.fspath(location)
    remote = scheme_of(text) is not None
    lower = text.lower()
    base = text.rsplit("/", 1)[0] if remote else str(Path(text).resolve().parent)
    kw: dict[str, Any] = {"video": video, "exclude": exclude}
    if not remote and not os.path.exists(text):
        if _GLOB.search(text):
            src = Source("glob", text, **kw)
            if next(src._locations(), None) is None:
                raise InputError(f"--input {text} matches no file; check the pattern")
            return src
        raise InputError(f"--input {text} does not exist; give a folder, glob, list or manifest")
    if not remote and os.path.isdir(text):
        src = Source("folder", os.path.abspath(text), **kw)
        if not video and next(src._locations(), None) is None:
            raise InputError(f"--input folder {text} holds no image ({', '.join(IMAGE_SUFFIXES)})")
        return src
    if lower.endswith((".jsonl", ".ndjson")):
        src = Source("jsonl", text, base=base, **kw)
        _check_first_jsonl(src)
        return src
    if lower.endswith(".parquet"):
        src = Source("parquet", text, base=base, **kw)
        check_columns(src._parquet_file().schema_arrow.names, f"--input {text}")
        return src
    if lower.endswith(".json"):
        return _coco_source(text, images_dir or base, score_thr, kw)
    if lower.endswith((".txt", ".lst", ".list")):
        return Source("list", text, base=base, **kw)
    if lower.endswith(IMAGE_SUFFIXES + VIDEO_SUFFIXES):
        return Source("image", text, **kw)
    if remote:
        return Source("remote-folder", text, **kw)
    raise InputError(
        f"--input {text}: unknown kind of file; give a folder, a glob, a .txt list, a "
        ".jsonl/.parquet manifest or a COCO .json"
    )


def _check_first_jsonl(src: Source) -> None:
    try:
        with _open_text(src.location) as fh:
            first = next((line for line in fh if line.strip()), None)
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read --input {src.location} ({exc})") from None
    if first is None:
        raise InputError(f"--input {src.location} is empty; a manifest has one JSON row a line")
    try:
        row = json.loads(first)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"--input {src.location} line 1 is not JSON ({exc.msg}); a manifest has one JSON "
            "object a line"
        ) from None
    if not isinstance(row, dict):
        raise InputError(f'--input {src.location}: rows must be JSON objects like {{"image": ...}}')
    check_columns(list(row), f"--input {src.location}")


def _coco_source(text: str, images_dir: str, score_thr: float | None, kw: dict[str, Any]) -> Source:
    from zoo.data.coco import read_coco

    if scheme_of(text):
        from .remote import read_bytes

        try:
            data = json.loads(read_bytes(text))
        except json.JSONDecodeError as exc:
            raise InputError(f"--input {text} is not valid JSON: {exc.msg}") from None
    else:
        data = text
    coco = read_coco(data, what="--input COCO file", require_annotations=False)
    src = Source("coco", text, images_dir=images_dir, score_thr=score_thr, **kw)
    src._coco = coco
    src.categories = [dict(c) for c in coco.categories]
    return src
