"""The sam3 plugin's API at its test size (``arch="tiny"``, random weights): registration,
``find`` (concepts, exemplars, thresholds, one embedding per image), ``segment``, the image
state snapshots, checkpoints in both layouts, and bad input."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

import zoo
from zoo.errors import InputError, WeightsError
from zoo.results import ConceptResult, SegmentationResult
from zoo.testing.cli import run_cli

# --------------------------------------------------------------------------- registration


def test_list_and_info_show_the_licence_and_import_nothing_heavy() -> None:
    code = textwrap.dedent("""
        import sys
        from zoo.cli import main
        for argv in (["list", "sam3", "--wide"], ["info", "sam3"], ["list", "--json"]):
            try:
                main(argv)
            except SystemExit:
                pass
        heavy = [m for m in ("torch", "transformers", "open_clip") if m in sys.modules]
        assert not heavy, heavy
        print("ok")
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and proc.stdout.strip().endswith("ok"), proc.stderr
    assert "SAM License" in proc.stdout
    wide = run_cli("list", "sam3", "--wide")
    assert (
        wide.returncode == 0
        and "SAM License" in wide.stdout
        and "promptable,concept" in wide.stdout
    )
    info = run_cli("info", "sam3", "--json")
    row = json.loads(info.stdout)
    assert row["name"] == "sam3:base" and row["license"] == "SAM License"
    assert set(row["files"]) == {"model", "config", "vocab", "merges"}
    text = run_cli("info", "sam3").stdout
    assert "licence: SAM License" in text and "huggingface.co/facebook/sam3" in text


