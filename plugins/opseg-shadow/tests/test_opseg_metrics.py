"""Metric definitions checked against hand-computed values, and the evaluation loop on a tiny
hand-made SOBA case with a model whose answers we know."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from zoo_opseg.evaluate import evaluate, metric_table
from zoo_opseg.metrics import MaskScores, SoapAccumulator, parse_thresholds
from zoo_opseg.soba import load_soba

from zoo import metrics as core
from zoo.errors import InputError
from zoo.io.images import save_png
from zoo.io.masks import encode_rle
from zoo.prompts import as_shadow_prompts
from zoo.results import Provenance, ShadowInstance, ShadowResult
from zoo.specs import Task


def _rect(h: int, w: int, y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
    m = np.zeros((h, w), dtype=bool)
    m[y0:y1, x0:x1] = True
    return m


def test_mask_scores_match_core_metrics() -> None:
    rng = np.random.default_rng(0)
    preds = [rng.random((20, 30)) > 0.5 for _ in range(5)] + [np.zeros((20, 30), bool)]
    gts = [rng.random((20, 30)) > 0.6 for _ in range(5)] + [np.zeros((20, 30), bool)]
    s = MaskScores()
    for p, g in zip(preds, gts, strict=True):
        s.add(p, g)
    out = s.summary()
    assert out["n"] == 6
    assert out["mIoU"] == pytest.approx(core.mean_iou(preds, gts))
    assert out["mDice"] == pytest.approx(
        np.mean([core.dice(p, g) for p, g in zip(preds, gts, strict=True)])
    )
    assert out["wIoU"] == pytest.approx(core.area_weighted_iou(preds, gts))
    assert out["wDice"] == pytest.approx(core.area_weighted_dice(preds, gts))


def test_weighted_differs_from_mean_by_hand() -> None:
    s = MaskScores()
    s.add(_rect(10, 10, 0, 1, 0, 1), _rect(10, 10, 0, 1, 0, 1))  # 1 px, IoU 1
    s.add(_rect(10, 10, 0, 10, 0, 5), _rect(10, 10, 0, 10, 0, 10))  # 50 of 100 px, IoU 0.5
    out = s.summary()
    assert out["mIoU"] == pytest.approx(0.75)
    assert out["wIoU"] == pytest.approx(51 / 101)
    assert out["mDice"] == pytest.approx((1 + 100 / 150) / 2)
    assert out["wDice"] == pytest.approx(2 * 51 / (51 + 101))


def test_soap_by_hand() -> None:
    """Pair A matches perfectly; pair B's shadow has IoU 0.62, so B is a hit at 0.50, 0.55,
    0.60 and a miss at 0.65..0.95 (association and object IoU are 1 there)."""
    h, w = 40, 40
    ga_o, ga_s = _rect(h, w, 0, 10, 0, 10), _rect(h, w, 10, 15, 0, 10)
    gb_o, gb_s = _rect(h, w, 20, 30, 20, 30), _rect(h, w, 30, 35, 20, 30)  # shadow: 50 px
    pb_s = _rect(h, w, 30, 35, 20, 30) & ~_rect(h, w, 30, 35, 20, 24)  # 30 px: IoU 0.6
    pb_s |= _rect(h, w, 30, 31, 20, 21)  # 31 px: IoU 0.62
    acc = SoapAccumulator(max_dets=20)
    gt_b_assoc = gb_o | gb_s | pb_s  # association annotations may differ from the union
    acc.add_image(
        [(ga_o, ga_s, None), (gb_o, gb_s, gt_b_assoc)], [(gb_o, pb_s, 0.8), (ga_o, ga_s, 0.9)]
    )
    res = acc.result()
    ap_low = 1.0  # both hits: precision 1 at every recall
    ap_high = 51 / 101  # A hit (recall .5, precision 1), B a false positive
    assert res["SOAP50"] == pytest.approx(ap_low)
    assert res["SOAP75"] == pytest.approx(ap_high)
    assert res["SOAP"] == pytest.approx((3 * ap_low + 7 * ap_high) / 10)
    # the lower-scored wrong pair ranked first instead: a false positive before the hit
    acc2 = SoapAccumulator(thresholds=[0.75])
    acc2.add_image(
        [(ga_o, ga_s, None), (gb_o, gb_s, None)], [(gb_o, pb_s, 0.95), (ga_o, ga_s, 0.9)]
    )
    assert acc2.result()["SOAP75"] == pytest.approx(0.5 * 51 / 101)  # precision 1/2 up to recall .5


def test_soap_needs_all_three_ious() -> None:
    h, w = 20, 20
    o, s = _rect(h, w, 0, 5, 0, 5), _rect(h, w, 5, 8, 0, 5)
    acc = SoapAccumulator(thresholds=[0.5])
    acc.add_image([(o, s, None)], [(o, _rect(h, w, 15, 18, 15, 20), 0.9)])  # wrong shadow
    assert acc.result()["SOAP"] == 0.0
    assert np.isnan(SoapAccumulator().result()["SOAP"])  # no ground truth: undefined


def test_parse_thresholds() -> None:
    assert parse_thresholds("0.5") == (0.5,)
    assert parse_thresholds("0.5:0.95:0.05")[-1] == pytest.approx(0.95)
    with pytest.raises(InputError):
        parse_thresholds("2")


class _BoxModel:
    """Answers every prompt with its box filled (a perfect model for rectangles)."""

    def segment_shadows(self, image, instances, multimask=False):
        h, w = image.shape[:2]
        out = []
        for i, inst in enumerate(as_shadow_prompts(instances)):
            masks = {}
            for role in ("object", "shadow"):
                p = getattr(inst, role)
                if p is not None:
                    x1, y1, x2, y2 = (int(v) for v in p.box)
                    masks[role] = _rect(h, w, y1, y2, x1, x2)
            out.append(
                ShadowInstance(
                    association_id=i + 1,
                    object_mask=masks.get("object"),
                    shadow_mask=masks.get("shadow"),
                    object_score=0.9,
                    shadow_score=0.7,
                )
            )
        return ShadowResult(
            instances=out,
            image_size=(h, w),
            provenance=Provenance(model="box", weights="x", task=Task.SHADOW),
        )


def test_eval_tiny_case_by_hand(tmp_path: Path) -> None:
    """One 12x12 image: a 4x4 square object (box = mask: IoU 1) and an L-shaped shadow of
    5 px in a 3x3 box (IoU 5/9, Dice 10/14), predicted by filling the prompt box."""
    h = w = 12
    obj = _rect(h, w, 2, 6, 2, 6)
    sha = np.zeros((h, w), bool)
    sha[6:9, 2] = True
    sha[8, 2:5] = True  # an L: 5 px within the 3x3 box x 2..5, y 6..9
    save_png(tmp_path / "img.png", np.full((h, w, 3), 128, np.uint8))
    ann = {
        "images": [{"id": 1, "file_name": "img.png", "height": h, "width": w}],
        "categories": [{"id": 1, "name": "object"}, {"id": 2, "name": "shadow"}],
        "annotations": [
            {
                "id": 1,
                "image_id": 1,
                "category_id": 1,
                "association": 1,
                "segmentation": encode_rle(obj),
            },
            {
                "id": 2,
                "image_id": 1,
                "category_id": 2,
                "association": 1,
                "segmentation": encode_rle(sha),
            },
        ],
    }
    (tmp_path / "a.json").write_text(json.dumps(ann))
    data = load_soba(tmp_path / "a.json", tmp_path)
    summary = evaluate({"box": _BoxModel()}, data)["box"].summary()
    assert summary["objects"]["mIoU"] == pytest.approx(1.0)
    assert summary["shadows"]["mIoU"] == pytest.approx(5 / 9)
    assert summary["shadows"]["mDice"] == pytest.approx(10 / 14)
    assert summary["shadows"]["wIoU"] == pytest.approx(5 / 9)
    # SOAP: association IoU (16+5)/(16+9), object 1, shadow 5/9=0.556 -> hit at 0.50, 0.55 only
    assert summary["pairs"]["SOAP50"] == pytest.approx(1.0)
    assert summary["pairs"]["SOAP"] == pytest.approx(0.2)
    table = metric_table({"base": summary, "box": summary}, "test", baseline="base")
    assert table["columns"] == ["metric", "base", "box", "%Δ"]
    labels = [r[0] for r in table["rows"]]
    assert labels[:5] == ["Test - Objects (n=1)", "mIoU", "mDice", "W.IoU", "W.Dice"]
    assert "Test - Shadows (n=1)" in labels and "SOAP" in labels
    row = table["rows"][labels.index("Test - Shadows (n=1)") + 1]
    assert row[1] == pytest.approx(5 / 9) and row[3] == "+0.0"
