"""``zoo export --format onnx`` and the ONNX Runtime backend (issue 14, items 2-4).

Parity tolerances (random weights, float32, CPU, the shared fixture photos, boxes and
clicks), torch eager vs ONNX Runtime running the exported graphs of the same modules:

* image embedding: max abs diff <= 1e-4 (measured ~4e-6: reordered float sums in ORT's
  fused kernels);
* low-res logits: max abs diff <= 1e-3 (the issue's goal; measured < 1e-6);
* masks at the photo's size: IoU >= 0.999 per object (measured >= 0.99999: a handful of
  boundary pixels whose upsampled logit sits within float noise of 0).

Float16 graphs are checked in the slow suite with looser bounds (half precision).
The default suite exports at image_size 256 (``sam2:tiny``, ``efficientsam:vitt``); each
family is exported once per session into a shared ``$ZOO_HOME``; SAMEO and OpSeg parity
(the same graph modules behind other model classes) and float16 are ``slow``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import zoo
from zoo.errors import InputError

from .conftest import SHARED, assert_user_error, run_zoo

EMBED_TOL = 1e-4
LOGITS_TOL = 1e-3
IOU_MIN = 0.999
SIZE = 256
PHOTOS = ("truck.jpg", "dogs.jpg", "groceries.jpg")

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _photo(name: str) -> np.ndarray:
    from zoo.io.images import load_image

    path = SHARED / "fixtures" / "images" / name
    if not path.exists():
        pytest.skip(f"{path} is absent (shared fixtures are not in this checkout)")
    return load_image(path)


def _prompts(h: int, w: int) -> list[dict[str, Any]]:
    """Boxes, single clicks, fg+bg clicks and a box with a click, spread over the photo."""
    return [
        {"box": [0.05 * w, 0.1 * h, 0.6 * w, 0.9 * h]},
        {"box": [0.4 * w, 0.2 * h, 0.95 * w, 0.7 * h]},
        {"box": [0.1 * w, 0.5 * h, 0.3 * w, 0.95 * h]},
        {"points": [[0.5 * w, 0.5 * h]], "labels": [1]},
        {"points": [[0.3 * w, 0.4 * h], [0.7 * w, 0.6 * h]], "labels": [1, 0]},
        {
            "box": [0.2 * w, 0.2 * h, 0.8 * w, 0.8 * h],
            "points": [[0.5 * w, 0.45 * h]],
            "labels": [1],
        },
    ]


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return 1.0 if union == 0 else float(np.logical_and(a, b).sum() / union)


@pytest.fixture(scope="session")
def export_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One ``$ZOO_HOME`` for the whole session, so each family is exported once."""
    return tmp_path_factory.mktemp("zoo_home_onnx")


