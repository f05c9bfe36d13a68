"""The memory-attention speed-ups of issue 14 change no bit.

Memory attention is most of SAM2Long's extra cost over SAM 2.  The tracker runs it through
:func:`zoo_sam2long.memory.memory_attention_scaled`, which can share the pathway-independent
first step (input embedding and layer-0 self-attention).  These tests compare each piece with
SAM 2's own modules on a random 256-px network, bit for bit (``torch.equal``).
Whole-tracker equality of the shortcuts is tested in ``test_sam2long_stream.py`` and on
the golden fixture in ``test_sam2long_golden.py``.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch
from zoo_sam2long.memory import first_self_attention, memory_attention_scaled

import zoo

HW = 16 * 16  # stride-16 tokens of a 256-px input


@pytest.fixture(scope="module")
def net() -> Any:
    return zoo.load(
        "sam2long-video:tiny", weights="random", device="cpu", image_size=256, seed=0
    ).model


def _inputs(batch: int, frames: int, ptr_tokens: int, seed: int = 0) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(seed)
    curr = torch.randn(HW, 1, 256, generator=g)
    curr_pos = torch.randn(HW, 1, 256, generator=g)
    n = frames * HW + ptr_tokens
    memory = torch.randn(n, batch, 64, generator=g)
    memory_pos = torch.randn(n, batch, 64, generator=g)
    return curr, curr_pos, memory, memory_pos


def test_first_self_attention_is_each_rows_first_step(net: Any) -> None:
    att = net.memory_attention
    curr, curr_pos, _, _ = _inputs(1, 1, 0)
    with torch.inference_mode():
        row = first_self_attention(att, curr, curr_pos)
        out = (curr + 0.1 * curr_pos).transpose(0, 1).expand(3, -1, -1)
        batched = att.layers[0]._forward_sa(out, curr_pos.transpose(0, 1).expand(3, -1, -1))
    assert all(torch.equal(row[0], batched[b]) for b in range(3))


@pytest.mark.parametrize("frames, ptr_tokens", [(1, 4), (3, 12)])
def test_memory_attention_shortcuts_change_no_bit(net: Any, frames: int, ptr_tokens: int) -> None:
    att = net.memory_attention
    curr, curr_pos, memory, memory_pos = _inputs(3, frames, ptr_tokens)
    g = torch.Generator().manual_seed(2)
    ff = 0.9 + 0.2 * torch.rand(3, frames, generator=g)
    pf = 0.9 + 0.2 * torch.rand(3, ptr_tokens // 4, generator=g)
    args = (curr.expand(-1, 3, -1), curr_pos.expand(-1, 3, -1), memory, memory_pos)
    kw = {"num_obj_ptr_tokens": ptr_tokens, "tokens_per_frame": HW}
    with torch.inference_mode():
        plain = memory_attention_scaled(att, *args, frame_factors=ff, ptr_factors=pf, **kw)
        sa = first_self_attention(att, curr, curr_pos)
        fast = memory_attention_scaled(
            att, *args, frame_factors=ff, ptr_factors=pf, first_layer_sa=sa, **kw
        )
    assert torch.equal(plain, fast)
