"""``zoo batch``: dataset-scale inference for every family, locally or on a Ray cluster.

>>> import zoo
>>> for r in zoo.batch("sam2:tiny", "photos/", {"boxes": [[10, 10, 200, 200]]}):  # doctest: +SKIP
...     print(r.key, r.uri, len(r.result))

Modules, one job each: :mod:`.sources` (what ``--input`` is), :mod:`.items` (an item and
its manifest row), :mod:`.remote` (``s3://``/``gs://``/``https://`` through fsspec),
:mod:`.decode` (pixels with a size limit), :mod:`.plan` (the run, JSON-safe, for every
worker), :mod:`.work` (the per-item function: task dispatch), :mod:`.layout` (the output
folder and the atomic per-item writer), :mod:`.local` (the threaded pipeline and
``--workers`` processes), :mod:`.ray_engine` (Ray Data actor pools), :mod:`.finalize`
(merged outputs), :mod:`.runner` (one run start to end), :mod:`.api` (checking the
request; the Python API) and :mod:`.cli` (the command).

Importing this package is cheap (no torch, no ray): the CLI imports it at start-up.
"""

from __future__ import annotations

import sys
import types
from typing import Any

__all__ = ["BatchResult", "batch"]


class _CallableModule(types.ModuleType):
    """``zoo.batch`` is this package *and* the function: ``zoo.batch("sam2", "photos/")``."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from .api import batch

        return batch(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule


def __getattr__(name: str) -> Any:
    if name in __all__:
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'zoo.batch' has no attribute {name!r}")
