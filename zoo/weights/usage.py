"""Everything sam-zoo keeps on disk, in one list: what ``zoo cache ls`` shows, what ``zoo
doctor`` totals and what ``zoo cache rm`` removes, so the three always agree.

Three kinds: ``checkpoint`` (downloaded weights: the zoo's blobs and the hub caches'
files its index points at), ``onnx`` (graphs the onnxruntime backend exported, one folder
per model and export key) and ``trained`` (models trained here, ``$ZOO_HOME/local``).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from zoo.errors import InputError

__all__ = ["KINDS", "CacheItem", "cache_items", "remove_items"]

KINDS = ("checkpoint", "onnx", "trained")


@dataclass(frozen=True)
class CacheItem:
    """One thing kept on disk: its kind, what it is, where, how big."""

    kind: str
    name: str
    path: Path
    size: int
    present: bool = True
    sha256: str | None = None
    #: where a checkpoint came from (None for exports and trained models, and for a blob
    #: the index does not know)
    uri: str | None = None


def _folder_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def cache_items(kinds: tuple[str, ...] = KINDS) -> list[CacheItem]:
    """Every item of the given kinds, checkpoints first."""
    from zoo.weights.cache import list_cache
    from zoo.weights.env import cache_dir

    out: list[CacheItem] = []
    if "checkpoint" in kinds:
        for e in list_cache():
            size = e.path.stat().st_size if e.present else 0
            out.append(
                CacheItem(
                    "checkpoint", e.uri or e.path.name, e.path, size, e.present, e.sha256, e.uri
                )
            )
    root = cache_dir()
    if "onnx" in kinds and (root / "onnx").is_dir():
        for key in sorted((root / "onnx").glob("*/*/*")):
            if key.is_dir():
                family, tag = key.parent.parent.name, key.parent.name
                out.append(CacheItem("onnx", f"{family}:{tag}#{key.name}", key, _folder_size(key)))
    if "trained" in kinds and (root / "local").is_dir():
        for folder in sorted((root / "local").glob("*/*")):
            if folder.is_dir():
                out.append(
                    CacheItem(
                        "trained",
                        f"{folder.parent.name}:{folder.name}",
                        folder,
                        _folder_size(folder),
                        (folder / "variant.json").is_file(),
                    )
                )
    return out


def remove_items(target: str) -> list[Path]:
    """``onnx:NAME`` (every export of a model, or one ``NAME#KEY``), ``trained:FAMILY:NAME``
    (a model trained here); anything else is a checkpoint (model name, URI, sha256 prefix:
    :func:`zoo.weights.cache.remove_from_cache`)."""
    kind, sep, rest = target.partition(":")
    if sep and kind in ("onnx", "trained"):
        if not rest:
            raise InputError(f"give what to remove: zoo cache rm {kind}:NAME (see zoo cache ls)")
        items = cache_items((kind,))
        want = rest if "#" in rest or kind == "trained" else None
        chosen = [
            i
            for i in items
            if (i.name == want if want else i.name.split("#")[0] in (rest, f"{rest}:"))
            or (not want and ":" not in rest and i.name.startswith(f"{rest}:"))
        ]
        if not chosen:
            raise InputError(f"nothing in the cache is {target!r}; see `zoo cache ls`")
        removed = []
        for i in chosen:
            shutil.rmtree(i.path, ignore_errors=True)
            removed.append(i.path)
        if kind == "trained":
            from zoo.registry.local import GENERATION

            GENERATION[0] += 1  # the registry forgets the removed variant
        return removed
    from zoo.weights.cache import remove_from_cache

    return remove_from_cache(target)
