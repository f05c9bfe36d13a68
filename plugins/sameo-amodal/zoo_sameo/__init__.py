"""SAMEO (Tai et al., "Segment Anything, Even Occluded", CVPR 2025) for sam-zoo.

SAMEO is EfficientSAM with a fine-tuned mask decoder that returns the *whole* object
(amodal mask) for a detector's box. Nothing heavy is imported here: the entry point
imports :mod:`zoo_sameo.plugin` through this package, and ``zoo list`` must not pay for
torch. Import :mod:`zoo_sameo.model`, :mod:`zoo_sameo.train` or :mod:`zoo_sameo.evaluate`
directly for the real work.
"""

from __future__ import annotations

__version__ = "0.2.0"
FAMILY = "sameo-amodal"
