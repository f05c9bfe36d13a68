"""The ``efficientsam`` family through the core: registration, loading, the promptable API,
half precision and the CLI.

Random weights everywhere; ``test_efficientsam_golden.py`` runs the golden checkpoint
through ``zoo.load`` and the public methods.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from zoo_efficientsam.loader import EfficientSamModel

from zoo.errors import InputError, WeightsError
from zoo.io.images import save_png
from zoo.loading import load
from zoo.registry import get_registry
from zoo.testing import synthetic_boxes, synthetic_image
from zoo.testing.cli import assert_user_error, run_cli
from zoo.weights import parse_hf_uri

H, W = 240, 320
SMALL = 256  # encoder input of the half-precision and CLI tests (EfficientSAM's is 1024)


@pytest.fixture(scope="module")
def model() -> EfficientSamModel:
    m = load("efficientsam:vitt", weights="random", device="cpu")
    assert isinstance(m, EfficientSamModel)
    return m


@pytest.fixture(scope="module")
def image() -> np.ndarray:
    return synthetic_image(H, W)


def test_registration() -> None:
    reg = get_registry()
    fam, variant = reg.resolve_name("efficientsam")
    assert fam.loader == "zoo_efficientsam.loader:EfficientSamModel"
    assert variant is not None and variant.name == "efficientsam:vitt"
    assert reg.resolve_name("efficientsam-s")[1].name == "efficientsam:vits"  # type: ignore[union-attr]
    for tag in ("vitt", "vits"):
        v = reg.variants[f"efficientsam:{tag}"]
        assert v.weights is not None
        ref = parse_hf_uri(v.weights.uri)
        assert ref.repo_id == "yunyangx/EfficientSAM"
        assert ref.filename == f"efficient_sam_{tag}.pt"
        assert len(ref.revision) == 40  # pinned commit, not a moving branch


def test_registration_does_not_import_torch() -> None:
    code = "import sys, zoo_efficientsam.plugin; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_no_deprecated_imports() -> None:
    """Plugin API 3: nothing the plugin imports is a plugin-API-2 name."""
    code = "import zoo_efficientsam.plugin, zoo_efficientsam.loader, zoo_efficientsam.graphs"
    cmd = [sys.executable, "-W", "error::DeprecationWarning", "-c", code]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr


def test_registered_param_counts_match_architecture() -> None:
    from zoo_efficientsam.build import build_efficientsam

    for tag in ("vitt", "vits"):
        built = build_efficientsam(tag)  # type: ignore[arg-type]
        assert get_registry().variants[f"efficientsam:{tag}"].params == sum(
            p.numel() for p in built.parameters()
        )


def test_boxes_return_one_mask_each(model: EfficientSamModel, image: np.ndarray) -> None:
    r = model.segment(image, {"boxes": synthetic_boxes(H, W)})
    assert r.masks.shape == (2, H, W) and r.masks.dtype == np.bool_
    assert r.scores.shape == (2,) and np.isfinite(r.scores).all()
    assert r.low_res_logits is not None and r.low_res_logits.shape == (2, 256, 256)
    assert r.provenance.is_random


def test_batched_mixed_prompts_match_one_by_one(
    model: EfficientSamModel, image: np.ndarray
) -> None:
    """One decoder call for a mix of prompt kinds must equal separate calls."""
    objects = [
        {"box": [10, 10, 120, 100]},
        {"points": [[200, 150], [20, 20]], "labels": [1, 0]},
        {"box": [150, 100, 300, 220], "points": [[220, 160]], "labels": [1]},
    ]
    together = model.segment(image, objects)
    for i, obj in enumerate(objects):
        alone = model.segment(image, [obj])
        np.testing.assert_allclose(alone.low_res_logits[0], together.low_res_logits[i], atol=1e-5)
        np.testing.assert_allclose(alone.scores[0], together.scores[i], atol=1e-6)


def test_box_crossing_the_edge_is_clipped(model: EfficientSamModel, image: np.ndarray) -> None:
    """A box that only crosses the image edge is cut to the image (``Prompts.fit``); one
    lying entirely outside stays an error."""
    crossing = model.segment(image, {"boxes": [[-20, -10, W + 30, 100]]})
    inside = model.segment(image, {"boxes": [[0, 0, W, 100]]})
    np.testing.assert_array_equal(crossing.low_res_logits, inside.low_res_logits)
    assert crossing.prompts is not None and crossing.prompts.objects[0].box == (0, 0, W, 100)
    with pytest.raises(InputError, match="entirely outside"):
        model.segment(image, {"boxes": [[W + 1, 0, W + 50, 40]]})


def test_chunked_decoding_matches_single_pass(model: EfficientSamModel, image: np.ndarray) -> None:
    boxes = np.array([[10, 10, 120, 100], [150, 100, 300, 220], [40, 60, 200, 200]], float)
    full = model.segment(image, {"boxes": boxes})
    old = model.max_batch
    try:
        model.max_batch = 2
        chunked = model.segment(image, {"boxes": boxes})
    finally:
        model.max_batch = old
    np.testing.assert_allclose(full.low_res_logits, chunked.low_res_logits, atol=1e-5)


def test_embedding_is_cached(
    model: EfficientSamModel, image: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    own = EfficientSamModel(model.model)  # shares weights, has its own cache
    assert model.context is not None
    own._bind(model.context)
    calls = []
    original = own.run_graph
    monkeypatch.setattr(
        own,
        "run_graph",
        lambda name, *x: calls.extend([1] * (name == "encoder")) or original(name, *x),
    )
    own.segment(image, {"boxes": [[10, 10, 50, 50]]})
    own.segment(image.copy(), {"boxes": [[10, 10, 50, 50]]})  # same pixels, new array
    own.segment(None, {"points": [[30, 30]], "labels": [1]})
    assert calls == [1]
    own.segment(synthetic_image(H, W, seed=1), {"boxes": [[10, 10, 50, 50]]})
    assert calls == [1, 1]


def test_prompt_limits(model: EfficientSamModel, image: np.ndarray) -> None:
    box_and_four = {"box": [10, 10, 200, 200], "points": [[20, 20]] * 4, "labels": [1] * 4}
    assert len(model.segment(image, [box_and_four])) == 1
    with pytest.raises(InputError, match="at most 6"):
        model.segment(image, [{**box_and_four, "points": [[20, 20]] * 5, "labels": [1] * 5}])
    with pytest.raises(InputError, match="no mask prompts"):
        model.segment(image, [{"mask": np.zeros((H, W), bool)}])
    fresh = EfficientSamModel(model.model)
    with pytest.raises(InputError, match="no image is set"):
        fresh.segment(None, {"boxes": [[0, 0, 5, 5]]})


def test_wrong_size_checkpoint_is_a_weights_error(tmp_path: Path) -> None:
    from zoo_efficientsam.build import build_efficientsam

    path = tmp_path / "vits.pt"
    torch.save({"model": build_efficientsam("vits").state_dict()}, path)
    with pytest.raises(WeightsError, match="efficientsam:vitt"):
        load("efficientsam:vitt", checkpoint=path, device="cpu")


def test_options_reach_the_loader() -> None:
    """``image_size`` and ``max_batch`` are declared loader options (``loader=True``): the
    core hands them to the loader for ``zoo run``, ``zoo batch`` and ``zoo serve`` alike
    (``max_batch`` is the core's own option, set on the model by ``zoo.load``)."""
    import zoo_efficientsam.plugin as plugin

    fam, _ = get_registry().resolve_name("efficientsam")
    assert plugin.ZOO_PLUGIN_API == 3 and fam.options is plugin.EfficientSamOptions
    assert fam.options.loader_names() == ["image_size", "max_batch"]
    assert fam.conformance == {"image_size": 256}
    m = load("efficientsam:vitt", weights="random", device="cpu", image_size=SMALL, max_batch=3)
    assert m.model.image_encoder.img_size == SMALL and m.max_batch == 3
    with pytest.raises(InputError, match="multiple of 16"):
        load("efficientsam:vitt", weights="random", device="cpu", image_size=100)


@pytest.fixture(scope="module")
def small_fp32() -> EfficientSamModel:
    return load("efficientsam:vitt", weights="random", device="cpu", image_size=SMALL)


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_half_precision_on_cpu(
    dtype: str, small_fp32: EfficientSamModel, image: np.ndarray
) -> None:
    """``dtype=`` casts the model once and every input on its way in (issue 11 item 1):
    boxes and clicks run, and the masks stay close to float32's (same seed, same weights)."""
    half = load("efficientsam:vitt", weights="random", device="cpu", image_size=SMALL, dtype=dtype)
    assert next(half.model.parameters()).dtype == getattr(torch, dtype)
    prompts = [
        {"box": [10, 10, 120, 100]},
        {"points": [[200, 150], [20, 20]], "labels": [1, 0]},
        {"box": [150, 100, 300, 220], "points": [[220, 160]], "labels": [1]},
    ]
    got = half.segment(image, prompts)
    ref = small_fp32.segment(image, prompts)
    assert got.masks.shape == (3, H, W) and got.masks.dtype == np.bool_
    assert got.scores.dtype == np.float32 and np.isfinite(got.scores).all()
    assert got.low_res_logits is not None and got.low_res_logits.dtype == np.float32
    agree = (got.masks == ref.masks).mean()
    assert agree > 0.97, f"{dtype} masks agree with float32 on only {agree:.1%} of pixels"
    np.testing.assert_allclose(got.scores, ref.scores, atol=0.01)


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_cli_half_precision_runs(dtype: str, image: np.ndarray, tmp_path: Path) -> None:
    img = tmp_path / "img.png"
    save_png(img, image)
    out = tmp_path / "out"
    proc = run_cli(
        "run", "efficientsam:vitt", "--image", str(img), "--boxes", "10,10,120,100",
        "--points", "200,150", "--labels", "1", "--out", str(out), "--weights", "random",
        "--device", "cpu", "--dtype", dtype, "--image-size", str(SMALL), "--json",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert (out / "mask_000.png").exists() and (out / "results.json").exists()


def test_cli_bad_options_are_one_line_errors(image: np.ndarray, tmp_path: Path) -> None:
    img = tmp_path / "img.png"
    save_png(img, image)
    out = tmp_path / "out"
    base = ("run", "efficientsam:vitt", "--image", str(img), "--boxes", "10,10,50,50",
            "--out", str(out), "--weights", "random", "--device", "cpu")  # fmt: skip
    assert_user_error(run_cli(*base, "--max-batch", "0"), "--max-batch", "minimum")
    assert_user_error(run_cli(*base, "--image-size", "100"), "multiple of 16")
    assert_user_error(run_cli(*base, "--dtype", "float8"), "--dtype")
    assert not out.exists()
