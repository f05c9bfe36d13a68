"""``adapt``: a family that adapts itself to a new domain (``zoo train``), not a call.

Registered so families can declare it (WeSAM); it adds no run/batch/serve surface and the
conformance kit does not run it (the family's own tests train it).
"""

from __future__ import annotations

from .spec import TaskSpec


class AdaptTask(TaskSpec):
    name = "adapt"
    method = "adapt"
    summary = "adapt the model to a new domain (zoo train)"
    result = "zoo.results:TaskResult"
