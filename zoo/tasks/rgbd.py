"""``rgbd``: labelled masks of an RGB-D frame (a photo and its depth map).

Inputs: ``--image`` and ``--depth`` (16-bit PNG in mm, float TIFF, ``.npy`` in m;
``--depth-scale`` for other units), the depth camera's intrinsics (``--intrinsics
FILE|fx,fy,cx,cy``, else an ``intrinsic_depth.txt`` beside the depth map, as ScanNet exports
it), its camera-to-world pose (``--pose FILE``, else a ``pose.txt`` beside the depth map,
likewise; ``--no-pose`` ignores it; passed as ``pose=`` to models whose method takes it) and
a vocabulary of class names (``--vocabulary``). Warnings about the depth file (an 8-bit PNG
is probably not metric) become notes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
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
    depth_scale: float | None = option(
        None,
        help="metres per stored depth unit (default 0.001 for integer PNG/npy, 1 for float; "
        "TUM: 0.0002)",
        gt=0,
        le=10,
        commands=("run",),
    )
    pose: Path | None = option(
        None,
        help="4x4 camera-to-world pose file for world-frame points (default: pose.txt "
        "beside --depth)",
        commands=("run",),
    )
    no_pose: bool = option(
        False,
        help="ignore a pose.txt found beside --depth (camera-frame points)",
        commands=("run",),
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


def sidecar_pose(depth_path: Path) -> Path | None:
    """``pose.txt`` beside the depth map, or ScanNet's ``<scene>/pose/<frame>.txt``."""
    for p in (
        depth_path.parent / "pose.txt",
        depth_path.parent.parent / "pose" / f"{depth_path.stem}.txt",
    ):
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
        import warnings

        from zoo.io.depth import load_depth, load_pose

        if run.video is not None:
            raise InputError("--video does not apply to the rgbd task; give --image and --depth")
        if run.depth is None:
            raise InputError("the rgbd task needs --depth PATH (16-bit PNG in mm or .npy in m)")
        if run.boxes or run.points or run.prompts:
            raise InputError("the rgbd task takes no prompts; drop --boxes/--points/--prompts")
        pose_opt = getattr(options, "pose", None)
        no_pose = bool(getattr(options, "no_pose", False))
        if pose_opt is not None and no_pose:
            raise InputError("use either --pose or --no-pose, not both")
        inputs = cli_image(run, self.name)
        depth_path = Path(run.depth)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", UserWarning)
            depth, _ = load_depth(depth_path, depth_scale=getattr(options, "depth_scale", None))
        inputs.notes += [str(w.message) for w in caught if issubclass(w.category, UserWarning)]
        intr_opt = getattr(options, "intrinsics", None)
        found = sidecar_intrinsics(depth_path) if intr_opt is None else None
        intr = read_intrinsics(intr_opt, depth_path)
        pose_path = pose_opt if pose_opt is not None or no_pose else sidecar_pose(depth_path)
        if pose_path is not None:
            inputs.kwargs["pose"] = load_pose(pose_path)
        vocab = getattr(options, "vocabulary", None)
        inputs.args = [depth, intr, vocab]
        inputs.meta.update(
            depth=str(depth_path),
            intrinsics=str(intr_opt if intr_opt is not None else found or ""),
            pose=str(pose_path or ""),
        )
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

    def save(
        self,
        results: Iterable[Any],
        out: Path,
        inputs: TaskInputs,
        formats: list[str],
        *,
        run_record: dict[str, Any] | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> tuple[list[Any], list[Path]]:
        """The image layout; run.json also says which depth, intrinsics and pose files
        were used (found beside the depth map or given)."""
        used = {k: inputs.meta[k] for k in ("depth", "intrinsics", "pose") if inputs.meta.get(k)}
        record = {**(run_record or {}), **({"inputs": used} if used else {})}
        return super().save(results, out, inputs, formats, run_record=record, progress=progress)

    def report(self, results: list[Any], inputs: TaskInputs) -> dict[str, Any]:
        (r,) = results
        counts: dict[str, int] = {}
        for lab in r.labels:
            counts[lab] = counts.get(lab, 0) + 1
        out: dict[str, Any] = {
            "masks": len(r),
            "classes": dict(sorted(counts.items(), key=lambda kv: -kv[1])),
            "points": None if r.points_xyz is None else len(r.points_xyz),
        }
        if "intrinsics" in inputs.meta:  # what zoo run found (or not) for the 3-D points
            out["intrinsics"] = (
                inputs.meta["intrinsics"] or "none (no 3-D points; pass --intrinsics)"
            )
            out["pose"] = inputs.meta["pose"] or "none (camera frame)"
        return out

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
