"""Every bad input a user can type: one line naming the problem, exit 2, nothing written.

These run the real ``zoo`` CLI in a subprocess with ``--weights random`` (no hub here).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.conftest import assert_user_error, run_zoo


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from zoo.testing import synthetic_image

    p = tmp_path_factory.mktemp("img") / "scene.png"
    Image.fromarray(synthetic_image(120, 160)).save(p)
    return p


def _run(image: Path, out: Path, *extra: str) -> tuple[object, Path]:
    proc = run_zoo(
        "run",
        "sam2:tiny",
        "--weights",
        "random",
        "--device",
        "cpu",
        "--image",
        str(image),
        "--out",
        str(out),
        *extra,
    )
    return proc, out


BAD_PROMPTS = [
    (["--boxes", "1,2,3"], "x1,y1,x2,y2"),
    (["--boxes", "a,b,c,d"], "malformed box"),
    (["--boxes", "50,10,10,40"], "x2<=x1"),
    (["--boxes", "500,500,900,900"], "entirely outside"),
    (["--boxes", "1 0,20,30,40"], "5 numbers"),
    (["--boxes", "nan,0,10,10"], "non-finite"),
    (["--points", "10,10;20,20", "--labels", "1"], "2 points but 1 labels"),
    (["--points", "10,10", "--labels", "5"], "labels must be 1"),
    ([], "no prompt"),
    (["--labels", "1"], "without --points"),
]


@pytest.mark.parametrize(("args", "needle"), BAD_PROMPTS, ids=[n for _, n in BAD_PROMPTS])
def test_bad_prompts(image: Path, tmp_path: Path, args: list[str], needle: str) -> None:
    proc, out = _run(image, tmp_path / "out", *args)
    assert_user_error(proc, needle)  # type: ignore[arg-type]
    assert not out.exists() or not any(out.iterdir())


def test_bad_images(tmp_path: Path) -> None:
    missing = run_zoo(
        "run",
        "sam2:tiny",
        "--weights",
        "random",
        "--image",
        str(tmp_path / "nope.jpg"),
        "--boxes",
        "0,0,5,5",
        "--out",
        str(tmp_path / "o1"),
    )
    assert_user_error(missing, "nope.jpg")
    text = tmp_path / "notes.jpg"
    text.write_text("this is not an image")
    assert_user_error(
        run_zoo(
            "run",
            "sam2:tiny",
            "--weights",
            "random",
            "--image",
            str(text),
            "--boxes",
            "0,0,5,5",
            "--out",
            str(tmp_path / "o2"),
        ),
        "notes.jpg",
    )
    good = tmp_path / "good.jpg"
    Image.fromarray(np.full((64, 64, 3), 128, np.uint8)).save(good, quality=95)
    truncated = tmp_path / "trunc.jpg"
    truncated.write_bytes(good.read_bytes()[: len(good.read_bytes()) // 2])
    assert_user_error(
        run_zoo(
            "run",
            "sam2:tiny",
            "--weights",
            "random",
            "--image",
            str(truncated),
            "--boxes",
            "0,0,5,5",
            "--out",
            str(tmp_path / "o3"),
        ),
        "trunc",
    )
    for o in ("o1", "o2", "o3"):
        assert not (tmp_path / o).exists() or not any((tmp_path / o).iterdir())


def test_out_not_writable(image: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    proc, _ = _run(image, blocker / "sub", "--boxes", "0,0,10,10")
    assert_user_error(proc, "--out")  # type: ignore[arg-type]


def test_device_cuda_without_cuda(image: Path, tmp_path: Path) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    proc, out = _run(image, tmp_path / "out", "--boxes", "0,0,10,10", "--device", "cuda")
    assert_user_error(proc, "cuda")  # type: ignore[arg-type]
    assert not out.exists() or not any(out.iterdir())


def test_wrong_family_and_corrupt_checkpoints(image: Path, tmp_path: Path) -> None:
    import torch

    wrong = tmp_path / "other.pt"
    torch.save({"model": {"encoder.weight": torch.zeros(3, 3)}}, wrong)
    proc = run_zoo(
        "run",
        "sam2:tiny",
        "--checkpoint",
        str(wrong),
        "--image",
        str(image),
        "--boxes",
        "0,0,10,10",
        "--out",
        str(tmp_path / "o1"),
    )
    assert_user_error(proc, "does not fit sam2:tiny")
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"PK\x03\x04 definitely not a checkpoint" * 10)
    proc = run_zoo(
        "run",
        "sam2:tiny",
        "--checkpoint",
        str(corrupt),
        "--image",
        str(image),
        "--boxes",
        "0,0,10,10",
        "--out",
        str(tmp_path / "o2"),
    )
    assert_user_error(proc, "corrupt.pt")
    missing = run_zoo(
        "run",
        "sam2:tiny",
        "--checkpoint",
        str(tmp_path / "nope.pt"),
        "--image",
        str(image),
        "--boxes",
        "0,0,10,10",
        "--out",
        str(tmp_path / "o3"),
    )
    assert_user_error(missing, "nope.pt")


def test_offline_without_cached_file_names_file_source_and_fix(image: Path, tmp_path: Path) -> None:
    proc = run_zoo(
        "run",
        "sam2:tiny",
        "--image",
        str(image),
        "--boxes",
        "0,0,10,10",
        "--out",
        str(tmp_path / "out"),
        env={"ZOO_OFFLINE": "1"},
    )
    assert_user_error(proc, "sam2.1_hiera_tiny.pt", "facebook/sam2.1-hiera-tiny", "--checkpoint")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_unknown_extra_option_and_weights_value(image: Path, tmp_path: Path) -> None:
    proc, _ = _run(image, tmp_path / "o", "--boxes", "0,0,10,10", "--pathwayz", "3")
    assert_user_error(proc, "--pathwayz")  # type: ignore[arg-type]
    proc = run_zoo(
        "run",
        "sam2:tiny",
        "--weights",
        "fancy",
        "--image",
        str(image),
        "--boxes",
        "0,0,10,10",
        "--out",
        str(tmp_path / "o2"),
    )
    assert_user_error(proc, "--weights")


def test_unknown_task_filter() -> None:
    assert_user_error(run_zoo("list", "--task", "telepathy"), "unknown task")


def test_unusual_image_modes_are_converted_and_random_outputs_labelled(tmp_path: Path) -> None:
    from zoo.testing import synthetic_image

    rgb = synthetic_image(64, 80)
    variants = {
        "gray.png": Image.fromarray(rgb[..., 0]),
        "rgba.png": Image.fromarray(np.dstack([rgb, np.full(rgb.shape[:2], 128, np.uint8)])),
        "deep.png": Image.fromarray(rgb[..., 1].astype(np.uint16) * 257),
    }
    for name, im in variants.items():
        im.save(tmp_path / name)
        out = tmp_path / f"out_{name}"
        proc = run_zoo(
            "run",
            "sam2:tiny",
            "--weights",
            "random",
            "--device",
            "cpu",
            "--image",
            str(tmp_path / name),
            "--boxes",
            "5,5,60,50",
            "--out",
            str(out),
        )
        assert proc.returncode == 0, proc.stderr
        mask = Image.open(out / "mask_000.png")
        assert mask.size == (80, 64)
        assert "TEST MODE" in mask.text["zoo:note"] and mask.text["zoo:weights"] == "random"
        assert "--weights random" in proc.stderr


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
@pytest.mark.parametrize(
    "prompt", [["--boxes", "5,5,60,50"], ["--points", "30,30", "--labels", "1"]]
)
def test_half_precision_runs_on_cpu(tmp_path: Path, dtype: str, prompt: list[str]) -> None:
    """Issue 11.1: --dtype bfloat16/float16 on CPU crashed with a dtype mismatch traceback."""
    import numpy as np
    from PIL import Image

    Image.fromarray(np.full((64, 80, 3), 90, np.uint8)).save(tmp_path / "im.png")
    out = tmp_path / "out"
    proc = run_zoo(
        "run",
        "sam2:tiny",
        "--weights",
        "random",
        "--device",
        "cpu",
        "--image",
        str(tmp_path / "im.png"),
        *prompt,
        "--out",
        str(out),
        "--image-size",
        "128",
        "--dtype",
        dtype,
    )
    assert proc.returncode == 0, proc.stderr
    assert (out / "mask_000.png").exists()


def test_same_command_same_bytes(tmp_path: Path) -> None:
    """Issue 11.8: test mode is seeded (default seed 0), so a command repeats byte for byte."""
    import numpy as np
    from PIL import Image

    Image.fromarray(np.full((64, 80, 3), 90, np.uint8)).save(tmp_path / "im.png")
    outs = []
    for k in range(2):
        out = tmp_path / f"out{k}"
        proc = run_zoo(
            "run",
            "sam2:tiny",
            "--weights",
            "random",
            "--device",
            "cpu",
            "--image",
            str(tmp_path / "im.png"),
            "--boxes",
            "5,5,60,50",
            "--out",
            str(out),
            "--image-size",
            "128",
        )
        assert proc.returncode == 0, proc.stderr
        outs.append({p.name: p.read_bytes() for p in sorted(out.iterdir())})
    assert outs[0] == outs[1]
    other = tmp_path / "seed1"
    run_zoo(
        "run",
        "sam2:tiny",
        "--weights",
        "random",
        "--device",
        "cpu",
        "--image",
        str(tmp_path / "im.png"),
        "--boxes",
        "5,5,60,50",
        "--out",
        str(other),
        "--image-size",
        "128",
        "--seed",
        "1",
    )
    assert (other / "results.json").read_bytes() != outs[0]["results.json"]


class _Evil:
    """A pickle that would run code when loaded: checkpoints must never execute it."""

    def __reduce__(self) -> tuple[object, tuple[str]]:  # pragma: no cover - never runs
        return (print, ("pwned",))


def _bad_run_inputs(tmp: Path, image: Path) -> dict[str, list[str]]:
    import pickle

    evil = tmp / "evil.pt"
    evil.write_bytes(pickle.dumps({"model": _Evil()}))
    box = ["--boxes", "5,5,40,40"]
    random = ["--weights", "random"]
    return {
        "missing image": ["--image", str(tmp / "nope.jpg"), *box, *random],
        "bad box": ["--image", str(image), "--boxes", "5,5,1", *random],
        "box outside": ["--image", str(image), "--boxes", "300,300,900,900", *random],
        "no prompt": ["--image", str(image), *random],
        "cuda without cuda": ["--image", str(image), *box, *random, "--device", "cuda"],
        "malicious checkpoint": ["--image", str(image), *box, "--checkpoint", str(evil)],
        "hub unreachable offline": ["--image", str(image), *box],
        "bad option value": ["--image", str(image), *box, *random, "--image-size", "big"],
        "unknown option": ["--image", str(image), *box, *random, "--pathways", "3"],
        "bad format": ["--image", str(image), *box, *random, "--format", "tiff"],
        "bad dtype": ["--image", str(image), *box, *random, "--dtype", "int8"],
    }


@pytest.mark.parametrize(
    "case",
    [
        "missing image",
        "bad box",
        "box outside",
        "no prompt",
        "cuda without cuda",
        "malicious checkpoint",
        "hub unreachable offline",
        "bad option value",
        "unknown option",
        "bad format",
        "bad dtype",
    ],
)
def test_failed_run_leaves_no_out_folder(
    image: Path, tmp_path: Path, case: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 11.2: every bad input is refused before anything is created - no --out, not
    even its missing parent (and a malicious pickle is refused, never run)."""
    import torch

    if case == "cuda without cuda" and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    monkeypatch.setenv("ZOO_OFFLINE", "1")
    args = _bad_run_inputs(tmp_path, image)[case]
    out = tmp_path / "parent" / "out"
    proc = run_zoo("run", "sam2:tiny", "--device", "cpu", *args, "--out", str(out))
    assert proc.returncode == 2, proc.stderr
    assert "pwned" not in proc.stdout + proc.stderr
    assert "\n" not in proc.stderr.strip() and "Traceback" not in proc.stderr
    assert not (tmp_path / "parent").exists()
