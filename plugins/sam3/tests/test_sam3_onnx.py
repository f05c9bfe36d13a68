"""ONNX export of SAM 3 (``zoo export sam3 --format onnx``) and its onnxruntime backend.

Six graphs (:mod:`zoo_sam3.graphs`): ``image_encoder``, ``text_encoder``, ``detector``,
``detector_exemplars``, ``tracker_neck``, ``prompt_decoder``. Parity, random weights at the
test size (``--arch tiny``, 112 px), float32, CPU, torch eager vs ONNX Runtime running the
exported graph of the same module on the same inputs (the fixture photos, real tokens,
exemplar boxes, clicks, boxes and masks):

* every output of every graph: ``max |torch - ort| <= GRAPH_RTOL * max |torch| + GRAPH_ATOL``
  (measured: at most about 1e-6 of the output's scale, reordered float sums in ORT's kernels);
* through the model (``backend="onnxruntime"``): scores and presence within ``SCORE_TOL``
  (measured ~1e-7), boxes within ``BOX_TOL`` pixels (measured ~4e-4), instance and
  promptable masks at the photo's size IoU >= ``IOU_MIN`` per object, and the promptable
  low-res logits within ``SCORE_TOL``.

Exporting all six graphs takes about a minute on a shared 2-core CPU, so the tests that do
are ``slow``; the default suite exports the tracker's two graphs (seconds) and checks the
declarations and that every stage runs through ``run_graph``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import zoo
from zoo.testing.cli import run_cli

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

GRAPHS = (
    "image_encoder",
    "text_encoder",
    "detector",
    "detector_exemplars",
    "tracker_neck",
    "prompt_decoder",
)
GRAPH_RTOL = 1e-4
GRAPH_ATOL = 1e-6
SCORE_TOL = 1e-4
BOX_TOL = 1e-2
IOU_MIN = 0.999


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return 1.0 if union == 0 else float(np.logical_and(a, b).sum() / union)


def _compare(name: str, a: tuple[torch.Tensor, ...], b: list[torch.Tensor]) -> list[str]:
    """Each output of graph ``name`` within tolerance; one report line per output."""
    lines = []
    assert len(a) == len(b), name
    for i, (x, y) in enumerate(zip(a, b, strict=True)):
        assert x.shape == y.shape, (name, i, x.shape, y.shape)
        diff = float((x.float() - y.float()).abs().max())
        scale = float(x.float().abs().max())
        lines.append(f"{name}[{i}] max diff {diff:.2e} (max |x| {scale:.2e})")
        assert diff <= GRAPH_RTOL * scale + GRAPH_ATOL, lines[-1]
    return lines


def _prompt_inputs(model: Any, n: int, p: int, seed: int) -> list[torch.Tensor]:
    """``prompt_decoder`` inputs past the maps: N prompts of P points (clicks, box corners,
    padding), every other one with a mask prompt."""
    g = torch.Generator().manual_seed(seed)
    side = int(model.net.side)
    low = int(model.net.tracker.prompt_encoder.mask_input_size[0])
    coords = torch.rand(n, p, 2, generator=g) * side
    labels = torch.tensor([1, 0, 2, 3, -1])[torch.arange(p) % 5].repeat(n, 1)
    labels[:, -1] = -1
    masks = (torch.rand(n, 1, low, low, generator=g) > 0.5).float() * 40.0 - 20.0
    has = (torch.arange(n) % 2 == 0).float()
    return [coords, labels, masks, has]


def test_sam3_declares_its_graphs_over_its_own_tensors(tiny: Any) -> None:
    """Six stages, dynamic where they should be, referencing the network's tensors."""
    assert "onnx" in type(tiny).export_formats
    graphs = {g.name: g for g in tiny.graphs()}
    assert tuple(graphs) == GRAPHS
    own = {t.data_ptr() for t in tiny.net.video.parameters()}
    for g in graphs.values():
        assert {t.data_ptr() for t in g.module.parameters()} <= own, g.name
    ex = {t.name: t.shape for t in graphs["detector_exemplars"].inputs}
    assert ex["exemplar_boxes"] == (1, "num_exemplars", 4)
    dec = graphs["prompt_decoder"]
    assert {t.name: t.shape for t in dec.inputs}["point_coords"] == ("num_prompts", "num_points", 2)
    assert all(t.shape[0] == "num_prompts" for t in dec.outputs)
    info = tiny.export_info()
    assert info["mean"] == info["std"] == [0.5, 0.5, 0.5]


