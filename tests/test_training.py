"""zoo.training: loss conventions against hand computations, schedules, bit-exact resume,
Ctrl-C checkpoints, and the one local-variant store every family shares."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from zoo.errors import InputError
from zoo.specs import VariantSpec, WeightsSpec
from zoo.training import checkpoint, losses, schedules, store

LOGITS = torch.tensor([[[2.0, -1.0], [0.5, -3.0]]])  # 1 x 2 x 2
TARGET = torch.tensor([[[1.0, 0.0], [0.0, 0.0]]])


def _bce(x: float, t: float) -> float:
    p = 1 / (1 + math.exp(-x))
    return -(t * math.log(p) + (1 - t) * math.log(1 - p))


def test_focal_balanced_and_constant_conventions_by_hand() -> None:
    xs, ts = [2.0, -1.0, 0.5, -3.0], [1.0, 0.0, 0.0, 0.0]
    bal, const = [], []
    for x, t in zip(xs, ts, strict=True):
        p = 1 / (1 + math.exp(-x))
        pt = p * t + (1 - p) * (1 - t)
        ce = _bce(x, t)
        bal.append((0.25 * t + 0.75 * (1 - t)) * ce * (1 - pt) ** 2)
        const.append(0.8 * ce * (1 - math.exp(-ce)) ** 2)
    got = losses.sigmoid_focal_loss(LOGITS, TARGET, alpha=0.25, gamma=2.0)
    assert got.shape == (1,) and abs(float(got[0]) - np.mean(bal)) < 1e-6
    got_c = losses.sigmoid_focal_loss(
        LOGITS, TARGET, alpha=0.8, gamma=2.0, alpha_mode="constant", reduction="mean"
    )
    assert abs(float(got_c) - np.mean(const)) < 1e-6
    no_alpha = losses.sigmoid_focal_loss(LOGITS, TARGET, alpha=None, reduction="none")
    assert no_alpha.shape == LOGITS.shape


def test_dice_per_mask_and_pooled_by_hand() -> None:
    p = torch.sigmoid(LOGITS).flatten().tolist()
    t = TARGET.flatten().tolist()
    inter = sum(a * b for a, b in zip(p, t, strict=True))
    expect = 1 - (2 * inter + 1) / (sum(p) + sum(t) + 1)
    assert abs(float(losses.dice_loss(LOGITS, TARGET)[0]) - expect) < 1e-6
    two = torch.cat([LOGITS, -LOGITS])
    tt = torch.cat([TARGET, TARGET])
    pooled = float(losses.dice_loss(two, tt, pooled=True))
    p2 = torch.sigmoid(two).flatten()
    t2 = tt.flatten()
    ref = 1 - (2 * float((p2 * t2).sum()) + 1) / (float(p2.sum()) + float(t2.sum()) + 1)
    assert abs(pooled - ref) < 1e-6


def test_mask_iou_empty_conventions_and_iou_head() -> None:
    empty_logits = torch.full((1, 2, 2), -5.0)
    empty_target = torch.zeros(1, 2, 2)
    assert float(losses.mask_iou(empty_logits, empty_target)[0]) == 1.0
    assert float(losses.mask_iou(empty_logits, empty_target, empty=None)[0]) == 0.0
    # prediction {(0,0),(1,0)}, target {(0,0)}: IoU 1/2
    assert float(losses.mask_iou(LOGITS, TARGET)[0]) == 0.5
    pred, actual = torch.tensor([0.9, 0.1]), torch.tensor([0.5, 0.5])
    assert abs(float(losses.iou_head_loss(pred, actual)) - (0.16 + 0.16) / 2) < 1e-6
    assert abs(float(losses.iou_head_loss(pred, actual, kind="l1")) - 0.4) < 1e-6


def test_schedules_by_hand() -> None:
    f = [schedules.warmup_cosine(s, 10, warmup=2) for s in range(10)]
    assert f[0] == 0.5 and f[1] == 1.0 and f[2] == 1.0 and f[9] == pytest.approx(0.0375, abs=1e-3)
    assert schedules.warmup_cosine(10, 10, warmup=2, floor=0.1) == pytest.approx(0.1)
    steps = [
        schedules.warmup_step_decay(s, 9, warmup=0, decay_at=(2 / 3, 8 / 9), factor=10)
        for s in range(9)
    ]
    assert steps == [1.0] * 6 + [0.1, 0.1, 0.01]
    assert schedules.warmup_steps(100, fraction=0.05) == 5
    assert schedules.warmup_steps(8, steps=250, at_most=0.25) == 2


def _run(steps: int, state: dict | None = None) -> tuple[torch.nn.Linear, list[float], dict]:
    """A tiny training loop with torch and numpy randomness, resumable from ``state``."""
    torch.manual_seed(0)
    net = torch.nn.Linear(3, 1)
    opt = torch.optim.Adam(net.parameters(), lr=0.1)
    rng = np.random.default_rng(5)
    start, log = 0, []
    if state is not None:
        net.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        checkpoint.restore_rng(state["rng"], rng)
        start, log = int(state["step"]), list(state["log"])
    for step in range(start, steps):
        x = torch.randn(4, 3) + float(rng.normal())
        for g in opt.param_groups:
            g["lr"] = 0.1 * schedules.warmup_cosine(step, 6, warmup=1)
        loss = (net(x) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        log.append(float(loss.detach()))
    saved = {
        "model": net.state_dict(),
        "optimizer": opt.state_dict(),
        "rng": checkpoint.capture_rng(rng),
        "step": steps,
        "log": log,
    }
    return net, log, saved


def test_resume_is_bit_exact(tmp_path: Path) -> None:
    full, full_log, _ = _run(6)
    _, _, half = _run(3)
    path = checkpoint.save_state(tmp_path / "state.pt", half)
    resumed, log, _ = _run(6, checkpoint.load_state(path))
    assert log == full_log
    for a, b in zip(full.parameters(), resumed.parameters(), strict=True):
        assert torch.equal(a, b)


def test_load_state_refuses_garbage_and_pickles(tmp_path: Path) -> None:
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(InputError, match="not a readable training state"):
        checkpoint.load_state(bad)
    import pickle

    class Evil:
        def __reduce__(self):  # pragma: no cover - must never run
            return (print, ("pwned",))

    evil = tmp_path / "evil.pt"
    evil.write_bytes(pickle.dumps({"x": Evil()}))
    with pytest.raises(InputError):
        checkpoint.load_state(evil)
    with pytest.raises(InputError, match="no training state"):
        checkpoint.load_state(tmp_path / "missing.pt")


def test_ctrl_c_saves_then_stops(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    saved: list[Path] = []

    def save() -> Path:
        saved.append(checkpoint.save_state(tmp_path / "s.pt", {"step": 3}))
        return saved[-1]

    with (
        pytest.raises(KeyboardInterrupt),
        checkpoint.checkpoint_on_interrupt(save, resume_hint="--resume"),
    ):
        raise KeyboardInterrupt
    assert saved and checkpoint.load_state(saved[0])["step"] == 3
    assert "continue with --resume" in capsys.readouterr().err


def _interrupt_line(capsys: pytest.CaptureFixture[str], save: object, **kw: object) -> str:
    with pytest.raises(KeyboardInterrupt), checkpoint.checkpoint_on_interrupt(save, **kw):  # type: ignore[arg-type]
        raise KeyboardInterrupt
    return capsys.readouterr().err.strip()


def test_interrupt_gives_the_exact_command_that_resumes_and_only_with_a_state(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 21 item 5: on the command line the line is the command that ran plus --resume
    (quoted, ready to paste), after the step the state holds; no state, no resume command."""
    from zoo.errors import cli_surface

    state = tmp_path / "run dir" / "state.pt"
    args = ["train", "sameo-amodal", "--annotations", "a b.json", "--max-steps", "7"]
    with cli_surface(args):
        line = _interrupt_line(
            capsys, lambda: state, resume_hint="--resume", step=lambda: 2, console=None
        )
        assert line == (
            f"interrupted after step 2: state saved to {state}; resume with: "
            "zoo train sameo-amodal --annotations 'a b.json' --max-steps 7 --resume"
        )
        with cli_surface([*args, "--resume"]):  # a resumed run interrupted again
            line = _interrupt_line(capsys, lambda: state, resume_hint="x")
        assert line.endswith("--max-steps 7 --resume") and line.count("--resume") == 1
        # a trainer whose same command resumes by itself (WeSAM): nothing added
        line = _interrupt_line(capsys, lambda: state, resume_hint="x", resume_flag=None)
        assert line.endswith(
            "resume with: zoo train sameo-amodal --annotations 'a b.json' --max-steps 7"
        )
        # interrupted before the first step: nothing to resume, so no resume command
        line = _interrupt_line(capsys, lambda: None, resume_hint="--resume")
        assert line == (
            "interrupted before the first step finished: nothing to resume; "
            "run the same command again"
        )
    # in Python there is no command line: the trainer's hint
    line = _interrupt_line(capsys, lambda: state, resume_hint="train(cfg, resume=True)")
    assert line.endswith("continue with train(cfg, resume=True)")
    assert checkpoint.say_resumed(2, 7, state) == f"resuming from step 2 of 7 (state {state})"
    assert capsys.readouterr().err == f"note: resuming from step 2 of 7 (state {state})\n"


