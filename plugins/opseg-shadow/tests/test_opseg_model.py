"""OpSegModel: paired prediction, batching, prompt errors, and the published checkpoint format."""

from __future__ import annotations

import sys
import types
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from zoo_opseg.model import OpSegModel, predict_pairs
from zoo_opseg.synthetic import shadow_scene

from zoo.errors import InputError, WeightsError
from zoo.io.masks import mask_bbox
from zoo.loading import load
from zoo.registry import get_registry
from zoo.specs import Task

H, W = 192, 256


def _box(m: np.ndarray) -> list[float]:
    x, y, w, h = mask_bbox(m)
    return [x, y, x + w, y + h]


@pytest.fixture(scope="module")
def tiny() -> OpSegModel:
    torch.manual_seed(0)
    return load("opseg-shadow", weights="random", device="cpu", size="tiny", image_size=256)


@pytest.fixture(scope="module")
def scene() -> Any:
    return shadow_scene(H, W, n_objects=3, seed=11)


def _count_calls(module: torch.nn.Module) -> list[int]:
    calls: list[int] = []
    module.register_forward_hook(lambda *_: calls.append(1))
    return calls


def test_registered_family_and_variants() -> None:
    reg = get_registry()
    fam = reg.families["opseg-shadow"]
    assert set(fam.tasks) == {Task.SHADOW, Task.PROMPTABLE} and fam.default_tag == "base-plus"
    v = reg.variants["opseg-shadow:base-plus"]
    assert v.weights is not None and v.weights.uri == "ms://deyang2000/SAM2_Shadow"
    assert v.weights.pattern == "*.pt" and v.weights.sha256 is None and v.weights.size is None
    assert reg.variants["opseg-shadow:base-plus-gdrive"].weights.uri.startswith("gdrive://")  # type: ignore[union-attr]


def test_options_are_typed_declared_once_and_read_by_the_trainer() -> None:
    """The family's options are one typed class (loader and eval options; the shadow and
    promptable tasks declare --objects/--shadows/--multimask); the trainer's hyperparameters
    are its typed config, which zoo info lists and zoo train validates."""
    from zoo_opseg import plugin
    from zoo_opseg.config import OpSegTrainConfig

    fam = get_registry().families["opseg-shadow"]
    opts = fam.options
    assert opts is plugin.OpSegOptions and plugin.ZOO_PLUGIN_API == 3
    # max_batch: the core's --max-batch (max_batch_option), listed by every SAM decoder
    assert set(opts.loader_names()) == {"image_size", "size", "max_batch"}
    rows = {r["name"]: r for r in opts.describe()}
    assert rows["image_size"]["type"] == "int"
    assert rows["size"]["type"] == "tiny|small|base-plus|large"
    assert rows["split"]["type"] == "test|challenge" and rows["split"]["commands"] == ["eval"]
    assert not {"objects", "shadows", "multimask"} & set(opts.model_fields)
    assert fam.runner is None and fam.train_config == "zoo_opseg.config:OpSegTrainConfig"
    train = {r["name"]: r for r in OpSegTrainConfig.describe("train")}
    assert train["loss_weights"]["type"] == "floats" and train["resume"]["type"] == "bool"
    assert train["freeze"]["type"] == "image-encoder|none" and train["steps"]["default"] == 2000
    cfg = OpSegTrainConfig(annotations="a.json", images="img", name="n")
    assert cfg.loss_weights == [20.0, 1.0, 1.0] and cfg.init == "pretrained"
    assert cfg.learning_rate == 1e-4 and cfg.warmup_steps == 100
    assert OpSegTrainConfig(weights="random").init == "random"
    # trained variants are registered by the core's scanner, not by this plugin
    assert not hasattr(plugin, "zoo_register_variants")


def test_plugin_never_resolves_weights_itself() -> None:
    """Files reach the plugin through the load context only (issue 10 item 2)."""
    import zoo_opseg

    for path in Path(zoo_opseg.__file__).parent.glob("*.py"):
        text = path.read_text()
        for banned in ("get_registry(", "resolve_weights", "weights.resolve(", "resolve_name("):
            assert banned not in text, (path.name, banned)


