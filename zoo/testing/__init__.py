"""The conformance kit: the checks every registered family must pass, for any plugin's CI.

Run it for every installed family, or only yours::

    pytest --pyargs zoo.testing.conformance --zoo-device cpu
    pytest --pyargs zoo.testing.conformance --zoo-family my-family --zoo-device cuda

The pytest plugin (``zoo.testing.plugin``, registered through the ``pytest11`` entry point)
only adds the ``--zoo-*`` options and fixtures; it collects nothing unless the conformance
module is named, so installing sam-zoo does not change anybody else's test runs.
"""

from __future__ import annotations

from .synthetic import synthetic_boxes, synthetic_depth, synthetic_image

__all__ = ["synthetic_boxes", "synthetic_depth", "synthetic_image"]
