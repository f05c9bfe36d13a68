"""``zoo batch`` on one machine: equal to ``segment`` item by item, everything, resume, bad items.

SAM 2 tiny at random init and ``image_size`` 128 keeps each model call a fraction of a
second on CPU; the photos are the shared fixtures.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import zoo
from tests.conftest import assert_user_error, run_zoo
from zoo.io.masks import decode_rle

SIZE = "128"
PROMPTS = {
    "groceries.jpg": [{"box": [60, 40, 400, 380]}, {"points": [[500, 260]], "labels": [1]}],
    "truck.jpg": [{"box": [75, 275, 1725, 850]}, {"box": [425, 600, 700, 875]}],
    "dogs.jpg": [{"points": [[300, 300], [700, 200]], "labels": [1, 0]}],
}


@pytest.fixture(scope="module")
def photos() -> list[Path]:
    root = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures" / "images"
    if not root.is_dir():
        pytest.skip(f"{root} is absent (shared fixtures are not in this checkout)")
    return [root / n for n in PROMPTS]


@pytest.fixture(scope="module")
def model():  # one load for the module: the reference the batch outputs must equal
    return zoo.load("sam2:tiny", weights="random", device="cpu", image_size=int(SIZE))


def _manifest(
    path: Path, photos: list[Path], repeat: int = 1, prompts: dict[str, list] | None = None
) -> Path:
    prompts = prompts or PROMPTS
    rows = []
    for r in range(repeat):
        for i, p in enumerate(photos):
            rows.append(
                {"image": str(p), "image_id": 1 + r * len(photos) + i, "prompts": prompts[p.name]}
            )
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_local_engine_equals_segment_item_by_item(tmp_path: Path, photos, model) -> None:
    manifest = _manifest(tmp_path / "m.jsonl", photos)
    out = tmp_path / "out"
    got = list(
        zoo.batch(
            "sam2:tiny",
            str(manifest),
            out=out,
            weights="random",
            device="cpu",
            image_size=int(SIZE),
            formats="coco,jsonl,parquet,png",
        )
    )
    assert [g.key for g in got] == [1, 2, 3] and all(g.ok for g in got)
    for g, photo in zip(got, photos, strict=True):
        ref = model.segment(str(photo), PROMPTS[photo.name])
        assert np.array_equal(g.result.masks, ref.masks)
        assert np.array_equal(g.result.scores, ref.scores)
        record = json.loads((out / "items" / "000000" / f"{g.key:09d}.json").read_text())
        assert record["coco"] == ref.to_coco(g.key)
        for i, m in enumerate(ref.masks):  # the PNGs hold the same pixels
            from PIL import Image

            png = np.array(Image.open(out / "masks" / f"{g.key:09d}" / f"mask_{i:03d}.png")) > 0
            assert np.array_equal(png, m)
    # the merged COCO file loads in pycocotools against images.json
    from pycocotools.coco import COCO

    res = COCO(str(out / "images.json")).loadRes(str(out / "results.json"))
    assert len(res.anns) == 5
    run = json.loads((out / "run.json").read_text())
    assert run["counts"]["done"] == 3 and run["test_mode"] is True
    assert run["arguments"]["model_options"] == {"image_size": 128}
    assert (out / "errors.jsonl").read_text() == ""
    import pyarrow.parquet as pq

    table = pq.read_table(out / "results.parquet")
    assert table.num_rows == 5
    first = table.to_pylist()[0]
    ref0 = model.segment(str(photos[0]), PROMPTS[photos[0].name])
    mask = decode_rle({"size": [first["height"], first["width"]], "counts": first["rle_counts"]})
    assert np.array_equal(mask, ref0.masks[0])
    lines = (out / "results.jsonl").read_text().splitlines()
    assert len(lines) == 3 and json.loads(lines[0])["results"][0]["kind"]


def test_cli_fixed_boxes_and_rerun_skips(tmp_path: Path, photos, model) -> None:
    out = tmp_path / "out"
    args = (
        "batch",
        "sam2:tiny",
        "--input",
        str(photos[0].parent),
        "--out",
        str(out),
        "--boxes",
        "10,10,120,90",
        "--weights",
        "random",
        "--device",
        "cpu",
        "--image-size",
        SIZE,
        "--json",
    )
    proc = run_zoo(*args)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["done"] == 3 and report["failed"] == 0
    # sorted folder walk: dogs, groceries, truck
    rec = json.loads((out / "items" / "000000" / "000000002.json").read_text())
    assert rec["file_name"] == "groceries.jpg"
    ref = model.segment(str(photos[0]), {"boxes": [[10, 10, 120, 90]]})
    assert rec["coco"] == ref.to_coco(2)
    before = (out / "results.json").read_bytes()
    again = run_zoo(*args)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["resumed_past"] == 3
    assert (out / "results.json").read_bytes() == before
    # the same --out with another command is refused, not mixed
    other = run_zoo(*[a if a != "10,10,120,90" else "0,0,50,50" for a in args])
    assert_user_error(other, "holds another batch run", "boxes")


def test_everything_on_one_photo(tmp_path: Path, photos, model) -> None:
    photo = photos[0]
    out = tmp_path / "out"
    proc = run_zoo(
        "batch",
        "sam2:tiny",
        "--input",
        str(photo),
        "--out",
        str(out),
        "--everything",
        "--points-per-side",
        "4",
        "--weights",
        "random",
        "--device",
        "cpu",
        "--image-size",
        SIZE,
        "--format",
        "coco,png",
    )
    assert proc.returncode == 0, proc.stderr
    ref = model.segment_everything(str(photo), points_per_side=4)
    rec = json.loads((out / "items" / "000000" / "000000001.json").read_text())
    assert rec["coco"] == ref.to_coco(1) and rec["masks"] == len(ref) > 0
    assert ref.extra["everything"]["generator"].startswith("sam2.")
    # the glue is the sam2 package's generator over the same network: identical masks
    from zoo_sam2.everything import make_generator

    from zoo.everything import resolve_settings
    from zoo.io.images import load_image

    gen = make_generator(model.model, resolve_settings(model, points_per_side=4))
    anns = gen.generate(load_image(str(photo)))
    assert np.array_equal(np.stack([a["segmentation"] for a in anns]), ref.masks)


def test_mixed_bad_manifest_exit_3(tmp_path: Path, photos) -> None:
    corrupt = tmp_path / "corrupt.jpg"
    corrupt.write_bytes(photos[0].read_bytes()[:3000])
    huge = tmp_path / "huge.png"
    _huge_png(huge, 30000, 30000)
    rows = [
        {"image": str(photos[0]), "boxes": [[10, 10, 100, 100]]},
        {"image": str(corrupt), "boxes": [[10, 10, 100, 100]]},
        {"image": str(tmp_path / "missing.jpg"), "boxes": [[10, 10, 100, 100]]},
        {"image": str(huge), "boxes": [[10, 10, 100, 100]]},
        {"image": str(photos[1]), "boxes": [[10, 10, 100]]},
        {"image": str(photos[2]), "boxes": [[5, 5, 60, 60]]},
    ]
    manifest = tmp_path / "m.jsonl"
    manifest.write_text("".join(json.dumps(r) + "\n" for r in rows) + "{not json\n")
    out = tmp_path / "out"
    proc = run_zoo(
        "batch",
        "sam2:tiny",
        "--input",
        str(manifest),
        "--out",
        str(out),
        "--weights",
        "random",
        "--device",
        "cpu",
        "--image-size",
        SIZE,
    )
    assert proc.returncode == 3, proc.stderr
    assert "errors.jsonl" in proc.stderr
    errors = {e["key"]: e for e in map(json.loads, (out / "errors.jsonl").read_text().splitlines())}
    assert set(errors) == {2, 3, 4, 5, 7}
    assert "truncated or corrupt" in errors[2]["error"]
    assert "does not exist" in errors[3]["error"]
    assert "30000x30000" in errors[4]["error"] and "--max-pixels" in errors[4]["error"]
    assert "box" in errors[5]["error"] and "4 numbers" in errors[5]["error"]
    assert "not valid JSON" in errors[7]["error"]
    done = json.loads((out / "run.json").read_text())["counts"]
    assert done["done"] == 2 and done["failed"] == 5
    images = json.loads((out / "images.json").read_text())["images"]
    assert [i["id"] for i in images] == [1, 6]


def _huge_png(path: Path, w: int, h: int) -> None:
    """A valid 1-bit PNG of w x h (decoded it would be gigabytes; on disk a few KB)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    row = b"\x00" + b"\x00" * ((w + 7) // 8)
    comp = zlib.compressobj(9)
    data = b"".join(comp.compress(row) for _ in range(h)) + comp.flush()
    ihdr = struct.pack(">IIBBBBB", w, h, 1, 0, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", data) + chunk(b"IEND", b"")
    )


def test_bad_input_is_one_line_and_leaves_no_out(tmp_path: Path, photos) -> None:
    out = tmp_path / "out"
    base = ("batch", "sam2:tiny", "--out", str(out), "--weights", "random", "--boxes", "1,1,9,9")
    assert_user_error(run_zoo(*base, "--input", str(tmp_path / "nope")), "does not exist")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"image": "a.jpg", "boxs": [[1, 1, 5, 5]]}\n')
    assert_user_error(run_zoo(*base, "--input", str(bad)), "unknown column 'boxs'")
    bad.write_text("not json at all\n")
    assert_user_error(run_zoo(*base, "--input", str(bad)), "not JSON")
    weird = tmp_path / "list.xyz"
    weird.write_text("x")
    assert_user_error(run_zoo(*base, "--input", str(weird)), "unknown kind of file")
    assert_user_error(
        run_zoo(*base, "--input", str(photos[0]), "--format", "coco,tiff"),
        "unknown --format 'tiff'",
    )
    assert_user_error(
        run_zoo(*base, "--input", str(photos[0]), "--pathways", "3"), "unknown option --pathways"
    )
    assert_user_error(
        run_zoo(*base, "--input", str(photos[0]), "--resume"),
        "nothing to resume" if False else "no batch run to resume",
    )
    assert not out.exists()