def test_store_write_scan_and_bad_folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZOO_HOME", str(tmp_path))
    folder = store.variant_dir("fam", store.check_name("fam", "run-1", reserved=("tiny",)))
    folder.mkdir(parents=True)
    (folder / "decoder.safetensors").write_bytes(b"weights")
    spec = VariantSpec(
        family="fam",
        tag="run-1",
        params=7,
        checkpoints={
            "base": WeightsSpec(same_as="fam:tiny"),
            "decoder": WeightsSpec(uri=str(folder / "decoder.safetensors"), size=7),
        },
    )
    store.write_variant(folder, spec, card="# run-1\n", extra={"miou_after": 0.5})
    data = json.loads((folder / "variant.json").read_text())
    assert data["checkpoints"]["decoder"]["uri"] == "decoder.safetensors"  # movable folder
    found, problems = store.scan({"fam"})
    assert not problems and [v.name for v in found] == ["fam:run-1"]
    v = found[0]
    assert v.local and Path(v.checkpoints["decoder"].uri or "").is_file()
    assert v.card and Path(v.card).read_text() == "# run-1\n"
    assert store.extra_of(folder) == {"miou_after": 0.5}
    broken = store.variant_dir("fam", "broken")
    broken.mkdir()
    (broken / "variant.json").write_text("{not json")
    found, problems = store.scan({"fam"})
    assert [v.name for v in found] == ["fam:run-1"] and "broken" in problems[0]
    with pytest.raises(InputError, match="would hide"):
        store.check_name("fam", "tiny", reserved=("tiny",))
    with pytest.raises(InputError, match="must be 1-64"):
        store.check_name("fam", "Bad Name")


def test_local_variant_appears_in_registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from zoo.registry import build_registry

    monkeypatch.setenv("ZOO_HOME", str(tmp_path))
    folder = store.variant_dir("sam2", "mine")
    folder.mkdir(parents=True)
    (folder / "model.pt").write_bytes(b"x")
    store.write_variant(
        folder,
        VariantSpec(
            family="sam2",
            tag="mine",
            config={"size": "tiny"},
            weights=WeightsSpec(uri=str(folder / "model.pt"), size=1),
        ),
    )
    reg = build_registry()
    v = reg.variants["sam2:mine"]
    assert v.local and v.weights is not None and v.weights.uri.endswith("model.pt")
