"""Registration, weights wiring (SAM borrowed from sam2, CLIP through the resolver), tokenizer."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from zoo.errors import WeightsError
from zoo.registry import get_registry

CLIP_SHA = "4b8699299b1e8997753c64b052ba32031449d5d853f55a039148560ee02b820f"


def test_variants_borrow_sam2_weights_and_carry_the_clip_checkpoint() -> None:
    reg = get_registry()
    fam = reg.families["depth-sam"]
    assert fam.default_tag == "tiny" and [t.value for t in fam.tasks] == ["rgbd"]
    for size in ("tiny", "small", "base-plus", "large"):
        v = reg.variants[f"depth-sam:{size}"]
        assert v.weights_from == f"sam2:{size}"
        assert v.weights == reg.variants[f"sam2:{size}"].weights  # resolved by the registry
        clip = v.config["clip_weights"]
        assert clip["uri"] == (
            "hf://timm/vit_base_patch16_clip_224.openai/open_clip_model.safetensors"
        )
        assert clip["sha256"] == CLIP_SHA and clip["size"] == 598516980
        assert v.config["size"] == size and v.config["clip_model"] == "ViT-B-16"


def test_pretrained_load_resolves_clip_through_zoo_weights(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """With a SAM checkpoint, the CLIP file comes from zoo.weights.resolve with the
    registered URI, sha256 and size (builders stubbed: no weights exist here)."""
    import zoo_depthsam.classify as classify
    import zoo_sam2.build as sam_build
    from zoo_depthsam.model import DepthSamModel

    import zoo.weights

    calls: dict[str, Any] = {}
    fake_clip = tmp_path / "open_clip_model.safetensors"

    def fake_resolve(uri: str, sha256: Any = None, size: Any = None, **kw: Any) -> Path:
        calls["resolve"] = (uri, sha256, size, kw.get("name"))
        return fake_clip

    class FakeSam:
        image_size = 1024

    def fake_sam(size: str, checkpoint: Any, **kw: Any) -> FakeSam:
        calls["sam"] = (size, checkpoint)
        return FakeSam()

    def fake_build(cls: Any, model_name: str, checkpoint: Any, **kw: Any) -> str:
        calls["clip"] = (model_name, checkpoint)
        return "clip"

    monkeypatch.setattr(zoo.weights, "resolve", fake_resolve)
    monkeypatch.setattr(sam_build, "build_sam2_model", fake_sam)
    monkeypatch.setattr(classify.ClipClassifier, "build", classmethod(fake_build))
    reg = get_registry()
    fam, variant = reg.resolve_name("depth-sam:small")
    sam_ckpt = tmp_path / "sam2.1_hiera_small.pt"
    model = DepthSamModel.create(
        family=fam, variant=variant, checkpoint=sam_ckpt, device="cpu", **variant.config
    )
    assert calls["sam"] == ("small", sam_ckpt)
    uri, sha, size, name = calls["resolve"]
    assert uri.endswith("open_clip_model.safetensors") and sha == CLIP_SHA and size == 598516980
    assert "depth-sam:small" in name
    assert calls["clip"] == ("ViT-B-16", fake_clip)
    assert model.classifier == "clip"
    # random test mode: neither checkpoint is resolved
    calls.clear()
    DepthSamModel.create(
        family=fam, variant=variant, checkpoint=None, device="cpu", **variant.config
    )
    assert "resolve" not in calls and calls["clip"] == ("ViT-B-16", None)
    # a SAM checkpoint without any CLIP weights configured is a clear WeightsError
    cfg = {k: v for k, v in variant.config.items() if k != "clip_weights"}
    with pytest.raises(WeightsError, match="no CLIP weights"):
        DepthSamModel.create(family=fam, variant=variant, checkpoint=sam_ckpt, device="cpu", **cfg)


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


def test_plugin_module_is_cheap_to_import() -> None:
    code = (
        "import sys, zoo_depthsam.plugin, zoo_depthsam.cli;"
        "bad = [m for m in ('torch', 'open_clip', 'sam2') if m in sys.modules];"
        "assert not bad, bad"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
