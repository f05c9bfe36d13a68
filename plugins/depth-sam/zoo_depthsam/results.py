"""``DepthSamResult``: the core :class:`zoo.results.RGBDResult` plus what SAD's outputs need.

The core ``save()`` writes what every task writes (mask PNGs with provenance, the COCO
``results.json`` array, ``run.json``, ``overlay.png`` with the test-mode banner, and
``points.ply`` with provenance comments); :meth:`DepthSamResult.write_extra` adds:

===================== ==============================================================
``semantic.png``      palette PNG, value ``k + 1`` = vocabulary class ``k``, 0 unlabelled
``instances.png``     16-bit PNG, value ``i + 1`` = mask ``i`` of ``results.json``, 0 none
``classes.json``      index, PNG value, name, colour and pixel count of every class
``legend.png``        the classes present with their palette colours (with ``overlay``)
``depth_render.png``  the colour-mapped depth SAM saw, depth resolution (with ``overlay``)
``cloud_top.png``     the labelled cloud seen from above (with ``overlay`` and a cloud)
``cloud_oblique.png`` the labelled cloud from an oblique viewpoint (likewise)
===================== ==============================================================

In test mode every one of them says so: PNG tEXt chunks (``zoo:weights``, ``zoo:note``),
``test_mode`` in ``classes.json``, and "TEST MODE" in the legend and cloud-render titles.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field, model_validator

from zoo.results import TEST_MODE_NOTE, CocoInstance, RGBDResult


class DepthSamResult(RGBDResult):
    """One RGB-D frame segmented by depth-sam.

    ``masks`` (N x H x W bool at the RGB size), ``labels`` (class names), ``scores`` (mask
    quality x class probability), ``vocabulary``, ``class_ids`` and ``points_*`` are the
    task's schema; the rest: ``mask_scores`` (SAM's predicted IoU), ``class_scores`` (CLIP
    probability), ``sources`` ("depth"/"rgb": which image the mask was found on),
    ``semantic_map`` / ``instance_map`` (H x W int32, -1 = none; smaller masks painted
    over larger ones), ``rendered_depth`` (what SAM saw), ``depth_size``, ``mode``,
    ``pose_applied`` (points in the world frame), ``generator`` (the mask generator
    settings used, and which were relaxed for test mode) and ``timings`` (seconds per
    stage).
    """

    vocabulary: list[str]
    class_ids: np.ndarray
    mask_scores: np.ndarray
    class_scores: np.ndarray
    sources: list[str]
    semantic_map: np.ndarray
    instance_map: np.ndarray
    rendered_depth: np.ndarray | None = None
    depth_size: tuple[int, int]
    mode: str = "depth"
    pose_applied: bool = False
    generator: dict[str, Any] = Field(default_factory=dict)
    timings: dict[str, float] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _per_mask(self) -> DepthSamResult:
        n = int(self.masks.shape[0])
        for name in ("mask_scores", "class_scores"):
            if getattr(self, name).shape != (n,):
                raise ValueError(f"{name} must have one entry per mask")
        if len(self.sources) != n:
            raise ValueError("sources must have one entry per mask")
        hw = tuple(self.image_size)
        for name in ("semantic_map", "instance_map"):
            if tuple(getattr(self, name).shape) != hw:
                raise ValueError(f"{name} must be {hw[0]} x {hw[1]}")
        return self

    # ---------------------------------------------------------------- what files hold
    def coco_instances(self) -> list[CocoInstance]:
        """COCO entries with the class name, SAM's and CLIP's scores and the source image."""
        return [
            CocoInstance(
                self.masks[i],
                float(self.scores[i]),
                int(self.class_ids[i]) + 1,
                {
                    "label": self.labels[i],
                    "mask_score": float(self.mask_scores[i]),
                    "class_score": float(self.class_scores[i]),
                    "source": self.sources[i],
                },
            )
            for i in range(len(self))
        ]

    def draw(self, image: np.ndarray) -> np.ndarray:
        """Masks tinted in their class colours and named (the core adds the banner)."""
        from .draw import semantic_overlay

        return semantic_overlay(
            image, self.masks, self.class_ids, self.labels, len(self.vocabulary)
        )

    def run_record(self) -> dict[str, Any]:
        return {
            **super().run_record(),
            "depth_sam": {
                "mode": self.mode,
                "depth_size": list(self.depth_size),
                "points": None if self.points_xyz is None else len(self.points_xyz),
                "points_frame": "world" if self.pose_applied else "camera",
                "generator": self.generator,
                "timings_s": {k: round(v, 4) for k, v in self.timings.items()},
            },
        }

    def class_counts(self) -> np.ndarray:
        """Pixels of each vocabulary class in the semantic map."""
        sem = self.semantic_map
        return np.bincount(sem[sem >= 0].ravel(), minlength=len(self.vocabulary))

    def write_extra(
        self, folder: Path, image: np.ndarray | None, formats: Sequence[str]
    ) -> list[Path]:
        """The files of the table in the module docstring (``points.ply`` from the core)."""
        from zoo.io.images import save_png
        from zoo.io.masks import save_palette_png, write_json

        from .draw import class_colors, legend_image, point_colors, render_cloud

        written = super().write_extra(folder, image, formats)
        prov = self.provenance
        text = prov.png_text()
        test = prov.is_random
        names = self.vocabulary
        colors = class_colors(len(names))
        counts = self.class_counts()

        p = folder / "semantic.png"
        save_palette_png(p, (self.semantic_map + 1).astype(np.uint8), text=text)
        written.append(p)
        p = folder / "instances.png"
        save_png(p, (self.instance_map + 1).astype(np.uint16), text=text)
        written.append(p)
        p = folder / "classes.json"
        write_json(
            p,
            {
                "model": prov.model,
                "weights": prov.weights,
                "test_mode": test,
                **({"note": TEST_MODE_NOTE} if test else {}),
                "classes": [
                    {
                        "index": k,
                        "value": k + 1,
                        "name": n,
                        "color": colors[k].tolist(),
                        "pixels": int(counts[k]),
                    }
                    for k, n in enumerate(names)
                ],
            },
            indent=1,
        )
        written.append(p)
        if "overlay" not in formats:
            return written

        present = [k for k in range(len(names)) if counts[k] > 0]
        legend_names = [names[k] for k in present]
        legend_colors = colors[present] if present else np.zeros((0, 3), np.uint8)
        legend_counts = [int(counts[k]) for k in present]
        unlabelled = int((self.semantic_map < 0).sum())
        if unlabelled:
            legend_names.append("unlabelled")
            legend_colors = np.vstack([legend_colors, [[0, 0, 0]]]).astype(np.uint8)
            legend_counts.append(unlabelled)
        title = "TEST MODE (random weights)" if test else ""
        p = folder / "legend.png"
        save_png(p, legend_image(legend_names, legend_colors, legend_counts, title), text=text)
        written.append(p)
        if self.rendered_depth is not None:
            p = folder / "depth_render.png"
            save_png(p, self.rendered_depth, text=text)
            written.append(p)
        if self.points_xyz is not None and self.points_label is not None:
            pc = point_colors(self.points_label, len(names))
            frame = "world frame" if self.pose_applied else "camera frame"
            for view in ("top", "oblique"):
                caption = f"{len(self.points_xyz)} points, {view} view ({frame})"
                if test:
                    caption += " - TEST MODE, random weights"
                pic = render_cloud(
                    self.points_xyz, pc, view=view, world=self.pose_applied, title=caption
                )
                p = folder / f"cloud_{view}.png"
                save_png(p, pic, text=text)
                written.append(p)
        return written
