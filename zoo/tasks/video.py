"""``video``: track prompted objects through a frame folder or a video file.

The prompts are drawn on one frame (``--frame K``, default 0) with the one grammar plus
object ids: ``--boxes "ID:x1,y1,x2,y2;..."``, ``--points "ID:x,y;..." --labels "1,..."``
(ids optional with one object), ``--mask FIRST.png`` (a DAVIS palette PNG: one object per
id) or ``--prompts FILE`` (objects with ``object_id``).

``zoo run`` writes, as ``--format`` asks, while the tracker decides each frame (a long
video never holds all its masks in memory): ``<frame>.png`` DAVIS palette PNGs (pixel =
object id, provenance in tEXt), ``results.json`` (one COCO results array, ``image_id`` =
frame index + 1), ``results.jsonl`` (one lossless frame per line), ``overlay/<frame>.png``,
and always ``run.json`` (provenance, the COCO ``images`` list, prompts, counts). Everything
goes into a hidden sibling folder that becomes ``--out`` only when the last frame is done.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from zoo.errors import InputError
from zoo.options import Options, option
from zoo.prompts import ObjectPromptJSON

from .promptable import MAX_OBJECTS
from .spec import RunInputs, TaskInputs, TaskSpec

#: Largest object id a DAVIS palette PNG can hold (0 is the background).
MAX_ID = 255
PROMPT_FLAGS = (
    '--boxes "ID:x1,y1,x2,y2;...", --points "ID:x,y;..." --labels "1,...", --mask FIRST.png'
)


class VideoOptions(Options):
    frame: int = option(
        0,
        help="index of the frame the prompts are drawn on (0 = first)",
        ge=0,
        commands=("run",),
        aliases=("prompt_frame",),  # the manifest column's and the HTTP field's name
    )
    mask: Path | None = option(
        None,
        help="prompt with a DAVIS palette PNG of the prompt frame (one object per id)",
        commands=("run",),
    )


class TrackRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str
    prompts: list[ObjectPromptJSON] = Field(min_length=1, max_length=MAX_OBJECTS)
    prompt_frame: int = Field(default=0, ge=0, description="the frame the prompts are on")
    options: dict[str, Any] = Field(default_factory=dict)


# --------------------------------------------------------------------------- the id grammar


def _split_ids(text: str, flag: str, example: str) -> list[tuple[int | None, str]]:
    """``"1:a;2:b;c"`` -> ``[(1, "a"), (2, "b"), (None, "c")]`` (ids checked 1..255)."""
    out: list[tuple[int | None, str]] = []
    for part in (p.strip() for p in str(text).split(";") if p.strip()):
        oid_text, sep, value = part.rpartition(":")
        if not sep:
            out.append((None, part))
            continue
        try:
            oid = int(oid_text.strip())
        except ValueError:
            raise InputError(f"bad object id {oid_text!r} in {flag}; write {example}") from None
        if not 1 <= oid <= MAX_ID:
            raise InputError(
                f"object id {oid} in {flag} must be between 1 and {MAX_ID} (DAVIS palette PNGs)"
            )
        out.append((oid, value))
    if not out:
        raise InputError(f"{flag} is empty; write {example}")
    return out


def parse_id_boxes(text: str) -> list[tuple[int, list[float]]]:
    """``"1:x1,y1,x2,y2;2:..."``; ids are optional and then 1, 2, ... in order."""
    from zoo.prompts import parse_boxes

    out = [
        (oid if oid is not None else i + 1, parse_boxes(box)[0])
        for i, (oid, box) in enumerate(_split_ids(text, "--boxes", '"ID:x1,y1,x2,y2;..."'))
    ]
    ids = [o for o, _ in out]
    dup = sorted({o for o in ids if ids.count(o) > 1})
    if dup:
        raise InputError(f"duplicate object id {dup[0]} in --boxes; give each object its own id")
    return out


def parse_id_points(
    text: str, labels_text: str | None, box_ids: list[int]
) -> dict[int, tuple[list[list[float]], list[int]]]:
    """``--points "ID:x,y;ID:x,y" --labels "1,0"`` -> ``{id: (points, labels)}``.

    The id says which object a click belongs to; it may be left out when there is only one
    object (the single box's, else 1). A click with the id of a box refines that box.
    Without ``--labels`` every click is a foreground click.
    """
    from zoo.prompts import parse_labels, parse_points

    items = _split_ids(text, "--points", '"ID:x,y;ID:x,y"')
    labels = parse_labels(labels_text) if labels_text is not None else [1] * len(items)
    if len(labels) != len(items):
        raise InputError(
            f"{len(items)} --points but {len(labels)} --labels; give one label per point"
        )
    bad = [lab for lab in labels if lab not in (0, 1)]
    if bad:
        raise InputError(f"--labels must be 1 (foreground) or 0 (background), got {bad[0]}")
    with_id = [oid is not None for oid, _ in items]
    if any(with_id) and not all(with_id):
        raise InputError('give every point an object id ("ID:x,y;ID:x,y") or none')
    if not any(with_id) and len(box_ids) > 1:
        raise InputError(
            f"--points without ids with {len(box_ids)} --boxes is ambiguous; write the object "
            'id of each point: --points "ID:x,y;..."'
        )
    default = box_ids[0] if box_ids else 1
    out: dict[int, tuple[list[list[float]], list[int]]] = {}
    for (oid, point), label in zip(items, labels, strict=True):
        pts, labs = out.setdefault(default if oid is None else oid, ([], []))
        pts.append(parse_points(point)[0])
        labs.append(label)
    return out


def mask_prompts(path: Path, hw: tuple[int, int]) -> Any:
    """One object per id of a DAVIS palette PNG (the prompt frame's annotation)."""
    import numpy as np

    from zoo.io.masks import load_palette_png
    from zoo.prompts import ObjectPrompt, Prompts

    if not path.is_file():
        raise InputError(f"--mask {path} does not exist; pass the prompt frame's palette PNG")
    labels = load_palette_png(path)
    if labels.shape != hw:
        raise InputError(
            f"--mask {path.name} is {labels.shape[1]}x{labels.shape[0]} but the frames are "
            f"{hw[1]}x{hw[0]}; give the prompt frame's annotation at frame size"
        )
    ids = [int(i) for i in np.unique(labels) if i not in (0, 255)]
    if not ids:
        raise InputError(f"--mask {path.name} contains no object (only background)")
    return Prompts(objects=[ObjectPrompt(mask=labels == i, object_id=i) for i in ids])


def prompts_from_flags(run: RunInputs, mask: Path | None, hw: tuple[int, int]) -> Any:
    """The objects to track from ``--boxes``/``--points``/``--labels``, ``--mask`` or
    ``--prompts FILE``; one line naming the flag for anything malformed."""
    from zoo.io.jsonfiles import read_json
    from zoo.prompts import as_prompts

    kinds = [
        k
        for k, given in (
            ("--boxes/--points", bool(run.boxes or run.points)),
            ("--mask", mask is not None),
            ("--prompts", run.prompts is not None),
        )
        if given
    ]
    if len(kinds) > 1:
        raise InputError(f"give one kind of prompt, not {' and '.join(kinds)}")
    if not kinds:
        if run.labels:
            raise InputError('--labels given without --points; add --points "ID:x,y;..."')
        raise InputError(f"no prompt given; add {PROMPT_FLAGS} or --prompts FILE")
    if mask is not None:
        return mask_prompts(Path(mask), hw)
    if run.prompts is not None:
        return as_prompts(read_json(run.prompts, "prompts file", "--prompts"))
    return id_prompts(run.boxes, run.points, run.labels)


def id_prompts(boxes_text: str | None, points: str | None, labels: str | None) -> Any:
    """``--boxes "ID:x1,y1,x2,y2;..."``, ``--points "ID:x,y;..."`` and ``--labels`` ->
    :class:`~zoo.prompts.Prompts` with object ids (``zoo run --video`` and ``zoo batch``)."""
    from pydantic import ValidationError

    from zoo.prompts import ObjectPrompt, Prompts

    if labels and not points:
        raise InputError('--labels given without --points; add --points "ID:x,y;..."')
    boxes = dict(parse_id_boxes(boxes_text)) if boxes_text else {}
    clicks = parse_id_points(points, labels, list(boxes)) if points else {}
    objects = []
    for oid in [*boxes, *(o for o in clicks if o not in boxes)]:
        pts, labs = clicks.get(oid, (None, None))
        box = boxes.get(oid)
        try:
            objects.append(
                ObjectPrompt(
                    box=tuple(box) if box is not None else None,  # type: ignore[arg-type]
                    points=[tuple(p) for p in pts] if pts else None,  # type: ignore[misc]
                    labels=labs,
                    object_id=oid,
                )
            )
        except ValidationError as exc:
            msg = str(exc.errors()[0].get("msg", "invalid")).removeprefix("Value error, ")
            raise InputError(f"bad prompt for object {oid}: {msg}") from None
    return Prompts(objects=objects)


def check_object_ids(prompts: Any) -> list[int]:
    """Object ids 1..255 (palette PNGs), each once; missing ids are numbered in order.

    Returns each object's id: the one rule for the video task's surfaces and for models
    that check prompts given to them directly (``track`` from Python).
    """
    used: dict[int, None] = {}
    for i, p in enumerate(prompts):
        oid = p.object_id if p.object_id is not None else i + 1
        if not 1 <= oid <= MAX_ID:
            raise InputError(
                f"object_id {oid} must be between 1 and {MAX_ID} (DAVIS palette PNGs hold 8-bit "
                "ids, 0 is the background)"
            )
        if oid in used:
            raise InputError(f"object_id {oid} is used twice; give each object its own id")
        used[oid] = None
    return list(used)


def empty_mask_note(empty: int, tracked: int, absent: int, random: bool, frame: int) -> str:
    """One line saying how many tracked frames have an empty mask, and why that may be.

    ``absent`` counts the frames where the model's presence head (SAM 2's object score)
    scored an object absent, which empties its mask by design; with random weights that
    head is untrained, so the line says the emptiness is expected.
    """
    head = f"{empty} of {tracked} tracked frames have an empty mask"
    if random:
        return (
            f"{head}: expected with random weights (the untrained presence head scored the "
            f"object absent on {absent} of them); try another --seed for visible masks, or "
            "real weights for real tracks"
        )
    return (
        f"{head}: the model judged the object absent there (occluded, out of view or lost); "
        f"check the prompt on frame {frame}"
    )


def _frame_files(source: Any) -> list[str]:
    """COCO ``file_name`` of each frame: the file for a folder, else ``<video>#<index>``."""
    files = getattr(source, "files", None)
    if files is not None:
        return [Path(f).name for f in files]
    stem = Path(source.path).name if source.path is not None else "frames"
    return [f"{stem}#{name}" for name in source.names]


def _describe(o: Any) -> dict[str, Any]:
    """run.json's record of one object's prompt (masks summarised by their area)."""
    import numpy as np

    d: dict[str, Any] = {"object_id": o.object_id}
    if o.box is not None:
        d["box"] = [float(v) for v in o.box]
    if o.points is not None:
        d["points"] = [[float(x), float(y)] for x, y in o.points]
        d["labels"] = [int(v) for v in o.labels or []]
    if o.mask is not None:
        d["mask_area"] = int(np.count_nonzero(o.mask))
    return d


class VideoTask(TaskSpec):
    name = "video"
    method = "track"
    summary = "track prompted objects through a video, frame by frame"
    result = "zoo.results:VideoFrameResult"
    options: ClassVar[type[Options]] = VideoOptions
    media = "video"
    route = "videos/{video_id}/track"
    request: ClassVar[type[BaseModel]] = TrackRequest
    signals: ClassVar[tuple[str, ...]] = ("video",)
    columns: ClassVar[dict[str, str]] = {
        "prompt_frame": "index of the frame the prompts are drawn on (default 0)"
    }

    def flag_prompts(self, boxes: Any, points: Any, labels: Any) -> dict[str, Any]:
        """``zoo batch`` over videos takes ``zoo run --video``'s id grammar
        (``--boxes "1:x1,y1,x2,y2;2:..."``)."""
        if not all(v is None or isinstance(v, str) for v in (boxes, points, labels)):
            return super().flag_prompts(boxes, points, labels)  # Python values
        return {"prompts": id_prompts(boxes, points, labels).to_json()}

    def _fit(self, inputs: TaskInputs, prompts: Any, frame: int) -> TaskInputs:
        from zoo.prompts import as_prompts

        h, w = inputs.size
        fitted, notes = as_prompts(prompts).fit(h, w)
        objects = []
        for i, o in enumerate(fitted.objects):  # number objects without ids 1, 2, ...
            objects.append(
                o if o.object_id is not None else o.model_copy(update={"object_id": i + 1})
            )
        fitted = fitted.model_copy(update={"objects": objects})
        check_object_ids(fitted)
        inputs.args = [fitted]
        inputs.kwargs["prompt_frame"] = frame
        inputs.notes += notes
        return inputs

    def from_cli(self, run: RunInputs, options: Options) -> TaskInputs:
        from zoo.io.frames import open_frames

        if run.video is None:
            raise InputError("the video task needs --video DIR|FILE.mp4 (frames or a video)")
        for flag in ("image", "depth"):
            if getattr(run, flag) is not None:
                raise InputError(f"the video task tracks a video: pass --video, not --{flag}")
        source = open_frames(Path(run.video))
        n, hw = len(source), source.size
        frame = int(getattr(options, "frame", 0) or 0)
        if frame >= n:
            raise InputError(
                f"--frame {frame} is outside the video's {n} frames (0..{n - 1}); give the "
                "index of the frame the prompts were drawn on"
            )
        prompts = prompts_from_flags(run, getattr(options, "mask", None), hw)
        inputs = TaskInputs(frames=source, size=(int(hw[0]), int(hw[1])))
        inputs.meta.update(video=str(run.video), frame_count=n)
        return self._fit(inputs, prompts, frame)

    def from_row(
        self, row: Mapping[str, Any], image: Any, location: str, options: Options
    ) -> TaskInputs:
        from zoo.io.frames import open_frames

        from .common import row_prompts

        source = open_frames(Path(location))
        prompts = row_prompts(row)
        if prompts is None:
            raise InputError("no prompt for this video; give it a prompts/boxes column or --boxes")
        inputs = TaskInputs(frames=location, size=tuple(int(v) for v in source.size))  # type: ignore[arg-type]
        frame = int(row.get("prompt_frame") or 0)
        if frame >= len(source):
            raise InputError(f"prompt_frame {frame} is outside the video's {len(source)} frames")
        return self._fit(inputs, prompts, frame)

    def from_request(
        self, request: Any, store: Any, path: Mapping[str, str] | None = None
    ) -> TaskInputs:
        video = store.video((path or {})["video_id"])
        if not 0 <= request.prompt_frame < video.count:
            raise InputError(
                f"prompt_frame {request.prompt_frame} is outside the video's {video.count} "
                f"frames (0-{video.count - 1})"
            )
        frames: Any = str(video.frames) if isinstance(video.frames, Path) else video.frames
        inputs = TaskInputs(frames=frames, size=(video.height, video.width))
        inputs.meta["video_id"] = video.video_id
        prompts = [p.model_dump(exclude_none=True) for p in request.prompts]
        return self._fit(inputs, prompts, request.prompt_frame)

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
        """Stream each frame into the output folder as it is decided (module docstring)."""
        from zoo import __version__
        from zoo.io.atomic import atomic_output_dir
        from zoo.io.images import save_png
        from zoo.io.masks import write_json

        source = inputs.frames
        frame = int(inputs.kwargs.get("prompt_frame", 0))
        file_names = _frame_files(source)
        h, w = inputs.size
        images: list[dict[str, Any]] = []
        coco: list[dict[str, Any]] = []
        written: list[str] = []
        empty = absent = tracked = 0
        provenance = None
        categories: list[dict[str, Any]] | None = None
        seen: set[int] = set()
        t0 = time.perf_counter()
        with atomic_output_dir(out) as tmp_dir:
            tmp = Path(tmp_dir)
            jsonl = (
                (tmp / "results.jsonl").open("w", encoding="utf-8") if "json" in formats else None
            )
            try:
                for fr in results:
                    provenance = fr.provenance
                    if categories is None:
                        categories = fr.run_record().get("categories")
                    seen.update(int(k) for k in fr.masks)
                    image_id = fr.frame_index + 1
                    images.append(
                        {
                            "id": image_id,
                            "file_name": file_names[fr.frame_index],
                            "height": h,
                            "width": w,
                            "frame_index": fr.frame_index,
                            "frame_name": fr.frame_name,
                        }
                    )
                    if fr.frame_index >= frame:
                        tracked += 1
                        empty += not all(m.any() for m in fr.masks.values())
                        scores = fr.extra.get("object_scores") or {}
                        absent += any(s <= 0 for s in scores.values())
                    if "png" in formats:
                        written.append(fr.save_palette(tmp / f"{fr.frame_name}.png").name)
                    if "coco" in formats:
                        coco += fr.to_coco(image_id)
                    if jsonl is not None:
                        jsonl.write(json.dumps(fr.to_dict()) + "\n")
                    if "overlay" in formats:
                        p = tmp / "overlay" / f"{fr.frame_name}.png"
                        p.parent.mkdir(exist_ok=True)
                        save_png(
                            p, fr.overlay(source[fr.frame_index]), text=fr.provenance.png_text()
                        )
                        written.append(f"overlay/{p.name}")
                    if progress is not None:
                        progress(1)
            finally:
                if jsonl is not None:
                    jsonl.close()
            if jsonl is not None:
                written.append("results.jsonl")
            if "coco" in formats:
                write_json(tmp / "results.json", coco)
                written.append("results.json")
            random = bool(provenance is not None and provenance.is_random)
            note = empty_mask_note(empty, tracked, absent, random, frame) if empty else None
            record = {
                "zoo_version": __version__,
                "task": self.name,
                "provenance": provenance.record() if provenance is not None else None,
                "test_mode": random,
                "video": inputs.meta.get("video"),
                "prompt_frame": frame,
                **self.prompt_record(inputs),
                **(run_record or {}),
                "images": images,
                "categories": categories or [{"id": 1, "name": "object"}],
                "empty_frames": empty,
                "tracked_frames": tracked,
                **({"note": note} if note else {}),
                "files": [*written, "run.json"],
            }
            write_json(tmp / "run.json", record, indent=2)
        elapsed = time.perf_counter() - t0
        inputs.meta.update(
            frames=len(images),
            tracks=len(seen),
            empty_frames=empty,
            tracked_frames=tracked,
            frames_per_s=round(len(images) / elapsed, 3) if elapsed else None,
        )
        if note:
            inputs.notes.append(note)
        files = [out / f for f in written] + [out / "run.json"]
        return [], files

    def prompt_record(self, inputs: TaskInputs) -> dict[str, Any]:
        """What run.json records of the prompts (each object's, masks by their area)."""
        return {"objects": [_describe(o) for o in inputs.args[0]]}

    def report(self, results: list[Any], inputs: TaskInputs) -> dict[str, Any]:
        m = inputs.meta
        return {
            "frames": m.get("frames"),
            "objects": len(inputs.args[0]),
            "empty_frames": m.get("empty_frames"),
            "tracked_frames": m.get("tracked_frames"),
            "frames_per_s": m.get("frames_per_s"),
        }

    def samples(self, height: int, width: int) -> list[TaskInputs]:
        from zoo.prompts import ObjectPrompt, Prompts
        from zoo.testing.synthetic import synthetic_boxes, synthetic_image

        frames = [synthetic_image(height, width, seed=s) for s in range(3)]
        box = tuple(float(v) for v in synthetic_boxes(height, width)[0])
        prompts = Prompts(objects=[ObjectPrompt(box=box, object_id=1)])  # type: ignore[arg-type]
        return [TaskInputs(frames=frames, size=(height, width), args=[prompts])]

    def check(self, results: list[Any], inputs: TaskInputs) -> None:
        import numpy as np

        super().check(results, inputs)
        assert len(results) == len(inputs.frames), "one result per frame"
        ids = {o.object_id for o in inputs.args[0]}
        for i, fr in enumerate(results):
            assert fr.frame_index == i, "frames in order"
            assert set(fr.masks) == ids, "every prompted object in every frame"
            for m in fr.masks.values():
                assert m.dtype == np.bool_ and m.shape == tuple(inputs.size)

    def bad_calls(self, model: Any, height: int, width: int) -> list[tuple[str, Callable[[], Any]]]:
        return [("no frames", lambda: list(model.track([], {"boxes": [[0, 0, 5, 5]]})))]