def test_pairs_share_one_embedding_and_one_decoder_call(tiny: OpSegModel, scene: Any) -> None:
    pairs = list(zip(scene.object_masks, scene.shadow_masks, strict=True))
    instances = [{"object": {"box": _box(o)}, "shadow": {"box": _box(s)}} for o, s in pairs]
    instances = (instances * 4)[:10]  # 10 pairs = 20 prompts
    enc = _count_calls(tiny.model.image_encoder)
    dec: list[int] = []  # decoder stage runs (zoo_sam2.graphs, through ZooModel.run_graph)
    real = tiny.run_graph

    def counting(name: str, *inputs: Any) -> Any:
        if name == "decoder":
            dec.append(1)
        return real(name, *inputs)

    tiny.run_graph = counting  # type: ignore[method-assign]
    try:
        r = tiny.segment_shadows(scene.image, instances)
    finally:
        del tiny.run_graph
    # one embedding; the 20 prompts in as few decoder calls as the device's chunk allows
    assert (len(enc), len(dec)) == (1, -(-20 // tiny.decoder_batch))
    assert [i.association_id for i in r.instances] == list(range(1, 11))
    for inst in r.instances:
        for m in (inst.object_mask, inst.shadow_mask):
            assert m is not None and m.dtype == np.bool_ and m.shape == (H, W)
        assert np.isfinite([inst.object_score, inst.shadow_score]).all()
    assert r.provenance.task == Task.SHADOW and r.provenance.is_random
    tiny.segment_shadows(scene.image, instances[:2])  # same image: the embedding is reused
    assert len(enc) == 1
    # batching changes nothing: pair 2 alone gives the same masks as inside the batch
    alone = tiny.segment_shadows(None, [instances[1]]).instances[0]
    assert (alone.object_mask == r.instances[1].object_mask).mean() > 0.999
    assert (alone.shadow_mask == r.instances[1].shadow_mask).mean() > 0.999


def test_one_sided_and_click_instances(tiny: OpSegModel, scene: Any) -> None:
    o, s = scene.object_masks[0], scene.shadow_masks[0]
    ys, xs = np.nonzero(s)
    r = tiny.segment_shadows(
        scene.image,
        [
            {"shadow": {"box": _box(s)}},
            {"object": {"box": _box(o)}},
            {
                "object": {"box": _box(o)},
                "shadow": {"points": [[float(xs[0]), float(ys[0])]], "labels": [1]},
            },
        ],
    )
    a, b, c = r.instances
    assert a.object_mask is None and a.shadow_mask is not None and a.object_score is None
    assert b.shadow_mask is None and b.object_mask is not None
    assert c.object_mask is not None and c.shadow_mask is not None


def test_bad_prompts_are_input_errors(tiny: OpSegModel, scene: Any) -> None:
    img = scene.image
    with pytest.raises(InputError, match="instance 1 shadow") as info:
        tiny.segment_shadows(
            img,
            [
                {"object": {"box": [1, 1, 9, 9]}},
                {"object": {"box": [1, 1, 9, 9]}, "shadow": {"box": [900, 0, 999, 9]}},
            ],
        )
    assert "\n" not in str(info.value) and "entirely outside" in str(info.value)
    # a box crossing the image edge is clipped to it (the rule of every surface)
    crossing = tiny.segment_shadows(img, [{"shadow": {"box": [-20, 5, W + 40, 60]}}])
    assert crossing.instances[0].shadow_mask is not None
    for bad in ([], [{}], [{"shadow": {"box": [5, 5, 1, 1]}}], None):
        with pytest.raises(InputError):
            tiny.segment_shadows(img, bad)


def test_plain_sam2_runs_the_same_protocol(scene: Any) -> None:
    """The paper's baseline: the original SAM 2.1 answers the same object/shadow prompts."""
    torch.manual_seed(0)
    sam = load("sam2:tiny", weights="random", device="cpu", image_size=256)
    inst = [
        {
            "object": {"box": _box(scene.object_masks[0])},
            "shadow": {"box": _box(scene.shadow_masks[0])},
        }
    ]
    r = predict_pairs(sam, scene.image, inst)
    assert r.provenance.task == Task.PROMPTABLE and r.provenance.model == "sam2:tiny"
    assert r.instances[0].object_mask.shape == (H, W)  # type: ignore[union-attr]


def _fake_modelscope(monkeypatch: pytest.MonkeyPatch, snapshot: Path) -> list[dict[str, Any]]:
    """A stand-in for the modelscope client: its snapshot holds the published file layout."""
    calls: list[dict[str, Any]] = []

    def snapshot_download(
        model_id: str,
        revision: str | None = None,
        allow_patterns: Any = None,
        local_files_only: bool = False,
    ) -> str:
        calls.append({"model_id": model_id, "allow_patterns": allow_patterns})
        return str(snapshot)

    def model_file_download(
        model_id: str, file_path: str, revision: str | None = None, local_files_only: bool = False
    ) -> str:
        return str(snapshot / file_path)

    pkg = types.ModuleType("modelscope")
    hub = types.ModuleType("modelscope.hub")
    snap = types.ModuleType("modelscope.hub.snapshot_download")
    snap.snapshot_download = snapshot_download  # type: ignore[attr-defined]
    fdl = types.ModuleType("modelscope.hub.file_download")
    fdl.model_file_download = model_file_download  # type: ignore[attr-defined]
    for name, mod in (
        ("modelscope", pkg),
        ("modelscope.hub", hub),
        ("modelscope.hub.snapshot_download", snap),
        ("modelscope.hub.file_download", fdl),
    ):
        monkeypatch.setitem(sys.modules, name, mod)
    # the fake client stands in for the site too: zoo's own reachability probe (one bounded
    # request before the client runs, zoo.weights.ms) is not asked
    import zoo.weights.ms

    monkeypatch.setattr(zoo.weights.ms, "_probe", lambda model_id, request: None)
    return calls


def test_published_checkpoint_loads_strictly_and_round_trips(
    zoo_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A random-init SAM 2.1 base-plus saved as {"model": sd} (the published layout, file name
    unknown in advance) resolves through ms:// + pattern and loads strictly, bit for bit."""
    from zoo_sam2.build import build_sam2_model

    torch.manual_seed(123)
    ref = build_sam2_model("base-plus", None, image_size=256)
    sd = ref.state_dict()
    snapshot = tmp_path / "SAM2_Shadow"
    snapshot.mkdir()
    (snapshot / "README.md").write_text("readme")
    (snapshot / "configuration.json").write_text("{}")
    torch.save({"model": sd}, snapshot / "sam2_shadow_ft.pt")
    calls = _fake_modelscope(monkeypatch, snapshot)

    model = load("opseg-shadow", device="cpu", image_size=256)
    assert calls and calls[0]["model_id"] == "deyang2000/SAM2_Shadow"
    assert model.weights == "ms://deyang2000/SAM2_Shadow"
    got = model.model.state_dict()
    assert set(got) == set(sd)
    for k, v in sd.items():
        assert torch.equal(got[k], v), k
    # the resolver recorded which file the pattern picked (and its sha256)
    index = (zoo_home / "index.json").read_text()
    assert "sam2_shadow_ft.pt" in index and "ms://deyang2000/SAM2_Shadow" in index

    # strict: one extra key is refused with one line
    sd2 = dict(sd)
    sd2["extra.weight"] = torch.zeros(1)
    bad = tmp_path / "extra.pt"
    torch.save({"model": sd2}, bad)
    with pytest.raises(WeightsError) as info:
        load("opseg-shadow", checkpoint=bad, device="cpu", image_size=256)
    assert "unexpected" in str(info.value) and "\n" not in str(info.value)


def test_wrong_checkpoints_name_the_mistake(tmp_path: Path) -> None:
    from zoo_sam2.build import build_sam2_model

    torch.manual_seed(0)
    sd = build_sam2_model("tiny", None, image_size=256).state_dict()
    cases = {
        "tiny": {"model": sd},
        "SAM 2.0": {"model": {k: v for k, v in sd.items() if k != "no_obj_embed_spatial"}},
        "SAM (v1)": {
            "model": {
                "image_encoder.blocks.0.attn.qkv.weight": torch.zeros(3, 1),
                "mask_decoder.iou_token.weight": torch.zeros(1, 4),
            }
        },
        "not a SAM 2": {"backbone.conv.weight": torch.zeros(2)},
    }
    for needle, blob in cases.items():
        path = tmp_path / f"{needle.replace(' ', '_')}.pt"
        torch.save(blob, path)
        with pytest.raises(WeightsError) as info:
            load("opseg-shadow", checkpoint=path, device="cpu", image_size=256)
        msg = str(info.value)
        assert needle in msg and "\n" not in msg, msg
    # a SAM 2.0-style file of the right size is caught too
    path = tmp_path / "b.pt"
    torch.save({"model": {k: v for k, v in sd.items() if k != "obj_ptr_tpos_proj.weight"}}, path)
    with pytest.raises(WeightsError, match=r"SAM 2\.0"):
        load("opseg-shadow", checkpoint=path, device="cpu", size="tiny", image_size=256)
