"""Conformance checks generated for every registered family (see :mod:`zoo.testing`).

Each check states a promise the registry makes to users: the card parses, the weights spec
is usable, the architecture builds without any download, each declared task returns results
of the documented shape, runs are deterministic under a seed, bad input is an
``InputError`` with a message, and the model moves between devices.
"""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np
import pytest

from zoo.errors import InputError
from zoo.results import TaskResult
from zoo.tasks.spec import TaskInputs, TaskSpec
from zoo.testing.synthetic import synthetic_image

pytestmark = pytest.mark.zoo_conformance

H, W = 240, 320
_MODELS: dict[tuple[str, str, int], Any] = {}


def _load(name: str, device: str, seed: int = 0) -> Any:
    """Build once per (name, device, seed): building is the slow part on CPU."""
    key = (name, device, seed)
    if key not in _MODELS:
        import torch

        from zoo.loading import load
        from zoo.registry import get_registry

        fam, _ = get_registry().resolve_name(name)
        torch.manual_seed(seed)
        _MODELS[key] = load(name, weights="random", device=device, **fam.conformance)
    return _MODELS[key]


def _family(name: str) -> Any:
    from zoo.registry import get_registry

    return get_registry().resolve_name(name)[0]


def _tasks(name: str) -> list[TaskSpec]:
    """The tasks the family declares (implied ones are covered by their own checks)."""
    from zoo.registry import get_registry

    reg = get_registry()
    fam = _family(name)
    return [reg.tasks[t] for t in fam.tasks if t in reg.tasks]


# --------------------------------------------------------------------------- static checks


def test_card_validates(zoo_family_name: str, zoo_registry: Any) -> None:
    from zoo.cards import load_card

    fam = zoo_registry.families[zoo_family_name]
    assert fam.card, f"{fam.name} registers no model card"
    card = load_card(fam.card)
    assert card.zoo.family == fam.name, "the card's zoo.family must equal the family name"
    assert set(card.zoo.tasks) == set(fam.tasks), "card tasks and registered tasks differ"
    assert card.license, "the card must state a licence"


def test_variants_weights_well_formed(zoo_family_name: str, zoo_registry: Any) -> None:
    from zoo import weights

    variants = [v for v in zoo_registry.variants.values() if v.family == zoo_family_name]
    assert variants, f"{zoo_family_name} has no variants"
    fam = zoo_registry.families[zoo_family_name]
    assert fam.default_tag in {v.tag for v in variants}, "default tag is not a variant"
    supported = {sch.split("://")[0] for sch in weights.supported_schemes()}
    for v in variants:
        for key, w in v.checkpoints.items():
            if not w.published:
                assert w.note or fam.weights_note, f"{v.name}: say why {key!r} is unpublished"
                continue
            assert w.uri, f"{v.name}: checkpoint {key!r} borrows {w.same_as}, which is unknown"
            weights.check_uri(w.uri)  # raises on a malformed built-in URI
            scheme = w.uri.split("://", 1)[0] if "://" in w.uri else "file"
            assert scheme in supported, f"{v.name}: unsupported scheme {scheme}"
            assert w.size is None or w.size > 0


def test_loader_and_runners_resolve(zoo_family_name: str, zoo_registry: Any) -> None:
    from zoo.model import ZooModel
    from zoo.specs import import_string

    fam = zoo_registry.families[zoo_family_name]
    cls = import_string(fam.loader)
    assert issubclass(cls, ZooModel), f"{fam.loader} must subclass zoo.model.ZooModel"
    for ref in (fam.runner, fam.evaluator, fam.trainer):
        if ref:
            assert callable(import_string(ref))
    from zoo.registry import get_registry

    for task in fam.tasks:
        spec = get_registry().tasks[task]
        assert spec.supported_by(cls), f"{cls.__name__} lacks {spec.method}() for {task}"


# --------------------------------------------------------------------------- built models


