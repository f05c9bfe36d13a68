"""Shared training primitives: losses, schedules, progress, resumable state, the typed
config every trainer takes (:mod:`zoo.training.config`) and ``zoo train``'s dispatch.

Each family keeps its own loss *formula* and training loop; what every trainer needs the
same way lives here once. Submodules import torch; :mod:`zoo.training.config` does not
(``zoo info`` lists a trainer's options from it), so this ``__init__`` imports nothing.
Trained models are published with :func:`zoo.registry.local.write_variant`.
"""
