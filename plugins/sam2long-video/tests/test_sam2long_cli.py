"""`zoo run` / `zoo eval` for sam2long-video as a user meets them.

The dataset is built here: a textured background with two shapes moving across a few
frames, and their ground-truth masks as palette PNGs. Random weights (no hub), SAM input
256, two pathways: each full run costs seconds, so the outputs of one run with every
``--format`` are shared by several tests, and every bad input is refused before the model
loads wherever it can be.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from zoo.io.masks import load_palette_png, save_palette_png
from zoo.results import VideoFrameResult
from zoo.testing.cli import assert_user_error, run_cli

H, W, T = 96, 128, 4
FAST = ["--weights", "random", "--device", "cpu", "--image-size", "256", "--pathways", "2"]
CARD = Path(__file__).resolve().parents[1] / "zoo_sam2long" / "card.md"
REPO = Path(__file__).resolve().parents[3]
BEDROOM = REPO.parent / "shared" / "fixtures" / "video" / "bedroom"


def make_davis(root: Path, videos: int = 1, frames: int = T) -> Path:
    rng = np.random.default_rng(0)
    for v in range(videos):
        img_dir = root / "JPEGImages" / f"shapes{v}"
        ann_dir = root / "Annotations" / f"shapes{v}"
        img_dir.mkdir(parents=True)
        ann_dir.mkdir(parents=True)
        bg = rng.integers(60, 120, size=(H, W, 3)).astype(np.uint8)
        for t in range(frames):
            img = bg.copy()
            label = np.zeros((H, W), np.uint8)
            x = 10 + 8 * t + 4 * v
            img[20:50, x : x + 30] = (230, 40, 40)
            label[20:50, x : x + 30] = 1
            yy, xx = np.mgrid[0:H, 0:W]
            disk = (yy - 70) ** 2 + (xx - (100 - 6 * t)) ** 2 < 12**2
            img[disk] = (40, 200, 60)
            label[disk] = 2
            Image.fromarray(img).save(img_dir / f"{t:05d}.jpg", quality=95)
            save_palette_png(ann_dir / f"{t:05d}.png", label)
    return root


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return {"ZOO_HOME": str(tmp_path_factory.mktemp("zoo_home"))}


@pytest.fixture(scope="module")
def davis(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_davis(tmp_path_factory.mktemp("davis"))


@pytest.fixture(scope="module")
def frames(davis: Path) -> Path:
    return davis / "JPEGImages" / "shapes0"


def _zoo(env: dict[str, str], *args: str) -> Any:
    return run_cli(*args, env=env)


# --------------------------------------------------------------------------- one full run


@pytest.fixture(scope="module")
def full_run(
    tmp_path_factory: pytest.TempPathFactory, frames: Path, home: dict[str, str]
) -> dict[str, Any]:
    """A box for object 1, two clicks (+/-) for object 2; every output format."""
    out = tmp_path_factory.mktemp("runs") / "out"
    proc = _zoo(
        home,
        "run",
        "sam2long-video",
        "--video",
        str(frames),
        "--boxes",
        "1:10,20,40,50",
        "--points",
        "2:100,70;2:90,60",
        "--labels",
        "1,0",
        "--format",
        "png,coco,json,overlay",
        "--out",
        str(out),
        "--json",
        *FAST,
    )
    assert proc.returncode == 0, proc.stderr
    return {"out": out, "report": json.loads(proc.stdout), "stderr": proc.stderr}


def test_run_report_and_palette_pngs(full_run: dict[str, Any]) -> None:
    report, out = full_run["report"], full_run["out"]
    assert report["frames"] == T and report["objects"] == 2 and report["weights"] == "random"
    assert report["task"] == "video"  # the core video task's run (no family runner)
    names = {Path(f).name for f in report["files"]}
    assert {"results.json", "results.jsonl", "run.json", "00000.png"} <= names
    pngs = sorted(out.glob("*.png"))
    assert [p.stem for p in pngs] == [f"{t:05d}" for t in range(T)]
    for p in pngs:
        labels = load_palette_png(p)
        assert labels.shape == (H, W) and set(np.unique(labels)) <= {0, 1, 2}
        with Image.open(p) as im:  # provenance and the test-mode note travel with each file
            assert im.mode == "P"
            assert im.text["zoo:weights"] == "random" and "TEST MODE" in im.text["zoo:note"]


def test_run_json_lists_images_files_and_test_mode(full_run: dict[str, Any]) -> None:
    out = full_run["out"]
    run = json.loads((out / "run.json").read_text())
    assert run["test_mode"] is True and run["provenance"]["test_mode"] is True
    assert run["provenance"]["model"] == "sam2long-video:tiny"
    assert [im["id"] for im in run["images"]] == list(range(1, T + 1))
    assert all(isinstance(im["id"], int) for im in run["images"])
    assert run["images"][0] == {
        "id": 1,
        "file_name": "00000.jpg",
        "height": H,
        "width": W,
        "frame_index": 0,
        "frame_name": "00000",
    }
    assert run["prompt_frame"] == 0
    assert run["objects"] == [
        {"object_id": 1, "box": [10.0, 20.0, 40.0, 50.0]},
        {"object_id": 2, "points": [[100.0, 70.0], [90.0, 60.0]], "labels": [1, 0]},
    ]
    assert run["options"] == {
        "pathways": 2,
        "iou_threshold": 0.1,
        "uncertainty": 2.0,
        "image_size": 256,
    }
    on_disk = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert sorted(run["files"]) == on_disk


def test_format_coco_is_one_loadres_array_for_the_video(full_run: dict[str, Any]) -> None:
    from pycocotools.coco import COCO

    out = full_run["out"]
    anns = json.loads((out / "results.json").read_text())
    run = json.loads((out / "run.json").read_text())
    assert isinstance(anns, list) and anns
    assert all(isinstance(a["image_id"], int) for a in anns)
    assert {a["object_id"] for a in anns} <= {1, 2}
    assert all(a["test_mode"] is True for a in anns)
    gt = COCO()
    gt.dataset = {"images": run["images"], "annotations": [], "categories": run["categories"]}
    gt.createIndex()
    res = gt.loadRes(anns)
    assert len(res.getAnnIds()) == len(anns)
    # each entry is one object's mask on one frame, as in that frame's palette PNG
    from zoo.io.masks import decode_rle

    for a in anns:
        assert a["image_id"] == a["frame_index"] + 1
        label = load_palette_png(out / f"{a['frame_name']}.png")
        np.testing.assert_array_equal(decode_rle(a["segmentation"]), label == a["object_id"])


def test_format_json_is_lossless_per_frame_lines(full_run: dict[str, Any]) -> None:
    out = full_run["out"]
    lines = (out / "results.jsonl").read_text().splitlines()
    assert len(lines) == T
    for t, line in enumerate(lines):
        fr = VideoFrameResult.from_dict(json.loads(line))
        assert fr.frame_index == t and fr.image_size == (H, W)
        assert fr.provenance.is_random
        np.testing.assert_array_equal(fr.label_map(), load_palette_png(out / f"{t:05d}.png"))
        assert set(fr.extra["object_scores"]) <= {1, 2, "1", "2"}


def test_overlays_are_written_and_labelled(full_run: dict[str, Any]) -> None:
    overlays = sorted((full_run["out"] / "overlay").glob("*.png"))
    assert [p.stem for p in overlays] == [f"{t:05d}" for t in range(T)]
    with Image.open(overlays[0]) as im:
        assert im.size == (W, H) and im.mode == "RGB"
        assert im.text["zoo:weights"] == "random"


def test_png_only_with_mask_prompt_and_upstream_aliases(
    tmp_path: Path, davis: Path, frames: Path, home: dict[str, str]
) -> None:
    out = tmp_path / "out"
    proc = _zoo(
        home,
        "run",
        "sam2long-video",
        "--video",
        str(frames),
        "--mask",
        str(davis / "Annotations" / "shapes0" / "00001.png"),
        "--prompt-frame",
        "1",
        "--iou-thre",
        "0.2",
        "--format",
        "png",
        "--out",
        str(out),
        *FAST,
    )
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in out.iterdir()) == [f"{t:05d}.png" for t in range(T)] + [
        "run.json"
    ]
    run = json.loads((out / "run.json").read_text())
    assert run["prompt_frame"] == 1 and run["options"]["iou_threshold"] == 0.2
    assert [o["object_id"] for o in run["objects"]] == [1, 2]
    assert not load_palette_png(out / "00000.png").any()  # before the prompt frame
    assert run["tracked_frames"] == T - 1


# --------------------------------------------------------------------------- empty masks


def test_empty_masks_are_explained_in_one_line(
    tmp_path: Path, frames: Path, home: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A presence head that always says "absent" (what an unlucky random init does)."""
    import torch
    from zoo_sam2long.model import SAM2LongVideoModel

    original = SAM2LongVideoModel.create

    def absent(cls: type, ctx: Any, **config: Any) -> Any:
        model = original(ctx, **config)
        head = model.model.sam_mask_decoder.pred_obj_score_head
        last = [m for m in head.modules() if isinstance(m, torch.nn.Linear)][-1]
        with torch.no_grad():
            last.bias.fill_(-50.0)
        return model

    monkeypatch.setattr(SAM2LongVideoModel, "create", classmethod(absent))
    out = tmp_path / "out"
    proc = _zoo(
        home,
        "run",
        "sam2long-video",
        "--video",
        str(frames),
        "--boxes",
        "10,20,40,50",
        "--format",
        "png",
        "--out",
        str(out),
        *FAST,
    )
    assert proc.returncode == 0, proc.stderr
    err = " ".join(proc.stderr.split())  # rich wraps long lines at the terminal width
    assert (
        f"note: {T} of {T} tracked frames have an empty mask: expected with random weights "
        f"(the untrained presence head scored the object absent on {T} of them)"
    ) in err
    run = json.loads((out / "run.json").read_text())
    assert run["empty_frames"] == T and run["note"].startswith(f"{T} of {T} tracked frames")
    assert not any(load_palette_png(p).any() for p in out.glob("*.png"))