@pytest.fixture
def ort_home(export_home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("ZOO_HOME", str(export_home))
    yield export_home


_PAIRS: dict[str, tuple[Any, Any]] = {}


def _pair(name: str, home: Path, **config: Any) -> tuple[Any, Any]:
    """``(torch model, onnxruntime model)`` of the same random weights, built once."""
    if name not in _PAIRS:
        torch_m = zoo.load(name, weights="random", device="cpu", image_size=SIZE, **config)
        ort_m = zoo.load(
            name, weights="random", device="cpu", image_size=SIZE, backend="onnxruntime", **config
        )
        assert ort_m.backend == "onnxruntime" and Path(ort_m.runtime.folder).is_relative_to(home)
        _PAIRS[name] = (torch_m, ort_m)
    return _PAIRS[name]


@pytest.mark.parametrize("name", ["sam2:tiny", "efficientsam:vitt"])
@pytest.mark.parametrize("photo", PHOTOS)
def test_onnxruntime_matches_torch(name: str, photo: str, ort_home: Path) -> None:
    torch_m, ort_m = _pair(name, ort_home)
    img = _photo(photo)
    prompts = _prompts(*img.shape[:2])
    a = torch_m.segment(img, prompts)
    b = ort_m.segment(img, prompts)
    emb = np.abs(torch_m.get_image_embedding().numpy() - ort_m.get_image_embedding().numpy())
    assert emb.max() <= EMBED_TOL
    assert type(a) is type(b) and a.masks.shape == b.masks.shape == (len(prompts), *img.shape[:2])
    assert np.abs(a.low_res_logits - b.low_res_logits).max() <= LOGITS_TOL
    np.testing.assert_allclose(a.scores, b.scores, atol=LOGITS_TOL)
    assert min(_iou(x, y) for x, y in zip(a.masks, b.masks, strict=True)) >= IOU_MIN
    # the same prompts one at a time (a different number of prompts: the dynamic axis)
    single = ort_m.segment(None, prompts[:1])
    assert np.abs(single.low_res_logits[0] - a.low_res_logits[0]).max() <= LOGITS_TOL


def test_sam2_mask_prompts_and_multimask_match(ort_home: Path) -> None:
    """The mask-prompt input (has_mask_input) and the multimask pick run in the graph too."""
    torch_m, ort_m = _pair("sam2:tiny", ort_home)
    img = _photo("groceries.jpg")
    h, w = img.shape[:2]
    first = torch_m.segment(img, [{"box": [0.1 * w, 0.1 * h, 0.7 * w, 0.8 * h]}])
    prompts = [
        {"mask": first.masks[0]},
        {"box": [0.1 * w, 0.1 * h, 0.7 * w, 0.8 * h], "mask": first.masks[0]},
    ]
    a, b = torch_m.segment(img, prompts), ort_m.segment(img, prompts)
    assert np.abs(a.low_res_logits - b.low_res_logits).max() <= LOGITS_TOL
    click = [{"points": [[0.4 * w, 0.5 * h]], "labels": [1]}]
    a, b = torch_m.segment(img, click, multimask=True), ort_m.segment(img, click, multimask=True)
    assert np.abs(a.low_res_logits - b.low_res_logits).max() <= LOGITS_TOL


def test_cached_export_is_reused(ort_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A second load with the same weights and options runs the cached graphs (no export)."""
    _pair("efficientsam:vitt", ort_home)
    import zoo.export.onnx as onnx_mod

    def boom(*a: Any, **k: Any) -> None:
        raise AssertionError("exported again although the cache holds this key")

    monkeypatch.setattr(onnx_mod, "write_export", boom)
    again = zoo.load(
        "efficientsam:vitt", weights="random", device="cpu", image_size=SIZE, backend="onnxruntime"
    )
    assert again.runtime.folder == _PAIRS["efficientsam:vitt"][1].runtime.folder
    desc = json.loads((again.runtime.folder / "zoo-export.json").read_text())
    assert desc["weights_sha256"] == {"random": "seed=0"} and desc["config"]["image_size"] == SIZE


def test_cache_key_follows_weights_and_options(ort_home: Path) -> None:
    from zoo.export.keys import export_key

    torch_m, _ = _pair("efficientsam:vitt", ort_home)
    k32, facts = export_key(torch_m, opset=18, dtype="float32", config={"image_size": SIZE})
    assert facts["weights_sha256"] == {"random": "seed=0"}
    assert k32 != export_key(torch_m, opset=18, dtype="float16", config={"image_size": SIZE})[0]
    assert k32 != export_key(torch_m, opset=19, dtype="float32", config={"image_size": SIZE})[0]
    other_seed = zoo.load("efficientsam:vitt", weights="random", seed=1, image_size=SIZE)
    assert export_key(other_seed, opset=18, dtype="float32", config={"image_size": SIZE})[0] != k32


def test_zoo_run_with_the_onnxruntime_backend(ort_home: Path, tmp_path: Path) -> None:
    """``zoo run --backend onnxruntime`` writes the same files as torch (graphs cached)."""
    _pair("efficientsam:vitt", ort_home)
    image = SHARED / "fixtures" / "images" / "groceries.jpg"
    if not image.exists():
        pytest.skip("shared fixtures absent")
    common = [
        "--image",
        str(image),
        "--boxes",
        "40,40,400,400;300,100,700,500",
        "--weights",
        "random",
        "--image-size",
        str(SIZE),
        "--format",
        "json,coco",
        "--json",
    ]
    ort = run_zoo(
        "run",
        "efficientsam:vitt",
        *common,
        "--out",
        str(tmp_path / "ort"),
        "--backend",
        "onnxruntime",
    )
    assert ort.returncode == 0, ort.stderr
    ref = run_zoo("run", "efficientsam:vitt", *common, "--out", str(tmp_path / "torch"))
    assert ref.returncode == 0, ref.stderr
    a = json.loads((tmp_path / "ort" / "results.json").read_text())
    b = json.loads((tmp_path / "torch" / "results.json").read_text())
    assert len(a) == len(b) == 2
    np.testing.assert_allclose([r["score"] for r in a], [r["score"] for r in b], atol=LOGITS_TOL)
    assert (tmp_path / "ort" / "result.json").is_file()


def test_cli_export_writes_checked_graphs_with_metadata(tmp_path: Path) -> None:
    import onnx

    out = tmp_path / "esam"
    proc = run_zoo(
        "export", "efficientsam:vitt", "--format", "onnx", "--weights", "random",
        "--image-size", str(SIZE), "--out", str(out), "--json",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["graphs"] == {"encoder": "encoder.onnx", "decoder": "decoder.onnx"}
    desc = json.loads((out / "zoo-export.json").read_text())
    assert desc["family"] == "efficientsam" and desc["test_mode"] is True
    assert desc["opset"] == 18 and desc["dtype"] == "float32"
    for name in ("encoder", "decoder"):
        path = out / f"{name}.onnx"
        onnx.checker.check_model(str(path), full_check=True)
        m = onnx.load(str(path))
        meta = {p.key: p.value for p in m.metadata_props}
        assert meta["zoo.family"] == "efficientsam" and meta["zoo.graph"] == name
        assert meta["zoo.variant"] == "efficientsam:vitt" and meta["zoo.version"] == zoo.__version__
        assert json.loads(meta["zoo.weights_sha256"]) == {"random": "seed=0"}
        assert json.loads(meta["zoo.input_sizes"])
        assert desc["graphs"][name]["sha256"]
    dec = onnx.load(str(out / "decoder.onnx"))
    dims = [d.dim_param or d.dim_value for d in dec.graph.input[1].type.tensor_type.shape.dim]
    assert dims == ["num_prompts", 6, 2]  # a dynamic number of prompts


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["depth-sam:tiny", "--out", "{out}"], ["cannot be exported to ONNX", "sam2"]),
        (["sam2:tiny", "--format", "tflite", "--out", "{out}"], ["unknown export format", "onnx"]),
        (["sam2:tiny", "--dtype", "bf16", "--out", "{out}"], ["--dtype", "fp32 or fp16"]),
        (["sam2:tiny", "--opset", "9", "--out", "{out}"], ["--opset 9", "18"]),
        (["sam2:tiny"], ["needs --out"]),
        (["sam2:tiny", "--out", "{out}", "--pathways", "3"], ["--pathways"]),
        (["sam2:tiny", "--out", "{out}", "--weights", "random", "--checkpoint", "a"], ["either"]),
    ],
)  # fmt: skip
def test_export_user_errors_are_one_line_and_leave_nothing(
    args: list[str], fragments: list[str], tmp_path: Path
) -> None:
    out = tmp_path / "never"
    proc = run_zoo("export", *[a.replace("{out}", str(out)) for a in args])
    assert_user_error(proc, *fragments)
    assert not out.exists()


def test_failed_export_leaves_no_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import zoo.export.onnx as onnx_mod

    real = onnx_mod._export_graph
    seen: list[str] = []

    def second_fails(model: Any, g: Any, opset: int) -> Any:
        seen.append(g.name)
        if len(seen) == 2:
            raise RuntimeError("exporter crashed on the second graph")
        return real(model, g, opset)

    monkeypatch.setattr(onnx_mod, "_export_graph", second_fails)
    model = zoo.load("efficientsam:vitt", weights="random", image_size=64)
    with pytest.raises(RuntimeError, match="second graph"):
        onnx_mod.export_onnx(model, tmp_path / "out", opset=18)
    assert not (tmp_path / "out").exists()
    assert not any(tmp_path.iterdir())  # no temporary folder left either


def test_backend_errors_come_before_loading() -> None:
    with pytest.raises(InputError, match="unknown backend 'tensorrt'"):
        zoo.load("sam2:tiny", weights="random", backend="tensorrt")
    with pytest.raises(InputError, match="cannot be exported to ONNX"):
        zoo.load("depth-sam:tiny", weights="random", backend="onnxruntime")
    with pytest.raises(InputError, match="float32 or float16"):
        zoo.load("sam2:tiny", weights="random", backend="onnxruntime", dtype="bfloat16")


@pytest.mark.parametrize("family", ["sam2", "efficientsam", "sameo-amodal", "opseg-shadow"])
def test_families_declare_their_stages(family: str) -> None:
    """Every family named in the issue exports an encoder and a prompt decoder whose
    prompt axis is dynamic (the graphs are declared, not exported, here: cheap)."""
    from zoo.registry import get_registry
    from zoo.specs import import_string

    fam, _ = get_registry().resolve_name(family)
    assert "onnx" in import_string(fam.loader).export_formats
    kw = {"size": "tiny"} if family == "opseg-shadow" else {}
    model = zoo.load(family, weights="random", image_size=SIZE, **kw)
    graphs = {g.name: g for g in model.graphs()}
    assert set(graphs) == {"encoder", "decoder"}
    assert all("num_prompts" in t.shape for t in graphs["decoder"].outputs)


# ------------------------------------------------------------------------ slow: more families


@pytest.mark.slow
def test_sameo_amodal_decoder_parity(ort_home: Path) -> None:
    torch_m, ort_m = _pair("sameo-amodal:vitt", ort_home)
    img = _photo("truck.jpg")
    h, w = img.shape[:2]
    boxes = np.array([p["box"] for p in _prompts(h, w) if "box" in p and "points" not in p])
    a = torch_m.segment_amodal(img, boxes, scores=[0.9, 0.8, 0.7])
    b = ort_m.segment_amodal(img, boxes, scores=[0.9, 0.8, 0.7])
    assert type(a) is type(b)
    for x, y in zip(a.instances, b.instances, strict=True):
        assert abs(x.pred_iou - y.pred_iou) <= LOGITS_TOL
        assert _iou(x.amodal_mask, y.amodal_mask) >= IOU_MIN


@pytest.mark.slow
def test_opseg_shadow_decoder_parity(ort_home: Path) -> None:
    torch_m, ort_m = _pair("opseg-shadow", ort_home, size="tiny")
    path = SHARED / "fixtures" / "shadow" / "web-shadow0573.jpg"
    if not path.exists():
        pytest.skip("shared fixtures absent")
    from zoo.io.images import load_image

    img = load_image(path)
    inst = [
        {"object": {"box": [100, 200, 400, 600]}, "shadow": {"box": [300, 500, 800, 700]}},
        {"object": {"points": [[500, 300]], "labels": [1]}},
    ]
    a, b = torch_m.segment_shadows(img, inst), ort_m.segment_shadows(img, inst)
    assert type(a) is type(b)
    for x, y in zip(a.instances, b.instances, strict=True):
        assert _iou(x.object_mask, y.object_mask) >= IOU_MIN
        if x.shadow_mask is not None:
            assert _iou(x.shadow_mask, y.shadow_mask) >= IOU_MIN


@pytest.mark.slow
@pytest.mark.parametrize("name", ["sam2:tiny", "efficientsam:vitt"])
def test_float16_graphs_stay_close(name: str, ort_home: Path) -> None:
    """Half-precision graphs (float32 in/out): logits within 0.05, masks IoU >= 0.98."""
    torch_m, _ = _pair(name, ort_home)
    half = zoo.load(name, weights="random", image_size=SIZE, backend="onnxruntime", dtype="float16")
    assert half.runtime.descriptor["dtype"] == "float16"
    img = _photo("truck.jpg")
    prompts = _prompts(*img.shape[:2])
    a, b = torch_m.segment(img, prompts), half.segment(img, prompts)
    assert np.abs(a.low_res_logits - b.low_res_logits).max() <= 0.05
    assert min(_iou(x, y) for x, y in zip(a.masks, b.masks, strict=True)) >= 0.98


def test_weights_sha256_of_a_checkpoint_file(tmp_path: Path) -> None:
    """A ``--checkpoint`` file is identified by its bytes (the cache key and the metadata)."""
    import torch

    from zoo.export.keys import export_key, weights_sha256
    from zoo.weights.verify import sha256_file

    base = zoo.load("efficientsam:vitt", weights="random", image_size=64)
    path = tmp_path / "finetune.pt"
    torch.save({"model": base.model.state_dict()}, path)
    model = zoo.load("efficientsam:vitt", checkpoint=path, image_size=64)
    assert weights_sha256(model) == {"model": sha256_file(path)}
    key, facts = export_key(model, opset=18, dtype="float32", config={"image_size": 64})
    assert facts["weights_sha256"]["model"] == sha256_file(path)
    assert key != export_key(base, opset=18, dtype="float32", config={"image_size": 64})[0]


def test_zoo_batch_with_the_onnxruntime_backend(ort_home: Path, tmp_path: Path) -> None:
    """``zoo batch --backend onnxruntime``: the run records the backend, its masks match the
    torch run's; a family without graphs is refused before anything is written."""
    _pair("efficientsam:vitt", ort_home)  # exported once for the session
    images = SHARED / "fixtures" / "images"
    if not images.is_dir():
        pytest.skip("shared fixtures absent")
    common = [
        *["--input", str(images), "--boxes", "40,40,300,300", "--weights", "random"],
        *["--image-size", str(SIZE), "--format", "coco,jsonl", "--no-progress"],
    ]
    ort = run_zoo(
        "batch", "efficientsam:vitt", *common, "--out", str(tmp_path / "ort"),
        "--backend", "onnxruntime",
    )  # fmt: skip
    assert ort.returncode == 0, ort.stderr
    ref = run_zoo("batch", "efficientsam:vitt", *common, "--out", str(tmp_path / "torch"))
    assert ref.returncode == 0, ref.stderr
    # every item's provenance says which backend the worker's model ran on
    for out_dir, backend in (("ort", "onnxruntime"), ("torch", "torch")):
        lines = (tmp_path / out_dir / "results.jsonl").read_text().splitlines()
        assert lines and all(f'"backend":"{backend}"' in line for line in lines), out_dir
    a = json.loads((tmp_path / "ort" / "results.json").read_text())
    b = json.loads((tmp_path / "torch" / "results.json").read_text())
    assert len(a) == len(b) > 0
    np.testing.assert_allclose([r["score"] for r in a], [r["score"] for r in b], atol=LOGITS_TOL)
    bad = run_zoo(
        "batch", "depth-sam:tiny", "--input", str(images), "--weights", "random",
        "--out", str(tmp_path / "bad"), "--backend", "onnxruntime",
    )  # fmt: skip
    assert_user_error(bad, "cannot be exported to ONNX")
    assert not (tmp_path / "bad").exists()


def test_zoo_serve_with_the_onnxruntime_backend(ort_home: Path) -> None:
    """A server started with ``--backend onnxruntime`` answers from the exported graphs, with
    the masks the torch model gives for the same click."""
    pytest.importorskip("fastapi")
    pytest.importorskip("httpx", reason="FastAPI's TestClient needs httpx (test extra)")
    import io

    from fastapi.testclient import TestClient
    from PIL import Image

    from zoo.serve import ServeConfig, create_app

    torch_m, _ = _pair("efficientsam:vitt", ort_home)
    img = _photo("groceries.jpg")
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="PNG")
    config = ServeConfig(
        weights="random", backend="onnxruntime", model_options={"image_size": str(SIZE)}
    )
    with TestClient(create_app(config), base_url="http://127.0.0.1") as client:
        up = client.post("/v1/images", files={"file": ("p.png", buf.getvalue(), "image/png")})
        iid = up.json()["image_id"]
        prompts = [{"points": [[300, 200]], "labels": [1]}]
        r = client.post(
            "/v1/segment", json={"model": "efficientsam:vitt", "image_id": iid, "prompts": prompts}
        )
        assert r.status_code == 200, r.text
        served = client.app.state.service.pool.get("efficientsam:vitt").model  # type: ignore[attr-defined]
        assert served.backend == "onnxruntime"
    expected = torch_m.segment(img, prompts)
    assert r.json()["scores"][0] == pytest.approx(float(expected.scores[0]), abs=LOGITS_TOL)
    with pytest.raises(InputError, match="unknown backend 'tensorrt'"):
        ServeConfig(backend="tensorrt").check()
