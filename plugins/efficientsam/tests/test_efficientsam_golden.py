"""EfficientSAM parity with upstream, via the golden fixture in ``<repo>/../shared``.

The fixture (README.md next to it) holds a randomly initialised ViT-T checkpoint in
upstream's format, the dogs.jpg photo and upstream's outputs for three prompt sets.
Tolerances below are the ones that README derives from observed float32 drift.

Every golden comparison goes through ``zoo.load("efficientsam:vitt", checkpoint=...)``,
the path users run: the raw module (``model.model``: all three masks, as upstream returns
them) and the public ``set_image`` / ``segment`` (best of three, as users get it).
The structural tests at the bottom need no fixture.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from zoo_efficientsam.build import VARIANTS, build_efficientsam
from zoo_efficientsam.loader import EfficientSamModel
from zoo_efficientsam.model import EfficientSam
from zoo_efficientsam.preprocess import image_to_tensor

import zoo
from zoo.errors import InputError, WeightsError
from zoo.io.images import load_image

GOLDEN_DIR = Path(__file__).resolve().parents[3].parent / "shared" / "golden" / "efficientsam_vitt"

EMBEDDING_TOL = 1e-4
LOGITS_TOL = 3e-4  # against float16-stored logits upcast to float32
IOU_TOL = 1e-5
MASK_CONFIDENT = 3e-4  # masks must agree wherever |expected logit| exceeds this


@pytest.fixture(scope="module")
def golden_dir() -> Path:
    if not (GOLDEN_DIR / "expected.npz").is_file():
        pytest.skip(f"golden fixture not found at {GOLDEN_DIR}")
    return GOLDEN_DIR


@pytest.fixture(scope="module")
def expected(golden_dir: Path) -> dict[str, np.ndarray]:
    with np.load(golden_dir / "expected.npz") as npz:
        return {k: npz[k] for k in npz.files}


@pytest.fixture(scope="module")
def loaded(golden_dir: Path) -> EfficientSamModel:
    """The golden checkpoint through the public loader, as ``zoo run`` loads it."""
    m = zoo.load(
        "efficientsam:vitt", checkpoint=golden_dir / "efficient_sam_vitt_random.pt", device="cpu"
    )
    assert isinstance(m, EfficientSamModel)
    return m


@pytest.fixture(scope="module")
def model(loaded: EfficientSamModel) -> EfficientSam:
    assert not loaded.model.training
    return loaded.model


@pytest.fixture(scope="module")
def image(golden_dir: Path) -> torch.Tensor:
    return image_to_tensor(load_image(golden_dir / "dogs.jpg"))


def test_image_preparation(image: torch.Tensor, expected: dict[str, np.ndarray]) -> None:
    assert image.shape == (1, 3, *expected["image_hw"].tolist())
    assert image.dtype == torch.float32
    assert image.min() >= 0.0 and image.max() <= 1.0


@pytest.fixture(scope="module")
def embedding(model: EfficientSam, image: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model.get_image_embeddings(image)


def test_image_embedding(embedding: torch.Tensor, expected: dict[str, np.ndarray]) -> None:
    want = expected["image_embedding"]
    assert embedding.shape == want.shape
    assert np.abs(embedding.numpy() - want).max() <= EMBEDDING_TOL


def test_public_embedding(
    loaded: EfficientSamModel, golden_dir: Path, expected: dict[str, np.ndarray]
) -> None:
    """``set_image`` on the JPEG path (decoded by the core) gives upstream's embedding."""
    loaded.set_image(golden_dir / "dogs.jpg")
    got = loaded.get_image_embedding().numpy()
    assert np.abs(got - expected["image_embedding"]).max() <= EMBEDDING_TOL


def _objects(points: np.ndarray, labels: np.ndarray) -> list[dict[str, object]]:
    """Upstream's point/label tensors -> zoo prompts (labels 2, 3 are a box's corners)."""
    objects: list[dict[str, object]] = []
    for pts, labs in zip(points[0].tolist(), labels[0].tolist(), strict=True):
        if labs == [2, 3]:
            objects.append({"box": [*pts[0], *pts[1]]})
        else:
            objects.append({"points": pts, "labels": labs})
    return objects


