"""WeSAM on a random-weight sam2:tiny at input 256 over a tiny corrupted shapes domain.

One module fixture does the expensive part once (build, two steps on a fixed batch, merge,
save) and the tests inspect it: gradients reach only LoRA, the anchor never changes, the
loss goes down, the saved adapter reproduces the adapted outputs bit for bit, and a wrong
base is refused.
"""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import torch
from zoo_wesam.adapter import read_adapter, save_adapter
from zoo_wesam.config import WesamTrainConfig
from zoo_wesam.lora import base_fingerprint, lora_disabled
from zoo_wesam.train import (
    WesamTrainer,
    adapter_metadata,
    base_record,
    prepare_sample,
)

from zoo.data.coco import CocoDataset
from zoo.errors import InputError, WeightsError
from zoo.loading import load
from zoo.registry import reset_registry

SIZE = 256


def _load(**kw: Any) -> Any:
    return load("wesam-adapt:tiny", weights="random", device="cpu", image_size=SIZE, **kw)


@pytest.fixture(scope="module")
def run(domain: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    torch.manual_seed(0)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ZOO_PLUGINS", "sam2,wesam-adapt")
        mp.setenv("ZOO_HOME", str(tmp_path_factory.mktemp("zoo_home_train")))
        reset_registry()
        model = _load(base_seed=0)
        ds = CocoDataset(domain["annotations"], domain["images"], require_masks=True)
        cfg = WesamTrainConfig(steps=100, warmup_steps=0, lr=1e-3, seed=0, max_instances=3)
        base_params = {k: v.detach().clone() for k, v in model.model.state_dict().items()}
        fingerprint = base_fingerprint(model.model)
        trainer = WesamTrainer(model, "box", cfg, ds)
        batch = [prepare_sample(ds[0], "box", cfg, np.random.default_rng(0))]
        probe_img = ds[1].load()
        probe = {"boxes": ds[1].boxes()}
        with lora_disabled(model.model):
            model.reset_cache()
            anchor_before = model.segment(probe_img, probe).low_res_logits
        first = trainer.step(batch)
        grads = {n: p.grad for n, p in model.model.named_parameters()}
        second = trainer.step(batch)
        with torch.no_grad():
            after = {k: float(v) for k, v in trainer.losses(batch).items()}
        model.reset_cache()
        unmerged = model.segment(probe_img, probe).low_res_logits
        with lora_disabled(model.model):
            model.reset_cache()
            anchor_after = model.segment(probe_img, probe).low_res_logits
        state = trainer.finish()
        model.reset_cache()
        merged = model.segment(probe_img, probe)
        meta = adapter_metadata(model, "box", cfg, fingerprint, base_record(model), ds)
        path = tmp_path_factory.mktemp("adapter") / "adapter.safetensors"
        size = save_adapter(path, state, meta)
        reset_registry()
    return {
        "model": model,
        "ds": ds,
        "base_params": base_params,
        "first": first,
        "second": second,
        "after": after,
        "grads": grads,
        "unmerged": unmerged,
        "merged": merged,
        "path": path,
        "bytes": size,
        "probe_img": probe_img,
        "probe": probe,
        "state": state,
        "anchor_before": anchor_before,
        "anchor_after": anchor_after,
    }


def test_only_lora_parameters_receive_gradients(run: dict[str, Any]) -> None:
    with_grad = sorted(n for n, g in run["grads"].items() if g is not None)
    assert with_grad, "no parameter received a gradient"
    assert all(".attn.qkv.lora_" in n for n in with_grad), with_grad[:5]
    # the B matrices start at zero, so the first step's gradient must flow into them
    assert any(n.endswith("lora_b_q") and run["grads"][n].abs().sum() > 0 for n in with_grad)
    n_blocks = sum(1 for n in with_grad if n.endswith("lora_a_q"))
    assert n_blocks == 12  # every Hiera-T attention block


def test_anchor_never_changes(run: dict[str, Any]) -> None:
    now = run["model"].model.state_dict()
    for k, v in run["base_params"].items():
        if k.endswith(".attn.qkv.weight"):
            continue  # merged at the end: the adapted weights, checked below
        assert torch.equal(now[k], v), f"{k} changed"
    # until the merge the anchor (adapters off) gave exactly the source model's masks
    np.testing.assert_array_equal(run["anchor_before"], run["anchor_after"])


def test_loss_terms_finite_and_training_reduces_loss(run: dict[str, Any]) -> None:
    for terms in (run["first"], run["second"], run["after"]):
        assert all(math.isfinite(v) for v in terms.values()), terms
        assert set(terms) >= {"focal", "dice", "iou", "anchor", "contrastive", "total"}
    assert run["second"]["total"] < run["first"]["total"]
    assert run["after"]["total"] < run["first"]["total"]


def test_adapter_is_small_and_merge_matches_unmerged(run: dict[str, Any]) -> None:
    assert run["bytes"] < 1_000_000  # rank-4 adapters of Hiera-T: ~0.3 MB
    n = sum(v.numel() for v in run["state"].values())
    assert 0 < n < 100_000
    np.testing.assert_allclose(run["merged"].low_res_logits, run["unmerged"], atol=1e-3, rtol=0)
    assert not np.allclose(run["merged"].low_res_logits, run["anchor_before"], atol=1e-6)


def test_saved_adapter_reloads_exactly(run: dict[str, Any]) -> None:
    _state, meta = read_adapter(run["path"])
    assert meta["size"] == "tiny" and meta["base_weights"] == {"kind": "random", "seed": 0}
    reloaded = _load(adapter=run["path"])  # the random base is rebuilt from the recorded seed
    assert reloaded.is_adapted
    again = reloaded.segment(run["probe_img"], run["probe"])
    np.testing.assert_array_equal(again.low_res_logits, run["merged"].low_res_logits)
    np.testing.assert_array_equal(again.masks, run["merged"].masks)


def test_wrong_base_is_a_clear_error(run: dict[str, Any]) -> None:
    with pytest.raises(WeightsError, match=r"trained on sam2:tiny but this base is sam2:small"):
        load(
            "wesam-adapt:small",
            weights="random",
            device="cpu",
            image_size=SIZE,
            adapter=run["path"],
        )
    with pytest.raises(WeightsError, match="other weights") as info:
        _load(adapter=run["path"], base_seed=1)  # same size, different weights
    assert "\n" not in str(info.value)
    with pytest.raises(WeightsError, match="not a wesam-adapt adapter"):
        bogus = run["path"].parent / "bogus.safetensors"
        from safetensors.torch import save_file

        save_file({"x": torch.zeros(1)}, str(bogus))
        _load(adapter=bogus)


def test_adapting_an_adapted_model_is_refused(run: dict[str, Any]) -> None:
    with pytest.raises(InputError, match="already adapted"):
        run["model"].adapt(run["ds"], "box", {"steps": 1})


def test_adapt_refuses_what_only_zoo_train_loads(run: dict[str, Any]) -> None:
    """The config's loading fields choose the model ``zoo train`` builds; adapt() has one."""
    with pytest.raises(InputError, match="'image_size'"):
        run["model"].adapt(run["ds"], "box", {"steps": 1, "image_size": 512})
    with pytest.raises(InputError, match="differs from the config's prompt"):
        run["model"].adapt(run["ds"], "point", {"steps": 1, "prompt": "box"})


def test_adapt_end_to_end_registers_variant(domain: dict[str, Any], tmp_path: Path) -> None:
    """The public path: model.adapt(..., name) -> files -> wesam-adapt:<name> loads the same."""
    model = _load(base_seed=3)
    res = model.adapt(
        (domain["annotations"], domain["images"]),
        "point",
        {"name": "unit", "steps": 1, "evaluate": False, "max_instances": 2},
        progress=False,
    )
    assert res.variant == "wesam-adapt:unit" and res.steps == 1
    assert res.adapter_bytes and res.adapter_bytes < 1_000_000
    folder = Path(res.path or "")
    assert sorted(p.name for p in folder.iterdir()) == [
        "adapter.safetensors",
        "card.md",
        "variant.json",
    ]
    from zoo.cards import load_card
    from zoo.registry import get_registry
    from zoo.registry.local import extra_of

    card = load_card(folder / "card.md")
    assert card.zoo.family == "wesam-adapt" and card.zoo.adaptation["prompt"] == "point"
    # a core local variant: the adapter is its one file, the random base its seed
    spec = get_registry().variants["wesam-adapt:unit"]
    assert spec.local and list(spec.checkpoints) == ["adapter"]
    assert spec.checkpoints["adapter"].uri == str(folder / "adapter.safetensors")
    assert spec.checkpoints["adapter"].size == res.adapter_bytes
    assert spec.config == {"size": "tiny", "image_size": SIZE, "test_mode": True, "base_seed": 3}
    assert extra_of(folder)["base"] == {"kind": "random", "seed": 3}
    img = np.zeros((96, 128, 3), np.uint8)
    img[20:60, 30:90] = 200
    box = {"boxes": [[30, 20, 90, 60]]}
    ours = model.segment(img, box).low_res_logits
    # loads by itself (test mode is in the variant) and with weights="random" alike
    plain = load("wesam-adapt:unit", device="cpu")
    assert plain.weights.startswith("random (test-mode base)") and plain.is_adapted
    np.testing.assert_array_equal(ours, plain.segment(img, box).low_res_logits)
    again = load("wesam-adapt:unit", weights="random", device="cpu")
    np.testing.assert_array_equal(ours, again.segment(img, box).low_res_logits)
    # a random base without a seed could never be rebuilt to load the adapter
    with pytest.raises(InputError, match="base_seed"):
        base_record(SimpleNamespace(weights="random", base_seed=None))


@pytest.mark.slow
def test_interrupted_run_resumes_where_it_stopped(
    domain: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    data = (domain["annotations"], domain["images"])
    cfg = {
        "steps": 3,
        "save_every": 1,
        "evaluate": False,
        "max_instances": 2,
        "warmup_steps": 0,
        "lr": 1e-3,
    }
    original = WesamTrainer.step
    state = {"raised": False}

    def interrupted(self: WesamTrainer, batch: Any = None) -> dict[str, float]:
        if self.step_count == 2 and not state["raised"]:
            state["raised"] = True
            raise KeyboardInterrupt
        return original(self, batch)

    monkeypatch.setattr(WesamTrainer, "step", interrupted)
    with pytest.raises(KeyboardInterrupt):
        _load(base_seed=0).adapt(data, "box", {**cfg, "name": "res"}, progress=False)
    from zoo.weights import cache_dir

    assert (cache_dir() / "local" / "wesam-adapt" / "res" / "train" / "checkpoint.pt").exists()
    with pytest.raises(InputError, match="other settings"):
        _load(base_seed=0).adapt(data, "box", {**cfg, "name": "res", "lr": 5e-4}, progress=False)
    resumed = _load(base_seed=0).adapt(data, "box", {**cfg, "name": "res"}, progress=False)
    assert resumed.resumed_from == 2 and resumed.steps == 3
    assert not (cache_dir() / "local" / "wesam-adapt" / "res" / "train").exists()
    straight = _load(base_seed=0).adapt(data, "box", {**cfg, "name": "ref"}, progress=False)
    a, _ = read_adapter(Path(resumed.path or "") / "adapter.safetensors")
    b, _ = read_adapter(Path(straight.path or "") / "adapter.safetensors")
    for k in b:  # an interruption changes nothing: same augmentations, same updates
        assert torch.equal(a[k], b[k]), k


@pytest.mark.slow
def test_ema_teacher_option(domain: dict[str, Any]) -> None:
    model = _load(base_seed=0)
    ds = CocoDataset(domain["annotations"], domain["images"], require_masks=True)
    cfg = WesamTrainConfig(
        steps=10, warmup_steps=0, lr=1e-3, ema_teacher=True, ema_rate=0.5, max_instances=2
    )
    trainer = WesamTrainer(model, "coarse", cfg, ds)
    first = trainer.step()
    second = trainer.step()
    assert all(math.isfinite(v) for v in (*first.values(), *second.values()))
    assert trainer.ema is not None
    live = {k: v for k, v in trainer.checkpoint({}, {})["lora"].items()}
    key = next(k for k in live if k.endswith("lora_b_q"))
    # the EMA moved towards the student but lags behind it
    assert 0 < trainer.ema[key].abs().sum() < live[key].abs().sum() * 1.5
    assert not torch.equal(trainer.ema[key], live[key])
