"""Deprecated (plugin API 2): what family runners imported from here now lives in
:mod:`zoo.context` (``RunContext``, ``check_out_dir``), :mod:`zoo.prompts` (the prompt text
grammar) and :mod:`zoo.options` (``parse_extras``). The names keep working until sam-zoo
0.3; importing them from here warns once."""

from __future__ import annotations

import warnings
from typing import Any

_MOVED = {
    "RunContext": "zoo.context",
    "check_out_dir": "zoo.context",
    "parse_boxes": "zoo.prompts",
    "parse_points": "zoo.prompts",
    "parse_labels": "zoo.prompts",
    "prompts_from_flags": "zoo.prompts",
    "parse_extras": "zoo.options",
}


def __getattr__(name: str) -> Any:
    import importlib

    if name in _MOVED:
        warnings.warn(
            f"zoo.runners.{name} is deprecated (plugin API 2); import it from {_MOVED[name]} "
            "(works until sam-zoo 0.3)",
            DeprecationWarning,
            stacklevel=2,
        )
        return getattr(importlib.import_module(_MOVED[name]), name)
    raise AttributeError(f"module 'zoo.runners' has no attribute {name!r}")
