"""The ``--out`` folder of a batch run, and the per-item writer that fills it.

::

    OUT/
      items/000000/000000001.json     one record per finished item (the "done" marker)
      items/000000/000000002.error.json   one per failed item (replaced when it succeeds)
      masks/000000001/mask_000.png    --format png (video: one palette PNG per frame)
      overlays/000000001.png          --format overlay
      results.json  images.json       --format coco: merged at the end (COCO.loadRes-able)
      results.jsonl                   --format jsonl: one line per item
      results.parquet/part-*.parquet  --format parquet: one row per mask
      errors.jsonl  run.json          always, at the end
      .zoo-batch/state.json           the plan and its fingerprint (resume checks it)

Nothing lost, nothing duplicated: each file is written to a temporary name and renamed
(:mod:`zoo.io.atomic`), and an item's record is renamed into place *last*, after its
PNGs and overlay. So an item either has a record (finished: ``--resume`` skips it) or it
is redone from scratch; temporary files a killed run left behind are swept at the next
start. Items are sharded 1000 to a folder so no folder grows past a listing's comfort.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from zoo.io.atomic import atomic_write

__all__ = ["ItemWriter", "Layout"]

SHARD = 1000
STATE_DIR = ".zoo-batch"


class Layout:
    """Paths of one run's outputs (no I/O but the listing helpers)."""

    def __init__(self, out: str | os.PathLike[str]) -> None:
        self.out = Path(out)
        self.items = self.out / "items"

    def shard(self, key: int) -> Path:
        return self.items / f"{key // SHARD:06d}"

    def record(self, key: int) -> Path:
        return self.shard(key) / f"{key:09d}.json"

    def error(self, key: int) -> Path:
        return self.shard(key) / f"{key:09d}.error.json"

    def masks(self, key: int) -> Path:
        return self.out / "masks" / f"{key:09d}"

    def overlay(self, key: int) -> Path:
        return self.out / "overlays" / f"{key:09d}.png"

    @property
    def state(self) -> Path:
        return self.out / STATE_DIR / "state.json"

    def is_done(self, key: int) -> bool:
        return self.record(key).is_file()

    def iter_shards(self) -> Iterator[tuple[str, list[Path]]]:
        """``(shard name, its files sorted)`` in key order, one shard in memory at a time."""
        if not self.items.is_dir():
            return
        for shard in sorted(e.name for e in os.scandir(self.items) if e.is_dir()):
            files = sorted(
                Path(e.path)
                for e in os.scandir(self.items / shard)
                if e.name.endswith(".json") and not e.name.startswith(".")
            )
            yield shard, files

    def sweep_temporaries(self) -> int:
        """Delete temporary files a killed run left (``.name.XXXX.tmp.ext``); count them."""
        n = 0
        for top in ("items", "masks", "overlays", "results.parquet", ""):
            root = self.out / top if top else self.out
            if not root.is_dir():
                continue
            walker = os.walk(root) if top else [(str(root), [], os.listdir(root))]
            for folder, dirs, files in walker:
                dirs[:] = [d for d in dirs if not d.startswith(".")]
                for f in files:
                    if f.startswith(".") and ".tmp" in f:
                        os.unlink(os.path.join(folder, f))
                        n += 1
        return n


def write_json_atomic(path: Path, obj: Any, indent: int | None = None) -> None:
    with atomic_write(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=indent, separators=None if indent else (",", ":")))


class ItemWriter:
    """Writes one item's outputs; thread-safe (each item touches only its own paths)."""

    def __init__(self, layout: Layout, formats: list[str], keep_results: bool) -> None:
        self.layout = layout
        self.formats = formats
        self.keep_results = keep_results

    def write(
        self, item: Any, image: Any, results: list[Any], timings: dict[str, float]
    ) -> dict[str, Any]:
        """Write the item's files, then its record; return the record."""
        from zoo.results import VideoFrameResult

        key = item.key
        files: list[str] = []
        out = self.layout.out
        video = bool(results) and isinstance(results[0], VideoFrameResult)
        if "png" in self.formats:
            folder = self.layout.masks(key)
            if folder.exists():  # a killed attempt's masks: start clean
                shutil.rmtree(folder)
            for res in results:
                files += self._pngs(res, folder, video)
        if "overlay" in self.formats and image is not None and results and not video:
            p = self.layout.overlay(key)
            from zoo.io.images import save_png

            save_png(p, results[0].overlay(image), text=results[0].provenance.png_text())
            files.append(str(p.relative_to(out)))
        record = self.record(item, results, files, timings)
        write_json_atomic(self.layout.record(key), record)
        self.layout.error(key).unlink(missing_ok=True)
        return record

    def _pngs(self, res: Any, folder: Path, video: bool) -> list[str]:
        from zoo.io.images import save_png

        out = self.layout.out
        if video:
            p = res.save_palette(_mkparent(folder / f"{Path(res.frame_name).stem}.png"))
            return [str(p.relative_to(out))]
        text = res.provenance.png_text()
        written = []
        for stem, mask in res.mask_files():
            p = folder / f"{stem}.png"
            save_png(p, mask, text=text)
            written.append(str(p.relative_to(out)))
        return written

    def record(
        self, item: Any, results: list[Any], files: list[str], timings: dict[str, float]
    ) -> dict[str, Any]:
        h, w = results[0].image_size if results else (0, 0)
        coco: list[dict[str, Any]] = []
        for res in results:
            coco += res.to_coco(item.key)
        rec: dict[str, Any] = {
            "key": item.key,
            "uri": item.uri,
            "file_name": item.file_name,
            "height": int(h),
            "width": int(w),
            "task": str(results[0].task) if results else None,
            "frames": len(results) if results and hasattr(results[0], "frame_index") else None,
            "masks": len(coco),
            "provenance": results[0].provenance.record() if results else None,
            "coco": coco,
            "files": files,
            "timings": {k: round(v, 6) for k, v in timings.items()},
        }
        if self.keep_results:
            rec["results"] = [r.to_dict() for r in results]
        return rec

    def write_error(self, item: Any, reason: str, kind: str) -> dict[str, Any]:
        rec = {
            "key": item.key,
            "uri": item.uri,
            "file_name": item.file_name,
            "error": reason,
            "type": kind,
        }
        write_json_atomic(self.layout.error(item.key), rec)
        return rec


def _mkparent(p: Path) -> Path:
    p.parent.mkdir(parents=True, exist_ok=True)
    return p
