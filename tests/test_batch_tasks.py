"""Every batch task through ``zoo batch`` on a 2-item manifest.

Two layers: toy families (a third-party plugin, numpy only, written against the task
protocols of :mod:`zoo.tasks`) prove the core dispatch for each task today; the real
families (sameo-amodal, opseg-shadow, depth-sam, sam2long-video, wesam-adapt) run the
same manifests and skip, saying why, while their plugin does not load.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.conftest import assert_user_error, run_zoo
from tests.test_registry import make_distribution
from zoo.registry import reset_registry

TOY_PLUGIN = '''
"""Toy families, one per task, written against zoo.tasks only."""
import numpy as np

from zoo.hookspecs import hookimpl
from zoo.model import ZooModel
from zoo.specs import FamilySpec, OptionSpec, Task, VariantSpec
from zoo.tasks import (AmodalInstance, AmodalResult, RGBDResult, SegmentationResult,
                       ShadowInstance, ShadowResult, VideoFrameResult, as_prompts,
                       as_shadow_prompts)


def _box_mask(h, w, box):
    m = np.zeros((h, w), bool)
    x1, y1, x2, y2 = (int(round(v)) for v in box)
    m[max(y1, 0):y2, max(x1, 0):x2] = True
    return m


def _load(image):
    from zoo.io.images import load_image
    return load_image(image)


class Toy(ZooModel):
    def __init__(self, gain=1.0):
        self.gain = gain

    @classmethod
    def create(cls, ctx, gain=1.0, **config):
        return cls(gain)

    def modules(self):
        return []


class ToyPromptable(Toy):
    tasks = (Task.PROMPTABLE,)

    def set_image(self, image):
        self._img = _load(image)

    def segment(self, image=None, prompts=None, *, multimask=False):
        img = _load(image)
        h, w = img.shape[:2]
        p = as_prompts(prompts)
        p.check_inside(h, w)
        masks, logits = [], []
        for o in p.objects:
            if o.box is not None:
                m = _box_mask(h, w, o.box)
            else:  # a click: the square of bright-ish pixels around it
                x, y = o.points[0]
                m = _box_mask(h, w, (x - 12, y - 12, x + 12, y + 12))
                m &= img.mean(axis=2) > 40
            masks.append(m)
            logits.append(np.where(m[::4, ::4], 5.0, -5.0).astype(np.float32))
        return SegmentationResult(masks=np.stack(masks), low_res_logits=np.stack(logits),
                                  scores=np.linspace(0.9, 0.5, len(masks)).astype(np.float32),
                                  image_size=(h, w), prompts=p,
                                  provenance=self.provenance(Task.PROMPTABLE))


class ToyAmodal(Toy):
    tasks = (Task.AMODAL,)

    def segment_amodal(self, image, boxes, *, scores=None):
        img = _load(image)
        h, w = img.shape[:2]
        insts = []
        for i, b in enumerate(np.asarray(boxes, dtype=float)):
            s = None if scores is None else float(scores[i])
            insts.append(AmodalInstance(amodal_mask=_box_mask(h, w, b), score=0.8 * (s or 1),
                                        box=tuple(b), pred_iou=0.8, det_score=s))
        return AmodalResult(instances=insts, image_size=(h, w),
                            provenance=self.provenance(Task.AMODAL))


class ToyShadow(Toy):
    tasks = (Task.SHADOW, Task.PROMPTABLE)

    def segment(self, image=None, prompts=None, *, multimask=False):
        return ToyPromptable.segment(self, image, prompts)

    def segment_shadows(self, image, prompts):
        img = _load(image)
        h, w = img.shape[:2]
        out = []
        for k, p in enumerate(as_shadow_prompts(prompts)):
            om = _box_mask(h, w, p.object.box) if p.object is not None else None
            sm = _box_mask(h, w, p.shadow.box) if p.shadow is not None else None
            out.append(ShadowInstance(association_id=k + 1, object_mask=om, shadow_mask=sm,
                                      object_score=0.7 if om is not None else None,
                                      shadow_score=0.6 if sm is not None else None))
        return ShadowResult(instances=out, image_size=(h, w),
                            provenance=self.provenance(Task.SHADOW))


class ToyRGBD(Toy):
    tasks = (Task.RGBD,)

    def segment_rgbd(self, image, depth, intrinsics=None, vocabulary=None, *, near=1.5):
        from zoo.io.depth import load_depth
        img = _load(image)
        h, w = img.shape[:2]
        d, valid = load_depth(depth)
        d = np.asarray(Image_resize(d, (w, h)))
        masks = np.stack([(d > 0) & (d < near), d >= near])
        vocab = list(vocabulary or ["near", "far"])
        return RGBDResult(masks=masks, labels=vocab[:2], scores=np.array([0.9, 0.8], np.float32),
                          vocabulary=vocab, class_ids=np.array([0, 1]), image_size=(h, w),
                          provenance=self.provenance(Task.RGBD),
                          extra={"intrinsics": list(intrinsics) if intrinsics else None})


def Image_resize(arr, size):
    from PIL import Image
    return np.array(Image.fromarray(arr.astype(np.float32), mode="F").resize(size, 0))


class ToyVideo(Toy):
    tasks = (Task.VIDEO,)

    def track(self, frames, prompts, *, stride=1):
        from zoo.io.frames import open_frames
        src = open_frames(frames)
        p = as_prompts(prompts)
        for i in range(0, len(src), stride):
            img = src[i]
            h, w = img.shape[:2]
            masks = {o.object_id or k + 1: _box_mask(h, w, o.box) for k, o in enumerate(p.objects)}
            yield VideoFrameResult(frame_index=i, frame_name=src.names[i], masks=masks,
                                   scores={k: 1.0 for k in masks}, image_size=(h, w),
                                   provenance=self.provenance(Task.VIDEO))


def _fam(name, task_list, cls, options=()):
    return FamilySpec(name=name, tasks=task_list, loader=f"toy_zoo:{cls}",
                      default_tag="v1", license="MIT", requires_weights=False,
                      variants=[VariantSpec(family=name, tag="v1")], options=list(options))


@hookimpl
def zoo_register_families(register):
    register(_fam("toy-promptable", [Task.PROMPTABLE], "ToyPromptable",
                  [OptionSpec(name="gain", type="float", default=1.0, model=True,
                              commands=("run", "batch"), help="a loader kwarg")]))
    register(_fam("toy-amodal", [Task.AMODAL], "ToyAmodal"))
    register(_fam("toy-shadow", [Task.SHADOW, Task.PROMPTABLE], "ToyShadow"))
    register(_fam("toy-rgbd", [Task.RGBD], "ToyRGBD",
                  [OptionSpec(name="near", type="float", default=1.5, commands=("batch",),
                              help="a task-method keyword")]))
    register(_fam("toy-video", [Task.VIDEO], "ToyVideo",
                  [OptionSpec(name="stride", type="int", default=1, commands=("batch",),
                              help="a task-method keyword")]))
'''


@pytest.fixture
def toys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    site = tmp_path / "site"
    site.mkdir()
    make_distribution(site, "toy-zoo", TOY_PLUGIN, "toy", "toy_zoo")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("ZOO_PLUGINS", "toy")
    reset_registry()
    yield site
    sys.modules.pop("toy_zoo", None)
    reset_registry()


def _img(path: Path, value: int = 120, size: tuple[int, int] = (64, 48)) -> Path:
    arr = np.full((size[1], size[0], 3), value, np.uint8)
    arr[10:30, 10:40] = 250
    Image.fromarray(arr).save(path)
    return path


def _rows(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _batch(manifest: Path, out: Path, name: str, *extra: str) -> list[dict]:
    proc = run_zoo(
        "batch",
        name,
        "--input",
        str(manifest),
        "--out",
        str(out),
        "--json",
        "--format",
        "coco,png,overlay",
        *extra,
    )
    assert proc.returncode == 0, proc.stderr + proc.stdout
    return json.loads((out / "results.json").read_text())


def test_amodal_detections_with_scores_and_categories(toys, tmp_path: Path) -> None:
    a, b = _img(tmp_path / "a.png"), _img(tmp_path / "b.png")
    coco = {
        "images": [{"id": 7, "file_name": "a.png"}, {"id": 9, "file_name": "b.png"}],
        "categories": [{"id": 3, "name": "cup"}, {"id": 5, "name": "box"}],
    }
    (tmp_path / "images.json").write_text(json.dumps(coco))
    dets = [
        {"image_id": 7, "bbox": [5, 5, 20, 20], "score": 0.9, "category_id": 3},
        {"image_id": 7, "bbox": [30, 10, 20, 30], "score": 0.2, "category_id": 5},
        {"image_id": 9, "bbox": [1, 1, 10, 10], "score": 0.6, "category_id": 5},
    ]
    (tmp_path / "dets.json").write_text(json.dumps(dets))
    anns = _batch(
        tmp_path / "images.json",
        tmp_path / "out",
        "toy-amodal",
        "--detections",
        str(tmp_path / "dets.json"),
        "--score-thr",
        "0.5",
    )
    assert [(x["image_id"], x["category_id"], x["det_score"]) for x in anns] == [
        (7, 3, 0.9),
        (9, 5, 0.6),
    ]
    images = json.loads((tmp_path / "out" / "images.json").read_text())
    assert images["categories"] == coco["categories"]
    assert (tmp_path / "out" / "masks" / "000000007" / "amodal_000.png").is_file()
    assert a.exists() and b.exists()


def test_shadow_object_and_shadow_boxes(toys, tmp_path: Path) -> None:
    a, b = _img(tmp_path / "a.png"), _img(tmp_path / "b.png")
    manifest = _rows(
        tmp_path / "m.jsonl",
        [
            {"image": a.name, "objects": [[5, 5, 20, 20]], "shadows": [[20, 5, 40, 25]]},
            {"image": b.name, "prompts": [{"shadow": {"box": [1, 1, 9, 9]}}]},
        ],
    )
    anns = _batch(manifest, tmp_path / "out", "toy-shadow")
    assert [(x["image_id"], x["category_id"], x["association"]) for x in anns] == [
        (1, 1, 1),
        (1, 2, 1),
        (2, 2, 1),
    ]


def test_rgbd_depth_column_and_method_option(toys, tmp_path: Path) -> None:
    a, b = _img(tmp_path / "a.png"), _img(tmp_path / "b.png")
    depth = np.zeros((48, 64), np.uint16)
    depth[:, :32] = 1000  # 1 m
    depth[:, 32:] = 3000
    Image.fromarray(depth).save(tmp_path / "d.png")
    manifest = _rows(
        tmp_path / "m.jsonl",
        [
            {"image": a.name, "depth": "d.png", "intrinsics": [50, 50, 32, 24]},
            {"image": b.name, "depth": "d.png", "vocabulary": ["floor", "wall"]},
        ],
    )
    anns = _batch(manifest, tmp_path / "out", "toy-rgbd", "--near", "2.0")
    near = next(x for x in anns if x["image_id"] == 1 and x["category_id"] == 1)
    assert near["area"] == 48 * 32  # --near 2.0 reached segment_rgbd
    assert [x["label"] for x in anns if x["image_id"] == 2] == ["floor", "wall"]


def test_video_one_row_per_video(toys, tmp_path: Path) -> None:
    for v in ("v1", "v2"):
        (tmp_path / v).mkdir()
        for i in range(3):
            _img(tmp_path / v / f"{i:05d}.jpg", value=40 * i)
    manifest = _rows(
        tmp_path / "m.jsonl",
        [
            {"video": "v1", "boxes": [[5, 5, 20, 20]]},
            {"video": "v2", "boxes": [[1, 1, 10, 10], [30, 10, 50, 30]]},
        ],
    )
    anns = _batch(manifest, tmp_path / "out", "toy-video", "--stride", "2")
    assert sorted((x["image_id"], x["frame_index"], x["object_id"]) for x in anns) == [
        (1, 0, 1),
        (1, 2, 1),
        (2, 0, 1),
        (2, 0, 2),
        (2, 2, 1),
        (2, 2, 2),
    ]
    assert (tmp_path / "out" / "masks" / "000000002" / "00002.png").is_file()


def test_video_batch_takes_the_run_id_grammar(toys, tmp_path: Path) -> None:
    """`zoo batch --boxes "ID:x1,y1,x2,y2;..."` over videos reads ids as `zoo run --video`
    does (they were refused as a malformed box)."""
    (tmp_path / "v1").mkdir()
    for i in range(2):
        _img(tmp_path / "v1" / f"{i:05d}.jpg")
    manifest = _rows(tmp_path / "m.jsonl", [{"video": "v1"}])
    anns = _batch(manifest, tmp_path / "out", "toy-video", "--boxes", "3:5,5,20,20;7:30,10,50,30")
    assert sorted({x["object_id"] for x in anns}) == [3, 7]
    proc = run_zoo(
        "batch",
        "toy-video",
        "--input",
        str(manifest),
        "--out",
        str(tmp_path / "o2"),
        "--boxes",
        "3:5,5,20,20;3:30,10,50,30",
    )
    assert_user_error(proc, "duplicate object id 3")


def test_promptable_core_everything_and_loader_option(toys, tmp_path: Path) -> None:
    import zoo

    a = _img(tmp_path / "a.png")
    out = list(zoo.batch("toy-promptable", [str(a)], everything=True, points_per_side=4, gain=2.0))
    res = out[0].result
    assert res.extra["everything"]["generator"] == "zoo.everything (grid)"
    model = zoo.load("toy-promptable", gain=2.0)
    ref = model.segment_everything(str(a), points_per_side=4)
    assert np.array_equal(res.masks, ref.masks) and len(ref) >= 1
    assert model.gain == 2.0


# --------------------------------------------------------------------------- real families

REAL = {
    "amodal": "sameo-amodal",
    "shadow": "opseg-shadow",
    "rgbd": "depth-sam",
    "video": "sam2long-video",
    "adapted promptable": "wesam-adapt",
}


def _loadable(family: str) -> str | None:
    """Why ``family`` cannot run yet (``None`` when it can)."""
    from zoo.registry import get_registry

    reset_registry()
    reg = get_registry()
    if family not in reg.families:
        errs = [p.error for p in reg.plugins if p.error and family.split("-")[0] in p.name]
        return f"{family} does not register yet ({(errs or ['not installed'])[0][:120]})"
    try:
        import zoo

        zoo.load(family, weights="random", device="cpu", image_size=128)
    except Exception as exc:
        return f"{family} does not load through the core contracts yet: {exc!s:.160}"
    return None


@pytest.fixture
def shared_dir() -> Path:
    root = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures"
    if not root.is_dir():
        pytest.skip(f"{root} is absent")
    return root


@pytest.mark.parametrize("task", list(REAL))
def test_real_family_two_items(task: str, tmp_path: Path, shared_dir: Path) -> None:
    family = REAL[task]
    why = _loadable(family)
    if why:
        pytest.skip(why)
    img = shared_dir / "images" / "groceries.jpg"
    rgbd = shared_dir / "rgbd" / "scannet_scene0000_00_1660"
    rows = {
        "amodal": [{"image": str(img), "boxes": [[60, 40, 400, 380]], "scores": [0.9]}] * 2,
        "shadow": [
            {
                "image": str(shared_dir / "shadow" / "web-shadow0573.jpg"),
                "objects": [[100, 100, 400, 500]],
                "shadows": [[300, 400, 700, 700]],
            },
            {"image": str(img), "objects": [[60, 40, 400, 380]]},
        ],
        "rgbd": [
            {
                "image": str(rgbd / "color.jpg"),
                "depth": str(rgbd / "depth.png"),
                "intrinsics": str(rgbd / "intrinsic_depth.txt"),
            }
        ]
        * 2,
        "video": [{"video": str(shared_dir / "video" / "bedroom"), "boxes": [[300, 100, 600, 500]]}]
        * 2,
        "adapted promptable": [{"image": str(img), "boxes": [[60, 40, 400, 380]]}] * 2,
    }[task]
    rows = [{**r, "image_id": i + 1} for i, r in enumerate(rows)]
    manifest = _rows(tmp_path / "m.jsonl", rows)
    extra = ["--image-size", "128", "--weights", "random", "--device", "cpu"]
    if task == "rgbd":
        extra += ["--points-per-side", "4"]
    proc = run_zoo(
        "batch", family, "--input", str(manifest), "--out", str(tmp_path / "out"), "--json", *extra
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["done"] == 2 and report["failed"] == 0


# --------------------------------------------------------------------------- engines, URIs


def test_local_workers_two_processes_equal_one(toys, tmp_path: Path) -> None:
    imgs = [_img(tmp_path / f"{i}.png", value=20 * i) for i in range(6)]
    manifest = _rows(
        tmp_path / "m.jsonl",
        [{"image": p.name, "boxes": [[2, 2, 30 + i, 40]]} for i, p in enumerate(imgs)],
    )
    one = _batch(manifest, tmp_path / "one", "toy-promptable")
    proc = run_zoo(
        "batch",
        "toy-promptable",
        "--input",
        str(manifest),
        "--out",
        str(tmp_path / "two"),
        "--workers",
        "2",
        "--device",
        "cpu",
        "--json",
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads((tmp_path / "two" / "results.json").read_text()) == one


def test_https_input_through_fsspec_and_missing_extra(toys, tmp_path: Path) -> None:
    import functools
    import http.server
    import threading

    pytest.importorskip("aiohttp", reason="fsspec's http filesystem needs the http extra")
    _img(tmp_path / "a.png")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        manifest = _rows(
            tmp_path / "m.jsonl",
            [
                {"image": f"{url}/a.png", "boxes": [[5, 5, 20, 20]]},
                {"image": f"{url}/missing.png", "boxes": [[5, 5, 20, 20]]},
                {"image": "ftp://host/x.png", "boxes": [[5, 5, 20, 20]]},
            ],
        )
        proc = run_zoo(
            "batch",
            "toy-promptable",
            "--input",
            str(manifest),
            "--out",
            str(tmp_path / "out"),
            "--json",
        )
    finally:
        server.shutdown()
    assert proc.returncode == 3, proc.stderr
    anns = json.loads((tmp_path / "out" / "results.json").read_text())
    assert [a["image_id"] for a in anns] == [1]
    errors = [json.loads(x) for x in (tmp_path / "out" / "errors.jsonl").read_text().splitlines()]
    assert [e["key"] for e in errors] == [2, 3]
    assert "unsupported scheme 'ftp'" in errors[1]["error"]


def test_everything_options_need_everything(toys, tmp_path: Path) -> None:
    a = _img(tmp_path / "a.png")
    proc = run_zoo(
        "batch",
        "toy-promptable",
        "--input",
        str(a),
        "--out",
        str(tmp_path / "o"),
        "--points-per-side",
        "4",
    )
    assert_user_error(proc, "--points-per-side applies to the everything task; add --everything")
    proc = run_zoo(
        "run",
        "toy-promptable",
        "--image",
        str(a),
        "--out",
        str(tmp_path / "r"),
        "--everything",
        "--points-per-side",
        "2",
        "--json",
    )
    assert proc.returncode == 0, proc.stderr
    assert not (tmp_path / "o").exists()
