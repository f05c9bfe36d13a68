"""``depth-sam``: Segment Any RGBD (Cen et al., arXiv 2305.14207) for sam-zoo.

SAM over-segments textured RGB but cuts geometry cleanly when it is shown the depth map
rendered through a colormap. This package renders depth, runs SAM 2.1's automatic mask
generator on the rendering (and/or the RGB image), gives every mask an open-vocabulary
class with CLIP and lifts the labelled masks to a 3D point cloud.

Importing the package is cheap; torch, sam2 and open_clip load on first use.
"""

from __future__ import annotations

__all__ = ["__version__"]
__version__ = "0.2.0"
