"""Tasks: the unit of behaviour (see :mod:`zoo.tasks.spec`).

Each built-in task lives in its own module (``promptable``, ``everything``, ``amodal``,
``shadow``, ``rgbd``, ``video``, ``adapt``, ``concept``, ``concept_video``) and is
registered by :mod:`zoo.tasks.builtin`
through the ``zoo_register_tasks`` hook; :func:`get_task` finds any registered one.

Plugin API 2 imported results and prompts from here; those names still resolve, with a
deprecation warning pointing at :mod:`zoo.results`, :mod:`zoo.prompts` and
:mod:`zoo.specs`.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

from .spec import ImageRequest, RunInputs, TaskInputs, TaskSpec, accepted_kwargs

if TYPE_CHECKING:
    from zoo.specs import FamilySpec

__all__ = [
    "ImageRequest",
    "RunInputs",
    "TaskInputs",
    "TaskSpec",
    "accepted_kwargs",
    "get_task",
    "tasks_of",
]


def get_task(name: str) -> TaskSpec:
    """The registered task ``name`` (``InputError`` naming the known ones if unknown)."""
    from zoo.registry import get_registry

    return get_registry().task(name)


def tasks_of(family: FamilySpec) -> list[TaskSpec]:
    """The tasks a family does (declared, then implied), as registered."""
    from zoo.registry import get_registry

    return get_registry().tasks_of(family)


#: name -> module of what plugin API 2 imported from ``zoo.tasks``
_MOVED = {
    "Task": "zoo.specs",
    "Prompts": "zoo.prompts",
    "ObjectPrompt": "zoo.prompts",
    "ShadowPrompt": "zoo.prompts",
    "as_prompts": "zoo.prompts",
    "as_shadow_prompts": "zoo.prompts",
    "AmodalInstance": "zoo.results",
    "AmodalResult": "zoo.results",
    "Provenance": "zoo.results",
    "RGBDResult": "zoo.results",
    "SegmentationResult": "zoo.results",
    "ShadowInstance": "zoo.results",
    "ShadowResult": "zoo.results",
    "TaskResult": "zoo.results",
    "VideoFrameResult": "zoo.results",
}


def __getattr__(name: str) -> Any:
    import importlib

    if name in _MOVED:
        module = _MOVED[name]
        warnings.warn(
            f"`from zoo.tasks import {name}` is deprecated (plugin API 2); import it from "
            f"{module}. It keeps working until sam-zoo 0.3.",
            DeprecationWarning,
            stacklevel=2,
        )
        return getattr(importlib.import_module(module), name)
    if name in ("TASK_METHODS", "TASK_PROTOCOLS"):
        warnings.warn(
            f"zoo.tasks.{name} is deprecated; a task's method is get_task(name).method",
            DeprecationWarning,
            stacklevel=2,
        )
        from zoo.registry import get_registry

        tasks = get_registry().tasks
        if name == "TASK_METHODS":
            return {t: s.method for t, s in tasks.items()}
        return {t: object for t in tasks}
    raise AttributeError(f"module 'zoo.tasks' has no attribute {name!r}")
