"""End to end on the real ScanNet RGB-D frame with random weights, and bad inputs."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from zoo_depthsam.results import DepthSamResult

from zoo.errors import InputError
from zoo.io.depth import load_depth, load_intrinsics, load_pose
from zoo.io.masks import decode_rle, load_palette_png
from zoo.io.ply import read_ply
from zoo.results import RGBDResult, TaskResult

from .conftest import VOCAB


def _run(model: Any, frame: Path, **kw: Any) -> Any:
    return model.segment_rgbd(
        frame / "color.jpg",
        frame / "depth.png",
        intrinsics=load_intrinsics(frame / "intrinsic_depth.txt"),
        vocabulary=VOCAB,
        **kw,
    )


def test_fixture_frame_end_to_end(
    depthsam_model: Any, depthsam_frame: Path, tmp_path: Path
) -> None:
    _, valid = load_depth(depthsam_frame / "depth.png")
    pose = load_pose(depthsam_frame / "pose.txt")
    r = _run(depthsam_model, depthsam_frame, pose=pose, mode="depth")
    assert isinstance(r, RGBDResult)
    n = len(r)
    assert 1 <= n <= 3  # max_masks
    assert r.masks.shape == (n, 480, 640) and r.masks.dtype == np.bool_
    assert len(r.labels) == n == r.scores.shape[0] and set(r.labels) <= set(VOCAB)
    assert np.all((r.scores >= 0) & (r.scores <= 1.5))
    assert r.sources == ["depth"] * n
    # one point per valid depth pixel, in world coordinates, with colours and instance ids
    assert r.points_xyz.shape == (int(valid.sum()), 3)
    assert r.points_rgb.shape == (int(valid.sum()), 3) and r.points_rgb.dtype == np.uint8
    assert r.points_instance.shape == (int(valid.sum()),)
    assert set(np.unique(r.points_instance)) <= set(range(-1, n))
    assert r.rendered_depth.shape == (480, 640, 3)
    assert {"render", "masks_depth", "classify", "3d"} <= set(r.timings)

    assert r.pose_applied and r.generator["points_per_side"] == 3

    files = r.save(tmp_path / "out", depthsam_frame / "color.jpg", image_id=1660)
    names = {f.name for f in files}
    assert names == {
        "semantic.png",
        "legend.png",
        "classes.json",
        "instances.png",
        "results.json",
        "run.json",
        "overlay.png",
        "depth_render.png",
        "points.ply",
        "cloud_top.png",
        "cloud_oblique.png",
        *(f"mask_{i:03d}.png" for i in range(n)),
    }
    out = tmp_path / "out"
    header = (out / "points.ply").read_bytes().split(b"end_header")[0].decode()
    props = [line.split()[-1] for line in header.splitlines() if line.startswith("property")]
    assert props == ["x", "y", "z", "red", "green", "blue", "instance", "label"]
    assert "comment zoo:weights random" in header
    ply = read_ply(out / "points.ply")
    assert len(ply["xyz"]) == int(valid.sum())
    np.testing.assert_array_equal(ply["xyz"], r.points_xyz)
    np.testing.assert_array_equal(ply["rgb"], r.points_rgb)
    np.testing.assert_array_equal(ply["instance"], r.points_instance)
    np.testing.assert_array_equal(ply["label"], r.points_label)
    sem = load_palette_png(out / "semantic.png")
    np.testing.assert_array_equal(sem, r.semantic_map + 1)
    inst = np.array(Image.open(out / "instances.png"))
    np.testing.assert_array_equal(inst, r.instance_map + 1)
    anns = json.loads((out / "results.json").read_text())
    run = json.loads((out / "run.json").read_text())
    assert run["provenance"]["weights"] == "random" and run["depth_sam"]["mode"] == "depth"
    assert run["images"] == [{"id": 1660, "file_name": "color.jpg", "height": 480, "width": 640}]
    assert len(anns) == n
    for ann, mask, lab in zip(anns, r.masks, r.labels, strict=True):
        assert ann["label"] == lab and ann["source"] == "depth" and ann["image_id"] == 1660
        assert run["categories"][ann["category_id"] - 1]["name"] == lab
        np.testing.assert_array_equal(decode_rle(ann["segmentation"]), mask)
    classes = json.loads((out / "classes.json").read_text())
    assert classes["test_mode"] is True and [c["name"] for c in classes["classes"]] == VOCAB
    for name in ("overlay.png", "cloud_top.png", "cloud_oblique.png", "legend.png"):
        assert Image.open(out / name).mode == "RGB"
    assert Image.open(out / "overlay.png").size == (640, 480)


def test_result_round_trips_losslessly(depthsam_model: Any, depthsam_frame: Path) -> None:
    """to_dict/from_dict: every field back bit for bit, through JSON (batch and serve ship
    results that way), including the maps, the rendering and the cloud."""
    r = _run(
        depthsam_model, depthsam_frame, mode="both", pose=load_pose(depthsam_frame / "pose.txt")
    )
    r.extra["note"] = "kept"
    payload = json.loads(json.dumps(r.to_dict()))
    assert payload["kind"] == "zoo_depthsam.results:DepthSamResult"
    back = TaskResult.from_dict(payload)
    assert type(back) is DepthSamResult and back.to_dict() == r.to_dict()
    for field in (
        "masks",
        "scores",
        "class_ids",
        "mask_scores",
        "class_scores",
        "semantic_map",
        "instance_map",
        "rendered_depth",
        "points_xyz",
        "points_rgb",
        "points_instance",
        "points_label",
    ):
        a, b = getattr(r, field), getattr(back, field)
        assert a.dtype == b.dtype, field
        np.testing.assert_array_equal(a, b, err_msg=field)
    assert back.labels == r.labels and back.sources == r.sources and back.timings == r.timings
    assert back.depth_size == r.depth_size and back.generator == r.generator
    assert back.extra == {"note": "kept"} and back.pose_applied is True


def test_modes_rgb_and_both(depthsam_model: Any, depthsam_frame: Path) -> None:
    rgb = depthsam_model.segment_rgbd(
        depthsam_frame / "color.jpg", depthsam_frame / "depth.png", vocabulary=VOCAB, mode="rgb"
    )
    assert set(rgb.sources) == {"rgb"}
    assert rgb.points_xyz is None and rgb.points_instance is None  # no intrinsics, no cloud
    both = _run(depthsam_model, depthsam_frame, mode="both")
    assert set(both.sources) <= {"depth", "rgb"}
    assert both.masks.shape[1:] == (480, 640) and len(both) <= 3
    assert {"masks_depth", "masks_rgb", "merge"} <= set(both.timings)


def test_rgb_larger_than_depth_gives_masks_at_rgb_size(
    depthsam_model: Any, depthsam_frame: Path
) -> None:
    big = np.array(Image.open(depthsam_frame / "color.jpg").resize((1280, 960)))
    depth, valid = load_depth(depthsam_frame / "depth.png")
    r = depthsam_model.segment_rgbd(
        big,
        depth,
        intrinsics=load_intrinsics(depthsam_frame / "intrinsic_depth.txt"),
        vocabulary=VOCAB,
        mode="depth",
    )
    assert r.masks.shape[1:] == (960, 1280) and r.semantic_map.shape == (960, 1280)
    assert r.points_xyz.shape[0] == int(valid.sum()) and r.depth_size == (480, 640)


def test_zero_masks_give_empty_outputs_not_a_crash(
    depthsam_model: Any, depthsam_frame: Path, tmp_path: Path
) -> None:
    impossible = depthsam_model.with_settings(pred_iou_thresh=2.0)
    r = _run(depthsam_model, depthsam_frame, settings=impossible, mode="depth")
    assert len(r) == 0 and r.masks.shape == (0, 480, 640) and r.labels == []
    assert r.scores.shape == (0,)
    assert (r.semantic_map == -1).all() and (r.points_instance == -1).all()
    files = r.save(tmp_path / "empty", depthsam_frame / "color.jpg")
    assert json.loads((tmp_path / "empty" / "results.json").read_text()) == []
    assert len(files) == 11  # everything but mask PNGs
    back = TaskResult.from_dict(json.loads(json.dumps(r.to_dict())))
    assert back.to_dict() == r.to_dict() and back.masks.shape == (0, 480, 640)


def test_voxel_downsampling_of_the_lifted_frame(depthsam_model: Any, depthsam_frame: Path) -> None:
    img = np.array(Image.open(depthsam_frame / "color.jpg"))
    depth, valid = load_depth(depthsam_frame / "depth.png")
    k = load_intrinsics(depthsam_frame / "intrinsic_depth.txt")
    inst = np.full(depth.shape, -1, np.int32)
    inst[:, 320:] = 0
    sem = np.where(inst == 0, 2, -1).astype(np.int32)
    xyz, rgb, pi, pl = depthsam_model.lift(img, depth, valid, k, inst, sem, voxel_size=0.0)
    assert len(xyz) == len(rgb) == len(pi) == len(pl) == int(valid.sum())
    assert set(np.unique(pi)) == {-1, 0} and set(np.unique(pl)) == {-1, 2}
    vx, vrgb, vi, vl = depthsam_model.lift(img, depth, valid, k, inst, sem, voxel_size=0.05)
    assert 0 < len(vx) < len(xyz) / 10 and len(vrgb) == len(vi) == len(vl) == len(vx)
    assert set(np.unique(vi)) == {-1, 0} and set(np.unique(vl)) == {-1, 2}
    with pytest.raises(InputError):
        depthsam_model.lift(img, depth, valid, k, inst, sem, voxel_size=-1.0)


def test_pixel_semantics_labels_every_pixel(depthsam_model: Any, depthsam_frame: Path) -> None:
    old = depthsam_model.semantics, depthsam_model.dense_short_side
    depthsam_model.semantics, depthsam_model.dense_short_side = "pixel", 224
    try:
        r = _run(depthsam_model, depthsam_frame, mode="depth")
    finally:
        depthsam_model.semantics, depthsam_model.dense_short_side = old
    assert (r.semantic_map >= 0).all() and r.semantic_map.max() < len(VOCAB)
    assert set(r.labels) <= set(VOCAB)


def test_dense_clip_path_matches_open_clip_at_the_native_size(depthsam_model: Any) -> None:
    """The MaskCLIP path re-implements CLIP's token embedding; at 224 px it must give the
    same tokens as open_clip (and, through the unchanged last block, the same image
    embedding), so only the documented last-block change differs."""
    import torch

    clf = depthsam_model.classifier
    visual = clf.model.visual
    x = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    n = len(visual.transformer.resblocks)
    with torch.inference_mode():
        ours = clf.tokens_before_last_block(x)
        ref = visual.forward_intermediates(
            x, indices=[n - 2], intermediates_only=True, output_fmt="NLC", output_extra_tokens=True
        )
        torch.testing.assert_close(ours[:, 1:], ref["image_intermediates"][0])
        torch.testing.assert_close(ours[:, :1], ref["image_intermediates_prefix"][0])
        pooled = visual.ln_post(visual.transformer.resblocks[-1](ours))[:, 0] @ visual.proj
        torch.testing.assert_close(pooled, clf.model.encode_image(x))
        probs = clf.dense_probs(np.zeros((48, 64, 3), np.uint8), VOCAB, short_side=32)
    assert probs.shape == (len(VOCAB), 48, 64)
    np.testing.assert_allclose(probs.sum(axis=0), 1.0, rtol=1e-5)


# --------------------------------------------------------------------------- bad input


def _bad(model: Any, frame: Path, **kw: Any) -> str:
    args: dict[str, Any] = {
        "image": frame / "color.jpg",
        "depth": frame / "depth.png",
        "intrinsics": (577.0, 578.0, 319.5, 239.5),
        "vocabulary": VOCAB,
    }
    args.update(kw)
    with pytest.raises(InputError) as info:
        model.segment_rgbd(**args)
    msg = str(info.value)
    assert msg and "\n" not in msg
    return msg


def test_bad_inputs_are_one_line_input_errors(
    depthsam_model: Any, depthsam_frame: Path, tmp_path: Path
) -> None:
    m, f = depthsam_model, depthsam_frame
    depth, _ = load_depth(f / "depth.png")
    assert "aspect" in _bad(m, f, image=np.zeros((480, 480, 3), np.uint8))
    assert "no valid pixels" in _bad(m, f, depth=np.zeros((480, 640), np.float32))
    neg = depth.copy()
    neg[0, 0] = -1.0
    assert "negative" in _bad(m, f, depth=neg)
    nan = depth.copy()
    nan[5, 5] = np.nan
    assert "NaN" in _bad(m, f, depth=nan)
    assert "empty" in _bad(m, f, vocabulary=[])
    assert "empty" in _bad(m, f, vocabulary=" , ")
    assert "fx" in _bad(m, f, intrinsics=(0.0, 1.0, 2.0, 3.0))
    assert "shape" in _bad(m, f, intrinsics=[1.0, 2.0])
    bad_k = tmp_path / "intrinsic_depth.txt"
    bad_k.write_text("577.0 0 319.5\nnot numbers here\n", encoding="utf-8")
    assert "intrinsics" in _bad(m, f, intrinsics=str(bad_k))
    assert "mode" in _bad(m, f, mode="stereo")


def test_8bit_depth_png_warns_probably_not_metric(
    depthsam_model: Any, depthsam_frame: Path, tmp_path: Path
) -> None:
    raw = np.array(Image.open(depthsam_frame / "depth.png"))
    p = tmp_path / "depth8.png"
    Image.fromarray((raw // 64).clip(0, 255).astype(np.uint8), mode="L").save(p)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _, d, _ = depthsam_model.load_inputs(depthsam_frame / "color.jpg", p)
    assert any("probably not metric" in str(w.message) for w in caught)
    assert d.shape == (480, 640)


@pytest.mark.slow
def test_sad_settings_64_points(depthsam_frame: Path, tmp_path: Path) -> None:
    """SAD's generator settings (64x64 grid, 100 px regions) end to end, at SAM's full 1024
    input on a GPU and at 512 on CPU (where one 64-point batch at 1024 costs ~20 s, so the
    4096-point grid would run for about 20 minutes).

    With random weights hardly any mask passes SAD's quality thresholds; the run proves the
    4096-point grid, the small-region clean-up and every output path hold at full scale.
    """
    import torch

    from .conftest import cached_load

    cuda = torch.cuda.is_available()
    # SAD's thresholds given explicitly: test mode would relax them (and keep every mask)
    model = cached_load(
        "depth-sam",
        weights="random",
        device="cuda" if cuda else "cpu",
        image_size=1024 if cuda else 512,
        pred_iou_thresh=0.7,
        stability_score_thresh=0.8,
    )
    assert model.settings.points_per_side == 64 and model.settings.min_region_area == 100
    r = _run(model, depthsam_frame, mode="depth", pose=load_pose(depthsam_frame / "pose.txt"))
    _, valid = load_depth(depthsam_frame / "depth.png")
    assert r.masks.shape[1:] == (480, 640) and len(r.labels) == len(r)
    assert r.points_xyz.shape == (int(valid.sum()), 3)
    assert all(m.sum() >= 100 for m in r.masks)  # SAD's minimum region
    files = r.save(tmp_path / "sad", depthsam_frame / "color.jpg")
    assert len(files) == 11 + len(r)
