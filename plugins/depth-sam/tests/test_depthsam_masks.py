"""Mask merging (NMS on mask IoU), small-region clean-up, CLIP crops, painting."""

from __future__ import annotations

import numpy as np
from zoo_depthsam.classify import CLIP_MEAN, majority_vote, mask_crops
from zoo_depthsam.masks import MaskSet, mask_iou_matrix, merge_nms
from zoo_depthsam.model import DepthSamModel

from zoo.everything import remove_small_regions


def _box(h: int, w: int, y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
    m = np.zeros((h, w), bool)
    m[y0:y1, x0:x1] = True
    return m


def _set(masks: list[np.ndarray], scores: list[float], src: str) -> MaskSet:
    return MaskSet(
        np.stack(masks),
        np.array(scores, np.float32),
        np.ones(len(masks), np.float32),
        [src] * len(masks),
    )


def test_mask_iou_matrix_matches_hand_counts() -> None:
    a = _box(10, 10, 0, 4, 0, 4)  # 16 px
    b = _box(10, 10, 2, 6, 2, 6)  # 16 px, overlap 4
    iou = mask_iou_matrix(np.stack([a, b]))
    np.testing.assert_allclose(iou, [[1.0, 4 / 28], [4 / 28, 1.0]])


def test_merge_keeps_best_of_duplicates_and_disjoint_masks_with_overlapping_boxes() -> None:
    h, w = 20, 20
    table = _box(h, w, 5, 10, 5, 15)
    floor = np.ones((h, w), bool) & ~table  # box covers the table's box, mask does not
    table_rgb = _box(h, w, 5, 10, 5, 14)  # near duplicate of the depth table (IoU 0.9)
    depth = _set([table, floor], [0.9, 0.8], "depth")
    rgb = _set([table_rgb], [0.95], "rgb")
    merged = merge_nms([depth, rgb], iou_thresh=0.7)
    assert merged.source == ["rgb", "depth"]  # rgb table wins on score; the floor survives
    np.testing.assert_array_equal(merged.masks[0], table_rgb)
    np.testing.assert_array_equal(merged.masks[1], floor)
    assert list(merged.ids) == [0, 1]  # positions in their own source sets
    # equal scores: depth goes first (SAD's premise), the duplicate from RGB is dropped
    rgb_tie = _set([table_rgb], [0.9], "rgb")
    tie = merge_nms([depth, rgb_tie], iou_thresh=0.7)
    assert tie.source == ["depth", "depth"]
    # a looser threshold keeps both tables
    assert len(merge_nms([depth, rgb], iou_thresh=0.95)) == 3


def test_merge_of_empty_sets_is_empty_at_the_right_size() -> None:
    out = merge_nms([MaskSet.empty((7, 9)), MaskSet.empty((7, 9))])
    assert len(out) == 0 and out.masks.shape == (0, 7, 9)


def test_small_region_cleanup_fills_holes_drops_islands_and_tiny_masks() -> None:
    big = _box(40, 40, 5, 30, 5, 30)
    big[10:12, 10:12] = False  # 4 px hole
    big[38:40, 38:40] = True  # 4 px island
    tiny = _box(40, 40, 0, 2, 0, 2)
    masks, kept = remove_small_regions(np.stack([big, tiny]), min_area=10, nms_thresh=0.7)
    assert list(kept) == [0]
    np.testing.assert_array_equal(masks[0], _box(40, 40, 5, 30, 5, 30))


def test_mask_crops_fill_outside_with_clip_mean_and_keep_the_object() -> None:
    img = np.zeros((50, 80, 3), np.uint8)
    img[10:20, 30:50] = (200, 10, 10)
    img[0:5, 0:5] = (0, 255, 0)
    m = _box(50, 80, 10, 20, 30, 50)
    crops = mask_crops(img, m[None], size=32, context=0.1)
    assert crops.shape == (1, 32, 32, 3)
    fill = np.array([round(255 * c) for c in CLIP_MEAN])
    assert (crops[0, 0, 0] == fill).all()  # outside the mask: CLIP mean colour
    assert (crops[0, 16, 16] == (200, 10, 10)).all()  # the object itself
    assert not (crops[0] == (0, 255, 0)).all(axis=-1).any()  # nothing of the neighbour
    empty = mask_crops(img, np.zeros((1, 50, 80), bool), size=8)
    assert (empty == fill).all()


def test_majority_vote_and_painting_order() -> None:
    cls_map = np.zeros((6, 6), np.int32)
    cls_map[:, 3:] = 2
    cls_map[0, 0] = 1
    big = np.ones((6, 6), bool)
    small = _box(6, 6, 0, 2, 0, 2)
    ids, _ = majority_vote(cls_map, None, np.stack([big, small]), 3)
    assert list(ids) == [2, 0]  # big: 18 twos beat 17 zeros; small: 3 zeros beat 1 one
    sem, inst = DepthSamModel.compose(np.stack([small, big]), np.array([1, 2]), (6, 6))
    assert (inst[small] == 0).all() and (inst[~small] == 1).all()  # small painted on top
    assert (sem[small] == 1).all() and (sem[~small] == 2).all()
    none_sem, none_inst = DepthSamModel.compose(np.zeros((0, 6, 6), bool), np.zeros(0), (6, 6))
    assert (none_sem == -1).all() and (none_inst == -1).all()
