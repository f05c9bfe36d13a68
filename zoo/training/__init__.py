"""Shared training primitives: losses, schedules, progress, resumable state, local variants.

Each family keeps its own loss *formula* and training loop; what every trainer needs the
same way lives here once. Submodules import torch; :mod:`zoo.training.store` does not (the
registry reads local variants on every ``zoo list``), so this ``__init__`` imports nothing.
"""
