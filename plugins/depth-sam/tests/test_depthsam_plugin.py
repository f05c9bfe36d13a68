"""Registration and the two named checkpoints (``sam2`` borrowed from the sam2 family,
``clip``), resolved by the core: ``zoo list`` size/cached, ``zoo pull``, ``zoo.load`` with
the files or overrides, against a loopback HTTP stand-in for the hub (never the network)."""

from __future__ import annotations

import hashlib
import inspect
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from zoo.errors import InputError
from zoo.registry import get_registry, reset_registry
from zoo.specs import WeightsSpec
from zoo.testing.cli import assert_user_error, run_cli

CLIP_SHA = "4b8699299b1e8997753c64b052ba32031449d5d853f55a039148560ee02b820f"
CLIP_SIZE = 598516980
ONLY = {"ZOO_PLUGINS": "sam2,depth-sam"}


def test_variants_declare_a_sam2_and_a_clip_file() -> None:
    reg = get_registry()
    fam = reg.families["depth-sam"]
    assert fam.default_tag == "tiny" and list(fam.tasks) == ["rgbd"]
    for size in ("tiny", "small", "base-plus", "large"):
        v = reg.variants[f"depth-sam:{size}"]
        assert list(v.checkpoints) == ["sam2", "clip"] and v.primary == "sam2"
        sam2 = v.checkpoints["sam2"]
        assert sam2.same_as == f"sam2:{size}"
        assert sam2.uri == reg.variants[f"sam2:{size}"].weights.uri  # filled by the registry
        assert sam2.sha256 == reg.variants[f"sam2:{size}"].weights.sha256
        clip = v.checkpoints["clip"]
        assert clip.uri == "hf://timm/vit_base_patch16_clip_224.openai/open_clip_model.safetensors"
        assert clip.sha256 == CLIP_SHA and clip.size == CLIP_SIZE and clip.license == "MIT"
        assert v.total_size == sam2.size + CLIP_SIZE  # zoo list's size includes CLIP
        assert v.config == {"size": size, "clip_model": "ViT-B-16"}


def test_options_are_typed_with_their_real_defaults() -> None:
    from zoo_depthsam.plugin import ZOO_PLUGIN_API, DepthSamOptions

    fam = get_registry().families["depth-sam"]
    assert ZOO_PLUGIN_API == 3 and fam.options is DepthSamOptions
    opts = fam.options
    rows = {r["name"]: r for r in opts.describe()}
    assert rows["points_per_side"]["type"] == "int" and opts.default_of("points_per_side") == 64
    # the thresholds depend on the weights (SAD's with real ones, 0 in test mode): the
    # loader decides, and the help says both values
    assert opts.default_of("pred_iou_thresh") is None and "0.7" in rows["pred_iou_thresh"]["help"]
    assert "0.8" in rows["stability_score_thresh"]["help"]
    assert opts.default_of("image_size") == 1024 and rows["mode"]["type"] == "depth|rgb|both"
    generator = (
        "points_per_side",
        "points_per_batch",
        "pred_iou_thresh",
        "stability_score_thresh",
        "box_nms_thresh",
        "min_region_area",
        "image_size",
    )
    assert all(opts.is_loader(n) for n in generator)
    assert opts.lookup("stability_thresh") == "stability_score_thresh"  # old spelling
    assert opts.lookup("min_region") == "min_region_area"
    # every number is bounded: no unbounded work from a typo (points_per_side <= 128...)
    for name, row in rows.items():
        if row["type"] in ("int", "float"):
            bounds = row.get("bounds", {})
            assert {"ge", "gt"} & set(bounds) and "le" in bounds, name
    assert rows["points_per_side"]["bounds"]["le"] == 128
    # the frame's inputs are the rgbd task's options, not re-declared for zoo run
    task = get_registry().task("rgbd").options
    for name in ("intrinsics", "vocabulary", "depth_scale", "pose", "no_pose"):
        assert task.applies(name, "run") and not opts.applies(name, "run"), name
    from zoo_depthsam.model import DepthSamModel

    create = inspect.signature(DepthSamModel.create).parameters
    assert all(n in create for n in opts.loader_names())  # every loader option is a kwarg


# --------------------------------------------------------------------------- loading


