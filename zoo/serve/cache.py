"""The server's memory: one LRU for uploaded pixels and embeddings, bounded twice.

A click costs a decoder pass only if the image's embedding is still here, so the server
keeps embeddings of recently used images; a long-running server that sees thousands of
images must not grow without bound, so every entry is counted in bytes against one budget
(``--max-cache-mb``) and in number against its kind's limit (``--max-images``). Whichever
binds first evicts the least recently used entry. Dropping an image drops its embeddings
too: they can only be reached through its ``image_id``.

Thread-safe (requests run in a thread pool); values are never copied.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

from zoo.serve.errors import ApiError


def nbytes(value: Any) -> int:
    """Memory held by arrays and tensors inside ``value`` (dicts, lists, tuples walked)."""
    if value is None:
        return 0
    if hasattr(value, "element_size") and hasattr(value, "nelement"):  # torch.Tensor
        return int(value.element_size() * value.nelement())
    if hasattr(value, "nbytes") and not isinstance(value, (bytes, bytearray)):
        return int(value.nbytes)
    if isinstance(value, (bytes, bytearray)):
        return len(value)
    if isinstance(value, dict):
        return sum(nbytes(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return sum(nbytes(v) for v in value)
    return 0


@dataclass
class _Entry:
    value: Any
    size: int


class LRUCache:
    """Entries keyed by ``(kind, key)``; ``kind`` is ``"image"``, ``"embedding:<model>"``...

    ``max_items`` limits entries per kind family (the part before ``:``), ``max_bytes``
    all entries together. ``on_evict(kind, key, value)`` runs for every eviction (a video
    deletes its temporary file there).
    """

    def __init__(
        self,
        max_bytes: int,
        max_items: dict[str, int],
        on_evict: Callable[[str, Hashable, Any], None] | None = None,
    ) -> None:
        self.max_bytes = int(max_bytes)
        self.max_items = dict(max_items)
        self.on_evict = on_evict
        self._data: OrderedDict[tuple[str, Hashable], _Entry] = OrderedDict()
        self._lock = threading.Lock()
        self._bytes = 0
        self.evictions = 0

    @staticmethod
    def _family(kind: str) -> str:
        return kind.split(":", 1)[0]

    def get(self, kind: str, key: Hashable) -> Any | None:
        with self._lock:
            entry = self._data.get((kind, key))
            if entry is None:
                return None
            self._data.move_to_end((kind, key))
            return entry.value

    def __contains__(self, item: tuple[str, Hashable]) -> bool:
        with self._lock:
            return item in self._data

    def put(self, kind: str, key: Hashable, value: Any, size: int | None = None) -> None:
        """Insert (or refresh) an entry, then evict until both bounds hold again."""
        size = nbytes(value) if size is None else int(size)
        if size > self.max_bytes:
            raise ApiError(
                413,
                "too_large",
                f"one {self._family(kind)} needs {size / 1e6:.3g} MB, more than the whole "
                f"cache ({self.max_bytes / 1e6:.3g} MB, --max-cache-mb); send a smaller "
                "input or raise the limit",
            )
        evicted: list[tuple[str, Hashable, Any]] = []
        with self._lock:
            old = self._data.pop((kind, key), None)
            if old is not None:
                self._bytes -= old.size
            self._data[(kind, key)] = _Entry(value, size)
            self._bytes += size
            family = self._family(kind)
            limit = self.max_items.get(family)
            if limit is not None:
                same = [k for k in self._data if k[0] == kind]
                for k in same[: max(0, len(same) - limit)]:
                    evicted.append(self._evict(k))
            while self._bytes > self.max_bytes:
                oldest = next(iter(self._data))
                if oldest == (kind, key):  # cannot happen while size <= max_bytes
                    break
                evicted.append(self._evict(oldest))
            evicted += self._drop_dependents(evicted)
        self._notify(evicted)

    def pop(self, kind: str, key: Hashable) -> Any | None:
        with self._lock:
            if (kind, key) not in self._data:
                return None
            item = self._evict((kind, key), count=False)
        self._notify([item])
        return item[2]

    def _evict(self, k: tuple[str, Hashable], count: bool = True) -> tuple[str, Hashable, Any]:
        entry = self._data.pop(k)
        self._bytes -= entry.size
        if count:
            self.evictions += 1
        return (k[0], k[1], entry.value)

    def _drop_dependents(self, evicted: list[tuple[str, Hashable, Any]]) -> list[Any]:
        """Embeddings of an evicted image can never be asked for again: free them now."""
        gone = {key for kind, key, _ in evicted if kind == "image"}
        if not gone:
            return []
        deps = [k for k in self._data if k[0].startswith("embedding:") and k[1] in gone]
        return [self._evict(k) for k in deps]

    def _notify(self, evicted: list[tuple[str, Hashable, Any]]) -> None:
        if self.on_evict is None:
            return
        for kind, key, value in evicted:
            self.on_evict(kind, key, value)

    def clear(self) -> None:
        with self._lock:
            items = [(k[0], k[1], e.value) for k, e in self._data.items()]
            self._data.clear()
            self._bytes = 0
        self._notify(items)

    def stats(self) -> dict[str, Any]:
        """Counts and bytes per kind: what ``/healthz`` reports."""
        with self._lock:
            kinds: dict[str, dict[str, int]] = {}
            for (kind, _), entry in self._data.items():
                row = kinds.setdefault(kind, {"items": 0, "bytes": 0})
                row["items"] += 1
                row["bytes"] += entry.size
            return {
                "bytes": self._bytes,
                "max_bytes": self.max_bytes,
                "evictions": self.evictions,
                "kinds": kinds,
            }