def test_empty_mask_note_with_real_weights_points_at_the_prompt() -> None:
    from zoo.tasks.video import empty_mask_note

    note = empty_mask_note(3, 10, 3, random=False, frame=4)
    assert note.startswith("3 of 10 tracked frames have an empty mask: the model judged")
    assert "frame 4" in note and "\n" not in note


def test_a_run_with_masks_says_nothing_about_empty_masks(full_run: dict[str, Any]) -> None:
    run = json.loads((full_run["out"] / "run.json").read_text())
    report = full_run["report"]
    assert report["empty_frames"] == run["empty_frames"]
    assert report["tracked_frames"] == run["tracked_frames"] == T
    assert ("note" in run) == (run["empty_frames"] > 0) == ("notes" in report)


# --------------------------------------------------------------------------- the card


def _card_commands() -> list[list[str]]:
    text = CARD.read_text()
    blocks = re.findall(r"```bash\n(.*?)```", text, flags=re.S)
    cmds = []
    for block in blocks:
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split(" #")[0].strip()
            if line.startswith("zoo run"):
                cmds.append(shlex.split(line)[2:])  # after "zoo run"
    return cmds


def _set(args: list[str], flag: str, value: str) -> list[str]:
    i = args.index(flag)
    return [*args[: i + 1], value, *args[i + 2 :]]