@pytest.mark.parametrize("case", ["a", "b", "c"])
def test_case_through_segment(
    case: str, loaded: EfficientSamModel, golden_dir: Path, expected: dict[str, np.ndarray]
) -> None:
    """``segment`` returns, per object, upstream's best-of-three: its IoU, its logits
    (after the same bicubic upsampling) and its binary mask."""
    objects = _objects(expected[f"{case}_points"], expected[f"{case}_labels"])
    r = loaded.segment(golden_dir / "dogs.jpg", objects)
    want_logits = expected[f"{case}_logits"][0].astype(np.float32)  # (Q, 3, H, W)
    want_iou = expected[f"{case}_iou"][0]  # (Q, 3)
    h, w = expected["image_hw"].tolist()
    assert r.masks.shape == (len(objects), h, w)
    assert r.low_res_logits is not None
    up = torch.nn.functional.interpolate(
        torch.from_numpy(r.low_res_logits)[:, None], size=(h, w), mode="bicubic"
    )[:, 0].numpy()
    for q in range(len(objects)):
        best = int(want_iou[q].argmax())
        assert abs(float(r.scores[q]) - float(want_iou[q, best])) <= IOU_TOL
        assert np.abs(up[q] - want_logits[q, best]).max() <= LOGITS_TOL
        confident = np.abs(want_logits[q, best]) > MASK_CONFIDENT
        assert not ((r.masks[q] != (want_logits[q, best] > 0)) & confident).any()


@pytest.mark.parametrize("case", ["a", "b", "c"])
def test_case(
    case: str,
    model: EfficientSam,
    image: torch.Tensor,
    embedding: torch.Tensor,
    expected: dict[str, np.ndarray],
) -> None:
    """Case c goes through ``forward`` (encoder included), as the fixture was made; a and b
    decode from the shared embedding to save two encoder passes. ``forward`` is exactly
    ``get_image_embeddings`` followed by ``predict_masks``, so both paths are covered."""
    points = torch.from_numpy(expected[f"{case}_points"])
    labels = torch.from_numpy(expected[f"{case}_labels"])
    h, w = image.shape[-2:]
    with torch.no_grad():
        if case == "c":
            logits, iou = model(image, points, labels)
        else:
            logits, iou = model.predict_masks(embedding, points, labels, True, h, w, h, w)

    want_logits = expected[f"{case}_logits"].astype(np.float32)
    want_iou = expected[f"{case}_iou"]
    got_logits = logits.numpy()
    assert got_logits.shape == want_logits.shape
    assert iou.shape == want_iou.shape

    assert np.abs(got_logits - want_logits).max() <= LOGITS_TOL
    assert np.abs(iou.numpy() - want_iou).max() <= IOU_TOL

    confident = np.abs(want_logits) > MASK_CONFIDENT
    disagree = (got_logits > 0) != (want_logits > 0)
    assert not (disagree & confident).any()


def test_state_dict_matches_manifest(golden_dir: Path) -> None:
    manifest = json.loads((golden_dir / "state_dict_manifest.json").read_text())
    want = {t["key"]: tuple(t["shape"]) for t in manifest["tensors"]}
    got = {k: tuple(v.shape) for k, v in build_efficientsam("vitt").state_dict().items()}
    assert got == want
    assert len(got) == manifest["num_tensors"]
    assert sum(int(np.prod(s)) for s in got.values()) == manifest["num_elements"]


def test_checkpoint_file_loads_through_builder(golden_dir: Path) -> None:
    path = golden_dir / "efficient_sam_vitt_random.pt"
    m = build_efficientsam("vitt", path)
    assert not m.training
    raw = torch.load(path, map_location="cpu", weights_only=True)["model"]
    for k, v in m.state_dict().items():
        assert torch.equal(v, raw[k]), k


# ---------------------------------------------------------------- no fixture needed


def test_vits_structure() -> None:
    vitt = build_efficientsam("vitt").state_dict()
    vits = build_efficientsam("vits").state_dict()
    # Same key names: one loader, one manifest shape per key.
    assert vits.keys() == vitt.keys()
    assert vits["image_encoder.pos_embed"].shape == (1, 197, 384)
    assert vits["image_encoder.blocks.11.attn.qkv.weight"].shape == (3 * 384, 384)
    assert vits["image_encoder.blocks.0.mlp.fc1.weight"].shape == (4 * 384, 384)
    assert vits["image_encoder.neck.0.weight"].shape == (256, 384, 1, 1)
    assert "image_encoder.blocks.12.norm1.weight" not in vits
    # Everything after the neck is width-independent and identical in shape.
    for k, v in vits.items():
        if not k.startswith("image_encoder.") or k.startswith("image_encoder.neck.2"):
            assert v.shape == vitt[k].shape, k
    m = build_efficientsam("vits")
    assert m.image_encoder.blocks[0].attn.num_heads == 6
    assert VARIANTS["vits"].num_heads == 6


def test_non_persistent_normalisation_buffers() -> None:
    m = build_efficientsam("vitt")
    keys = m.state_dict().keys()
    assert "pixel_mean" not in keys and "pixel_std" not in keys
    assert "prompt_encoder.pe_layer.positional_encoding_gaussian_matrix" in keys


