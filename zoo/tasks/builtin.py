"""The built-in tasks, registered through the same ``zoo_register_tasks`` hook a plugin
uses (the core registers this module before any plugin, as it does its URI schemes)."""

from __future__ import annotations

from zoo.hookspecs import RegisterTask, hookimpl

from .adapt import AdaptTask
from .amodal import AmodalTask
from .concept import ConceptTask
from .concept_video import ConceptVideoTask
from .everything import EverythingTask
from .promptable import PromptableTask
from .rgbd import RGBDTask
from .shadow import ShadowTask
from .video import VideoTask

#: The name ``zoo plugins`` shows for the core's own registrations.
BUILTIN_PLUGIN = "zoo-builtin-tasks"

BUILTIN_TASKS = (
    PromptableTask,
    EverythingTask,
    AmodalTask,
    ShadowTask,
    RGBDTask,
    VideoTask,
    AdaptTask,
    ConceptTask,
    ConceptVideoTask,
)


@hookimpl
def zoo_register_tasks(register: RegisterTask) -> None:
    for cls in BUILTIN_TASKS:
        register(cls())