def test_card_has_a_runnable_zoo_run_example(tmp_path: Path, home: dict[str, str]) -> None:
    """The card's command runs as written, on the first frames of the same fixture."""
    if not BEDROOM.is_dir():
        pytest.skip(f"shared fixture not found at {BEDROOM}")
    cmds = _card_commands()
    assert cmds, "the card's usage section has no `zoo run` example"
    args = cmds[0]
    assert args[:1] == ["sam2long-video:tiny"] and "--points" in args and "--labels" in args
    assert args[args.index("--weights") + 1] == "random" and "--image-size" in args
    # the docs' input name for a folder of frames (tests/test_docs.py runs it on a stand-in)
    assert args[args.index("--video") + 1] == "video/"
    short = tmp_path / "bedroom3"
    short.mkdir()
    for p in sorted(BEDROOM.glob("*.jpg"))[:3]:
        shutil.copy(p, short / p.name)
    args = _set(_set(args, "--video", str(short)), "--out", str(tmp_path / "out"))
    proc = _zoo(home, "run", *args, "--device", "cpu")
    assert proc.returncode == 0, proc.stderr
    assert len(list((tmp_path / "out").glob("*.png"))) == 3


@pytest.mark.slow
def test_card_example_verbatim(tmp_path: Path, home: dict[str, str]) -> None:
    if not BEDROOM.is_dir():
        pytest.skip(f"shared fixture not found at {BEDROOM}")
    args = _set(_card_commands()[0], "--out", str(tmp_path / "out"))
    args = _set(args, "--video", str(BEDROOM))
    proc = _zoo(home, "run", *args)
    assert proc.returncode == 0, proc.stderr
    assert len(list((tmp_path / "out").glob("*.png"))) == 24


# --------------------------------------------------------------------------- eval