@pytest.fixture
def stub_builders(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Record the files ``create`` builds from (no weights exist here to load for real)."""
    import zoo_depthsam.classify as classify
    import zoo_sam2.build as sam_build

    calls: dict[str, Any] = {}

    class FakeSam:
        image_size = 1024

    def fake_sam(size: str, checkpoint: Any, **kw: Any) -> FakeSam:
        calls["sam2"] = (size, checkpoint)
        return FakeSam()

    def fake_clip(cls: Any, model_name: str, checkpoint: Any, **kw: Any) -> str:
        calls["clip"] = (model_name, checkpoint)
        return "clip"

    monkeypatch.setattr(sam_build, "build_sam2_model", fake_sam)
    monkeypatch.setattr(classify.ClipClassifier, "build", classmethod(fake_clip))
    return calls


def test_create_builds_from_the_files_the_core_hands_it(
    stub_builders: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import zoo.weights
    from zoo.loading import load

    def no_resolver(*_: Any, **__: Any) -> Any:
        raise AssertionError("the plugin must not resolve files itself")

    monkeypatch.setattr(zoo.weights, "resolve", no_resolver)
    sam_file, clip_file = tmp_path / "sam.pt", tmp_path / "clip.safetensors"
    sam_file.write_bytes(b"s")
    clip_file.write_bytes(b"c")
    model = load("depth-sam:small", checkpoint={"sam2": sam_file, "clip": clip_file}, device="cpu")
    assert stub_builders["sam2"] == ("small", sam_file)
    assert stub_builders["clip"] == ("ViT-B-16", clip_file)
    assert model.weights == str(sam_file) and not model.weights.startswith("random")
    assert model.test_mode_relaxed == {}  # real weights: SAD's thresholds
    assert (model.settings.pred_iou_thresh, model.settings.stability_score_thresh) == (0.7, 0.8)
    prov = model.provenance("rgbd")
    assert prov.files == {"sam2": str(sam_file), "clip": str(clip_file)}

    stub_builders.clear()
    model = load("depth-sam:small", weights="random", device="cpu")
    assert stub_builders == {"sam2": ("small", None), "clip": ("ViT-B-16", None)}
    assert model.settings.pred_iou_thresh == 0.0 and set(model.test_mode_relaxed) == {
        "pred_iou_thresh",
        "stability_score_thresh",
    }
    model = load("depth-sam:small", weights="random", device="cpu", pred_iou_thresh=0.5)
    assert model.settings.pred_iou_thresh == 0.5 and set(model.test_mode_relaxed) == {
        "stability_score_thresh"
    }


def test_unknown_or_out_of_bounds_kwargs_are_refused_before_building(
    stub_builders: dict[str, Any],
) -> None:
    """zoo.load checks loader kwargs against the declared options (one line, the closest
    name) before create runs."""
    from zoo.loading import load

    with pytest.raises(InputError, match="unknown option clip_checkpoint"):
        load("depth-sam", weights="random", device="cpu", clip_checkpoint="x.safetensors")
    with pytest.raises(InputError, match="unknown option pointz"):
        load("depth-sam", weights="random", device="cpu", pointz=3)
    with pytest.raises(InputError, match="points_per_side: 500 is above the maximum 128"):
        load("depth-sam", weights="random", device="cpu", points_per_side=500)
    assert "sam2" not in stub_builders  # refused before anything was built


# --------------------------------------------------------------------------- loopback hub


class _Files(BaseHTTPRequestHandler):
    files: ClassVar[dict[str, bytes]] = {}
    gets: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        data = self.files.get(self.path)
        if data is None:
            self.send_error(404)
            return
        type(self).gets.append(self.path)
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """Both files of depth-sam:tiny served from 127.0.0.1 (stand-ins, a few bytes each):
    a copy of the built-in catalogue points sam2:tiny's file and depth-sam:tiny's CLIP there."""
    import yaml

    import zoo.registry.builtin as builtin
    from zoo.registry.catalogue import builtin_catalogue

    blobs = {"/sam2_tiny.pt": b"sam2 stand-in" * 7, "/clip.safetensors": b"clip stand-in" * 11}
    handler = type("Handler", (_Files,), {"files": blobs, "gets": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"

    def spec(path: str) -> WeightsSpec:
        data = blobs[path]
        return WeightsSpec(
            uri=base + path, sha256=hashlib.sha256(data).hexdigest(), size=len(data), license="test"
        )

    real = builtin_catalogue()
    data = yaml.safe_load(real.read_text(encoding="utf-8"))
    for fam in data["families"].values():
        fam["card"] = str(real.parent / fam["card"])
    files = {"sam2": ("model", "/sam2_tiny.pt"), "depth-sam": ("clip", "/clip.safetensors")}
    for family, (key, path) in files.items():
        tiny = data["families"][family]["variants"]["tiny"]
        tiny["files"][key] = spec(path).model_dump(exclude_none=True)
    catalogue = tmp_path / "registry.yaml"
    catalogue.write_text(yaml.safe_dump(data), encoding="utf-8")
    monkeypatch.setattr(builtin, "builtin_catalogue", lambda: catalogue)
    for k, v in {**ONLY, "ZOO_HOME": str(tmp_path / "home"), "NO_PROXY": "127.0.0.1"}.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("ZOO_OFFLINE", raising=False)
    reset_registry()
    yield {"base": base, "blobs": blobs, "gets": handler.gets}
    server.shutdown()
    server.server_close()
    reset_registry()


def _listing(name: str) -> dict[str, Any]:
    proc = run_cli("list", name, "--json")
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    assert len(rows) == 1
    return rows[0]


def test_pull_fetches_both_files_and_list_shows_their_total(
    hub: dict[str, Any], stub_builders: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    sizes = {k: len(v) for k, v in hub["blobs"].items()}
    row = _listing("depth-sam:tiny")
    assert row["size"] == sum(sizes.values()) and row["cached"] is False
    assert set(row["files"]) == {"sam2", "clip"}
    assert row["files"]["sam2"]["same_as"] == "sam2:tiny"

    pulled = run_cli("pull", "depth-sam:tiny", "--json")
    assert pulled.returncode == 0, pulled.stderr
    files = json.loads(pulled.stdout)["files"]
    assert set(files) == {"sam2", "clip"}
    assert Path(files["sam2"]["path"]).read_bytes() == hub["blobs"]["/sam2_tiny.pt"]
    assert Path(files["clip"]["path"]).read_bytes() == hub["blobs"]["/clip.safetensors"]
    assert sorted(hub["gets"]) == ["/clip.safetensors", "/sam2_tiny.pt"]
    assert _listing("depth-sam:tiny")["cached"] is True
    assert _listing("sam2:tiny")["cached"] is True  # the same bytes, shared with sam2:tiny

    # offline now: zoo.load hands create both cached files, without the network
    monkeypatch.setenv("ZOO_OFFLINE", "1")
    reset_registry()
    from zoo.loading import load

    model = load("depth-sam:tiny", device="cpu")
    assert stub_builders["sam2"] == ("tiny", Path(files["sam2"]["path"]))
    assert stub_builders["clip"] == ("ViT-B-16", Path(files["clip"]["path"]))
    assert set(model.provenance("rgbd").files) == {"sam2", "clip"}
    assert len(hub["gets"]) == 2

    # one file missing: not cached, and the offline message names the missing file
    Path(files["clip"]["path"]).unlink()
    assert _listing("depth-sam:tiny")["cached"] is False
    proc = run_cli("pull", "depth-sam:tiny")
    assert_user_error(proc, "clip")


def test_clip_override_on_the_cli_replaces_only_the_clip_file(
    hub: dict[str, Any],
    stub_builders: dict[str, Any],
    tmp_path: Path,
    depthsam_frame: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``--checkpoint clip=PATH``: the core resolves sam2 from the registry, CLIP is the
    given file. The run is stopped right after loading (the models are stubs)."""
    from zoo_depthsam.model import DepthSamModel

    def stop(*_: Any, **__: Any) -> Any:
        raise InputError("stopped after loading")

    monkeypatch.setattr(DepthSamModel, "segment_rgbd", stop)
    mine = tmp_path / "my_clip.safetensors"
    mine.write_bytes(b"mine")
    out = tmp_path / "out"
    proc = run_cli(
        "run",
        "depth-sam:tiny",
        "--image",
        str(depthsam_frame / "color.jpg"),
        "--depth",
        str(depthsam_frame / "depth.png"),
        "--checkpoint",
        f"clip={mine}",
        "--device",
        "cpu",
        "--out",
        str(out),
    )
    assert proc.returncode == 2 and "stopped after loading" in proc.stderr, proc.stderr
    assert stub_builders["clip"] == ("ViT-B-16", mine)
    assert stub_builders["sam2"][1] is not None and stub_builders["sam2"][1].is_file()
    assert hub["gets"] == ["/sam2_tiny.pt"]  # CLIP was not downloaded
    assert not out.exists()


def test_vit_b_16_tokenizer_is_bundled_and_works_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """The BPE vocabulary ships inside open_clip; tokenising needs no network."""
    import open_clip

    for var, value in {
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "ZOO_OFFLINE": "1",
        "HTTP_PROXY": "http://127.0.0.1:9",
        "HTTPS_PROXY": "http://127.0.0.1:9",
    }.items():
        monkeypatch.setenv(var, value)
    tok = open_clip.get_tokenizer("ViT-B-16")
    assert type(tok).__name__ == "SimpleTokenizer"
    ids = tok(["a photo of a chair."])
    assert ids.shape == (1, 77) and int(ids[0, 0]) == 49406  # <start_of_text>
    assert (Path(open_clip.__file__).parent / "bpe_simple_vocab_16e6.txt.gz").is_file()


def test_plugin_modules_are_cheap_to_import_and_acyclic() -> None:
    code = (
        "import sys, zoo_depthsam.plugin, zoo_depthsam.cli, zoo_depthsam.results;"
        "bad = [m for m in ('torch', 'open_clip', 'sam2') if m in sys.modules];"
        "assert not bad, bad"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    src = Path(__file__).resolve().parents[1] / "zoo_depthsam"
    for name in ("results.py", "draw.py"):
        text = (src / name).read_text(encoding="utf-8")
        assert "from .model" not in text and "import model" not in text, name
    for path in src.glob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert "weights.resolve" not in text and "get_registry" not in text, path.name
