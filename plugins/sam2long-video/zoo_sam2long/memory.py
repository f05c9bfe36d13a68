"""Memory-bank selection and key rescaling of SAM2Long.

SAM2Long changes how SAM 2 picks the memories a pathway attends to.  This module holds
those rules as small functions so they can be tested and reasoned about on their own:

* :func:`select_memory_frames` - which past frames of a pathway are usable memory;
* :func:`memory_layout` - which of them give spatial memory and which give object
  pointers, with their temporal encodings;
* :func:`rank_scale_factors` / :func:`scale_keys` - the object-score-ranked rescaling of
  memory-attention keys.

The rules follow the reference implementation, quirks included (they change numbers, and
parity with the published method is the point):

* walking back from frame ``t-1`` towards the prompt frame, frames whose predicted IoU
  exceeds ``iou_threshold`` and whose object score is > 0 are collected, at most
  ``max_ptrs - 1`` of them, where ``max_ptrs = min(T, 16)`` depends on the video length
  ``T``; frame ``t-1`` is always used, even if it failed the test;
* spatial memory = the prompt frame plus the newest ``num_maskmem - 1`` collected frames,
  with SAM 2's temporal encoding by recency;
* object pointers = the prompt frame's pointer (temporal position = true frame distance)
  plus the pointers of all collected frames *except the oldest one*, whose temporal
  position is their recency rank 1, 2, ... rather than their frame distance;
* keys of every memory frame, and separately the 4 tokens of every pointer, are multiplied
  by ``linspace(0.95, 1.05, n)`` assigned in ascending order of object score; the prompt
  frame counts as score 10 held in bfloat16.  When only the prompt pointer is present the
  factor tensor stays bfloat16, so its single factor is ``bf16(0.95) = 0.94921875``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

import torch
import torch.nn.functional as F

from .profiling import CROSS_ATTENTION_STAGE, detail_stage

#: Object score given to the prompt (conditioning) frame when ranking keys.
COND_FRAME_SCORE = 10.0
#: Range of the key rescaling factors.
SCALE_LOW, SCALE_HIGH = 0.95, 1.05
#: Upper bound on object pointers attended to (``max_obj_ptrs_in_encoder`` in SAM 2.x).
DEFAULT_MAX_PTRS = 16


class MemoryEntry(Protocol):
    """What memory selection needs to know about one past frame of a pathway."""

    @property
    def frame_idx(self) -> int: ...

    @property
    def iou(self) -> float: ...

    @property
    def object_score(self) -> float: ...


E = TypeVar("E", bound=MemoryEntry)


def max_pointer_frames(num_frames: int | None, model_max: int = DEFAULT_MAX_PTRS) -> int:
    """``min(T, model_max)``; ``model_max`` when the length ``T`` is unknown (streaming).

    The reference reads ``T`` from the fully decoded video.  A stream of unknown length
    therefore uses the cap itself, which equals the reference for every video of at least
    ``model_max`` frames and differs (slightly: pointer encodings and how far back memory
    reaches) for shorter ones.  Pass the length when it is known.
    """
    if num_frames is None:
        return model_max
    if num_frames < 1:
        raise ValueError("num_frames must be >= 1")
    return min(num_frames, model_max)


def is_reliable(entry: MemoryEntry, iou_threshold: float) -> bool:
    """The reference's test for a frame worth remembering."""
    return float(entry.iou) > iou_threshold and float(entry.object_score) > 0


def select_memory_frames(
    history_newest_first: Iterable[E],
    max_ptrs: int,
    iou_threshold: float,
) -> list[E]:
    """Pick a pathway's memory frames for the next frame.

    Args:
        history_newest_first: the pathway's non-prompt frames, newest (``t-1``) first.  The
            prompt frame must not be included (it is always used separately).
        max_ptrs: ``min(T, 16)`` (see :func:`max_pointer_frames`).
        iou_threshold: minimum predicted IoU of a usable frame (exclusive).

    Returns:
        The selected entries, oldest first.  Empty when the history is empty (the first
        frame after the prompt attends to the prompt frame only).
    """
    it = iter(history_newest_first)
    newest = next(it, None)
    if newest is None:
        return []
    picked: list[E] = []
    for entry in _chain_first(newest, it):
        if is_reliable(entry, iou_threshold):
            picked.append(entry)
        if len(picked) >= max_ptrs - 1:
            break
    picked.reverse()
    if not picked or picked[-1] is not newest:
        # The previous frame is always attended to, reliable or not.
        picked.append(newest)
    return picked


def _chain_first(first: E, rest: Iterable[E]) -> Iterable[E]:
    yield first
    yield from rest