def test_every_stage_runs_through_run_graph(
    tiny: Any, groceries: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``find`` and ``segment`` compute nothing outside the graphs (what the onnxruntime
    backend replaces): the stages called, in order."""
    calls: list[str] = []
    real = type(tiny).run_graph

    def spy(self: Any, name: str, *inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        calls.append(name)
        return real(self, name, *inputs)

    monkeypatch.setattr(type(tiny), "run_graph", spy)
    tiny._fingerprint = None
    tiny._texts.clear()
    h, w = groceries.shape[:2]
    tiny.find(groceries, "a green apple")
    tiny.find(None, "a green apple", [{"box": [50, 50, 150, 150]}])
    tiny.segment(None, [{"points": [[w // 2, h // 2]], "labels": [1]}, {"box": [9, 9, 99, 99]}])
    assert calls == [
        "image_encoder",
        "text_encoder",
        "detector",
        "detector_exemplars",
        "tracker_neck",
        "prompt_decoder",
        "prompt_decoder",  # a click and a box: two shapes, two calls
    ]


def test_tracker_graphs_export_and_match_torch(
    tiny: Any, groceries: np.ndarray, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The tracker's neck and prompt decoder through the core's export loop (what ``zoo
    export`` runs), checked, then run by ONNX Runtime on the torch module's inputs, with
    other numbers of prompts and points than the exporter traced."""
    pytest.importorskip("onnxruntime")
    from zoo_sam3.graphs import sam3_graphs

    from zoo.export.backend import OrtRuntime
    from zoo.export.onnx import export_onnx

    keep = ("tracker_neck", "prompt_decoder")
    monkeypatch.setattr(
        tiny, "graphs", lambda: [g for g in sam3_graphs(tiny.net) if g.name in keep]
    )
    desc = export_onnx(tiny, tmp_path / "out", opset=18)
    assert tuple(desc["graphs"]) == keep
    ort = OrtRuntime(tmp_path / "out")
    tiny.set_image(groceries)
    vit = tiny._vision[3]
    maps = tiny.run_graph("tracker_neck", vit)
    _compare("tracker_neck", maps, ort.run("tracker_neck", [vit]))
    for n, p, seed in ((1, 2, 0), (4, 5, 1), (2, 1, 2)):
        inputs = [*maps, *_prompt_inputs(tiny, n, p, seed)]
        _compare(
            "prompt_decoder",
            tiny.run_graph("prompt_decoder", *inputs),
            ort.run("prompt_decoder", inputs),
        )


# ------------------------------------------------------------------------ slow: all six graphs


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """``zoo export sam3 --arch tiny --weights random --format onnx``, once for the module."""
    pytest.importorskip("onnxruntime")
    out = tmp_path_factory.mktemp("sam3_onnx") / "sam3_tiny_onnx"
    start = time.perf_counter()
    proc = run_cli(
        "export", "sam3", "--arch", "tiny", "--weights", "random", "--format", "onnx",
        "--out", str(out), "--json",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    seconds = time.perf_counter() - start
    from zoo.export.backend import OrtRuntime

    report = json.loads(proc.stdout)
    return {"out": out, "report": report, "seconds": seconds, "ort": OrtRuntime(out)}


@pytest.mark.slow
def test_zoo_export_writes_six_checked_graphs_with_metadata(exported: dict[str, Any]) -> None:
    import onnx

    out: Path = exported["out"]
    assert exported["report"]["graphs"] == {g: f"{g}.onnx" for g in GRAPHS}
    desc = json.loads((out / "zoo-export.json").read_text())
    assert desc["family"] == "sam3" and desc["test_mode"] is True
    assert desc["config"] == {"arch": "tiny"} and desc["opset"] == 18
    assert desc["usage"]["mask_threshold"] == 0.5
    sizes = {}
    for name in GRAPHS:
        path = out / f"{name}.onnx"
        onnx.checker.check_model(str(path), full_check=True)
        proto = onnx.load(str(path))
        meta = {p.key: p.value for p in proto.metadata_props}
        assert meta["zoo.family"] == "sam3" and meta["zoo.graph"] == name
        assert json.loads(meta["zoo.weights_sha256"]) == {"random": "seed=0"}
        sizes[name] = path.stat().st_size
    dec = onnx.load(str(out / "prompt_decoder.onnx"))
    dims = [d.dim_param or d.dim_value for d in dec.graph.input[3].type.tensor_type.shape.dim]
    assert dims == ["num_prompts", "num_points", 2]
    ex = onnx.load(str(out / "detector_exemplars.onnx"))
    dims = [d.dim_param or d.dim_value for d in ex.graph.input[5].type.tensor_type.shape.dim]
    assert dims == [1, "num_exemplars", 4]
    print(f"\nexport {exported['seconds']:.1f} s; sizes (bytes): {sizes}")


@pytest.mark.slow
@pytest.mark.parametrize("photo_name", ["groceries.jpg", "dogs.jpg", "truck.jpg"])
def test_each_exported_graph_matches_its_torch_module(
    exported: dict[str, Any], tiny: Any, photo_name: str
) -> None:
    """Each graph of ``zoo export`` run by ONNX Runtime on the inputs the torch module gets
    in ``find``/``segment`` (a photo, real tokens, exemplars, prompts of several shapes)."""
    from sam3_fixtures import photo

    ort = exported["ort"]
    img = photo(photo_name)
    pixels = tiny.net.image_processor(images=img, return_tensors="pt").pixel_values
    lines: list[str] = []
    vision = tiny.run_graph("image_encoder", pixels)
    lines += _compare("image_encoder", vision, ort.run("image_encoder", [pixels]))
    for text in ("a dog", "a red car on the street"):
        ids, mask = tiny.text_tokens(text)
        (features,) = tiny.run_graph("text_encoder", ids, mask)
        lines += _compare("text_encoder", (features,), ort.run("text_encoder", [ids, mask]))
        inputs = [*vision[:3], features, mask]
        lines += _compare(
            "detector", tiny.run_graph("detector", *inputs), ort.run("detector", inputs)
        )
        for k in (1, 3):
            boxes = torch.tensor(
                [[[0.5, 0.5, 0.4, 0.6], [0.2, 0.3, 0.1, 0.2], [0.7, 0.6, 0.3, 0.3]]]
            )
            ex = [*inputs, boxes[:, :k], torch.tensor([[1, 0, 1]])[:, :k]]
            lines += _compare(
                "detector_exemplars",
                tiny.run_graph("detector_exemplars", *ex),
                ort.run("detector_exemplars", ex),
            )
    maps = tiny.run_graph("tracker_neck", vision[3])
    lines += _compare("tracker_neck", maps, ort.run("tracker_neck", [vision[3]]))
    for n, p, seed in ((1, 2, 0), (3, 4, 1)):
        inputs = [*maps, *_prompt_inputs(tiny, n, p, seed)]
        lines += _compare(
            "prompt_decoder",
            tiny.run_graph("prompt_decoder", *inputs),
            ort.run("prompt_decoder", inputs),
        )
    print("\n" + "\n".join(lines))


@pytest.mark.slow
def test_onnxruntime_backend_find_and_segment_match_torch(
    tiny: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``zoo.load("sam3", arch="tiny", weights="random", backend="onnxruntime")``: the same
    concepts, exemplars, clicks, boxes and masks as the torch model, the same results."""
    from sam3_fixtures import photo

    monkeypatch.setenv("ZOO_HOME", str(tmp_path))
    ort_m = zoo.load("sam3", arch="tiny", weights="random", device="cpu", backend="onnxruntime")
    assert ort_m.backend == "onnxruntime" and Path(ort_m.runtime.folder).is_relative_to(tmp_path)
    worst = {"score": 0.0, "box": 0.0, "iou": 1.0, "logits": 0.0}
    for name in ("groceries.jpg", "dogs.jpg", "truck.jpg"):
        img = photo(name)
        h, w = img.shape[:2]
        exemplars = [
            {"box": [0.3 * w, 0.3 * h, 0.6 * w, 0.7 * h], "concept": "dog"},
            {"box": [0.1 * w, 0.1 * h, 0.2 * w, 0.3 * h], "label": 0, "concept": "dog"},
        ]
        for concepts, ex in ((["a dog", "a red car"], None), (["dog"], exemplars)):
            a = tiny.find(img, concepts, ex, threshold=0.0)
            b = ort_m.find(img, concepts, ex, threshold=0.0)
            assert a.masks.shape == b.masks.shape and len(a.scores) > 0
            np.testing.assert_array_equal(a.concept_ids, b.concept_ids)
            worst["score"] = max(
                worst["score"],
                float(np.abs(a.scores - b.scores).max()),
                float(np.abs(a.presence - b.presence).max()),
            )
            worst["box"] = max(worst["box"], float(np.abs(a.boxes - b.boxes).max()))
            worst["iou"] = min([worst["iou"], *map(_iou, a.masks, b.masks)])
        mask = np.zeros((h, w), bool)
        mask[h // 4 : h // 2, w // 4 : w // 2] = True
        prompts = [
            {"box": [0.05 * w, 0.1 * h, 0.6 * w, 0.9 * h]},
            {"box": [0.4 * w, 0.2 * h, 0.95 * w, 0.7 * h]},
            {"points": [[0.5 * w, 0.5 * h]], "labels": [1]},
            {"points": [[0.3 * w, 0.4 * h], [0.7 * w, 0.6 * h]], "labels": [1, 0]},
            {
                "box": [0.2 * w, 0.2 * h, 0.8 * w, 0.8 * h],
                "points": [[0.5 * w, 0.45 * h]],
                "labels": [1],
            },
            {"mask": mask},
            {"mask": mask, "box": [0.2 * w, 0.2 * h, 0.8 * w, 0.8 * h]},
        ]
        for multimask in (False, True):
            a = tiny.segment(img, prompts, multimask=multimask)
            b = ort_m.segment(img, prompts, multimask=multimask)
            worst["score"] = max(worst["score"], float(np.abs(a.scores - b.scores).max()))
            worst["logits"] = max(
                worst["logits"], float(np.abs(a.low_res_logits - b.low_res_logits).max())
            )
            worst["iou"] = min([worst["iou"], *map(_iou, a.masks, b.masks)])
    print(f"\nworst over the photos: {worst}")
    assert worst["score"] <= SCORE_TOL and worst["logits"] <= SCORE_TOL
    assert worst["box"] <= BOX_TOL and worst["iou"] >= IOU_MIN