def test_strict_load_rejects_missing_and_extra_keys(tmp_path: Path) -> None:
    state = build_efficientsam("vitt").state_dict()

    missing = dict(state)
    del missing["prompt_encoder.pe_layer.positional_encoding_gaussian_matrix"]
    with pytest.raises(RuntimeError, match="Missing key"):
        build_efficientsam("vitt").load_state_dict(missing, strict=True)

    extra = dict(state)
    extra["mask_decoder.not_a_parameter"] = torch.zeros(1)
    with pytest.raises(RuntimeError, match="Unexpected key"):
        build_efficientsam("vitt").load_state_dict(extra, strict=True)

    # The builder loads strictly too (upstream's {"model": ...} layout) and names the model.
    path = tmp_path / "bad.pt"
    torch.save({"model": extra}, path)
    with pytest.raises(WeightsError, match="1 unexpected keys"):
        build_efficientsam("vitt", path)
    torch.save({"model": missing}, path)
    with pytest.raises(WeightsError, match="1 missing keys"):
        build_efficientsam("vitt", path)
    # A vits checkpoint must not load into vitt (shape mismatch).
    torch.save({"model": build_efficientsam("vits").state_dict()}, path)
    with pytest.raises(WeightsError, match=r"efficientsam:vitt.*shape mismatches"):
        build_efficientsam("vitt", path)


def test_builder_accepts_bare_state_dict(tmp_path: Path) -> None:
    torch.manual_seed(0)
    src = build_efficientsam("vitt")
    path = tmp_path / "bare.pt"
    torch.save(src.state_dict(), path)
    loaded = build_efficientsam("vitt", path)
    for k, v in src.state_dict().items():
        assert torch.equal(v, loaded.state_dict()[k]), k


def test_unknown_variant() -> None:
    with pytest.raises(InputError, match="unknown EfficientSAM variant"):
        build_efficientsam("vitb")  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def random_vitt() -> EfficientSam:
    torch.manual_seed(0)
    return build_efficientsam("vitt")


def test_negative_label_adds_no_learned_embedding(random_vitt: EfficientSam) -> None:
    pe = random_vitt.prompt_encoder
    coords = torch.tensor([[[100.0, 200.0], [300.0, 400.0]]])
    with torch.no_grad():
        positional = pe.pe_layer.forward_with_coords(coords + 0.5, pe.input_image_size)
        neg = pe(coords, torch.tensor([[0, 0]]))
        pos = pe(coords, torch.tensor([[1, 1]]))
        pad = pe(coords, torch.tensor([[-1, -1]]))
    torch.testing.assert_close(neg, positional, rtol=0, atol=0)
    torch.testing.assert_close(pos - neg, pe.point_embeddings.weight.expand(1, 2, -1))
    torch.testing.assert_close(pad - neg, pe.invalid_points.weight.expand(1, 2, -1))


def test_short_prompts_are_padded_like_explicit_padding(random_vitt: EfficientSam) -> None:
    """Two points must decode exactly like the same points padded by hand to six."""
    torch.manual_seed(1)
    emb = torch.randn(1, 256, 64, 64)
    pts = torch.tensor([[[[10.0, 20.0], [30.0, 40.0]]]])
    labels = torch.tensor([[[1, 0]]])
    padded_pts = torch.cat([pts, torch.full((1, 1, 4, 2), -1.0)], dim=2)
    padded_labels = torch.cat([labels, torch.full((1, 1, 4), -1)], dim=2)
    with torch.no_grad():
        a = random_vitt.predict_masks(emb, pts, labels, True, 100, 200)
        b = random_vitt.predict_masks(emb, padded_pts, padded_labels, True, 100, 200)
    assert a[0].shape == (1, 1, 3, 256, 256) and a[1].shape == (1, 1, 3)
    torch.testing.assert_close(a[0], b[0], rtol=0, atol=0)
    torch.testing.assert_close(a[1], b[1], rtol=0, atol=0)


def test_queries_are_independent(random_vitt: EfficientSam) -> None:
    """Batched queries share the embedding but must not influence each other."""
    torch.manual_seed(2)
    emb = torch.randn(1, 256, 64, 64)
    pts = torch.tensor([[[[10.0, 10.0], [80.0, 60.0]], [[50.0, 20.0], [150.0, 90.0]]]])
    labels = torch.tensor([[[2, 3], [2, 3]]])
    with torch.no_grad():
        both, iou_both = random_vitt.predict_masks(emb, pts, labels, True, 100, 200, 100, 200)
        second, iou_second = random_vitt.predict_masks(
            emb, pts[:, 1:], labels[:, 1:], True, 100, 200, 100, 200
        )
    assert both.shape == (1, 2, 3, 100, 200)
    torch.testing.assert_close(both[:, 1:], second, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(iou_both[:, 1:], iou_second, atol=1e-6, rtol=1e-6)
