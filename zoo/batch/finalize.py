"""The merged outputs, built from the per-item records once the items are done.

Merging streams the records shard by shard in key order, so it costs one pass and a
shard's worth of memory however many items there are, and every item appears exactly
once (a key has one record file). It is idempotent: a run killed while merging merges
again on resume; each merged file is written under a temporary name and renamed.

* ``results.json``: a COCO *results* array (``image_id`` = item key) and ``images.json``,
  a COCO dict of the items (ids, file names, sizes) and categories, so that
  ``COCO("images.json").loadRes("results.json")`` works with no ground truth at hand;
* ``results.jsonl``: one line per item (its record, with the lossless results);
* ``results.parquet/part-NNNNNN.parquet``: one row per mask (one part per shard);
* ``errors.jsonl``: one line per failed item: key, uri, reason.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from zoo.io.atomic import atomic_write

from .layout import Layout

__all__ = ["merge_outputs"]

DEFAULT_CATEGORIES = [{"id": 1, "name": "object", "supercategory": "object"}]


class _JsonArray:
    """Write a JSON array element by element (no list in memory)."""

    def __init__(self, fh: IO[str]) -> None:
        self.fh = fh
        self.first = True
        fh.write("[")

    def add(self, obj: Any) -> None:
        self.fh.write(("" if self.first else ",\n") + json.dumps(obj, separators=(",", ":")))
        self.first = False

    def close(self) -> None:
        self.fh.write("]\n")


def _records(layout: Layout) -> Iterator[tuple[str, list[dict[str, Any]], list[dict[str, Any]]]]:
    """``(shard, records, errors)`` per shard; an error whose item has a record is stale."""
    for shard, files in layout.iter_shards():
        recs: list[dict[str, Any]] = []
        errs: list[dict[str, Any]] = []
        for f in files:
            data = json.loads(f.read_text())
            (errs if f.name.endswith(".error.json") else recs).append(data)
        done = {r["key"] for r in recs}
        yield shard, recs, [e for e in errs if e["key"] not in done]


def _parquet_part(path: Path, records: list[dict[str, Any]]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    cols: dict[str, list[Any]] = {
        k: []
        for k in (
            "image_id",
            "file_name",
            "uri",
            "mask_index",
            "category_id",
            "score",
            "height",
            "width",
            "rle_counts",
            "bbox",
            "area",
            "extra",
        )
    }
    base = {"image_id", "category_id", "segmentation", "score", "bbox", "area"}
    for rec in records:
        for i, ann in enumerate(rec["coco"]):
            cols["image_id"].append(rec["key"])
            cols["file_name"].append(rec["file_name"])
            cols["uri"].append(rec["uri"])
            cols["mask_index"].append(i)
            cols["category_id"].append(ann["category_id"])
            cols["score"].append(float(ann["score"]))
            h, w = ann["segmentation"]["size"]
            cols["height"].append(h)
            cols["width"].append(w)
            cols["rle_counts"].append(ann["segmentation"]["counts"])
            cols["bbox"].append([float(v) for v in ann["bbox"]])
            cols["area"].append(int(ann["area"]))
            cols["extra"].append(json.dumps({k: v for k, v in ann.items() if k not in base}))
    schema = pa.schema(
        [
            ("image_id", pa.int64()),
            ("file_name", pa.string()),
            ("uri", pa.string()),
            ("mask_index", pa.int32()),
            ("category_id", pa.int64()),
            ("score", pa.float64()),
            ("height", pa.int32()),
            ("width", pa.int32()),
            ("rle_counts", pa.string()),
            ("bbox", pa.list_(pa.float64())),
            ("area", pa.int64()),
            ("extra", pa.string()),
        ]
    )
    with atomic_write(path) as tmp:
        pq.write_table(pa.table(cols, schema=schema), tmp)


def merge_outputs(
    layout: Layout, formats: list[str], categories: list[dict[str, Any]] | None
) -> dict[str, Any]:
    """Write the merged files; return counts and the files written (relative to ``out``)."""
    out = layout.out
    counts = {"done": 0, "failed": 0, "masks": 0}
    written: list[str] = []
    with (
        atomic_write(out / "errors.jsonl") as err_tmp,
        open(err_tmp, "w") as err_fh,
        _maybe(out / "results.json", "coco" in formats) as res_fh,
        _maybe(out / "images.json", "coco" in formats) as img_fh,
        _maybe(out / "results.jsonl", "jsonl" in formats) as jsonl_fh,
    ):
        results = _JsonArray(res_fh) if res_fh else None
        if img_fh:
            img_fh.write('{"images": ')
        images = _JsonArray(img_fh) if img_fh else None
        parquet_dir = out / "results.parquet"
        kept_parts: set[str] = set()
        for shard, recs, errs in _records(layout):
            for rec in recs:
                counts["done"] += 1
                counts["masks"] += rec["masks"]
                if results is not None and images is not None:
                    for ann in rec["coco"]:
                        results.add(ann)
                    images.add(
                        {
                            "id": rec["key"],
                            "file_name": rec["file_name"],
                            "height": rec["height"],
                            "width": rec["width"],
                            "uri": rec["uri"],
                        }
                    )
                if jsonl_fh:
                    jsonl_fh.write(json.dumps(rec, separators=(",", ":")) + "\n")
            for e in errs:
                counts["failed"] += 1
                err_fh.write(json.dumps(e) + "\n")
            if "parquet" in formats and recs:
                name = f"part-{shard}.parquet"
                _parquet_part(parquet_dir / name, recs)
                kept_parts.add(name)
        if results is not None and images is not None and img_fh is not None:
            results.close()
            images.fh.write("]")
            cats = json.dumps(categories or DEFAULT_CATEGORIES)
            img_fh.write(f', "categories": {cats}}}\n')
    written.append("errors.jsonl")
    if "coco" in formats:
        written += ["results.json", "images.json"]
    if "jsonl" in formats:
        written.append("results.jsonl")
    if "parquet" in formats:
        parquet_dir.mkdir(parents=True, exist_ok=True)
        for f in os.listdir(parquet_dir):
            if f not in kept_parts and f.endswith(".parquet"):
                os.unlink(parquet_dir / f)
        written.append("results.parquet/")
    return {"counts": counts, "files": written}


class _maybe:
    """``atomic_write`` + open for text, or ``None`` when the format is off."""

    def __init__(self, path: Path, on: bool) -> None:
        self.path, self.on = path, on
        self._cm: Any = None
        self._fh: Any = None

    def __enter__(self) -> IO[str] | None:
        if not self.on:
            return None
        self._cm = atomic_write(self.path)
        tmp = self._cm.__enter__()
        self._fh = open(tmp, "w", encoding="utf-8")
        return self._fh

    def __exit__(self, *exc: Any) -> None:
        if self.on:
            self._fh.close()
            self._cm.__exit__(*exc)
