"""The concept tasks through every generic surface, with a toy family (numpy only).

``concept`` (``find``) and ``concept-video`` (``track_concepts``) are core task modules
(:mod:`zoo.tasks.concept`, :mod:`zoo.tasks.concept_video`); a family that declares them gets
``zoo run --text``, ``zoo batch --text``, ``POST /v1/concepts`` and
``POST /v1/videos/{id}/concepts`` without code of its own. The toy finds, for each concept,
the pixels brighter than a level that depends on the concept's position, so every output
can be checked by hand; it counts its text encodings (one per distinct text per model).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from tests.conftest import run_zoo
from tests.test_registry import make_distribution
from zoo.registry import reset_registry
from zoo.testing.cli import assert_user_error

TOY = """
import numpy as np

from zoo.hookspecs import hookimpl
from zoo.model import ZooModel
from zoo.prompts import Prompts, as_concept_prompts, as_prompts
from zoo.results import ConceptFrameResult, ConceptResult, SegmentationResult
from zoo.specs import FamilySpec, VariantSpec

ZOO_PLUGIN_API = 3
ENCODED = []  # every text encoding, in order


def _load(image):
    from zoo.io.images import load_image
    return load_image(image)


def _find(img, prompts, threshold):
    h, w = img.shape[:2]
    masks, boxes, scores, ids = [], [], [], []
    for k, _ in enumerate(prompts.concepts):
        m = img.mean(axis=2) > 200 - 60 * k
        ys, xs = np.nonzero(m)
        score = 0.9 - 0.1 * k
        if not len(xs) or score <= threshold:
            continue
        masks.append(m)
        boxes.append([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1])
        scores.append(score)
        ids.append(k)
    return dict(
        masks=np.array(masks, bool).reshape(-1, h, w),
        boxes=np.array(boxes, np.float32).reshape(-1, 4),
        scores=np.array(scores, np.float32),
        concept_ids=np.array(ids, np.int64),
    )


class ToyConcept(ZooModel):
    tasks = ("concept", "promptable", "concept-video")

    def __init__(self):
        self._img = None
        self._texts = {}

    @classmethod
    def create(cls, ctx, **config):
        return cls()

    def modules(self):
        return []

    def set_image(self, image):
        self._img = _load(image)

    def _encode(self, text):
        if text not in self._texts:
            ENCODED.append(text)
            self._texts[text] = len(text)
        return self._texts[text]

    def find(self, image=None, concepts=None, exemplars=None, *, threshold=0.5):
        from zoo.errors import InputError
        if not 0 <= threshold <= 1:
            raise InputError(f"threshold must lie in [0, 1], got {threshold}")
        prompts = as_concept_prompts(concepts, exemplars)
        if image is not None:
            self.set_image(image)
        img = self._img
        h, w = img.shape[:2]
        prompts, _ = prompts.fit(h, w)
        for c in prompts.concepts:
            self._encode(c)
        return ConceptResult(
            concepts=prompts.concepts, presence=np.full(len(prompts.concepts), 0.8, np.float32),
            prompts=prompts, threshold=threshold, image_size=(h, w),
            provenance=self.provenance("concept"), **_find(img, prompts, threshold))

    def segment(self, image=None, prompts=None, *, multimask=False):
        if image is not None:
            self.set_image(image)
        h, w = self._img.shape[:2]
        p, _ = as_prompts(prompts).fit(h, w)
        masks = []
        for o in p.objects:
            m = np.zeros((h, w), bool)
            x1, y1, x2, y2 = (int(v) for v in o.box)
            m[y1:y2, x1:x2] = True
            masks.append(m)
        return SegmentationResult(masks=np.stack(masks), scores=np.ones(len(masks), np.float32),
                                  image_size=(h, w), provenance=self.provenance("promptable"),
                                  prompts=p)

    def track_concepts(self, frames, concepts=None, exemplars=None, *, prompt_frame=0):
        from zoo.io.frames import open_frames
        prompts = as_concept_prompts(concepts, exemplars)
        src = open_frames(frames)
        for i in range(len(src)):
            img = src[i]
            h, w = img.shape[:2]
            found = _find(img, prompts, 0.0) if i >= prompt_frame else _find(img, prompts, 1.0)
            oids = [int(k) + 1 for k in found["concept_ids"]]
            yield ConceptFrameResult(
                frame_index=i, frame_name=src.names[i], concepts=prompts.concepts,
                masks=dict(zip(oids, found["masks"])),
                scores={o: float(s) for o, s in zip(oids, found["scores"])},
                boxes={o: tuple(float(v) for v in b) for o, b in zip(oids, found["boxes"])},
                concept_ids={o: int(k) for o, k in zip(oids, found["concept_ids"])},
                image_size=(h, w), provenance=self.provenance("concept-video"))