@dataclass(frozen=True)
class MemoryLayout(Generic[E]):
    """Which selected frames feed spatial memory and object pointers.

    Attributes:
        spatial: ``(entry, tpos_index)`` oldest first; ``tpos_index`` indexes SAM 2's
            ``maskmem_tpos_enc`` (0 = most recent).  The prompt frame is not listed; it
            always comes first with index ``num_maskmem - 1``.
        pointers: ``(entry, temporal_position)`` newest first, excluding the prompt frame,
            whose pointer always comes first with position ``t - prompt_frame``.
    """

    spatial: list[tuple[E, int]]
    pointers: list[tuple[E, int]]


def memory_layout(selected: Sequence[E], num_maskmem: int) -> MemoryLayout[E]:
    """Split selected frames (oldest first) into spatial memory and pointers."""
    n_spatial = min(len(selected), num_maskmem - 1)
    spatial = [
        (selected[len(selected) - k], k - 1) for k in range(n_spatial, 0, -1)
    ]  # oldest of the newest n_spatial first; recency k -> tpos index k-1
    # Rank r = 1..n-1 takes selected[-r]: the oldest selected frame never gives a pointer.
    pointers = [(selected[len(selected) - r], r) for r in range(1, len(selected))]
    return MemoryLayout(spatial=spatial, pointers=pointers)


def rank_scale_factors(scores: Sequence[float], device: torch.device | None = None) -> torch.Tensor:
    """Per-item key factors from object scores, prompt frame first.

    Args:
        scores: object scores of the *non-prompt* items, in memory order.  The prompt item's
            score (10, bfloat16) is prepended here.

    Returns:
        A ``[1, n]`` tensor (``n = len(scores) + 1``): ``linspace(0.95, 1.05, n)`` placed by
        ascending score.  Its dtype follows PyTorch type promotion of the stacked scores,
        exactly as the reference: bfloat16 when only the prompt item is present, float32
        otherwise.  Multiplying float32 keys by it yields float32 either way.
    """
    parts = [torch.full((1,), COND_FRAME_SCORE, dtype=torch.bfloat16, device=device)]
    parts += [torch.tensor([s], dtype=torch.float32, device=device) for s in scores]
    weights = torch.stack(parts, dim=1)  # [1, n]; dtype promotion as in the reference
    n = weights.shape[1]
    levels = torch.linspace(SCALE_LOW, SCALE_HIGH, n).to(weights)
    factors = torch.zeros_like(weights)
    factors.scatter_(1, torch.argsort(weights, dim=1), levels.unsqueeze(0))
    return factors


