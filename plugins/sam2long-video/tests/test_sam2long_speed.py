"""The memory-attention speed-ups of issue 14 change no bit.

Memory attention is most of SAM2Long's extra cost over SAM 2.  The tracker runs it through
:func:`zoo_sam2long.memory.memory_attention_scaled`, which can share the pathway-independent
first step (input embedding, layer-0 self-attention and layer-0 cross-attention queries)
and run cross-attention with a cached rotary table.  These tests compare each piece with
SAM 2's own modules on a random 256-px network, bit for bit (``torch.equal``).
Whole-tracker equality of the shortcuts is tested in ``test_sam2long_stream.py`` and on
the golden fixture in ``test_sam2long_golden.py``.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch
from zoo_sam2long.memory import (
    RopeKeyCache,
    can_use_rope_cross_attention,
    first_self_attention,
    memory_attention_scaled,
    rope_cross_attention,
)

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


def test_rope_cross_attention_equals_the_module(net: Any) -> None:
    g = torch.Generator().manual_seed(1)
    cache = RopeKeyCache()
    for layer in net.memory_attention.layers:
        attn = layer.cross_attn_image
        q_row = torch.randn(1, HW, 256, generator=g)
        q = q_row.expand(3, -1, -1).contiguous()  # as the tracker's queries are
        # keys contiguous, values a transposed view: the layouts the tracker passes
        memory = torch.randn(3 * HW + 8, 3, 64, generator=g).transpose(0, 1)
        keys = memory + torch.randn(3, 3 * HW + 8, 64, generator=g)
        assert can_use_rope_cross_attention(attn, keys.dtype, HW, 3 * HW)
        with torch.inference_mode():
            ref = attn(q=q, k=keys, v=memory, num_k_exclude_rope=8)
            ours = rope_cross_attention(attn, q, keys, memory, 8, cache)
            one_row = rope_cross_attention(attn, q_row, keys, memory, 8, cache)
        assert torch.equal(ref, ours)
        assert torch.equal(ref, one_row)


def test_rope_key_cache_slices_one_table() -> None:
    freqs = torch.polar(torch.ones(4, 3), torch.arange(12.0).reshape(4, 3))
    cache = RopeKeyCache()
    small = cache.repeated(freqs, 2)
    assert torch.equal(small, freqs.repeat(2, 1))
    big = cache.repeated(freqs, 5)  # grows
    assert torch.equal(big, freqs.repeat(5, 1))
    again = cache.repeated(freqs.clone(), 3)  # an equal table shares the entry
    assert torch.equal(again, freqs.repeat(3, 1)) and again.data_ptr() == big.data_ptr()
    assert len(cache._entries) == 1


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
        for shared, cache in ((sa, None), (None, RopeKeyCache()), (sa, RopeKeyCache())):
            fast = memory_attention_scaled(
                att,
                *args,
                frame_factors=ff,
                ptr_factors=pf,
                first_layer_sa=shared,
                rope_cache=cache,
                **kw,
            )
            assert torch.equal(plain, fast)
