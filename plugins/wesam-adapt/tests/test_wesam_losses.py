"""Loss terms against hand computation, LoRA maths, the schedule (no SAM model needed).

The focal, Dice and IoU terms are :mod:`zoo.training.losses` called with WeSAM's
conventions (the calls below are the ones :func:`zoo_wesam.losses.wesam_losses` makes);
the hand computations pin those conventions down.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn
from zoo_wesam.config import WesamTrainConfig
from zoo_wesam.lora import (
    LoRAQKV,
    inject_lora,
    lora_disabled,
    lora_state_dict,
    merge_adapter,
    merge_injected,
)
from zoo_wesam.losses import contrastive_loss, pooled_embeddings, wesam_losses
from zoo_wesam.train import lr_schedule

from zoo.errors import WeightsError
from zoo.training.losses import dice_loss as core_dice
from zoo.training.losses import iou_head_loss, sigmoid_focal_loss
from zoo.training.losses import mask_iou as core_mask_iou


def focal_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """WeSAM's focal: constant alpha 0.8, gamma 2, ``p_t = exp(-BCE)``, mean of all pixels."""
    return sigmoid_focal_loss(logits, target, alpha=0.8, alpha_mode="constant", reduction="mean")


def dice_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """WeSAM's Dice: +1 smoothing, the instances of an image pooled."""
    return core_dice(logits, target, pooled=True)