def test_builds_with_random_weights(zoo_model_name: str, zoo_device: str) -> None:
    model = _load(zoo_model_name, zoo_device)
    assert model.weights == "random"
    if _family(zoo_model_name).requires_weights:
        assert model.num_parameters() > 0, "a family that requires weights has parameters"
    for spec in _tasks(zoo_model_name):
        assert spec.supported_by(model), f"model does not implement {spec.name} ({spec.method})"


def _run_task(model: Any, spec: TaskSpec) -> list[tuple[TaskInputs, list[Any]]]:
    """Run the task on each of its conformance samples and check what comes back."""
    done = []
    for inputs in spec.samples(H, W):
        results = list(spec.call(model, inputs))
        spec.check(results, inputs)
        for r in results:
            assert r.provenance.is_random, "results must say they came from random weights"
        done.append((inputs, results))
    return done


def _masks_of(result: Any) -> np.ndarray:
    """The masks a run produced, stacked (for determinism checks)."""
    if isinstance(result, list):
        return np.stack([_masks_of(r) for r in result])
    inst = result.coco_instances()
    h, w = result.image_size
    return np.stack([c.mask for c in inst]) if inst else np.zeros((0, h, w), bool)


def test_tasks_return_schema_results(zoo_model_name: str, zoo_device: str) -> None:
    model = _load(zoo_model_name, zoo_device)
    for spec in _tasks(zoo_model_name):
        _run_task(model, spec)


def _first_masks(model: Any, spec: TaskSpec) -> np.ndarray:
    (_, results), *_ = _run_task(model, spec)
    return _masks_of(results)


def test_deterministic_under_seed(zoo_model_name: str, zoo_device: str) -> None:
    tasks = [t for t in _tasks(zoo_model_name) if t.samples(H, W)]
    if not tasks:
        pytest.skip("no inference task to compare")
    a = _first_masks(_load(zoo_model_name, zoo_device, seed=0), tasks[0])
    again = _first_masks(_load(zoo_model_name, zoo_device, seed=0), tasks[0])
    np.testing.assert_array_equal(a, again)  # same model, same input: same output
    _MODELS.pop((zoo_model_name, zoo_device, 2), None)
    fresh = _load(zoo_model_name, zoo_device, seed=2)  # a third seed, built fresh
    _MODELS.pop((zoo_model_name, zoo_device, 2), None)
    del fresh
    _MODELS.pop((zoo_model_name, zoo_device, 0), None)
    rebuilt = _first_masks(_load(zoo_model_name, zoo_device, seed=0), tasks[0])
    np.testing.assert_array_equal(a, rebuilt)  # rebuilt under the same seed: same output


def test_bad_inputs_raise_input_error(zoo_model_name: str, zoo_device: str) -> None:
    model = _load(zoo_model_name, zoo_device)
    for spec in _tasks(zoo_model_name):
        for what, call in spec.bad_calls(model, H, W):
            with pytest.raises(InputError) as info:
                call()
            msg = str(info.value)
            assert msg and "\n" not in msg.strip(), f"{what}: message must be one line"


def test_moves_between_devices(zoo_model_name: str, zoo_device: str) -> None:
    model = _load(zoo_model_name, zoo_device)
    model.to("cpu")
    assert all(p.device.type == "cpu" for m in model.modules() for p in m.parameters())
    if zoo_device == "cuda":
        model.to("cuda")
        assert all(p.device.type == "cuda" for m in model.modules() for p in m.parameters())
        for spec in _tasks(zoo_model_name)[:1]:
            _run_task(model, spec)


def test_create_signature(zoo_family_name: str, zoo_registry: Any) -> None:
    from zoo.specs import import_string

    cls = import_string(zoo_registry.families[zoo_family_name].loader)
    params = list(inspect.signature(cls.create).parameters.values())
    assert params and params[0].name == "ctx", (
        f"{cls.__name__}.create must take the load context first: create(cls, ctx, **config)"
    )
    assert any(p.kind is p.VAR_KEYWORD for p in params), (
        f"{cls.__name__}.create must accept **config (variant and caller loader kwargs)"
    )


