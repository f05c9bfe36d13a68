"""``rgbd``: labelled masks of an RGB-D frame (a photo and its depth map).

Inputs: ``--image`` and ``--depth`` (16-bit PNG in mm, float TIFF, ``.npy`` in m), the
depth camera's intrinsics (``--intrinsics FILE|fx,fy,cx,cy``, else an
``intrinsic_depth.txt`` beside the depth map, as ScanNet exports it) and a vocabulary of
class names (``--vocabulary``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field

from zoo.errors import InputError
from zoo.options import Options, option

from .common import cli_image, image_inputs, stored_image
from .spec import ImageRequest, RunInputs, TaskInputs, TaskSpec


class RGBDOptions(Options):
    intrinsics: str | None = option(
        None,
        help="depth camera intrinsics: a file (ScanNet's intrinsic_depth.txt) or fx,fy,cx,cy "
        "(default: intrinsic_depth.txt beside --depth)",
        commands=("run",),
    )
    vocabulary: str | None = option(
        None, help="class names 'chair,table' or a vocabulary name", commands=("run",)
    )


class RGBDRequest(ImageRequest):
    depth_id: str = Field(description="what POST /v1/depth returned")
    intrinsics: tuple[float, float, float, float] | None = Field(
        default=None, description="fx, fy, cx, cy of the depth camera (enables the cloud)"
    )
    vocabulary: list[str] | str | None = Field(
        default=None, description="class names, or a vocabulary name such as scannet20"
    )


def sidecar_intrinsics(depth_path: Path) -> Path | None:
    """``intrinsic_depth.txt`` beside the depth map, or ScanNet's ``<scene>/intrinsic/``."""
    for folder in (depth_path.parent, depth_path.parent.parent / "intrinsic"):
        p = folder / "intrinsic_depth.txt"
        if p.is_file():
            return p
    return None


def read_intrinsics(value: Any, depth_path: Path | None) -> Any:
    """``fx,fy,cx,cy``, a 4-tuple, a file, or (``None``) the sidecar file; ``None`` if none."""
    from zoo.io.depth import load_intrinsics, parse_intrinsics

    if value is None:
        found = sidecar_intrinsics(depth_path) if depth_path is not None else None
        return load_intrinsics(found) if found else None
    if isinstance(value, (list, tuple)):
        return tuple(float(v) for v in value)
    return parse_intrinsics(str(value))


class RGBDTask(TaskSpec):
    name = "rgbd"
    method = "segment_rgbd"
    summary = "labelled masks of an RGB-D frame (image + depth), optional 3D points"
    result = "zoo.results:RGBDResult"
    options = RGBDOptions
    route = "rgbd"
    request = RGBDRequest
    signals = ("depth",)
    columns: ClassVar[dict[str, str]] = {
        "depth": "depth map path or URI (16-bit PNG in mm, .npy in metres)",
        "intrinsics": "[fx, fy, cx, cy], a 3x3/4x4 matrix, or a file",
        "vocabulary": "class names (a list) or a vocabulary name",
    }
    path_columns = ("depth", "intrinsics")
    text_columns = ("vocabulary",)

    def from_cli(self, run: RunInputs, options: Options) -> TaskInputs:
        from zoo.io.depth import load_depth

        if run.video is not None:
            raise InputError("--video does not apply to the rgbd task; give --image and --depth")
        if run.depth is None:
            raise InputError("the rgbd task needs --depth PATH (16-bit PNG in mm or .npy in m)")
        if run.boxes or run.points or run.prompts:
            raise InputError("the rgbd task takes no prompts; drop --boxes/--points/--prompts")
        inputs = cli_image(run, self.name)
        depth_path = Path(run.depth)
        depth, _ = load_depth(depth_path)
        intr = read_intrinsics(getattr(options, "intrinsics", None), depth_path)
        vocab = getattr(options, "vocabulary", None)
        inputs.args = [depth, intr, vocab]
        inputs.meta["depth"] = str(depth_path)
        return inputs

    def from_row(
        self, row: Mapping[str, Any], image: Any, location: str, options: Options
    ) -> TaskInputs:
        inputs = image_inputs(image, location)
        depth = row.get("depth")
        if not depth:
            raise InputError("rgbd item has no 'depth' column")
        intr = row.get("intrinsics")
        inputs.args = [str(depth), read_intrinsics(intr, None), row.get("vocabulary")]
        return inputs

    def from_request(
        self, request: Any, store: Any, path: Mapping[str, str] | None = None
    ) -> TaskInputs:
        inputs = stored_image(store, request.image_id)
        depth = store.depth(request.depth_id)
        intr = None if request.intrinsics is None else tuple(float(v) for v in request.intrinsics)
        inputs.args = [depth, intr, request.vocabulary]
        return inputs

    def report(self, results: list[Any], inputs: TaskInputs) -> dict[str, Any]:
        (r,) = results
        counts: dict[str, int] = {}
        for lab in r.labels:
            counts[lab] = counts.get(lab, 0) + 1
        return {"masks": len(r), "classes": dict(sorted(counts.items(), key=lambda kv: -kv[1]))}

    def samples(self, height: int, width: int) -> list[TaskInputs]:
        from zoo.testing.synthetic import synthetic_depth, synthetic_image

        inputs = image_inputs(synthetic_image(height, width))
        inputs.args = [
            synthetic_depth(height, width),
            (300.0, 300.0, width / 2, height / 2),
            ["wall", "floor", "box"],
        ]
        return [inputs]

    def check(self, results: list[Any], inputs: TaskInputs) -> None:
        import numpy as np

        super().check(results, inputs)
        (r,) = results
        h, w = inputs.size
        assert r.masks.ndim == 3 and r.masks.shape[1:] == (h, w) and r.masks.dtype == np.bool_
        assert len(r.labels) == r.masks.shape[0] == r.scores.shape[0]
        vocab = inputs.args[2]
        assert all(lab in vocab for lab in r.labels), "labels come from the vocabulary"

    def bad_calls(self, model: Any, height: int, width: int) -> list[tuple[str, Callable[[], Any]]]:
        import numpy as np

        from zoo.testing.synthetic import synthetic_image

        img = synthetic_image(height, width)
        return [
            (
                "all-invalid depth",
                lambda: model.segment_rgbd(
                    img,
                    np.zeros((height, width), np.float32),
                    intrinsics=(300, 300, 160, 120),
                    vocabulary=["a"],
                ),
            )
        ]