@hookimpl
def zoo_register_families(register):
    register(FamilySpec(name="toy-concept", tasks=["concept", "promptable", "concept-video"],
                        loader="toy_concept:ToyConcept", default_tag="v1", license="MIT",
                        requires_weights=False,
                        variants=[VariantSpec(family="toy-concept", tag="v1")]))
"""


@pytest.fixture
def toy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    site = tmp_path / "site"
    site.mkdir()
    make_distribution(site, "toy-concept", TOY, "toyc", "toy_concept")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("ZOO_PLUGINS", "toyc")
    reset_registry()
    yield site
    sys.modules.pop("toy_concept", None)
    reset_registry()


def _photo(path: Path, value: int = 100) -> Path:
    """64x48: a 250 square (concept 0 and 1) and a 180 band (concept 1 only)."""
    arr = np.full((48, 64, 3), value, np.uint8)
    arr[10:30, 10:40] = 250
    arr[35:45, 5:60] = 180
    Image.fromarray(arr).save(path)
    return path


def _choose(name: str, raw: dict[str, Any] | None = None, **run: str) -> str:
    from zoo.registry import get_registry
    from zoo.running import choose_task
    from zoo.tasks.spec import RunInputs

    reg = get_registry()
    fam, _ = reg.resolve_name(name)
    return choose_task(reg, fam, RunInputs(**run), raw or {}).name


def test_the_flags_pick_the_task(toy: Path) -> None:
    assert _choose("toy-concept", {"text": "dog"}, image="p.jpg") == "concept"
    assert _choose("toy-concept", {"exemplar_boxes": "1,1,5,5"}, image="p.jpg") == "concept"
    assert _choose("toy-concept", None, image="p.jpg", boxes="1,1,5,5") == "promptable"
    assert _choose("toy-concept", {"text": "dog"}, video="v/") == "concept-video"
    # the user's own task option beats a shared prompt flag (the concept task refuses --boxes)
    assert _choose("toy-concept", {"text": "dog"}, image="p.jpg", boxes="1,1,5,5") == "concept"
    assert _choose("toy-concept", {"everything": True}, image="p.jpg") == "everything"
    assert _choose("toy-concept", None, image="p.jpg") == "concept"  # the family's first


def test_run_finds_each_concept_with_its_category(toy: Path, tmp_path: Path) -> None:
    photo = _photo(tmp_path / "p.png")
    out = tmp_path / "out"
    proc = run_zoo(
        "run", "toy-concept", "--image", str(photo), "--text", "sun; bright thing",
        "--threshold", "0.1", "--out", str(out), "--json", "--format", "png,coco,json,overlay",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["task"] == "concept" and report["instances"] == 2
    assert report["concepts"] == {
        "sun": {"instances": 1, "presence": 0.8},
        "bright thing": {"instances": 1, "presence": 0.8},
    }
    coco = json.loads((out / "results.json").read_text())
    assert [c["category_id"] for c in coco] == [1, 2]
    assert [c["concept"] for c in coco] == ["sun", "bright thing"]
    assert [c["area"] for c in coco] == [20 * 30, 20 * 30 + 10 * 55]
    run = json.loads((out / "run.json").read_text())
    assert run["categories"] == [{"id": 1, "name": "sun"}, {"id": 2, "name": "bright thing"}]
    assert run["threshold"] == 0.1 and run["command"] == "run"
    assert (out / "overlay.png").is_file()
    # --threshold removes what scores at most it (0.9 and 0.8 here)
    proc = run_zoo(
        "run", "toy-concept", "--image", str(photo), "--text", "sun;bright thing",
        "--threshold", "0.85", "--out", str(tmp_path / "o2"), "--json",
    )  # fmt: skip
    assert json.loads(proc.stdout)["instances"] == 1


def test_exemplar_boxes_grammar(toy: Path, tmp_path: Path) -> None:
    photo = _photo(tmp_path / "p.png")
    out = tmp_path / "out"
    proc = run_zoo(
        "run", "toy-concept", "--image", str(photo), "--text", "sun;band",
        "--exemplar-boxes", "sun:10,10,40,30;1:5,35,90,45", "--exemplar-labels", "1,0",
        "--out", str(out), "--json", "--format", "json",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    result = json.loads((out / "result.json").read_text())
    ex = result["prompts"]["exemplars"]
    assert [(e["concept"], e["label"]) for e in ex] == [(0, 1), (1, 0)]
    assert ex[1]["box"] == [5.0, 35.0, 64.0, 45.0]  # clipped to the 64-px width
    assert "1 exemplar box was clipped to the 64x48 image" in proc.stderr + proc.stdout


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--text", "dog", "--boxes", "1,1,5,5"], "--boxes does not apply to the concept task"),
        (["--exemplar-labels", "1"], "--exemplar-labels given without --exemplar-boxes"),
        (["--text", "dog", "--threshold", "2"], "threshold"),
        (["--text", "dog;dog"], "given twice"),
        (["--text", ";".join(f"c{i}" for i in range(33))], "at most 32"),
        (["--exemplar-boxes", "1,1,5"], "has 3 numbers"),
        (["--exemplar-boxes", "1,1,5,5;2,2,6,6", "--exemplar-labels", "1"], "one label per box"),
        (["--exemplar-boxes", "cat:1,1,5,5", "--text", "dog"], "not among the concepts"),
        (["--exemplar-boxes", "100,100,120,120"], "entirely outside the 64x48 image"),
    ],
)
def test_bad_concept_flags_are_one_line(
    toy: Path, tmp_path: Path, args: list[str], needle: str
) -> None:
    photo = _photo(tmp_path / "p.png")
    out = tmp_path / "out"
    proc = run_zoo("run", "toy-concept", "--image", str(photo), "--out", str(out), *args)
    assert_user_error(proc, needle)
    assert not out.exists()


def test_run_concepts_through_a_video(toy: Path, tmp_path: Path) -> None:
    frames = tmp_path / "frames"
    frames.mkdir()
    for i in range(3):
        _photo(frames / f"{i:05d}.png", value=100 + i)
    out = tmp_path / "out"
    proc = run_zoo(
        "run", "toy-concept", "--video", str(frames), "--text", "sun;bright thing",
        "--frame", "1", "--out", str(out), "--json",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["task"] == "concept-video"
    assert report["frames"] == 3 and report["tracks"] == 2
    assert report["concepts"] == ["sun", "bright thing"]
    run = json.loads((out / "run.json").read_text())
    assert run["categories"] == [{"id": 1, "name": "sun"}, {"id": 2, "name": "bright thing"}]
    assert run["prompt_frame"] == 1 and run["prompts"]["concepts"] == ["sun", "bright thing"]
    coco = json.loads((out / "results.json").read_text())
    assert sorted({(c["image_id"], c["category_id"]) for c in coco}) == [
        (2, 1),
        (2, 2),
        (3, 1),
        (3, 2),
    ]
    assert_user_error(
        run_zoo("run", "toy-concept", "--video", str(frames), "--text", "x", "--frame", "3"),
        "outside the video's 3 frames",
    )


def test_batch_text_for_every_item_and_per_row(toy: Path, tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(3):
        _photo(photos / f"{i}.png", value=90 + i)
    out = tmp_path / "out"
    proc = run_zoo(
        "batch", "toy-concept", "--input", str(photos), "--text", "sun;bright thing",
        "--threshold", "0.1", "--out", str(out), "--json",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr + proc.stdout
    coco = json.loads((out / "results.json").read_text())
    assert sorted((c["image_id"], c["category_id"]) for c in coco) == [
        (i, k) for i in (1, 2, 3) for k in (1, 2)
    ]
    images = json.loads((out / "images.json").read_text())
    assert [c["name"] for c in images["categories"]] == ["sun", "bright thing"]
    # a manifest row's own text wins; "text": [] asks for nothing in that item
    manifest = tmp_path / "m.jsonl"
    manifest.write_text(
        json.dumps({"image": str(photos / "0.png"), "text": "band"})
        + "\n"
        + json.dumps({"image": str(photos / "1.png"), "text": []})
        + "\n"
        + json.dumps({"image": str(photos / "2.png"), "boxes": [[1, 1, 5, 5]]})
        + "\n"
    )
    out2 = tmp_path / "out2"
    proc = run_zoo(
        "batch", "toy-concept", "--input", str(manifest), "--text", "sun", "--out", str(out2),
        "--json",
    )  # fmt: skip
    assert proc.returncode == 3, proc.stderr + proc.stdout  # the boxes row fails alone
    coco = json.loads((out2 / "results.json").read_text())
    assert [(c["image_id"], c["concept"]) for c in coco] == [(1, "band")]
    errors = (out2 / "errors.jsonl").read_text()
    assert "the concept task takes text and exemplars" in errors


def test_batch_tracks_concepts_in_each_video(toy: Path, tmp_path: Path) -> None:
    videos = tmp_path / "videos"
    for v in range(2):
        (videos / f"v{v}").mkdir(parents=True)
        for i in range(3):
            _photo(videos / f"v{v}" / f"{i:05d}.png", value=100 + i)
    out = tmp_path / "out"
    proc = run_zoo(
        "batch", "toy-concept", "--task", "concept-video", "--input", str(videos),
        "--text", "sun;bright thing", "--out", str(out), "--json",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr + proc.stdout
    report = json.loads(proc.stdout)
    assert report["done"] == 2 and report["failed"] == 0
    coco = json.loads((out / "results.json").read_text())
    assert len(coco) == 2 * 3 * 2  # 2 videos x 3 frames x 2 tracks
    assert {c["category_id"] for c in coco} == {1, 2}
    images = json.loads((out / "images.json").read_text())
    assert [c["name"] for c in images["categories"]] == ["sun", "bright thing"]


def test_python_batch_encodes_each_text_once(toy: Path, tmp_path: Path) -> None:
    import zoo

    photos = [_photo(tmp_path / f"{i}.png", value=80 + i) for i in range(4)]
    results = list(zoo.batch("toy-concept", [str(p) for p in photos], text="sun;band"))
    assert [len(r.results[0]) for r in results] == [2, 2, 2, 2]  # type: ignore[index]
    toy_module = sys.modules["toy_concept"]
    assert toy_module.ENCODED == ["sun", "band"]


# --------------------------------------------------------------------------- as a detector


def test_detector_boxes_take_the_detections_path(toy: Path, tmp_path: Path) -> None:
    """``--detector FAMILY --text`` gives what the same boxes in a detections file give."""
    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(2):
        _photo(photos / f"{i}.png", value=90 + i)
    # what the toy finds for "sun;band": the 250 square (0.9), then square + band (0.8)
    dets = [
        {"image_id": k, "bbox": b, "score": s, "category_id": c}
        for k in (1, 2)
        for b, s, c in (([10, 10, 30, 20], 0.9, 1), ([5, 10, 55, 35], 0.8, 2))
    ]
    (tmp_path / "dets.json").write_text(json.dumps(dets))
    outs = {}
    for how, args in {
        "file": ["--detections", str(tmp_path / "dets.json")],
        "model": ["--detector", "toy-concept", "--text", "sun;band"],
    }.items():
        out = tmp_path / how
        proc = run_zoo(
            "batch", "toy-concept", "--task", "promptable", "--input", str(photos),
            "--out", str(out), "--json", *args,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr + proc.stdout
        outs[how] = json.loads((out / "results.json").read_text())
    assert outs["model"] == outs["file"]
    assert [(c["image_id"], c["category_id"], c["area"]) for c in outs["model"]] == [
        (1, 1, 600),
        (1, 2, 1925),
        (2, 1, 600),
        (2, 2, 1925),
    ]
    # zoo run: --detector picks the box task and reports what it kept
    out = tmp_path / "run"
    proc = run_zoo(
        "run", "toy-concept", "--image", str(photos / "0.png"), "--detector", "toy-concept",
        "--text", "sun", "--out", str(out), "--json",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["task"] == "promptable" and report["masks"] == 1
    assert json.loads((out / "results.json").read_text())[0]["bbox"] == [10.0, 10.0, 30.0, 20.0]


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--detector", "toy-concept"], 'needs --text "person;car"'),
        (["--boxes", "1,1,5,5", "--text", "sun"], "needs a detector here"),
        (["--detector", "nope", "--text", "sun"], "unknown model 'nope'"),
        (["--detector", "toy-concept", "--text", "x", "--boxes", "1,1,5,5"], "not both"),
        (["--detector", "toy-concept", "--text", "x", "--detector-threshold", "3"], "threshold"),
        (["--detector", "toy-concept", "--text", "x", "--detector-options", "arch"], "KEY=VALUE"),
    ],
)
def test_bad_detector_flags_are_one_line(
    toy: Path, tmp_path: Path, args: list[str], needle: str
) -> None:
    photo = _photo(tmp_path / "p.png")
    proc = run_zoo(
        "run", "toy-concept", "--task", "promptable", "--image", str(photo),
        "--out", str(tmp_path / "o"), *args,
    )  # fmt: skip
    assert_user_error(proc, needle)
    assert not (tmp_path / "o").exists()


# --------------------------------------------------------------------------- zoo eval


def test_eval_prompts_each_category_name(toy: Path, tmp_path: Path) -> None:
    """Category 7 "sun" is the bright square the toy finds for any one text, category 9
    "band" is elsewhere: class-aware AP is exactly (1 + 0) / 2."""
    from zoo.io.masks import encode_rle

    (tmp_path / "images").mkdir()
    photo = _photo(tmp_path / "images" / "a.png")
    square = np.zeros((48, 64), bool)
    square[10:30, 10:40] = True
    band = np.zeros((48, 64), bool)
    band[35:45, 5:60] = True
    coco = {
        "images": [{"id": 3, "file_name": photo.name, "height": 48, "width": 64}],
        "categories": [{"id": 7, "name": "sun"}, {"id": 9, "name": "band"}],
        "annotations": [
            {"id": i + 1, "image_id": 3, "category_id": c, "iscrowd": 0,
             "segmentation": encode_rle(m), "area": int(m.sum()), "bbox": b}
            for i, (c, m, b) in enumerate(
                ((7, square, [10, 10, 30, 20]), (9, band, [5, 35, 55, 10]))
            )
        ],
    }  # fmt: skip
    (tmp_path / "ann.json").write_text(json.dumps(coco))
    out = tmp_path / "ev"
    proc = run_zoo(
        "eval", "toy-concept", "--annotations", str(tmp_path / "ann.json"),
        "--images", str(tmp_path / "images"), "--out", str(out), "--json",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr + proc.stdout
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["protocol"] == "coco-segm" and metrics["categories"] == ["sun", "band"]
    m = metrics["metrics"]["toy-concept:v1"]
    assert m["AP"] == pytest.approx(0.5) and m["AP50"] == pytest.approx(0.5)
    results = json.loads((out / "toy-concept_v1.results.json").read_text())
    assert sorted((r["image_id"], r["category_id"]) for r in results) == [(3, 7), (3, 9)]
    assert sys.modules["toy_concept"].ENCODED == ["sun", "band"]


# --------------------------------------------------------------------------- HTTP


@pytest.fixture
def client(toy: Path) -> Any:
    from fastapi.testclient import TestClient

    from zoo.serve import ServeConfig, create_app

    app = create_app(ServeConfig(weights="random", device="cpu"))
    with TestClient(app, base_url="http://127.0.0.1") as c:
        yield c


def _upload(client: Any, path: Path) -> str:
    with path.open("rb") as fh:
        res = client.post("/v1/images", files={"file": ("p.png", fh, "image/png")})
    assert res.status_code == 200, res.text
    return str(res.json()["image_id"])


def test_concepts_endpoint(client: Any, tmp_path: Path) -> None:
    image_id = _upload(client, _photo(tmp_path / "p.png"))
    body = {"model": "toy-concept", "image_id": image_id, "concepts": ["sun", "bright thing"]}
    res = client.post("/v1/concepts", json={**body, "threshold": 0.1})
    assert res.status_code == 200, res.text
    out = res.json()
    assert out["task"] == "concept" and out["concepts"] == ["sun", "bright thing"]
    assert out["presence"] == pytest.approx([0.8, 0.8])
    assert [a["category_id"] for a in out["annotations"]] == [1, 2]
    assert out["embedding"] == "computed"
    res = client.post("/v1/concepts", json={**body, "options": {"threshold": 0.85}})
    assert res.status_code == 200, res.text
    assert len(res.json()["annotations"]) == 1 and res.json()["embedding"] == "current"
    for bad, code, needle in [
        ({"concepts": [f"c{i}" for i in range(33)]}, 422, ""),
        ({"threshold": 2}, 422, ""),
        ({"concepts": [], "exemplars": []}, 400, "nothing to find"),
        ({"exemplars": [{"box": [100, 100, 120, 120], "concept": "sun"}]}, 400, "entirely outside"),
        ({"options": {"text": "dog"}}, 400, "text"),
    ]:
        res = client.post("/v1/concepts", json={**body, **bad})
        assert res.status_code == code, (bad, res.text)
        assert needle in res.text
    page = client.get("/").text
    assert 'id="concept-text"' in page


def test_concepts_video_endpoint_streams_frames(client: Any, tmp_path: Path) -> None:
    files = []
    for i in range(3):
        p = _photo(tmp_path / f"{i}.png", value=100 + i)
        files.append(("frames", (p.name, p.read_bytes(), "image/png")))
    res = client.post("/v1/videos", files=files)
    assert res.status_code == 200, res.text
    video_id = res.json()["video_id"]
    res = client.post(
        f"/v1/videos/{video_id}/concepts",
        json={"model": "toy-concept", "concepts": ["sun"], "prompt_frame": 1},
    )
    assert res.status_code == 200, res.text
    frames = [
        json.loads(line[len("data: ") :])
        for line in res.text.splitlines()
        if line.startswith("data: ")
    ]
    assert [f.get("frame_index") for f in frames[:-1]] == [0, 1, 2]
    assert [len(f["annotations"]) for f in frames[:-1]] == [0, 1, 1]
    assert frames[-1] == {"done": True, "frames": 3}
    res = client.post(
        f"/v1/videos/{video_id}/concepts",
        json={"model": "toy-concept", "concepts": ["sun"], "prompt_frame": 7},
    )
    assert res.status_code == 400 and "outside the video's 3 frames" in res.text
