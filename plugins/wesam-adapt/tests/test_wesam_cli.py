"""The command line: bad input is one line and exit 2 before any model is built, and leaves
no ``--out`` nor adaptation folder; a trained variant lists, shows its files, runs and
evaluates like any model (issue 11, items 2 and 3); ``zoo corrupt`` teaches and works."""

from __future__ import annotations

import hashlib
import json
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image
from zoo_wesam.adapter import save_adapter

from zoo.registry.local import variant_dir, write_variant
from zoo.specs import VariantSpec, WeightsSpec

FAMILY = "wesam-adapt"


def _train(domain: dict[str, Any], *extra: str) -> list[str]:
    return [
        "train",
        FAMILY,
        "--images",
        str(domain["images"]),
        "--annotations",
        str(domain["annotations"]),
        "--weights",
        "random",
        "--device",
        "cpu",
        *extra,
    ]


def _fake_variant(name: str, size: str, adapter_size: str) -> Path:
    """A local adapted variant (core store) whose adapter belongs to ``adapter_size``."""
    folder = variant_dir(FAMILY, name)
    folder.mkdir(parents=True)
    adapter = folder / "adapter.safetensors"
    save_adapter(
        adapter,
        {"x.lora_a_q": torch.zeros(1, 1)},
        {
            "size": adapter_size,
            "scale": 1.0,
            "base_fingerprint": "0" * 32,
            "base_weights": {"kind": "random", "seed": 0},
        },
    )
    spec = VariantSpec(
        family=FAMILY,
        tag=name,
        checkpoints={
            "adapter": WeightsSpec(
                uri=str(adapter),
                sha256=hashlib.sha256(adapter.read_bytes()).hexdigest(),
                size=adapter.stat().st_size,
            )
        },
        config={"size": size, "image_size": 256, "test_mode": True, "base_seed": 0},
    )
    write_variant(folder, spec, card=None, extra={"prompt": "box", "steps": 1})
    return folder


def test_point_prompt_needs_masks(cli: Any, user_error: Any, domain: dict[str, Any]) -> None:
    args = [
        "train",
        FAMILY,
        "--images",
        str(domain["boxes_images"]),
        "--annotations",
        str(domain["boxes_annotations"]),
        "--weights",
        "random",
        "--name",
        "x",
    ]
    user_error(cli(*args, "--prompt", "point"), "no segmentation mask", "--prompt box")
    user_error(cli(*args, "--prompt", "coarse"), "no segmentation mask")


def test_bad_data_and_options(
    cli: Any, user_error: Any, domain: dict[str, Any], tmp_path: Path
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    base = [
        "train",
        FAMILY,
        "--annotations",
        str(domain["annotations"]),
        "--weights",
        "random",
        "--name",
        "x",
    ]
    user_error(cli(*base, "--images", str(empty)), "contains no images")
    user_error(cli(*base, "--images", str(tmp_path / "nope")), "does not exist")
    coco = json.loads(Path(domain["annotations"]).read_text())
    coco["annotations"][0]["image_id"] = 999
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(coco))
    user_error(cli(*_train(domain, "--name", "x"), "--annotations", str(bad)), "image id 999")
    coco = json.loads(Path(domain["annotations"]).read_text())
    coco["images"][0]["file_name"] = "missing.png"
    bad.write_text(json.dumps(coco))
    user_error(cli(*_train(domain, "--name", "x"), "--annotations", str(bad)), "missing.png")
    user_error(
        cli(*_train(domain, "--name", "x", "--prompt", "scribble")),
        "--prompt",
        "box, point, coarse",
    )
    user_error(cli(*_train(domain)), "--name is required")
    user_error(cli(*_train(domain, "--name", "Bad Name")), "--name")
    user_error(cli(*_train(domain, "--name", "tiny")), "built-in wesam-adapt:tiny")
    user_error(cli(*_train(domain, "--name", "x", "--stepz", "3")), "unknown option --stepz")
    user_error(cli(*_train(domain, "--name", "x", "--base", "efficientsam:vitt")), "not a SAM 2.1")
    user_error(cli(*_train(domain, "--name", "x", "--steps", "many")), "--steps", "integer")
    user_error(cli(*_train(domain, "--name", "x", "--steps", "0")), "--steps", "minimum")
    user_error(cli(*_train(domain, "--name", "x", "--image-size", "100")), "multiple of 64")
    user_error(cli(*_train(domain, "--name", "x", "--max-images", "3")), "zoo eval")