# --------------------------------------------------------------------------- kill and resume


def _run_args(manifest: Path, out: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "zoo",
        "batch",
        "sam2:tiny",
        "--input",
        str(manifest),
        "--out",
        str(out),
        "--weights",
        "random",
        "--device",
        "cpu",
        "--image-size",
        SIZE,
        "--format",
        "coco,jsonl,parquet,png,overlay",
        "--no-progress",
    ]


def _outputs(out: Path) -> dict[str, bytes]:
    """Every output file's bytes, except what legitimately differs between runs."""
    files = {}
    for p in sorted(out.rglob("*")):
        rel = str(p.relative_to(out))
        if p.is_dir() or rel.startswith(".zoo-batch") or rel == "run.json":
            continue
        data = p.read_bytes()
        if rel.endswith(".json") and rel.startswith("items/"):
            rec = json.loads(data)
            rec.pop("timings")
            data = json.dumps(rec, sort_keys=True).encode()
        if rel == "results.jsonl":
            recs = [json.loads(line) for line in data.decode().splitlines()]
            for r in recs:
                r.pop("timings")
            data = json.dumps(recs, sort_keys=True).encode()
        files[rel] = data
    return files


def test_sigkill_then_resume_equals_uninterrupted(tmp_path: Path, photos) -> None:
    from PIL import Image

    small = []  # quarter-size copies: the test is about bookkeeping, not pixels
    for p in photos:
        im = Image.open(p)
        im.resize((im.width // 4, im.height // 4)).save(tmp_path / p.name)
        small.append(tmp_path / p.name)
    boxes = {p.name: [{"box": [5, 5, 100, 90]}] for p in small}
    manifest = _manifest(tmp_path / "m.jsonl", small, repeat=3, prompts=boxes)  # 9 items
    env = {**os.environ, "ZOO_PLUGINS": "sam2", "OMP_NUM_THREADS": "1"}
    full = tmp_path / "full"
    subprocess.run(_run_args(manifest, full), env=env, check=True, capture_output=True)
    killed = tmp_path / "killed"
    proc = subprocess.Popen(
        _run_args(manifest, killed), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.time() + 900  # a loaded CI machine may take minutes for 3 items
    items = killed / "items" / "000000"
    while time.time() < deadline:
        n = len(list(items.glob("*.json"))) if items.is_dir() else 0
        if n >= 3:
            break
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (killed / "run.json").exists(), "the run finished before it could be killed"
    resumed = subprocess.run(
        [*_run_args(manifest, killed), "--resume", "--json"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert resumed.returncode == 0, resumed.stderr
    report = json.loads(resumed.stdout)
    assert 3 <= report["resumed_past"] < 9 and report["done_total"] == 9
    assert not [p for p in killed.rglob("*") if ".tmp" in p.name]  # no partial file survives
    assert _outputs(killed) == _outputs(full)
