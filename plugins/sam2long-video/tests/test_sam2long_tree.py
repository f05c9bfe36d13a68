"""Unit tests of the SAM2Long selection rules (no model needed).

The replay tests feed the candidates stored in the golden fixture through the selection
rule and check that the stored tree (slots, parents, masks, accumulated scores, output
lineage) comes out; they skip when the fixture is absent.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from zoo_sam2long.memory import (
    max_pointer_frames,
    memory_layout,
    rank_scale_factors,
    scale_keys,
    select_memory_frames,
)
from zoo_sam2long.tree import Candidate, score_candidates, select, select_candidates

GOLDEN = Path(__file__).resolve().parents[3].parent / "shared" / "golden" / "sam2long"


# --------------------------------------------------------------------------- tree rule


def test_score_is_parent_plus_log_iou() -> None:
    cands = score_candidates([0.0, -1.0], [[0.5, 0.25, 1.0], [0.5, 0.5, 0.5]], [1.0, -1.0])
    assert [(c.pathway, c.mask_index) for c in cands] == [
        (p, j) for p in range(2) for j in range(3)
    ]
    assert cands[0].score == pytest.approx(np.log(0.5 + 1e-5))
    assert cands[3].score == pytest.approx(-1.0 + np.log(0.5 + 1e-5))
    # the sign of the de-duplication value follows the pathway's object score
    assert cands[0].signed_iou == 0.5 and cands[3].signed_iou == -0.5


def test_confident_branch_keeps_top_p_including_duplicates() -> None:
    # |object score| 3 > uncertainty 2: plain top-P, duplicates allowed, stable ties
    kept = select([0.0, 0.0], [[0.5, 0.4, 0.3], [0.5, 0.4, 0.3]], [3.0, 3.0], 3, 2.0)
    assert [(c.pathway, c.mask_index) for c in kept] == [(0, 0), (1, 0), (0, 1)]


def test_uncertain_branch_removes_rounded_duplicates() -> None:
    ious = [[0.501, 0.40, 0.30], [0.499, 0.45, 0.35]]
    kept = select([0.0, 0.0], ious, [0.5, 0.5], 3, 2.0)
    # 0.501 and 0.499 both round to 0.5: the second is dropped
    assert [(c.pathway, c.mask_index) for c in kept] == [(0, 0), (1, 1), (0, 1)]


def test_uncertain_branch_fills_unrepresented_pathways_last() -> None:
    # pathway 1 is far behind and only repeats pathway 0's rounded IoUs
    ious = [[0.5, 0.5, 0.5], [0.5, 0.5, 0.5], [0.5, 0.5, 0.5]]
    kept = select([0.0, -5.0, -6.0], ious, [0.5, 0.5, 0.5], 3, 2.0)
    assert [(c.pathway, c.mask_index) for c in kept] == [(0, 0), (1, 0), (2, 0)]


def test_sign_separates_present_from_absent() -> None:
    kept = select([0.0, 0.0], [[0.5, 0.1, 0.1], [0.5, 0.1, 0.1]], [0.5, -0.5], 2, 2.0)
    assert [(c.pathway, c.mask_index) for c in kept] == [(0, 0), (1, 0)]


def test_single_pathway_is_argmax_iou() -> None:
    kept = select([-2.0], [[0.3, 0.6, 0.5]], [0.2], 1, 2.0)
    assert [(c.pathway, c.mask_index) for c in kept] == [(0, 1)]
    kept = select([-2.0], [[0.3, 0.6, 0.5]], [5.0], 1, 2.0)
    assert [(c.pathway, c.mask_index) for c in kept] == [(0, 1)]


def test_select_candidates_validates() -> None:
    with pytest.raises(ValueError):
        select_candidates([Candidate(0, 0, 0.0, 0.5, 0.5)], [0.0], 0, 2.0)
    with pytest.raises(ValueError):
        score_candidates([0.0], [[0.5]], [0.1, 0.2])


# --------------------------------------------------------------------------- memory rule


@dataclass
class _E:
    frame_idx: int
    iou: float
    object_score: float


def test_memory_selection_skips_unreliable_and_forces_previous() -> None:
    hist = [_E(5, 0.05, 1.0), _E(4, 0.5, 1.0), _E(3, 0.5, -1.0), _E(2, 0.5, 1.0), _E(1, 0.9, 1.0)]
    sel = select_memory_frames(hist, max_ptrs=16, iou_threshold=0.1)
    assert [e.frame_idx for e in sel] == [1, 2, 4, 5]
    # cap: at most max_ptrs - 1 reliable frames, then the forced previous one
    sel = select_memory_frames(hist, max_ptrs=3, iou_threshold=0.1)
    assert [e.frame_idx for e in sel] == [2, 4, 5]
    assert select_memory_frames([], 16, 0.1) == []


def test_memory_layout_drops_oldest_pointer_and_ranks() -> None:
    sel = [_E(i, 0.5, 1.0) for i in range(1, 10)]
    lay = memory_layout(sel, num_maskmem=7)
    assert [(e.frame_idx, k) for e, k in lay.spatial] == [
        (4, 5),
        (5, 4),
        (6, 3),
        (7, 2),
        (8, 1),
        (9, 0),
    ]
    assert [(e.frame_idx, r) for e, r in lay.pointers] == [(9 - r + 1, r) for r in range(1, 9)]
    lay = memory_layout(sel[:1], num_maskmem=7)
    assert [e.frame_idx for e, _ in lay.spatial] == [1] and lay.pointers == []


def test_max_pointer_frames() -> None:
    assert max_pointer_frames(10) == 10
    assert max_pointer_frames(100) == 16
    assert max_pointer_frames(None) == 16


def test_rank_scale_factors_and_bf16_quirk() -> None:
    f = rank_scale_factors([0.3, -0.2, 0.1])
    assert f.dtype == torch.float32
    levels = torch.linspace(0.95, 1.05, 4)
    assert torch.equal(f[0], torch.stack([levels[3], levels[2], levels[0], levels[1]]))
    # only the prompt item: the factor tensor stays bfloat16 -> bf16(0.95)
    single = rank_scale_factors([])
    assert single.dtype == torch.bfloat16 and float(single) == 0.94921875


def test_scale_keys_per_frame_and_pointer() -> None:
    key = torch.ones(2, 2 * 3 + 2 * 4, 5)
    ff = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    pf = torch.tensor([[5.0, 6.0], [7.0, 8.0]])
    out = scale_keys(key, ff, pf, tokens_per_frame=3)
    assert out[0, :3].unique().tolist() == [1.0] and out[0, 3:6].unique().tolist() == [2.0]
    assert out[1, 6:10].unique().tolist() == [7.0] and out[1, 10:].unique().tolist() == [8.0]


# --------------------------------------------------------------------------- golden replay


@pytest.fixture(scope="module")
def golden() -> dict[str, np.ndarray]:
    if not GOLDEN.is_dir():
        pytest.skip(f"golden fixture not found at {GOLDEN}")
    return dict(np.load(GOLDEN / "expected.npz"))


def _replay(g: dict[str, np.ndarray], num_pathways: int = 3) -> dict[str, np.ndarray]:
    """Re-run the selection on the stored candidates, frame by frame."""
    n = g["cand_iou"].shape[0]
    parent = np.full((n, num_pathways), -1)
    mask = np.full((n, num_pathways), -1)
    acc = np.full((n, num_pathways), np.nan)
    acc[1, 0] = 0.0
    acc_now = [0.0] * num_pathways
    for t in range(2, n):
        ious = g["cand_iou"][t].astype(np.float32).tolist()
        objs = g["cand_object_score_logits"][t].astype(np.float32).tolist()
        kept = select(acc_now, ious, objs, num_pathways, uncertainty=2.0)
        parent[t] = [c.pathway for c in kept]
        mask[t] = [c.mask_index for c in kept]
        acc[t] = [c.score for c in kept]
        acc_now = [c.score for c in kept]
    parent[1, 0] = 0
    hist = np.zeros((num_pathways, n), dtype=np.int64)
    for k in range(num_pathways):
        s = k
        for t in range(n - 1, 1, -1):
            hist[k, t] = s
            s = parent[t, s]
    return {"parent": parent, "mask": mask, "acc": acc, "hist": hist}


def test_replay_reproduces_stored_tree(golden: dict[str, np.ndarray]) -> None:
    r = _replay(golden)
    np.testing.assert_array_equal(r["parent"], golden["slot_parent_pathway"])
    np.testing.assert_array_equal(r["mask"], golden["slot_mask_index"])
    np.testing.assert_array_equal(r["hist"], golden["pathway_history"])
    np.testing.assert_array_equal(r["hist"][0], golden["final_slot"])
    # float64 scores from float32 IoUs: essentially exact
    np.testing.assert_allclose(r["acc"], golden["slot_acc_score"], rtol=0, atol=1e-9)


def test_replay_kept_values_match_candidates(golden: dict[str, np.ndarray]) -> None:
    g = golden
    for t in range(2, g["cand_iou"].shape[0]):
        for s in range(3):
            p, j = g["slot_parent_pathway"][t, s], g["slot_mask_index"][t, s]
            assert g["slot_iou"][t, s] == g["cand_iou"][t, p, j]
            assert g["slot_object_score_logits"][t, s] == g["cand_object_score_logits"][t, p]


def test_replay_on_unedited_checkpoint_collapses() -> None:
    path = GOLDEN / "expected_unedited_seed0.npz"
    if not path.is_file():
        pytest.skip("unedited golden trace not found")
    g = dict(np.load(path))
    r = _replay(g)
    np.testing.assert_array_equal(r["parent"][2:], g["slot_parent_pathway"][2:])
    np.testing.assert_array_equal(r["mask"][2:], g["slot_mask_index"][2:])
    # the tree never leaves pathway 0's children: the output is the single best path
    assert (g["final_slot"] == 0).all()