def test_eval_reports_the_davis_tables_for_sam2long_and_sam2(
    tmp_path: Path, home: dict[str, str]
) -> None:
    data = make_davis(tmp_path / "davis", videos=2)
    for sub in ("JPEGImages", "Annotations"):  # a two-frame video: nothing DAVIS can score
        (data / sub / "short").mkdir()
        for f in sorted((data / sub / "shapes0").iterdir())[:2]:
            shutil.copy(f, data / sub / "short" / f.name)
    out = tmp_path / "metrics"
    args = ["--dataset", str(data), "--out", str(out), "--json", *FAST]
    proc = _zoo(home, "eval", "sam2long-video", *args)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    saved = json.loads((out / "metrics.json").read_text())
    assert report["protocol"] == saved["protocol"] == "davis2017-semi-supervised"
    assert saved["global"] == report["global"] and saved["test_mode"] is True
    assert report["unscored"] == {"short": "too short"}
    assert set(report["sequences"]) == {"shapes0", "shapes1", "short"}
    assert report["sequences"]["short"] == {"frames": 2, "status": "too short"}
    for model in ("sam2long", "sam2"):
        g = report["global"][model]
        assert g["objects"] == 4 and g["sequences"] == 2  # two objects in each scored video
        for s in ("J-Mean", "J-Recall", "F-Mean", "F-Recall", "J&F-Mean"):
            assert 0.0 <= g[s] <= 1.0
        assert abs(g["J&F-Mean"] - (g["J-Mean"] + g["F-Mean"]) / 2) < 1e-9
        # one object, one vote: the global mean is over the four objects
        videos = [report["sequences"][v][model] for v in ("shapes0", "shapes1")]
        objs = [o for v in videos for o in v["objects"].values()]
        assert g["J-Mean"] == pytest.approx(np.mean([o["J-Mean"] for o in objs]))
        assert all(len(o["J"]) == T - 2 for o in objs)  # first and last frames not scored
    table = report["table"]
    assert table["columns"] == [
        "model",
        "sequence",
        "J&F-Mean",
        "J-Mean",
        "J-Recall",
        "J-Decay",
        "F-Mean",
        "F-Recall",
        "F-Decay",
    ]
    assert [r[:2] for r in table["rows"][:2]] == [["sam2long", "global"], ["sam2", "global"]]
    assert table["rows"][-1][:3] == ["", "short", "too short (2 frames)"]
    assert {r[1] for r in table["rows"]} >= {"shapes0_1", "shapes0_2", "shapes1_1", "shapes1_2"}


@pytest.mark.slow
def test_eval_names_the_void_convention_it_used(tmp_path: Path, home: dict[str, str]) -> None:
    data = make_davis(tmp_path / "davis", frames=3)
    args = ["--dataset", str(data), "--no-baseline", "--exclude-void", "--json", *FAST]
    proc = _zoo(home, "eval", "sam2long-video", *args)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["protocol"] == "davis2017-semi-supervised (void excluded)"
    assert list(report["global"]) == ["sam2long"] and "void excluded" in report["table"]["title"]


# --------------------------------------------------------------------------- bad input


def _leftovers(out: Path) -> list[Path]:
    """``--out`` itself and any hidden temporary sibling a run would have used."""
    return [p for p in [out] if p.exists()] + list(out.parent.glob(f".{out.name}.tmp-*"))


def _with_fast(extra: list[str]) -> list[str]:
    """``FAST`` options, except those ``extra`` sets itself (a flag given twice is an error)."""
    given = {a for a in extra if a.startswith("--")}
    out: list[str] = []
    for flag, value in zip(FAST[::2], FAST[1::2], strict=True):
        if flag in given or (flag == "--weights" and "--checkpoint" in given):
            continue
        out += [flag, value]
    return [*out, *extra]