def mask_iou(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """WeSAM's IoU target: ``inter / (union + eps)`` (an empty pair scores 0)."""
    return core_mask_iou(logits, target, empty=None)


def iou_loss(pred: torch.Tensor, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return iou_head_loss(pred, mask_iou(logits, target), kind="mse")


def _sig(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


LOGITS = [2.0, -1.0, 0.5, -3.0]
TARGET = [1.0, 0.0, 0.0, 1.0]


def test_focal_by_hand() -> None:
    total = 0.0
    for x, t in zip(LOGITS, TARGET, strict=True):
        p = _sig(x)
        bce = -(t * math.log(p) + (1 - t) * math.log(1 - p))
        p_t = math.exp(-bce)
        total += 0.8 * (1 - p_t) ** 2 * bce
    expected = total / 4
    got = focal_loss(torch.tensor(LOGITS).reshape(1, 2, 2), torch.tensor(TARGET).reshape(1, 2, 2))
    assert math.isfinite(float(got))
    assert float(got) == pytest.approx(expected, rel=1e-6)


def test_dice_by_hand() -> None:
    p = [_sig(x) for x in LOGITS]
    inter = sum(pi * t for pi, t in zip(p, TARGET, strict=True))
    expected = 1 - (2 * inter + 1) / (sum(p) + sum(TARGET) + 1)
    got = dice_loss(torch.tensor(LOGITS).reshape(1, 2, 2), torch.tensor(TARGET).reshape(1, 2, 2))
    assert float(got) == pytest.approx(expected, rel=1e-6)


def test_iou_head_loss_by_hand() -> None:
    logits = torch.tensor([[[2.0, -1.0], [0.5, -3.0]], [[1.0, 1.0], [1.0, 1.0]]])
    target = torch.tensor([[[1.0, 0.0], [0.0, 1.0]], [[1.0, 1.0], [0.0, 0.0]]])
    # instance 0: pred {0, 2}, target {0, 3} -> 1/3; instance 1: pred all, target {0, 1} -> 1/2
    assert mask_iou(logits, target).tolist() == pytest.approx([1 / 3, 1 / 2], rel=1e-6)
    empty = torch.full((1, 2, 2), -1.0)
    assert mask_iou(empty, torch.zeros(1, 2, 2)).tolist() == [0.0]  # as upstream: no 1.0
    pred = torch.tensor([0.5, 0.9])
    expected = ((0.5 - 1 / 3) ** 2 + (0.9 - 0.5) ** 2) / 2
    assert float(iou_loss(pred, logits, target)) == pytest.approx(expected, rel=1e-6)


def test_contrastive_by_hand() -> None:
    # 2-channel embedding on a 1x2 grid: left pixel along x, right pixel along y
    ex = torch.tensor([[[3.0, 0.0]], [[0.0, 2.0]]])  # C=2, h=1, w=2
    ey = torch.tensor([[[1.0, 1.0]], [[0.0, 1.0]]])
    masks = torch.tensor([[[5.0, -5.0]], [[-5.0, 5.0]]])  # instance 0 = left, 1 = right
    px = pooled_embeddings(ex, masks)  # unit vectors (1,0), (0,1)
    torch.testing.assert_close(px, torch.eye(2))
    # pooled y: left (1,0) after normalising (1,0); right (1,1)/sqrt2
    s = [[1.0, 1 / math.sqrt(2)], [0.0, 1 / math.sqrt(2)]]  # cos(px_i, py_j)
    t = 0.3
    rows = []
    for i in range(2):
        logits = [v / t for v in s[i]]
        rows.append(-(logits[i] - math.log(sum(math.exp(v) for v in logits))))
    expected = sum(rows) / 2
    got = contrastive_loss(ex, ey, masks, masks, temperature=t)
    assert float(got) == pytest.approx(expected, rel=1e-5)
    # a single instance has no negative: the loss is exactly 0
    assert float(contrastive_loss(ex, ey, masks[:1], masks[:1])) == pytest.approx(0.0, abs=1e-7)


def test_total_combines_terms_and_is_finite() -> None:
    g = torch.Generator().manual_seed(0)
    n, s = 2, 8
    student = torch.randn(n, s, s, generator=g, requires_grad=True)
    teacher = torch.randn(n, s, s, generator=g, requires_grad=True)
    anchor = torch.randn(n, s, s, generator=g)
    emb_t = torch.randn(4, 2, 2, generator=g, requires_grad=True)
    emb_a = torch.randn(4, 2, 2, generator=g)
    iou = torch.rand(n, generator=g)
    t = wesam_losses(
        student_logits=student,
        student_iou=iou,
        teacher_logits=teacher,
        anchor_logits=anchor,
        teacher_embed=emb_t,
        anchor_embed=emb_a,
        teacher_lowres=teacher,
        anchor_lowres=anchor,
    )
    assert all(math.isfinite(float(v.detach())) for v in t.values())
    pseudo = (teacher > 0).float()
    anc = (anchor > 0).float()
    expected = (
        20 * focal_loss(student, pseudo)
        + dice_loss(student, pseudo)
        + iou_loss(iou, student, pseudo)
        + 0.5 * dice_loss(student, anc)
        + 0.5 * dice_loss(teacher, anc)
        + contrastive_loss(emb_t, emb_a, teacher, anchor)
    )
    assert float(t["total"].detach()) == pytest.approx(float(expected.detach()), rel=1e-6)
    t["total"].backward()
    assert student.grad is not None and teacher.grad is not None and emb_t.grad is not None


# --------------------------------------------------------------------------- LoRA maths


class _Toy(nn.Module):
    """Mimics SAM 2's module paths: image_encoder.trunk.blocks.N.attn.qkv + a decoder."""

    def __init__(self) -> None:
        super().__init__()
        self.image_encoder = nn.Module()
        self.image_encoder.trunk = nn.Module()
        blocks = []
        for d_in, d_out in ((6, 4), (4, 8)):
            blk = nn.Module()
            blk.attn = nn.Module()
            blk.attn.qkv = nn.Linear(d_in, 3 * d_out)
            blocks.append(blk)
        self.image_encoder.trunk.blocks = nn.ModuleList(blocks)
        self.decoder = nn.Linear(3, 3)


def test_lora_on_fused_qkv_touches_only_q_and_v() -> None:
    torch.manual_seed(0)
    toy = _Toy()
    base = toy.image_encoder.trunk.blocks[0].attn.qkv
    w0 = base.weight.detach().clone()
    inject_lora(toy, rank=2)
    mod = toy.image_encoder.trunk.blocks[0].attn.qkv
    assert isinstance(mod, LoRAQKV) and mod.weight is base.weight  # same parameter, same key
    trainable = sorted(n for n, p in toy.named_parameters() if p.requires_grad)
    assert trainable and all(".lora_" in n for n in trainable)
    x = torch.randn(5, 6)
    torch.testing.assert_close(mod(x), nn.functional.linear(x, w0, base.bias))  # B = 0: identity
    with torch.no_grad():
        for p in (mod.lora_b_q, mod.lora_b_v):
            p.normal_()
    out = mod(x)
    ref = nn.functional.linear(x, w0, base.bias)
    d = 4
    torch.testing.assert_close(out[:, d : 2 * d], ref[:, d : 2 * d])  # keys untouched
    assert not torch.allclose(out[:, :d], ref[:, :d])  # queries changed
    assert not torch.allclose(out[:, 2 * d :], ref[:, 2 * d :])  # values changed
    with lora_disabled(toy):
        torch.testing.assert_close(mod(x), ref)  # the anchor view
    # merging reproduces the adapted projection with a plain Linear
    state = lora_state_dict(toy)
    plain = _Toy()
    plain.load_state_dict({k: v for k, v in toy.state_dict().items() if ".lora_" not in k})
    merge_adapter(plain, state, scale=mod.scale, source="test")
    torch.testing.assert_close(plain.image_encoder.trunk.blocks[0].attn.qkv(x), out)
    assert merge_injected(toy) == 2
    assert type(toy.image_encoder.trunk.blocks[0].attn.qkv) is nn.Linear
    torch.testing.assert_close(toy.image_encoder.trunk.blocks[0].attn.qkv(x), out)


def test_adapter_of_other_size_is_refused() -> None:
    toy = _Toy()
    inject_lora(toy, rank=2)
    state = lora_state_dict(toy)
    other = _Toy()
    other.image_encoder.trunk.blocks[1].attn.qkv = nn.Linear(4, 30)  # another width
    with pytest.raises(WeightsError, match="another base size"):
        merge_adapter(other, state, scale=1.0, source="x.safetensors")
    del state[next(iter(state))]
    with pytest.raises(WeightsError, match="missing"):
        merge_adapter(_Toy(), state, scale=1.0, source="x.safetensors")


def test_schedule_warmup_and_step_decay() -> None:
    cfg = WesamTrainConfig(steps=1200, warmup_steps=250, lr=1e-4)
    lrs = lr_schedule(cfg)
    assert lrs[0] == pytest.approx(1e-4 / 250) and lrs[249] == pytest.approx(1e-4)
    assert lrs[500] == pytest.approx(1e-4)
    assert lrs[800] == pytest.approx(1e-5) and lrs[1100] == pytest.approx(1e-6)
    assert WesamTrainConfig(steps=8).warmup() == 2  # capped at a quarter of the run


def test_train_config_is_the_one_declaration() -> None:
    """``zoo train``'s flags and the Python API are one typed config (plugin API 3): the
    old flag spellings are aliases, every knob is bounded, defaults are the paper's."""
    from zoo.errors import InputError
    from zoo.options import validate
    from zoo.training.config import TrainConfig

    assert issubclass(WesamTrainConfig, TrainConfig)
    cfg = validate(
        WesamTrainConfig,
        {"batch": "2", "warmup": "0", "ema": True, "decay_at": "0.5,0.75", "steps": "10"},
        command="train",
        where="zoo train wesam-adapt",
    )
    assert (cfg.batch_size, cfg.warmup_steps, cfg.ema_teacher) == (2, 0, True)
    assert cfg.decay_at == (0.5, 0.75) and cfg.lr == 1e-4 and cfg.rank == 4 and cfg.seed == 0
    for bad in ({"steps": "0"}, {"rank": "1000"}, {"decay_at": "1.5"}, {"ema_rate": "1"}):
        with pytest.raises(InputError, match=r"bad value for (steps|rank|decay_at|ema_rate):"):
            validate(WesamTrainConfig, bad, command="train", where="zoo train wesam-adapt")
    for name, info in WesamTrainConfig.model_fields.items():
        if name in TrainConfig.model_fields or info.annotation in (bool, str | None):
            continue
        bounds = {k for m in info.metadata for k in ("le", "lt") if getattr(m, k, None) is not None}
        assert bounds or name in ("prompt", "decay_at"), f"--{name} has no upper bound"
