"""`zoo eval depth-sam` on a tiny synthetic labelled scene with known proposals.

The mask generator and the classifier are replaced by a stand-in that returns fixed masks,
so the metric can be checked against IoUs counted by hand; everything else (frame
discovery, label mapping, mode selection and NMS merging, painting, the metric, the
report and files) is the real code path of ``zoo eval``.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner
from zoo_depthsam.masks import GeneratorSettings, MaskSet
from zoo_depthsam.model import DepthSamModel

from zoo.cli import create_app, main

H, W = 40, 60
BOX = (slice(10, 20), slice(20, 40))  # ground-truth box: 200 px
SHIFTED = (slice(10, 20), slice(22, 42))  # the RGB proposal: 2 px to the right


def _mask(region: tuple[slice, slice]) -> np.ndarray:
    m = np.zeros((H, W), bool)
    m[region] = True
    return m


class StubModel(DepthSamModel):
    """Fixed proposals: depth finds the box and the floor, RGB a shifted box."""

    def propose(
        self, image: Any, rendered: Any, valid: Any, sources: Any, **_: Any
    ) -> dict[str, MaskSet]:
        floor = np.ones((H, W), bool)
        floor[BOX] = False
        floor[:2] = False
        sets = {
            "depth": MaskSet(
                np.stack([_mask(BOX), floor]),
                np.array([0.9, 0.8], np.float32),
                np.ones(2, np.float32),
                ["depth", "depth"],
            ),
            "rgb": MaskSet(
                _mask(SHIFTED)[None], np.array([0.95], np.float32), np.ones(1, np.float32), ["rgb"]
            ),
        }
        return {s: sets[s] for s in sources}

    def classify(
        self, image: Any, masks: np.ndarray, vocabulary: Any, dense_probs: Any = None
    ) -> tuple[np.ndarray, np.ndarray, None]:
        area = masks.reshape(len(masks), -1).sum(axis=1)
        ids = np.where(area < 500, vocabulary.index("box"), vocabulary.index("floor"))
        return ids.astype(np.int64), np.ones(len(masks), np.float32), None


def _write_scene(root: Path) -> Path:
    frame = root / "scene_a" / "frame_000"
    frame.mkdir(parents=True)
    img = np.full((H, W, 3), 120, np.uint8)
    Image.fromarray(img).save(frame / "color.jpg")
    depth = np.full((H, W), 2000, np.uint16)
    depth[BOX] = 1200
    Image.fromarray(depth).save(frame / "depth.png")
    label = np.ones((H, W), np.uint8)  # index format: 1 = floor, 2 = box, 0 = unlabelled
    label[BOX] = 2
    label[:2] = 0
    Image.fromarray(label, mode="L").save(frame / "label.png")
    return root


@pytest.fixture
def stub_loader(monkeypatch: pytest.MonkeyPatch) -> None:
    """``zoo eval`` loads through ``zoo.loading.load_resolved``: hand it the stub instead."""
    import zoo.loading
    from zoo.loading import LoadContext

    def fake_load(family: Any, variant: Any, **kwargs: Any) -> StubModel:
        m = StubModel(
            SimpleNamespace(image_size=256), None, settings=GeneratorSettings(), merge_iou=0.7
        )
        ctx = LoadContext(
            name=variant.name,
            family=family,
            variant=variant,
            device="cpu",
            random=kwargs.get("weights") == "random",
        )
        m._bind(ctx)
        return m

    monkeypatch.setattr(zoo.loading, "load_resolved", fake_load)


def test_eval_metric_on_a_synthetic_scene_matches_hand_counts(
    tmp_path: Path, stub_loader: None
) -> None:
    root = _write_scene(tmp_path / "data")
    out = tmp_path / "eval_out"
    res = CliRunner().invoke(
        create_app(),
        [
            "eval",
            "depth-sam",
            "--dataset",
            str(root),
            "--classes",
            "floor,box",
            "--label-format",
            "index",
            "--weights",
            "random",
            "--out",
            str(out),
            "--json",
        ],
    )
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)
    assert report["frames"] == 1 and report["protocol"] == "mmseg-miou"
    # depth: both classes exact.
    assert report["mIoU_depth"] == pytest.approx(1.0)
    # rgb: box 180 / (200 + 200 - 180); floor never predicted -> 0.
    box_rgb = 180 / 220
    assert report["mIoU_rgb"] == pytest.approx(round((box_rgb + 0.0) / 2, 4))
    # both: the RGB box (0.95) suppresses the depth box (mask IoU 0.82 > 0.7); the depth floor
    # survives and is painted under the box: floor 2060 of 2080 ground-truth pixels.
    floor_both = 2060 / 2080
    assert report["mIoU_both"] == pytest.approx(round((box_rgb + floor_both) / 2, 4))
    table = report["table"]
    assert table["columns"] == ["class", "IoU depth", "IoU rgb", "IoU both"]
    rows = {r[0]: r[1:] for r in table["rows"]}
    assert rows["box"] == pytest.approx([1.0, box_rgb, box_rgb])
    assert rows["floor"] == pytest.approx([1.0, 0.0, floor_both])
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["test_mode"] is True and metrics["provenance"]["weights"] == "random"
    assert metrics["protocol"] == "mmseg-miou"
    with Image.open(out / "pred_depth" / "scene_a__frame_000.png") as im:
        assert im.text["zoo:weights"] == "random" and "TEST MODE" in im.text["zoo:note"]
    assert metrics["metrics"]["both"]["per_class_iou"]["floor"] == pytest.approx(
        floor_both, abs=1e-4
    )
    assert metrics["frames"][0]["masks_both"] == 2
    pred = np.array(Image.open(out / "pred_both" / "scene_a__frame_000.png"))
    assert (pred[SHIFTED] == 2).all()  # value = class index + 1


def test_eval_subset_of_modes_and_scannet_scene_layout(tmp_path: Path, stub_loader: None) -> None:
    scene = tmp_path / "scans" / "scene0000_00"
    for sub in ("color", "depth", "label-filt"):
        (scene / sub).mkdir(parents=True)
    src = _write_scene(tmp_path / "tmp") / "scene_a" / "frame_000"
    for i in (0, 10):
        (scene / "color" / f"{i}.jpg").write_bytes((src / "color.jpg").read_bytes())
        (scene / "depth" / f"{i}.png").write_bytes((src / "depth.png").read_bytes())
        (scene / "label-filt" / f"{i}.png").write_bytes((src / "label.png").read_bytes())
    res = CliRunner().invoke(
        create_app(),
        [
            "eval",
            "depth-sam",
            "--dataset",
            str(tmp_path / "scans"),
            "--classes",
            "floor,box",
            "--label-format",
            "index",
            "--modes",
            "depth",
            "--weights",
            "random",
            "--json",
        ],
    )
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)
    assert report["frames"] == 2 and "mIoU_rgb" not in report
    assert report["mIoU_depth"] == pytest.approx(1.0)


def test_eval_without_frames_or_with_bad_modes_is_a_clean_error(
    tmp_path: Path, stub_loader: None, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "empty").mkdir()
    for args, needle in (
        (["--dataset", str(tmp_path / "empty")], "no labelled frames"),
        (["--dataset", str(tmp_path / "nope")], "not a folder"),
        (["--dataset", str(tmp_path / "empty"), "--modes", "stereo"], "unknown mode"),
        (["--dataset", str(tmp_path / "empty"), "--label-format", "coco"], "label-format"),
        (["--dataset", str(tmp_path / "empty"), "--colour", "x"], "unknown option --colour"),
        (["--dataset", str(tmp_path / "empty"), "--mode", "rgb"], "applies to zoo run"),
        (["--dataset", str(tmp_path / "empty"), "--max-frames", "-1"], "minimum"),
    ):
        out = tmp_path / "eval_out"
        with pytest.raises(SystemExit) as info:
            main(["eval", "depth-sam", "--weights", "random", *args, "--out", str(out)])
        err = capsys.readouterr().err
        assert info.value.code == 2, err
        assert needle in err and "Traceback" not in err
        assert len(err.strip().splitlines()) == 1
        assert not out.exists()
