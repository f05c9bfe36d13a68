"""Vocabularies, prompt construction, prompt ensembling and label mapping."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from zoo_depthsam.classify import ClipClassifier
from zoo_depthsam.vocab import (
    DEFAULT_TEMPLATES,
    NYU40,
    SCANNET20,
    SCANNET20_NYU40_IDS,
    SCANNET200,
    SCANNET200_IDS,
    build_prompts,
    label_lookup,
    prompt_name,
    resolve_vocabulary,
)

from zoo.errors import InputError


def test_builtin_vocabularies_have_the_benchmark_sizes() -> None:
    assert len(SCANNET20) == 20 and len(NYU40) == 40 and len(SCANNET200) == 200
    assert len(SCANNET200_IDS) == 200 and len(set(SCANNET200)) == 200
    # ScanNet-20 is the NYU40 subset with these ids
    assert [NYU40[i - 1] for i in SCANNET20_NYU40_IDS] == [
        "refridgerator" if c == "refrigerator" else c for c in SCANNET20
    ]


def test_resolve_named_default_list_string_and_file(tmp_path: Path) -> None:
    assert resolve_vocabulary(None) == list(SCANNET20)
    assert resolve_vocabulary("ScanNet-200") == list(SCANNET200)
    assert resolve_vocabulary("nyu40") == list(NYU40)
    assert resolve_vocabulary("chair, table ,floor") == ["chair", "table", "floor"]
    assert resolve_vocabulary(["sofa", "lamp"]) == ["sofa", "lamp"]
    f = tmp_path / "classes.txt"
    f.write_text("# my classes\nchair\ncoffee table  # comment\n\nlamp, rug\n", encoding="utf-8")
    assert resolve_vocabulary(str(f)) == ["chair", "coffee table", "lamp", "rug"]


@pytest.mark.parametrize("spec", ["", " , ,", [], "# nothing\n"])
def test_empty_vocabulary_is_an_input_error(spec: object, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="empty"):
        resolve_vocabulary(spec)  # type: ignore[arg-type]


def test_empty_class_file_duplicates_and_typos(tmp_path: Path) -> None:
    f = tmp_path / "empty.txt"
    f.write_text("# only a comment\n", encoding="utf-8")
    with pytest.raises(InputError, match="empty"):
        resolve_vocabulary(str(f))
    with pytest.raises(InputError, match="does not exist"):
        resolve_vocabulary(str(tmp_path / "missing.txt"))
    with pytest.raises(InputError, match="twice"):
        resolve_vocabulary("chair,Chair")
    with pytest.raises(InputError, match="did you mean 'scannet20'"):
        resolve_vocabulary("scanet20")
    with pytest.raises(InputError, match="at most"):
        resolve_vocabulary([f"c{i}" for i in range(300)])


def test_prompts_are_class_major_and_use_clip_friendly_names() -> None:
    prompts = build_prompts(["otherfurniture", "coffee_table"], ["a {}.", "the {} here."])
    assert prompts == [
        "a other furniture.",
        "the other furniture here.",
        "a coffee table.",
        "the coffee table here.",
    ]
    assert prompt_name("refridgerator") == "refrigerator"
    assert len(build_prompts(SCANNET20)) == 20 * len(DEFAULT_TEMPLATES)
    with pytest.raises(InputError, match="exactly one"):
        build_prompts(["a"], ["no placeholder"])
    with pytest.raises(InputError, match="no prompt templates"):
        build_prompts(["a"], [])


class _FakeClip(torch.nn.Module):
    """Text tower stand-in: the embedding of a prompt is a fixed random vector per prompt."""

    def __init__(self) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))
        self.logit_scale = torch.nn.Parameter(torch.tensor(np.log(100.0)))
        self.table: dict[int, torch.Tensor] = {}

    def encode_text(self, tokens: torch.Tensor) -> torch.Tensor:
        out = []
        for row in tokens:
            key = int(row.sum())
            if key not in self.table:
                g = torch.Generator().manual_seed(key)
                self.table[key] = torch.randn(8, generator=g) * (1 + key % 3)
            out.append(self.table[key])
        return torch.stack(out)


def _tok(texts: list[str]) -> torch.Tensor:
    return torch.tensor([[sum(map(ord, t))] for t in texts])


def test_prompt_ensembling_is_the_renormalised_mean_of_unit_embeddings() -> None:
    clip = _FakeClip()
    templates = ["a photo of a {}.", "a {} in a room.", "there is a {}."]
    clf = ClipClassifier(clip, _tok, templates=templates)
    feats = clf.text_features(["chair", "table"])
    assert feats.shape == (2, 8)
    for i, cls in enumerate(["chair", "table"]):
        embs = clip.encode_text(_tok([t.format(cls) for t in templates]))
        unit = embs / embs.norm(dim=-1, keepdim=True)
        mean = unit.mean(dim=0)
        torch.testing.assert_close(feats[i], mean / mean.norm())
    assert clf.text_features(["chair", "table"]) is feats  # cached per vocabulary


def test_label_lookup_maps_benchmark_ids_to_vocabulary_indices() -> None:
    vocab = ["floor", "refrigerator", "chair", "unicorn"]
    nyu = label_lookup("nyu40", vocab)
    assert nyu == {2: 0, 24: 1, 5: 2}  # unicorn is not an NYU40 class: ignored
    s200 = label_lookup("scannet200", ["chair", "mattress"])
    assert s200 == {2: 0, 1191: 1}
    assert label_lookup("index", ["a", "b"]) == {1: 0, 2: 1}
    with pytest.raises(InputError, match="no vocabulary class"):
        label_lookup("nyu40", ["unicorn"])
    with pytest.raises(InputError, match="label-format"):
        label_lookup("coco", vocab)
