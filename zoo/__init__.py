"""sam-zoo: the Segment-Anything research family behind one registry.

``import zoo`` is cheap (no torch): the heavy parts load when a model is first used.

>>> import zoo
>>> zoo.list_models("*sam2*")                              # doctest: +SKIP
>>> model = zoo.load("sam2:tiny")                          # doctest: +SKIP
>>> result = model.segment("photo.jpg", {"boxes": [[10, 10, 200, 200]]})  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

__version__ = "0.2.0"

_LAZY = {
    "load": ("zoo.loading", "load"),
    "ZooModel": ("zoo.model", "ZooModel"),
    "list_models": ("zoo.registry", "list_models"),
    "get_registry": ("zoo.registry", "get_registry"),
    "Prompts": ("zoo.prompts", "Prompts"),
    "ObjectPrompt": ("zoo.prompts", "ObjectPrompt"),
    "Task": ("zoo.specs", "Task"),
    "TaskSpec": ("zoo.tasks.spec", "TaskSpec"),
    "Options": ("zoo.options", "Options"),
    "LoadOptions": ("zoo.options", "LoadOptions"),
    "option": ("zoo.options", "option"),
    "FamilySpec": ("zoo.specs", "FamilySpec"),
    "VariantSpec": ("zoo.specs", "VariantSpec"),
    "WeightsSpec": ("zoo.specs", "WeightsSpec"),
    "hookimpl": ("zoo.hookspecs", "hookimpl"),
    "resolve": ("zoo.weights", "resolve"),
    "PLUGIN_API": ("zoo.registry.api", "PLUGIN_API"),
    # the package itself, callable: zoo.batch(name, inputs, ...) (see zoo/batch/__init__.py)
    "batch": ("zoo.batch", ""),
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        mod = importlib.import_module(module)
        return getattr(mod, attr) if attr else mod
    raise AttributeError(f"module 'zoo' has no attribute {name!r}")