def test_the_cards_example_runs_and_shows_true_values(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The card's random-weights example, as written, on the example photo; a comment that
    is a Python value is checked against what the line gives (as the README's are)."""
    import shutil

    from sam3_fixtures import PHOTOS

    from tests.docs_harness import _expect, extract_blocks, instrument_python

    CARD = Path(__file__).resolve().parents[3] / "cards" / "sam3.md"

    if not (PHOTOS / "groceries.jpg").is_file():
        pytest.skip("the shared fixture photos are absent")
    block = next(
        b for b in extract_blocks(CARD) if b.lang == "python" and 'weights="random"' in b.text
    )
    shutil.copy(PHOTOS / "groceries.jpg", tmp_path / "photo.jpg")
    monkeypatch.chdir(tmp_path)
    code = instrument_python(block.text, CARD, block.line)
    exec(code, {"__name__": "__docs__", "__docs_expect__": _expect})


# --------------------------------------------------------------------------- find


def test_find_returns_every_candidate_at_threshold_zero(tiny, groceries) -> None:  # type: ignore[no-untyped-def]
    r = tiny.find(groceries, "dog;red car", threshold=0.0)
    assert isinstance(r, ConceptResult) and r.concepts == ["dog", "red car"]
    q = tiny.net.config.detector_config.detr_decoder_config.num_queries
    assert len(r) == 2 * q
    assert r.concept_ids.tolist() == [0] * q + [1] * q
    assert r.masks.shape == (2 * q, 267, 400) and r.masks.dtype == np.bool_
    assert ((r.scores > 0) & (r.scores <= r.presence[r.concept_ids] + 1e-7)).all()
    h, w = r.image_size
    assert (r.boxes[:, [0, 2]] >= -1e-3).all() and (r.boxes[:, [0, 2]] <= w + 1e-3).all()
    assert (r.boxes[:, [1, 3]] >= -1e-3).all() and (r.boxes[:, [1, 3]] <= h + 1e-3).all()
    assert r.provenance.is_random and r.provenance.task == "concept"
    assert sorted({c["category_id"] for c in r.to_coco()}) == [1, 2]


def test_threshold_keeps_exactly_the_higher_scores(tiny, groceries) -> None:  # type: ignore[no-untyped-def]
    every = tiny.find(groceries, "dog", threshold=0.0)
    cut = float(np.median(every.scores))
    kept = tiny.find(None, "dog", threshold=cut)
    mask = every.scores > cut
    assert 0 < len(kept) < len(every)
    np.testing.assert_array_equal(kept.scores, every.scores[mask])
    np.testing.assert_array_equal(kept.boxes, every.boxes[mask])
    np.testing.assert_array_equal(kept.masks, every.masks[mask])
    assert tiny.find(None, "dog", threshold=1.0).masks.shape == (0, 267, 400)


def test_one_image_embedding_per_image_one_text_encoding_per_text(tiny, groceries) -> None:  # type: ignore[no-untyped-def]
    calls = {"vision": 0, "text": 0}
    det = tiny.net.detector
    hooks = [
        det.vision_encoder.register_forward_hook(
            lambda *a: calls.__setitem__("vision", calls["vision"] + 1)
        ),
        det.text_encoder.register_forward_hook(
            lambda *a: calls.__setitem__("text", calls["text"] + 1)
        ),
    ]
    try:
        tiny._fingerprint = None
        tiny._texts.clear()
        first = tiny.find(groceries, "a green apple", threshold=0.0)
        tiny.find(None, "a shopping bag", threshold=0.0)
        again = tiny.find(groceries.copy(), "a green apple", threshold=0.0)  # same pixels
        tiny.segment(None, {"boxes": [[50, 50, 150, 150]]})
        assert calls == {"vision": 1, "text": 2}
        np.testing.assert_array_equal(first.scores, again.scores)
        np.testing.assert_array_equal(first.masks, again.masks)
        other = groceries.copy()
        other[0, 0] = 255 - other[0, 0]
        tiny.find(other, "a green apple", threshold=0.0)
        assert calls == {"vision": 2, "text": 2}
    finally:
        for h in hooks:
            h.remove()


def test_text_cache_is_bounded(tiny, groceries, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    import zoo_sam3.model as m

    monkeypatch.setattr(m, "TEXT_CACHE_SIZE", 2)
    tiny._texts.clear()
    tiny.set_image(groceries)
    for t in ("one", "two", "three"):
        tiny.find(None, t)
    assert list(tiny._texts) == ["two", "three"]


def test_an_exemplar_changes_only_its_own_concept(tiny, groceries) -> None:  # type: ignore[no-untyped-def]
    plain = tiny.find(groceries, ["dog", "red car"], threshold=0.0)
    with_box = tiny.find(
        None,
        ["dog", "red car"],
        [{"box": [150, 50, 250, 200], "concept": "red car"}],
        threshold=0.0,
    )
    dog, car = plain.of("dog"), plain.of("red car")
    np.testing.assert_array_equal(with_box.scores[dog], plain.scores[dog])
    assert not np.allclose(with_box.scores[car], plain.scores[car])
    assert with_box.prompts is not None and with_box.prompts.exemplars[0].concept == 1
    negative = tiny.find(None, "red car", [{"box": [150, 50, 250, 200], "label": 0}], threshold=0.0)
    assert not np.allclose(negative.scores, with_box.scores[car])
    only = tiny.find(None, None, [{"box": [150, 50, 250, 200]}], threshold=0.0)
    assert only.concepts == ["visual"] and len(only) > 0


def test_exemplars_and_boxes_crossing_the_edge_are_clipped(tiny, groceries) -> None:  # type: ignore[no-untyped-def]
    r = tiny.find(groceries, "dog", [{"box": [300, -5, 5000, 10]}], threshold=0.0)
    assert r.prompts is not None and r.prompts.exemplars[0].box == (300.0, 0.0, 400.0, 10.0)
    assert r.extra["notes"] == ["1 exemplar box was clipped to the 400x267 image"]
    same = tiny.find(None, "dog", [{"box": [300, 0, 400, 10]}], threshold=0.0)
    np.testing.assert_array_equal(r.masks, same.masks)
    s = tiny.segment(None, {"boxes": [[300, 100, 900, 200]]})
    assert s.prompts is not None and s.prompts.objects[0].box == (300.0, 100.0, 400.0, 200.0)


@pytest.mark.parametrize(
    ("args", "kwargs", "needle"),
    [
        ((None, None), {}, "nothing to find"),
        (("dog;dog",), {}, "given twice"),
        ((" ".join(["word"] * 40),), {}, "tokens long"),
        (("dog", [{"box": [4000, 0, 5000, 10]}]), {}, "entirely outside the 400x267 image"),
        (("dog",), {"threshold": -0.1}, "threshold must lie in"),
    ],
)
def test_bad_find_input_is_one_line(tiny, groceries, args, kwargs, needle) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InputError, match=needle) as info:
        tiny.find(groceries, *args, **kwargs)
    assert "\n" not in str(info.value)


def test_no_image_set_is_an_input_error() -> None:
    fresh = zoo.load("sam3", weights="random", arch="tiny", device="cpu")
    with pytest.raises(InputError, match="no image is set"):
        fresh.find(None, "dog")
    with pytest.raises(InputError, match="no image is set"):
        fresh.segment(None, {"boxes": [[0, 0, 4, 4]]})


# --------------------------------------------------------------------------- segment


def test_segment_boxes_batched_equal_one_by_one(tiny, groceries) -> None:  # type: ignore[no-untyped-def]
    boxes = [[50, 50, 150, 150], [200, 25, 350, 250], [10, 10, 60, 90]]
    batch = tiny.segment(groceries, {"boxes": boxes})
    assert isinstance(batch, SegmentationResult) and batch.masks.shape == (3, 267, 400)
    for i, b in enumerate(boxes):
        one = tiny.segment(None, {"boxes": [b]})
        np.testing.assert_allclose(one.low_res_logits[0], batch.low_res_logits[i], atol=1e-5)
        assert abs(float(one.scores[0]) - float(batch.scores[i])) < 1e-5


def test_segment_clicks_multimask_and_mask_prompts(tiny, groceries) -> None:  # type: ignore[no-untyped-def]
    single = tiny.segment(groceries, {"points": [[200, 130]], "labels": [1]})
    best = tiny.segment(None, {"points": [[200, 130]], "labels": [1]}, multimask=True)
    assert single.masks.shape == best.masks.shape == (1, 267, 400)
    mask = np.zeros((267, 400), bool)
    mask[50:150, 100:250] = True
    mixed = tiny.segment(
        None,
        [
            {"box": [50, 50, 150, 150], "points": [[75, 75]], "labels": [1]},
            {"mask": mask},
            {"mask": mask, "points": [[150, 100]], "labels": [0]},
            {"points": [[25, 30], [250, 150]], "labels": [1, 0]},
        ],
    )
    assert mixed.masks.shape == (4, 267, 400) and np.isfinite(mixed.scores).all()
    with pytest.raises(InputError, match="mask prompt is 10x10"):
        tiny.segment(None, [{"mask": np.ones((10, 10), bool)}])


def test_image_state_snapshot_restores_without_the_encoder(tiny, groceries) -> None:  # type: ignore[no-untyped-def]
    tiny.set_image(groceries)
    a = tiny.find(None, "dog", threshold=0.0)
    tiny.segment(None, {"boxes": [[50, 50, 150, 150]]})  # the tracker's maps, too
    state = tiny.image_state()
    assert state is not None and state["_tracker_maps"] is not None
    tiny.set_image(np.zeros((64, 96, 3), np.uint8))
    before = tiny.stats["vision"]
    tiny.restore_image_state(state)
    b = tiny.find(None, "dog", threshold=0.0)
    assert tiny.stats["vision"] == before
    np.testing.assert_array_equal(a.masks, b.masks)
    np.testing.assert_array_equal(a.scores, b.scores)


def test_results_save(tiny, groceries, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    r = tiny.find(groceries, "dog;red car", threshold=0.0)
    r.save(tmp_path / "out", image=groceries, formats="png,coco,json,overlay")
    run = json.loads((tmp_path / "out" / "run.json").read_text())
    assert run["categories"] == [{"id": 1, "name": "dog"}, {"id": 2, "name": "red car"}]
    assert run["provenance"]["test_mode"] is True
    back = ConceptResult.from_dict(json.loads((tmp_path / "out" / "result.json").read_text()))
    np.testing.assert_array_equal(back.masks, r.masks)


# --------------------------------------------------------------------------- checkpoints


def _same(a: ConceptResult, b: ConceptResult) -> None:
    np.testing.assert_array_equal(a.scores, b.scores)
    np.testing.assert_array_equal(a.boxes, b.boxes)
    np.testing.assert_array_equal(a.masks, b.masks)


def test_checkpoints_load_in_both_layouts(tiny, groceries, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """transformers' layout (safetensors) and Meta's (a .pt, as sam3.pt) give the same model."""
    from safetensors.torch import save_file
    from sam3_meta_layout import meta_keys, restrict, to_meta

    expect = tiny.find(groceries, "dog", [{"box": [150, 50, 250, 200]}], threshold=0.0)
    clicks = tiny.segment(None, {"points": [[200, 130]], "labels": [1]})
    state = {k: v.detach().clone().contiguous() for k, v in tiny.net.video.state_dict().items()}
    hf = tmp_path / "model.safetensors"
    save_file(state, str(hf))
    keys = restrict(meta_keys(), state)
    meta = to_meta(state, keys)
    torch.save(meta, tmp_path / "sam3.pt")
    # every tensor of the small architecture has its Meta key, and nothing else is made
    assert len(meta) == len(keys) < len(state)
    for path, layout in ((hf, "transformers"), (tmp_path / "sam3.pt", "meta")):
        m = zoo.load("sam3", checkpoint=path, arch="tiny", device="cpu")
        assert m.net.layout == layout and m.weights == str(path)
        _same(m.find(groceries, "dog", [{"box": [150, 50, 250, 200]}], threshold=0.0), expect)
        np.testing.assert_array_equal(
            m.segment(None, {"points": [[200, 130]], "labels": [1]}).masks, clicks.masks
        )
    torch.save({"model": meta}, tmp_path / "wrapped.pt")  # Meta's training checkpoints
    assert zoo.load("sam3", checkpoint=tmp_path / "wrapped.pt", arch="tiny").net.layout == "meta"


def test_a_checkpoint_that_does_not_fit_is_one_line(tiny, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    state = {k: v.detach().clone() for k, v in tiny.net.video.state_dict().items()}
    state.pop("detector_model.text_projection.bias")
    torch.save(state, tmp_path / "short.pt")
    with pytest.raises(WeightsError, match="1 missing keys") as info:
        zoo.load("sam3", checkpoint=tmp_path / "short.pt", arch="tiny")
    assert "\n" not in str(info.value)
    torch.save({"image_encoder.weight": torch.zeros(2)}, tmp_path / "other.pt")
    with pytest.raises(WeightsError, match="not a SAM 3 checkpoint"):
        zoo.load("sam3", checkpoint=tmp_path / "other.pt", arch="tiny")
    torch.save({"detector.unknown.weight": torch.zeros(2)}, tmp_path / "newer.pt")
    with pytest.raises(WeightsError, match="not SAM 3's"):
        zoo.load("sam3", checkpoint=tmp_path / "newer.pt", arch="tiny")


def test_image_size_changes_the_input_side() -> None:
    m = zoo.load("sam3", weights="random", arch="tiny", image_size=168, device="cpu")
    assert m.net.side == 168
    r = m.segment(np.zeros((50, 70, 3), np.uint8), {"boxes": [[5, 5, 40, 30]]})
    assert r.low_res_logits is not None and r.low_res_logits.shape[1:] == (48, 48)
    with pytest.raises(InputError, match="multiple of 14"):
        zoo.load("sam3", weights="random", arch="tiny", image_size=120)


def test_sam3_detects_for_sameo_amodal_from_the_command_line(tmp_path: Path) -> None:
    """Item 5: amodal masks of every instance of a concept, with no detections file."""
    from sam3_fixtures import PHOTOS

    from zoo.registry import get_registry

    if "sameo-amodal" not in get_registry().families:
        pytest.skip("zoo-sameo-amodal is not installed")
    if not (PHOTOS / "dogs.jpg").is_file():
        pytest.skip("the shared fixture photos are absent")
    out = tmp_path / "amodal"
    proc = run_cli(
        "run", "sameo-amodal", "--image", str(PHOTOS / "dogs.jpg"), "--detector", "sam3",
        "--text", "dog", "--detector-options", "arch=tiny", "--detector-threshold", "0",
        "--weights", "random", "--out", str(out), "--json",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["task"] == "amodal"
    assert report["detections_kept"] == report["instances"] > 0
    run = json.loads((out / "run.json").read_text())
    assert run["arguments"]["detector"] == "sam3" and run["arguments"]["text"] == "dog"


def test_outputs_credit_the_network_built_not_the_variants() -> None:
    """`--arch tiny` builds another network than sam3:base's: every output says so."""
    m = zoo.load("sam3", weights="random", arch="tiny", device="cpu")
    assert m.name == "sam3:base" and m.label == "sam3:base (arch tiny)"
    r = m.segment(np.zeros((50, 70, 3), np.uint8), {"boxes": [[5, 5, 40, 30]]})
    assert r.provenance.model == "sam3:base (arch tiny)"