def test_existing_name_and_adapted_base(cli: Any, user_error: Any, domain: dict[str, Any]) -> None:
    _fake_variant("taken", "tiny", "tiny")
    user_error(cli(*_train(domain, "--name", "taken")), "already exists", "--overwrite")
    args = _train(domain, "--name", "y")
    args[1] = "wesam-adapt:taken"
    user_error(cli(*args), "already adapted")


def test_adapter_base_mismatch(
    cli: Any, user_error: Any, domain: dict[str, Any], tmp_path: Path
) -> None:
    _fake_variant("mixed", "small", "tiny")
    out = tmp_path / "out"
    img = next(Path(domain["images"]).iterdir())
    user_error(
        cli(
            "run",
            "wesam-adapt:mixed",
            "--image",
            str(img),
            "--boxes",
            "10,10,50,50",
            "--device",
            "cpu",
            "--out",
            str(out),
        ),
        "trained on sam2:tiny but this base is sam2:small",
    )
    assert not out.exists()


def test_eval_needs_masks(cli: Any, user_error: Any, domain: dict[str, Any]) -> None:
    user_error(
        cli(
            "eval",
            "wesam-adapt:tiny",
            "--images",
            str(domain["boxes_images"]),
            "--annotations",
            str(domain["boxes_annotations"]),
            "--weights",
            "random",
        ),
        "ground-truth masks",
    )


def test_local_variant_listed_with_its_files(cli: Any, domain: dict[str, Any]) -> None:
    folder = _fake_variant("listed", "tiny", "tiny")
    proc = cli("list", FAMILY, "--json")
    assert proc.returncode == 0, proc.stderr
    rows = {r["name"]: r for r in json.loads(proc.stdout)}
    assert {"wesam-adapt:tiny", "wesam-adapt:large", "wesam-adapt:listed"} <= set(rows)
    assert rows["wesam-adapt:listed"]["local"] is True
    assert rows["wesam-adapt:tiny"]["files"]["sam2"]["same_as"] == "sam2:tiny"
    proc = cli("info", "wesam-adapt:listed")
    assert proc.returncode == 0, proc.stderr
    assert "none registered" not in proc.stdout
    flat = "".join(proc.stdout.split()).replace("│", "")  # the panel wraps long paths
    assert "fileadapter:" in flat and str(folder / "adapter.safetensors") in flat
    proc = cli("info", "wesam-adapt:tiny", "--json")
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    assert info["card"]["zoo"]["family"] == FAMILY
    options = {o["option"]: o for o in info["options"]}
    assert options["--prompt"]["default"] == "box" and options["--steps"]["default"] == 2000
    # the trainer's typed config: old spellings as aliases; --prompt and --image-size are
    # declared for train by the config and for eval/run by the family's options
    assert options["--batch-size"]["aliases"] == ["--batch"] and "--batch" not in options
    commands: dict[str, set[str]] = {}
    for o in info["options"]:
        commands.setdefault(o["option"], set()).update(o["commands"])
    assert {"train", "eval"} <= commands["--prompt"]
    assert {"run", "train", "eval"} <= commands["--image-size"]
    assert "--progress" not in options and commands["--max-images"] == {"eval"}


def test_corrupt_command_on_every_app() -> None:
    """Each app the core builds gets ``zoo corrupt`` once (plugin commands are added per app,
    not once per process, so the command no longer depends on which test ran first)."""
    from zoo.cli import create_app

    for _ in range(2):
        app = create_app()
        names = [c.name for c in app.registered_commands]
        assert names.count("corrupt") == 1, names