BOX = ["--boxes", "1:10,20,40,50"]
BAD_RUNS: list[tuple[str, list[str], tuple[str, ...]]] = [
    ("no prompt", [], ("no prompt given", "--boxes")),
    ("duplicate box id", ["--boxes", "1:10,20,40,50;1:30,30,60,60"], ("duplicate object id 1",)),
    ("bad box id", ["--boxes", "a:10,20,40,50"], ("bad object id 'a'",)),
    ("box id > 255", ["--boxes", "300:10,20,40,50"], ("between 1 and 255",)),
    ("box outside", ["--boxes", "1:200,20,400,50"], ("entirely outside the 128x96",)),
    ("box x2<x1", ["--boxes", "1:40,20,10,50"], ("x2<=x1",)),
    ("malformed box", ["--boxes", "1:10,20,40"], ("3 numbers",)),
    ("frame past the end", [*BOX, "--frame", "99"], ("--frame 99 is outside the video",)),
    ("prompt-frame alias", [*BOX, "--prompt-frame", "4"], ("outside the video's 4 frames",)),
    ("negative frame", [*BOX, "--frame", "-1"], ("--frame", "minimum")),
    ("labels without points", [*BOX, "--labels", "1"], ("--labels given without --points",)),
    ("label count", ["--points", "2:50,50;2:60,60", "--labels", "1"], ("2 --points but 1",)),
    ("label value", ["--points", "2:50,50", "--labels", "7"], ("1 (foreground) or 0",)),
    ("mixed point ids", ["--points", "2:50,50;60,60", "--labels", "1,1"], ("every point",)),
    (
        "ambiguous points",
        ["--boxes", "1:10,20,40,50;2:60,20,90,50", "--points", "50,50", "--labels", "1"],
        ("ambiguous", "ID:x,y"),
    ),
    ("point outside", ["--points", "1:500,50", "--labels", "1"], ("point (500,50)", "outside")),
    ("mask and boxes", [*BOX, "--mask", "m.png"], ("one kind of prompt",)),
    ("missing mask", ["--mask", "/nonexistent/m.png"], ("--mask", "does not exist")),
    ("missing prompts file", ["--prompts", "/nonexistent/p.json"], ("does not exist",)),
    ("unknown format", [*BOX, "--format", "png,gif"], ("unknown --format 'gif'",)),
    ("image instead of video", [*BOX, "--image", "x.jpg"], ("pass --video, not --image",)),
    ("pathways 0", [*BOX, "--pathways", "0"], ("--pathways", "minimum")),
    ("pathways text", [*BOX, "--pathways", "many"], ("--pathways", "not an integer")),
    ("misspelt option", [*BOX, "--pathway", "2"], ("unknown option --pathway",)),
    ("eval-only option", [*BOX, "--no-baseline"], ("applies to zoo eval",)),
    ("image size", [*BOX, "--image-size", "100"], ("multiple of 64",)),
    (
        "half precision",
        [*BOX, "--dtype", "bfloat16"],
        ("does not run in bfloat16", "supports float32"),
    ),
    ("missing checkpoint", [*BOX, "--checkpoint", "/nonexistent/c.pt"], ("does not exist",)),
    ("cuda without CUDA", [*BOX, "--device", "cuda"], ("CUDA is not available",)),
]


@pytest.mark.parametrize(
    ("extra", "needles"), [b[1:] for b in BAD_RUNS], ids=[b[0] for b in BAD_RUNS]
)
def test_bad_run_inputs_leave_no_out(
    tmp_path: Path, frames: Path, home: dict[str, str], extra: list[str], needles: tuple[str, ...]
) -> None:
    out = tmp_path / "sub" / "out"
    args = ["--video", str(frames), "--out", str(out), *_with_fast(extra)]
    proc = _zoo(home, "run", "sam2long-video", *args)
    assert_user_error(proc, *needles)
    assert not _leftovers(out)


def test_prompt_flags_as_the_video_task_reads_them(frames: Path) -> None:
    """The grammar is the core video task's (no model needed to read it): clicks without
    --labels are foreground clicks, a box crossing the edge is clipped (with a note), ids
    are numbered in order when left out."""
    from zoo.options import validate
    from zoo.registry import get_registry
    from zoo.tasks.spec import RunInputs

    task = get_registry().task("video")
    opts = validate(task.options, {}, command="run", where="test")
    run = RunInputs(video=str(frames), boxes="10,20,400,50", points="2:50,50")
    inputs = task.from_cli(run, opts)
    one, two = inputs.args[0].objects
    assert (one.object_id, one.box) == (1, (10.0, 20.0, float(W), 50.0))
    assert (two.object_id, two.points, two.labels) == (2, [(50.0, 50.0)], [1])
    assert inputs.notes == [f"1 box was clipped to the {W}x{H} image"]