def test_model_option_defaults_match_the_loader(zoo_family_name: str, zoo_registry: Any) -> None:
    """A ``model=True`` option left unset is not passed to ``create``: its declared default
    (what `zoo info` shows) must be the loader's own default, or the two would drift."""
    from zoo.specs import import_string

    fam = zoo_registry.families[zoo_family_name]
    params = inspect.signature(import_string(fam.loader).create).parameters
    for name in fam.options.loader_names():
        p = params.get(name)
        declared = fam.options.default_of(name)
        if p is None or p.default is inspect.Parameter.empty:
            continue
        if declared is not None and p.default is not None:  # None: the loader decides
            assert p.default == declared, (
                f"option --{name.replace('_', '-')} declares default {declared!r} but "
                f"{fam.loader}.create defaults to {p.default!r}"
            )


def _check_outputs(result: TaskResult, img: np.ndarray, folder: Any) -> None:
    """save / to_coco / overlay / to_dict round trip: the promises of every task result."""
    import json

    from PIL import Image
    from pycocotools.coco import COCO

    h, w = result.image_size
    over = result.overlay(img)
    assert over.shape == (h, w, 3) and over.dtype == np.uint8, "overlay must be HxWx3 uint8"
    files = result.save(folder, image=img, formats=["png", "coco", "json", "overlay"])
    names = {p.name for p in files}
    assert {"results.json", "run.json", "result.json", "overlay.png"} <= names
    anns = json.loads((folder / "results.json").read_text())
    assert isinstance(anns, list), "results.json must be a plain COCO results array"
    assert all(isinstance(a["image_id"], int) for a in anns)
    run = json.loads((folder / "run.json").read_text())
    assert run["provenance"]["test_mode"] is True, "run.json must say test mode"
    if anns:
        gt = COCO()
        gt.dataset = {
            "images": run["images"],
            "annotations": [],
            "categories": [{"id": int(a["category_id"])} for a in anns],
        }
        gt.createIndex()
        assert len(gt.loadRes(anns).getAnnIds()) == len(anns), "COCO.loadRes must accept it"
    for p in files:
        if p.suffix == ".png":
            with Image.open(p) as im:
                text = getattr(im, "text", {})
                assert text.get("zoo:weights") == "random", f"{p.name} is not labelled"
    back = type(result).from_dict(json.loads(json.dumps(result.to_dict())))
    assert type(back) is type(result)
    np.testing.assert_array_equal(_masks_of(back), _masks_of(result))
    assert [c.score for c in back.coco_instances()] == [c.score for c in result.coco_instances()]
    assert back.to_dict() == result.to_dict(), "to_dict/from_dict must be lossless"


def test_results_save_coco_overlay_round_trip(
    zoo_model_name: str, zoo_device: str, tmp_path: Any
) -> None:
    model = _load(zoo_model_name, zoo_device)
    for spec in _tasks(zoo_model_name):
        for inputs, results in _run_task(model, spec):
            img = inputs.image if inputs.image is not None else synthetic_image(H, W)
            for i, r in enumerate(results):
                _check_outputs(r, img, tmp_path / f"{spec.name}_{i}")


def test_declared_dtypes_run(zoo_model_name: str, zoo_device: str) -> None:
    """Every dtype a family accepts for ``--dtype`` runs and gives schema-valid results;
    an undeclared one is a one-line ``InputError`` before anything is built."""
    import torch

    from zoo.loading import load

    fam = _family(zoo_model_name)
    tasks = [t for t in _tasks(zoo_model_name) if t.samples(H, W)]
    for name in fam.dtypes:
        if name == "float32" or not tasks:
            continue
        if zoo_device == "cpu" and name == "float16" and not hasattr(torch, "float16"):
            continue
        torch.manual_seed(0)
        model = load(
            zoo_model_name, weights="random", device=zoo_device, dtype=name, **fam.conformance
        )
        _run_task(model, tasks[0])
    undeclared = [d for d in ("bfloat16", "float16") if d not in fam.dtypes]
    for name in undeclared:
        with pytest.raises(InputError) as info:
            load(zoo_model_name, weights="random", device=zoo_device, dtype=name, **fam.conformance)
        assert "\n" not in str(info.value).strip() and name in str(info.value)