def test_corrupt_command(cli: Any, user_error: Any, domain: dict[str, Any], tmp_path: Path) -> None:
    proc = cli(
        "corrupt",
        str(domain["clean_images"]),
        str(tmp_path / "c"),
        "--corruption",
        "frost,jpeg_compression",
        "--severity",
        "2",
        "--json",
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["written"] == 6 and report["corruptions"] == ["frost", "jpeg_compression"]
    assert len(list((tmp_path / "c" / "frost").iterdir())) == 3
    user_error(
        cli("corrupt", str(domain["clean_images"]), str(tmp_path / "d"), "--severity", "9"),
        "severity",
    )
    user_error(
        cli("corrupt", str(domain["clean_images"]), str(tmp_path / "d"), "--corruption", "rain"),
        "unknown corruption",
    )
    assert not (tmp_path / "d").exists()
    proc = cli("corrupt", "--help")
    assert proc.returncode == 0
    text = " ".join(proc.stdout.split())
    assert "zoo corrupt val2017/ val2017-fog/ --corruption fog --severity 3" in text
    assert "jpeg_compression" in text and "zoo train wesam-adapt" in text


def test_variant_of_real_weights_follows_its_base(
    cli: Any, user_error: Any, domain: dict[str, Any], tmp_path: Path
) -> None:
    """An adaptation of sam2:tiny's weights needs that file like wesam-adapt:tiny does (the
    same one-line error offline); --weights random randomises the base, keeps the adapter."""
    from zoo_wesam.lora import inject_lora, lora_state_dict

    from zoo.loading import load

    source = load("wesam-adapt:tiny", weights="random", device="cpu", image_size=128)
    inject_lora(source.model, rank=4)
    folder = variant_dir(FAMILY, "real")
    folder.mkdir(parents=True)
    adapter = folder / "adapter.safetensors"
    registered = {"kind": "registered", "variant": "sam2:tiny", "uri": "hf://..."}
    meta = {"size": "tiny", "scale": 1.0, "base_fingerprint": "f" * 32, "image_size": 128}
    save_adapter(adapter, lora_state_dict(source.model), {**meta, "base_weights": registered})
    spec = VariantSpec(
        family=FAMILY,
        tag="real",
        checkpoints={
            "sam2": WeightsSpec(same_as="sam2:tiny"),
            "adapter": WeightsSpec(uri=str(adapter), size=adapter.stat().st_size),
        },
        config={"size": "tiny", "image_size": 128},
    )
    write_variant(folder, spec, card=None, extra={"base": registered})

    proc = cli("info", "wesam-adapt:real", "--json")
    assert proc.returncode == 0, proc.stderr
    files = json.loads(proc.stdout)["files"]
    assert list(files) == ["sam2", "adapter"] and files["sam2"]["same_as"] == "sam2:tiny"
    assert files["sam2"]["uri"].startswith("hf://facebook/sam2.1-hiera-tiny/")

    img = str(sorted(Path(domain["images"]).iterdir())[0])
    args = ["--image", img, "--boxes", "10,10,60,60", "--device", "cpu"]
    base = cli("run", "wesam-adapt:tiny", *args, "--out", str(tmp_path / "a"))
    ours = cli("run", "wesam-adapt:real", *args, "--out", str(tmp_path / "b"))
    user_error(base, "sam2.1_hiera_tiny.pt")  # offline, not cached: both need the same file
    user_error(ours, "sam2.1_hiera_tiny.pt")
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
    user_error(
        cli(
            "run",
            "wesam-adapt:real",
            *args,
            "--weights",
            "random",
            "--adapter",
            adapter,
            "--out",
            tmp_path / "c",
        ),
        "already carries an adapter",
    )
    assert not (tmp_path / "c").exists()
    proc = cli("run", "wesam-adapt:real", *args, "--weights", "random", "--json", "--out", tmp_path)
    assert proc.returncode == 0, proc.stderr
    ran = json.loads(proc.stdout)
    assert ran["weights"] == "random" and ran["masks"] == 1
    record = json.loads((tmp_path / "run.json").read_text())
    assert record["provenance"]["test_mode"] is True
    assert record["provenance"]["files"]["adapter"] == str(adapter)


# --------------------------------------------------------------------------- issue 11 item 2


def _malicious(path: Path) -> Path:
    """A pickle that runs code when unpickled (it must be refused, never executed)."""

    class Boom:
        def __reduce__(self) -> tuple[Any, tuple[str]]:
            return (print, ("this checkpoint ran code",))

    path.write_bytes(pickle.dumps({"model": Boom()}, protocol=2))
    return path


def _bad_inputs(domain: dict[str, Any], tmp: Path) -> dict[str, tuple[list[str], tuple[str, ...]]]:
    """``case -> (argv without --out, fragments of the one-line error)``."""
    img = str(sorted(Path(domain["images"]).iterdir())[0])
    data = ["--images", str(domain["images"]), "--annotations", str(domain["annotations"])]
    boxes_only = [
        "--images",
        str(domain["boxes_images"]),
        "--annotations",
        str(domain["boxes_annotations"]),
    ]
    train = ["train", FAMILY, "--weights", "random", "--device", "cpu", "--name", "failed"]
    evaluate = ["eval", "wesam-adapt:tiny", "--weights", "random", "--device", "cpu"]
    run = ["run", "wesam-adapt:tiny", "--device", "cpu", "--image-size", "128"]
    bad_json = tmp / "bad.json"
    bad_json.write_text("{not json")
    return {
        "train: missing images folder": (
            [*train, "--images", str(tmp / "nope"), "--annotations", str(domain["annotations"])],
            ("does not exist",),
        ),
        "train: annotations not JSON": (
            [*train, "--images", str(domain["images"]), "--annotations", str(bad_json)],
            ("bad.json",),
        ),
        "train: point prompts without masks": (
            [*train, *boxes_only, "--prompt", "point"],
            ("no segmentation mask",),
        ),
        "train: bad image size": ([*train, *data, "--image-size", "96"], ("multiple of 64",)),
        "train: missing checkpoint": (
            [*train[:2], "--device", "cpu", "--name", "failed", *data, "--checkpoint", "/no.pt"],
            ("does not exist",),
        ),
        "train: cuda without cuda": (
            [*train[:4], "--device", "cuda", "--name", "failed", *data],
            ("cuda",),
        ),
        "eval: missing annotations": (
            [*evaluate, "--images", str(domain["images"]), "--annotations", str(tmp / "no.json")],
            ("no.json",),
        ),
        "eval: boxes-only annotations": ([*evaluate, *boxes_only], ("ground-truth masks",)),
        "eval: unknown model to compare": (
            [*evaluate, *data, "--image-size", "128", "--compare", "sam2:huge"],
            ("unknown variant sam2:huge",),
        ),
        "run: missing image": (
            [*run, "--weights", "random", "--image", str(tmp / "no.png"), "--boxes", "1,1,9,9"],
            ("no.png",),
        ),
        "run: box outside the image": (  # one only crossing the edge is clipped to it
            [*run, "--weights", "random", "--image", img, "--boxes", "900,900,990,990"],
            ("entirely outside",),
        ),
        "run: no prompt": ([*run, "--weights", "random", "--image", img], ("no prompt",)),
        "run: malicious checkpoint": (
            [*run, "--image", img, "--boxes", "1,1,9,9", "--checkpoint", str(tmp / "evil.pt")],
            ("evil.pt",),
        ),
    }


_CASES = [
    "train: missing images folder",
    "train: annotations not JSON",
    "train: point prompts without masks",
    "train: bad image size",
    "train: missing checkpoint",
    "train: cuda without cuda",
    "eval: missing annotations",
    "eval: boxes-only annotations",
    "eval: unknown model to compare",
    "run: missing image",
    "run: box outside the image",
    "run: no prompt",
    "run: malicious checkpoint",
]


@pytest.mark.parametrize("case", _CASES)
def test_failed_command_leaves_no_folder(
    case: str, cli: Any, user_error: Any, domain: dict[str, Any], tmp_path: Path
) -> None:
    if "cuda" in case and torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    _malicious(tmp_path / "evil.pt")
    args, fragments = _bad_inputs(domain, tmp_path)[case]
    out = tmp_path / "deep" / "out"
    proc = cli(*args, "--out", str(out))
    assert "this checkpoint ran code" not in proc.stdout + proc.stderr
    user_error(proc, *fragments)
    assert not out.exists() and not out.parent.exists(), f"{case}: --out was created"
    assert not variant_dir(FAMILY, "failed").exists(), f"{case}: an adaptation folder was left"


# --------------------------------------------------------------------------- issue 11 item 3


def _ok(proc: Any) -> dict[str, Any]:
    """The JSON report of a command that must succeed."""
    assert proc.returncode == 0, proc.stderr
    report: dict[str, Any] = json.loads(proc.stdout)
    return report


def _train_json(cli: Any, domain: dict[str, Any], name: str, **opts: Any) -> dict[str, Any]:
    flags = [str(x) for k, v in opts.items() for x in ("--" + k.replace("_", "-"), v)]
    return _ok(cli(*_train(domain, "--name", name, "--holdout", "0", *flags, "--json")))


def _run_json(cli: Any, name: str, image: Path, out: Path, *extra: str) -> dict[str, Any]:
    box = ["--boxes", "10,10,60,60"]
    return _ok(
        cli("run", name, "--image", image, *box, "--device", "cpu", "--out", out, *extra, "--json")
    )


def _eval_json(cli: Any, name: str, domain: dict[str, Any], *extra: str) -> dict[str, Any]:
    data = ["--images", domain["images"], "--annotations", domain["annotations"]]
    return _ok(cli("eval", name, *data, "--device", "cpu", *extra, "--json"))


def test_trained_variant_shows_files_runs_and_evaluates(
    cli: Any, domain: dict[str, Any], tmp_path: Path
) -> None:
    """zoo train ... --name t1 -> zoo info wesam-adapt:t1 -> zoo run -> zoo eval."""
    trained = _train_json(
        cli, domain, "t1", steps=1, image_size=128, max_instances=1, eval_images=1
    )
    assert trained["variant"] == "wesam-adapt:t1" and trained["steps"] == 1
    folder = variant_dir(FAMILY, "t1")
    assert sorted(p.name for p in folder.iterdir()) == [
        "adapter.safetensors",
        "card.md",
        "variant.json",
    ]

    info = _ok(cli("info", "wesam-adapt:t1", "--json"))
    adapter = info["files"]["adapter"]
    assert adapter["uri"] == str(folder / "adapter.safetensors")
    assert adapter["size"] == (folder / "adapter.safetensors").stat().st_size
    assert len(adapter["sha256"]) == 64 and "sam2" not in info["files"]  # random base
    assert info["local"] is True and info["card"]["zoo"]["adaptation"]["steps"] == 1
    proc = cli("info", "wesam-adapt:t1")
    assert proc.returncode == 0 and "none registered" not in proc.stdout, proc.stdout

    out = tmp_path / "masks"
    ran = _run_json(cli, "wesam-adapt:t1", sorted(Path(domain["images"]).iterdir())[0], out)
    assert ran["masks"] == 1 and ran["weights"].startswith("random (test-mode base)")
    record = json.loads((out / "run.json").read_text())
    assert record["provenance"]["test_mode"] is True  # trained on a random base: test mode
    assert record["provenance"]["files"]["adapter"].endswith("adapter.safetensors")
    with Image.open(next(out.glob("*.png"))) as png:
        assert png.text["zoo:weights"].startswith("random")

    ev = _eval_json(cli, "wesam-adapt:t1", domain, "--max-images", "1", "--per-instance")
    assert ev["model"] == "wesam-adapt:t1" and ev["weights"].startswith("random")
    # the numbers training measured on that image after adapting, by WeSAM's protocol
    assert ev["protocol"] == trained["eval_protocol"] == "wesam-validate"
    assert ev["results"][0]["masks"] == "logit >= 0.5"
    assert ev["results"][0]["miou"] == pytest.approx(trained["miou_after"], abs=1e-9)
    # the pooled means are an extra with their own names (one image: the same numbers)
    assert ev["table"]["columns"][-2:] == ["mIoU/inst", "F1/inst"]
    assert ev["results"][0]["miou_per_instance"] == pytest.approx(ev["results"][0]["miou"])


@pytest.mark.slow
def test_train_run_eval_end_to_end(cli: Any, domain: dict[str, Any], tmp_path: Path) -> None:
    """zoo train (box) -> variant -> zoo run -> zoo eval --compare source (the paper's layout)."""
    report = _train_json(cli, domain, "e2e", steps=2, image_size=256, max_instances=2)
    assert report["variant"] == "wesam-adapt:e2e" and report["steps"] == 2
    assert report["miou_before"] is not None and report["miou_after"] is not None
    card = (variant_dir(FAMILY, "e2e") / "card.md").read_text()
    assert "sam2:tiny" in card and "box" in card and "mIoU" in card
    img = sorted(Path(domain["images"]).iterdir())[0]
    plain = _run_json(cli, "wesam-adapt:e2e", img, tmp_path / "m0")
    # a test-mode variant: --weights random changes nothing but the label
    random = _run_json(cli, "wesam-adapt:e2e", img, tmp_path / "m1", "--weights", "random")
    assert plain["masks"] == 1 and plain["scores"] == random["scores"]
    ev = _eval_json(cli, "wesam-adapt:e2e", domain, "--prompt", "box", "--compare", "source")
    rows = ev["table"]["rows"]
    assert rows[0][0] == "source sam2:tiny" and rows[1][0] == "wesam-adapt:e2e"
    # the eval's numbers are the ones training measured on the same (training) images
    assert rows[0][4] == pytest.approx(report["miou_before"], abs=1e-9)
    assert rows[1][4] == pytest.approx(report["miou_after"], abs=1e-9)
    assert all(np.isfinite(r[4]) and 0 <= r[4] <= 1 for r in rows)