def _bad_prompt_files(tmp: Path) -> Iterator[tuple[str, list[str], tuple[str, ...]]]:
    bad_json = tmp / "bad.json"
    bad_json.write_text("{not json")
    yield "prompts not JSON", ["--prompts", str(bad_json)], ("not valid JSON",)
    no_obj = tmp / "background.png"
    save_palette_png(no_obj, np.zeros((H, W), np.uint8))
    yield "mask only background", ["--mask", str(no_obj)], ("no object",)
    small = tmp / "small.png"
    save_palette_png(small, np.ones((10, 10), np.uint8))
    yield "mask size", ["--mask", str(small)], ("frame size",)
    junk = tmp / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    yield "junk checkpoint", [*BOX, "--checkpoint", str(junk)], ("junk.pt",)


def test_bad_files_leave_no_out(tmp_path: Path, frames: Path, home: dict[str, str]) -> None:
    for what, extra, needles in _bad_prompt_files(tmp_path):
        out = tmp_path / what.replace(" ", "_")
        args = ["--video", str(frames), "--out", str(out), *_with_fast(extra)]
        proc = _zoo(home, "run", "sam2long-video", *args)
        assert_user_error(proc, *needles)
        assert not _leftovers(out), what


def test_bad_videos_leave_no_out(tmp_path: Path, home: dict[str, str]) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    cases = [
        ("no video", [], ("needs --video",)),
        ("missing folder", ["--video", str(tmp_path / "nope")], ("do not exist",)),
        ("empty folder", ["--video", str(empty)], ("no JPEG/PNG frames",)),
    ]
    for what, video, needles in cases:
        out = tmp_path / what.replace(" ", "_")
        proc = _zoo(home, "run", "sam2long-video", *video, *BOX, "--out", str(out), *FAST)
        assert_user_error(proc, *needles)
        assert not _leftovers(out), what


def test_bad_eval_inputs_leave_no_out(tmp_path: Path, home: dict[str, str]) -> None:
    data = make_davis(tmp_path / "davis", frames=2)
    (data / "Annotations" / "shapes0" / "00001.png").unlink()
    cases = [
        ("no dataset", [], ("needs --dataset",)),
        ("not davis", ["--dataset", str(tmp_path)], ("not a DAVIS-layout dataset",)),
        ("missing annotation", ["--dataset", str(data)], ("2 frames but 1 annotation",)),
        ("compare", ["--dataset", str(data), "--compare", "sam2:tiny"], ("drop --compare",)),
        ("run-only option", ["--dataset", str(data), "--frame", "1"], ("applies to zoo run",)),
    ]
    for what, extra, needles in cases:
        out = tmp_path / what.replace(" ", "_")
        proc = _zoo(home, "eval", "sam2long-video", *extra, "--out", str(out), *FAST)
        assert_user_error(proc, *needles)
        assert not _leftovers(out), what


def test_out_that_is_a_file_is_refused(tmp_path: Path, frames: Path, home: dict[str, str]) -> None:
    out = tmp_path / "out.txt"
    out.write_text("keep me")
    proc = _zoo(home, "run", "sam2long-video", "--video", str(frames), *BOX, "--out", str(out))
    assert_user_error(proc, "existing file")
    assert out.read_text() == "keep me"


def test_odd_frame_mid_video_leaves_no_out(tmp_path: Path, home: dict[str, str]) -> None:
    """Found only while tracking (frames are decoded lazily): the partial output goes away."""
    data = make_davis(tmp_path / "davis", frames=3)
    video = data / "JPEGImages" / "shapes0"
    Image.fromarray(np.zeros((H + 2, W, 3), np.uint8)).save(video / "00003.jpg")
    out = tmp_path / "out"
    proc = _zoo(
        home, "run", "sam2long-video", "--video", str(video), *BOX, "--out", str(out), *FAST
    )
    assert_user_error(proc, "00003.jpg", "resize all frames")
    assert not _leftovers(out)


def test_interrupted_run_leaves_no_out(
    tmp_path: Path, frames: Path, home: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from zoo_sam2long.model import SAM2LongVideoModel

    original = SAM2LongVideoModel.track

    def stop_after_first(self: Any, *args: Any, **kwargs: Any) -> Iterator[Any]:
        gen = original(self, *args, **kwargs)
        yield next(gen)
        raise KeyboardInterrupt  # Ctrl-C while tracking

    monkeypatch.setattr(SAM2LongVideoModel, "track", stop_after_first)
    out = tmp_path / "out"
    args = ["--video", str(frames), *BOX, "--out", str(out), *FAST]
    proc = _zoo(home, "run", "sam2long-video", *args)
    assert proc.returncode == 130  # the CLI says "interrupted"
    assert not _leftovers(out)