def scale_keys(
    key: torch.Tensor,
    frame_factors: torch.Tensor,
    ptr_factors: torch.Tensor,
    tokens_per_frame: int,
) -> torch.Tensor:
    """Rescale memory-attention keys frame by frame and pointer by pointer.

    Args:
        key: ``[B, N, C]`` batch-first keys (memory + position encoding): ``nf`` frames of
            ``tokens_per_frame`` tokens, then ``np`` pointers of equal token count.
        frame_factors: ``[B, nf]``.
        ptr_factors: ``[B, np]``.
        tokens_per_frame: spatial tokens per memory frame (``H*W`` of the memory features;
            the reference hard-codes 4096, i.e. 1024-px input at stride 16).

    With a single memory frame the reference skips rescaling entirely; callers handle that.
    """
    b, n, c = key.shape
    nf, npt = frame_factors.shape[1], ptr_factors.shape[1]
    nft = nf * tokens_per_frame
    if (n - nft) % max(npt, 1) != 0:
        raise ValueError("pointer tokens do not split evenly across pointers")
    frames = key[:, :nft].reshape(b, nf, tokens_per_frame, c)
    ptrs = key[:, nft:].reshape(b, npt, (n - nft) // max(npt, 1), c)
    frames = frame_factors[:, :, None, None] * frames
    ptrs = ptr_factors[:, :, None, None] * ptrs
    return torch.cat([frames.reshape(b, nft, c), ptrs.reshape(b, n - nft, c)], dim=1)


def first_self_attention(
    attention: Any, curr: torch.Tensor, curr_pos: torch.Tensor
) -> torch.Tensor:
    """Input step and layer-0 self-attention of ``MemoryAttention`` for one frame.

    Why: this part reads only the current frame (memory enters at the first
    cross-attention), so it is the same for every pathway - and every object - tracked on
    that frame.  Computing it once per frame and handing it to
    :func:`memory_attention_scaled` removes one of the four self-attentions per extra
    pathway.  The result is bit-identical to the batched computation (row-wise linear
    layers, layer norm and attention do not mix batch rows); the tests check this.

    Args:
        curr, curr_pos: ``[HW, 1, C]`` current-frame features and position encoding.

    Returns:
        ``[1, HW, C]`` (batch first) if the module is batch-first, else ``[HW, 1, C]``.
    """
    output = curr
    if attention.pos_enc_at_input and curr_pos is not None:
        output = output + 0.1 * curr_pos
    if attention.batch_first:
        output = output.transpose(0, 1)
        curr_pos = curr_pos.transpose(0, 1)
    return attention.layers[0]._forward_sa(output, curr_pos)


def memory_attention_scaled(
    attention: Any,
    curr: torch.Tensor,
    curr_pos: torch.Tensor,
    memory: torch.Tensor,
    memory_pos: torch.Tensor,
    num_obj_ptr_tokens: int,
    frame_factors: torch.Tensor | None,
    ptr_factors: torch.Tensor | None,
    tokens_per_frame: int,
    first_layer_sa: torch.Tensor | None = None,
    rope_cache: RopeKeyCache | None = None,
) -> torch.Tensor:
    """Run SAM 2's ``MemoryAttention`` module with rescaled cross-attention keys.

    This walks the module's own layers (self-attention, cross-attention, MLP) in the same
    order and with the same operations as ``MemoryAttention.forward``; the only change is
    that cross-attention keys are ``scale(memory + memory_pos)`` instead of
    ``memory + memory_pos``.  Since memory and its encoding do not change between layers,
    the scaled keys are computed once and shared by all layers (same values as computing
    them per layer).  With ``frame_factors=None`` no scaling is applied and the result is
    that of the unmodified module.

    Args:
        attention: ``model.memory_attention`` of a SAM 2 model.
        curr, curr_pos: ``[HW, B, C]`` current-frame features and their position encoding.
        memory, memory_pos: ``[N, B, C_mem]`` memory tokens (frames then pointers).
        num_obj_ptr_tokens: pointer tokens at the end of ``memory`` (no RoPE for them).
        frame_factors, ptr_factors: ``[B, nf]`` and ``[B, np]`` factors, or ``None``.
        tokens_per_frame: spatial tokens per memory frame.
        first_layer_sa: :func:`first_self_attention` of this frame (one batch row), or
            ``None`` to compute it here for every row.  With ``rope_cache`` the first
            cross-attention's queries are then also computed for one row only.
        rope_cache: run cross-attention through :func:`rope_cross_attention` with this
            cache (same numbers, less memory traffic), or ``None`` for the module itself.

    Returns:
        ``[HW, B, C]`` memory-conditioned features (sequence first, like the module).
    """
    from sam2.modeling.sam.transformer import RoPEAttention

    batch = curr.size(1)
    output = curr
    if attention.pos_enc_at_input and curr_pos is not None and first_layer_sa is None:
        output = output + 0.1 * curr_pos
    if attention.batch_first:
        output = output.transpose(0, 1)
        curr_pos = curr_pos.transpose(0, 1)
        memory = memory.transpose(0, 1)
        memory_pos = memory_pos.transpose(0, 1)
    if first_layer_sa is not None:
        # pathway-independent: one row computed once per frame, shared by the batch
        bdim = 0 if attention.batch_first else 1
        output = first_layer_sa.expand(*[batch if d == bdim else -1 for d in range(3)])

    keys_with_pos: torch.Tensor | None = None
    for i, layer in enumerate(attention.layers):
        if i > 0 or first_layer_sa is None:
            output = layer._forward_sa(output, curr_pos)

        if layer.pos_enc_at_cross_attn_keys:
            if keys_with_pos is None:
                keys_with_pos = memory + memory_pos
                if frame_factors is not None:
                    assert ptr_factors is not None and attention.batch_first
                    keys_with_pos = scale_keys(
                        keys_with_pos, frame_factors, ptr_factors, tokens_per_frame
                    )
            key = keys_with_pos
        else:
            key = memory
            if frame_factors is not None:
                assert ptr_factors is not None and attention.batch_first
                key = scale_keys(memory, frame_factors, ptr_factors, tokens_per_frame)

        attn = layer.cross_attn_image
        no_rope = num_obj_ptr_tokens if isinstance(attn, RoPEAttention) else 0
        # (the module's attention takes batch-first tensors; only that layout is mirrored)
        fast = (
            rope_cache is not None
            and attention.batch_first
            and can_use_rope_cross_attention(attn, key.dtype, output.size(1), key.size(1) - no_rope)
        )
        # layer 0 with a shared first step: every row's queries are the same row
        one_row = fast and i == 0 and first_layer_sa is not None
        src, pos = (first_layer_sa, curr_pos[:1]) if one_row else (output, curr_pos)
        tgt2 = layer.norm2(src)
        q = tgt2 + pos if layer.pos_enc_at_cross_attn_queries else tgt2
        with detail_stage(CROSS_ATTENTION_STAGE):
            if fast:
                assert rope_cache is not None
                tgt2 = rope_cross_attention(attn, q, key, memory, no_rope, rope_cache)
            else:
                kwds = {"num_k_exclude_rope": no_rope} if no_rope > 0 else {}
                tgt2 = attn(q=q, k=key, v=memory, **kwds)
        output = output + layer.dropout2(tgt2)

        tgt2 = layer.norm3(output)
        tgt2 = layer.linear2(layer.dropout(layer.activation(layer.linear1(tgt2))))
        output = output + layer.dropout3(tgt2)

    normed = attention.norm(output)
    if attention.batch_first:
        normed = normed.transpose(0, 1)
    return normed


class RopeKeyCache:
    """Rotary frequencies of memory keys, repeated once per memory frame, kept between calls.

    Why: SAM 2's ``RoPEAttention`` rotates the keys of every memory frame with the query
    grid's frequencies and, on CPU, materialises them repeated ``frames`` times on every
    call (``expand`` + ``flatten``): a ``[frames * HW, C/2]`` complex tensor per layer, per
    pathway batch, per frame.  The repetition only depends on the frequency table and the
    frame count, so one copy for the largest count seen is kept and sliced (the slice of a
    repeated table is the repeated table of fewer frames: same values, same layout).
    Tables of layers that are equal share one entry.
    """

    def __init__(self) -> None:
        self._entries: list[tuple[torch.Tensor, torch.Tensor]] = []

    def repeated(self, freqs: torch.Tensor, times: int) -> torch.Tensor:
        """``freqs [L, D]`` repeated ``times`` along ``L``: ``[times * L, D]``."""
        n = times * freqs.size(0)
        for i, (src, rep) in enumerate(self._entries):
            if src is freqs or (src.shape == freqs.shape and torch.equal(src, freqs)):
                if rep.size(0) < n:
                    rep = freqs.unsqueeze(0).expand(times, -1, -1).flatten(0, 1)
                    self._entries[i] = (src, rep)
                return rep[:n]
        rep = freqs.unsqueeze(0).expand(times, -1, -1).flatten(0, 1)
        self._entries.append((freqs, rep))
        return rep


def rope_cross_attention(
    attn: Any,
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    num_k_exclude_rope: int,
    cache: RopeKeyCache,
) -> torch.Tensor:
    """SAM 2's ``RoPEAttention.forward`` for memory cross-attention, same arithmetic.

    The operations and their order are those of the module (projections, head split,
    complex rotation of queries and of the keys of memory frames, scaled dot-product
    attention, output projection), so the result is bit-identical; two things differ in
    how memory is used, not in the numbers:

    * the keys' repeated frequency table comes from ``cache`` instead of being rebuilt;
    * the rotated keys are written into the projected keys in place rather than computed
      into a new tensor and copied back.

    ``q`` may have batch size 1 while ``k``/``v`` have ``B``: the query side (projection
    and rotation) is then computed once and broadcast, which is how pathways share the
    first layer's queries.  Call only for float32 ``RoPEAttention`` with
    ``rope_k_repeat`` (see :func:`can_use_rope_cross_attention`).
    """
    q = attn._separate_heads(attn.q_proj(q), attn.num_heads)
    k = attn._separate_heads(attn.k_proj(k), attn.num_heads)
    v = attn._separate_heads(attn.v_proj(v), attn.num_heads)

    w = h = math.sqrt(q.shape[-2])
    attn.freqs_cis = attn.freqs_cis.to(q.device)
    if attn.freqs_cis.shape[0] != q.shape[-2]:
        attn.freqs_cis = attn.compute_cis(end_x=w, end_y=h).to(q.device)
    freqs = attn.freqs_cis
    xq = torch.view_as_complex(q.reshape(*q.shape[:-1], -1, 2))
    q = torch.view_as_real(xq * freqs.view(1, 1, *freqs.shape)).flatten(3)
    num_k_rope = k.size(-2) - num_k_exclude_rope
    if num_k_rope > 0:
        xk = torch.view_as_complex(k[:, :, :num_k_rope].reshape(*k.shape[:2], num_k_rope, -1, 2))
        rep = cache.repeated(freqs, num_k_rope // freqs.size(0))
        torch.mul(xk, rep.view(1, 1, *rep.shape), out=xk)
    if q.size(0) != k.size(0):
        q = q.expand(k.size(0), -1, -1, -1)
    out = F.scaled_dot_product_attention(q, k, v, dropout_p=0.0)
    return attn.out_proj(attn._recombine_heads(out))


def can_use_rope_cross_attention(attn: Any, dtype: torch.dtype, num_q: int, num_k: int) -> bool:
    """Whether :func:`rope_cross_attention` reproduces this module call exactly."""
    from sam2.modeling.sam.transformer import RoPEAttention

    return (
        isinstance(attn, RoPEAttention)
        and not attn.training
        and dtype == torch.float32
        and attn.rope_k_repeat
        and num_q > 0
        and num_k % num_q == 0
    )
