"""Streaming SAM2Long tracker over a SAM 2 model from the ``sam2`` package.

SAM2Long (Ding et al., arXiv 2410.16268) is training-free: it reuses every SAM 2 module
(image encoder, memory attention, mask decoder, memory encoder) and only changes *which*
memories are attended to and *which* masks are kept.  On each frame after the first
tracked one, each of ``P`` pathways proposes three masks against its own memory; a small
tree search (:mod:`zoo_sam2long.tree`) keeps ``P`` of them, and the output is the history
of the best pathway.

This implementation follows the reference's numbers (see the golden tests) but is built
for long videos:

* **Streaming.**  Frames are read lazily and a frame is emitted as soon as every surviving
  pathway agrees on it (their histories share that frame), which is exactly when the
  reference's end-of-video choice of output can no longer change it.  Only what can still
  be needed is held: undecided frames' masks, and per pathway the memory that the
  selection rule can still pick (the newest ``min(T, 16) - 1`` reliable frames plus the
  previous frame).  Older history is detached, so memory is bounded by the undecided
  window rather than the video length.
* **Each distinct pathway computed once.**  Pathways with identical histories (always the
  case right after the first tracked frame, and whenever the tree collapses) produce
  identical outputs, so they are evaluated once and fanned out; the remaining distinct
  pathways with the same memory layout share one batched memory-attention + decoder call,
  and kept masks share one batched memory-encoder call.
* **Several objects**, each with its own tree, prompted by a box, points, or a mask on
  its own prompt frame; the image encoder runs once per frame for all of them.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from .frames import FrameSource, iter_frames, load_rgb, preprocess_frame, source_length
from .memory import (
    RopeKeyCache,
    first_self_attention,
    max_pointer_frames,
    memory_attention_scaled,
    memory_layout,
    rank_scale_factors,
    select_memory_frames,
)
from .profiling import stage
from .tree import Candidate, score_candidates, select_candidates

#: Mask logit SAM 2 writes where the object is predicted absent.
NO_OBJ_SCORE = -1024.0

# --------------------------------------------------------------------------- public types


@dataclass(frozen=True)
class SAM2LongConfig:
    """Tree and execution options.

    Attributes:
        num_pathways: ``P``, memory pathways kept per object (1 = no tree).
        iou_threshold: predicted IoU a frame needs to be used as memory (exclusive).
        uncertainty: if ``max |object score|`` over pathways exceeds this, keep the top
            ``P`` candidates; otherwise de-duplicate near-identical masks.
        dedup: evaluate pathways with identical histories once (outputs unchanged).
        batch: batch distinct pathways' memory attention + decoder, and kept candidates'
            memory encoding, into single calls.
        share_first_layer: run memory attention's input step and layer-0 self-attention,
            which read only the current frame, once per frame instead of once per
            pathway (outputs bit-identical).
        lazy_memory: memory-encode a kept mask when the next frame needs it rather than
            when it is kept, so the last frame's masks are never encoded (outputs
            bit-identical: the same masks are encoded in the same batches).
        cache_rope: run memory cross-attention as SAM 2's module does but with the keys'
            repeated rotary table cached and the keys rotated in place; together with
            ``share_first_layer`` the first cross-attention's queries are computed once
            per frame (outputs bit-identical).

    The last five are execution choices, not part of the method: turning them off gives
    the same decisions (and, except ``batch``, the same bits) more slowly; they exist to
    measure each speed-up and to test it against the plain path.
    """

    num_pathways: int = 3
    iou_threshold: float = 0.1
    uncertainty: float = 2.0
    dedup: bool = True
    batch: bool = True
    share_first_layer: bool = True
    lazy_memory: bool = True
    cache_rope: bool = True

    def __post_init__(self) -> None:
        if self.num_pathways < 1:
            raise ValueError("num_pathways must be >= 1")


@dataclass
class ObjectPrompt:
    """How one object is specified on its prompt frame.

    Coordinates are in original video pixels.  Exactly one of ``box``/``points`` (which
    may be combined: the box comes first, as in SAM 2) or ``mask`` must be given.

    Attributes:
        obj_id: caller's id for the object.
        frame_idx: frame carrying the prompt; tracking runs forward from it.
        box: ``(x0, y0, x1, y1)``.
        points: ``[[x, y], ...]`` with ``labels`` (1 = foreground, 0 = background).
        mask: ``HxW`` boolean mask at video resolution.
    """

    obj_id: int
    frame_idx: int = 0
    box: Sequence[float] | None = None
    points: Sequence[Sequence[float]] | None = None
    labels: Sequence[int] | None = None
    mask: np.ndarray | None = None

    def __post_init__(self) -> None:
        has_geom = self.box is not None or self.points is not None
        if has_geom == (self.mask is not None):
            raise ValueError(
                f"object {self.obj_id}: give a box and/or points, or a mask (exactly one kind)"
            )
        if (self.points is None) != (self.labels is None):
            raise ValueError(f"object {self.obj_id}: points and labels go together")
        if self.frame_idx < 0:
            raise ValueError(f"object {self.obj_id}: frame_idx must be >= 0")


@dataclass
class TrackedFrame:
    """Final result for one frame, emitted in frame order.

    Attributes:
        frame_idx: index in the source.
        obj_ids: object ids, in prompt order.
        lowres_logits: ``[N, 256, 256]`` mask logits as predicted (before resizing);
            ``-1024`` for an object not yet prompted.
        logits: ``[N, H, W]`` logits at video resolution (bilinear), after SAM 2's
            non-overlap constraint across objects.
        masks: ``[N, H, W]`` boolean, ``logits > 0``.
        ious: predicted IoU of each output mask (NaN before the object's prompt frame).
        object_scores: object-presence logit of each output mask (NaN likewise).
    """

    frame_idx: int
    obj_ids: list[int]
    lowres_logits: torch.Tensor
    logits: torch.Tensor
    masks: np.ndarray
    ious: list[float] = field(default_factory=list)
    object_scores: list[float] = field(default_factory=list)


@dataclass
class FrameRecord:
    """Diagnostics of one object on one frame (for tests and analysis).

    ``kind`` is ``"prompt"``, ``"first"`` (single-path frame after the prompt) or
    ``"tree"``.  For tree frames the candidate arrays are per *pathway* (fanned out, as the
    reference sees them) and ``kept`` lists the selected candidates in slot order.
    """

    frame_idx: int
    obj_id: int
    kind: str
    object_scores: list[float]
    ious: list[list[float]]
    kept: list[Candidate] = field(default_factory=list)
    slot_lowres: list[torch.Tensor] = field(default_factory=list)
    num_distinct: int = 1
    num_batches: int = 1


class TreeRecorder:
    """Collects :class:`FrameRecord` objects; pass one to :class:`SAM2LongTracker`."""

    def __init__(self, keep_slot_logits: bool = False) -> None:
        self.keep_slot_logits = keep_slot_logits
        self.records: list[FrameRecord] = []

    def add(self, record: FrameRecord) -> None:
        self.records.append(record)

    def for_object(self, obj_id: int) -> list[FrameRecord]:
        return [r for r in self.records if r.obj_id == obj_id]


# --------------------------------------------------------------------------- internals


@dataclass
class _FrameMemory:
    """What a frame contributes to later frames' memory.

    ``features`` is ``None`` while the memory encoding is deferred (``lazy_memory``): the
    object's :class:`_PendingMemory` fills it before any frame reads it.
    """

    features: torch.Tensor | None  # [1, C_mem, h, w] bfloat16, as stored by the reference
    obj_ptr: torch.Tensor  # [1, C] float32


@dataclass(eq=False)
class _Node:
    """One kept slot on one frame; a pathway is the chain of its ancestors.

    ``key`` identifies the content: two nodes of the same frame with the same key have the
    same history and therefore identical outputs (used for de-duplication and to decide
    when all pathways agree).
    """

    frame_idx: int
    slot: int
    parent: _Node | None
    mask_index: int
    acc_score: float
    iou: float
    object_score: float
    key: int
    lowres: torch.Tensor | None  # [1, 1, 256, 256] output logits until emitted
    memory: _FrameMemory | None  # dropped once selection can no longer pick it

    def lineage(self) -> Iterator[_Node]:
        node: _Node | None = self
        while node is not None:
            yield node
            node = node.parent


@dataclass
class _Cond:
    """The prompt frame of an object (always in memory, never selected/dropped)."""

    frame_idx: int
    memory: _FrameMemory
    object_score: float


@dataclass
class _PendingMemory:
    """Kept masks of one tree frame whose memory encoding waits for the next frame.

    Holds only what the memory encoder reads (the frame's lowest-resolution features and
    the kept rows of the decoder outputs), so deferring costs a few MB for one frame.
    """

    feats: _Features
    to_encode: dict[int, tuple[_Heads, int, int]]
    memories: dict[int, _FrameMemory]


@dataclass
class _Object:
    prompt: ObjectPrompt
    cond: _Cond | None = None
    leaves: list[_Node] = field(default_factory=list)
    pending: _PendingMemory | None = None
    #: final outputs not yet emitted: frame -> (low-res logits, predicted IoU, object score)
    decided: dict[int, tuple[torch.Tensor, float, float]] = field(default_factory=dict)
    decided_upto: int = -1

    @property
    def start(self) -> int:
        return self.prompt.frame_idx


@dataclass
class _Features:
    vision: list[torch.Tensor]  # per level [HW, 1, C]
    pos: list[torch.Tensor]
    sizes: list[tuple[int, int]]
    #: memory attention's pathway-independent first step (see ``first_self_attention``)
    first_layer_sa: torch.Tensor | None = None

    def lowest(self) -> _Features:
        """Only the stride-16 level: all the memory encoder reads."""
        return _Features(self.vision[-1:], self.pos[-1:], self.sizes[-1:])

    def high_res(self, batch: int) -> list[torch.Tensor]:
        return [
            x.permute(1, 2, 0).view(x.size(1), x.size(2), *s).expand(batch, -1, -1, -1)
            for x, s in zip(self.vision[:-1], self.sizes[:-1], strict=True)
        ]


@dataclass
class _Bank:
    """Memory-attention inputs of a batch of pathways (see ``memory_attention_scaled``)."""

    memory: torch.Tensor  # [N, B, C_mem]
    memory_pos: torch.Tensor  # [N, B, C_mem]
    num_ptr_tokens: int
    frame_factors: torch.Tensor | None  # [B, n_frames]
    ptr_factors: torch.Tensor | None  # [B, n_pointers]


@dataclass
class _Heads:
    """Decoder outputs for a batch (rows = pathways)."""

    low_res: torch.Tensor  # [B, M, 256, 256] (absent object -> NO_OBJ_SCORE)
    ious: torch.Tensor  # [B, M]
    tokens: torch.Tensor  # [B, T, C] mask-token outputs used for pointers
    object_score_logits: torch.Tensor  # [B, 1]
    pointers: torch.Tensor | None = None  # [B, M, C], computed on first use


class SAM2LongTracker:
    """Track objects through a video with SAM2Long on top of a ``sam2`` model.

    ``model`` is a SAM 2 video model as :func:`zoo_sam2.build.build_sam2_model` builds it
    (``zoo.load("sam2long-video:tiny").model`` is one, with the reference flags).

    Example::

        model = zoo.load("sam2long-video:tiny").model
        tracker = SAM2LongTracker(model, SAM2LongConfig(num_pathways=3))
        for out in tracker.track("video_frames/", [ObjectPrompt(1, box=(300, 0, 500, 400))]):
            save(out.frame_idx, out.masks)
    """

    def __init__(
        self,
        model: torch.nn.Module,
        config: SAM2LongConfig | None = None,
        recorder: TreeRecorder | None = None,
    ) -> None:
        # a sam2 ``SAM2Base``; typed Any because sam2 ships no type information and its
        # sub-modules/flags are plain attributes
        self.model: Any = model
        self.config = config or SAM2LongConfig()
        self.recorder = recorder
        self._key_counter = itertools.count()
        #: how many distinct pathway evaluations each tree frame needed (diagnostics)
        #: and how many masks were memory-encoded (``memory_encodings``)
        self.stats: dict[str, int] = {
            "tree_frames": 0,
            "pathway_evals": 0,
            "distinct_evals": 0,
            "memory_encodings": 0,
        }
        self._objects: list[_Object] = []
        #: spatial encoding of memory frames ``[HW, 1, C_mem]``; the same for every frame
        self._pos_enc_cache: torch.Tensor | None = None
        #: repeated rotary tables of memory keys (``cache_rope``)
        self._rope_cache = RopeKeyCache() if self.config.cache_rope else None

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    # ------------------------------------------------------------------ public API

    def track(
        self,
        frames: FrameSource,
        prompts: Sequence[ObjectPrompt],
        num_frames: int | None = None,
    ) -> Iterator[TrackedFrame]:
        """Yield :class:`TrackedFrame` results in frame order, as soon as each is final.

        Args:
            frames: a directory of JPEG frames, or any iterable of ``HxWx3`` uint8 arrays /
                PIL images / image paths; consumed lazily.
            prompts: one :class:`ObjectPrompt` per object.
            num_frames: video length ``T``.  The method normalises pointer positions by
                ``min(T, 16) - 1`` and bounds memory look-back by it; when ``None``,
                ``len(frames)`` is used if available, else 16 (identical results for
                videos of at least 16 frames).
        """
        if not prompts:
            raise ValueError("at least one object prompt is needed")
        ids = [p.obj_id for p in prompts]
        if len(set(ids)) != len(ids):
            raise ValueError("object ids must be unique")
        if num_frames is None:
            num_frames = source_length(frames)
        if num_frames is not None:
            late = [p.obj_id for p in prompts if p.frame_idx >= num_frames]
            if late:
                raise ValueError(f"prompt frame beyond the end of the video for objects {late}")
        max_ptrs = max_pointer_frames(num_frames, int(self.model.max_obj_ptrs_in_encoder))
        objects = [_Object(p) for p in prompts]
        self._objects = objects
        video_hw: tuple[int, int] | None = None
        next_emit = 0
        seen = 0
        for t, raw in enumerate(iter_frames(frames)):
            seen = t + 1
            with stage("frame loading"):
                frame = load_rgb(raw)
            if video_hw is None:
                video_hw = (frame.height, frame.width)
            elif (frame.height, frame.width) != video_hw:
                got = (frame.height, frame.width)
                raise ValueError(f"frame {t} has (H, W) {got}, expected {video_hw}")
            active = [o for o in objects if o.start <= t]
            if active:
                with torch.inference_mode():
                    self._step(t, frame, active, video_hw, max_ptrs)
            while next_emit <= t and self._ready(objects, next_emit):
                yield self._emit(objects, next_emit, video_hw)
                next_emit += 1
        late = [o.prompt.obj_id for o in objects if o.start >= seen]
        if late:
            raise ValueError(f"prompt frame beyond the end of the video for objects {late}")
        if video_hw is None:
            raise ValueError("the video has no frames")
        for obj in objects:
            self._finalize(obj)
        while next_emit < seen:
            yield self._emit(objects, next_emit, video_hw)
            next_emit += 1

    def footprint(self) -> dict[str, int]:
        """What the running (or last) ``track`` call holds, for memory diagnostics.

        ``nodes``: pathway-history nodes reachable from the live pathways; ``memories``:
        distinct stored frame memories among them; ``undecided``: nodes still holding an
        output mask; ``decided_pending``: final masks waiting for other objects.
        """
        nodes: dict[int, _Node] = {}
        for obj in self._objects:
            for leaf in obj.leaves:
                for n in leaf.lineage():
                    nodes[id(n)] = n
        mems = {id(n.memory) for n in nodes.values() if n.memory is not None}
        return {
            "nodes": len(nodes),
            "memories": len(mems),
            "undecided": sum(n.lowres is not None for n in nodes.values()),
            "decided_pending": sum(len(o.decided) for o in self._objects),
        }

    # ------------------------------------------------------------------ per frame

    def _step(
        self,
        t: int,
        frame: Image.Image,
        active: list[_Object],
        video_hw: tuple[int, int],
        max_ptrs: int,
    ) -> None:
        with stage("frame loading"):
            image = preprocess_frame(frame, int(self.model.image_size)).to(self.device)
        feats = self._encode_image(image)
        for obj in active:
            if t == obj.start:
                self._prompt_frame(obj, feats, video_hw)
            elif t == obj.start + 1:
                self._first_frame(obj, t, feats, max_ptrs)
            else:
                self._tree_frame(obj, t, feats, max_ptrs)
            self._decide_and_prune(obj, max_ptrs)

    def _encode_image(self, image: torch.Tensor) -> _Features:
        backbone_out = self.model.forward_image(image.unsqueeze(0))
        _, vision, pos, sizes = self.model._prepare_backbone_features(backbone_out)
        return _Features(list(vision), list(pos), [tuple(s) for s in sizes])

    # prompt frame ---------------------------------------------------------------

    def _prompt_frame(self, obj: _Object, feats: _Features, video_hw: tuple[int, int]) -> None:
        m = self.model
        p = obj.prompt
        h, w = feats.sizes[-1]
        high_res = feats.high_res(1)
        if p.mask is not None:
            mask_inputs = self._mask_input(p.mask, video_hw)
            pix_feat = feats.vision[-1].permute(1, 2, 0).view(1, m.hidden_dim, h, w)
            low_res, _, ious, _, _, obj_ptr, obj_score = m._use_mask_as_output(
                pix_feat, high_res, mask_inputs
            )
            iou = float(ious.max())  # a dummy 1.0: the mask is taken as given
        else:
            point_inputs = self._point_input(p, video_hw)
            pix_feat = self._no_memory_features(feats)
            multimask = bool(m._use_multimask(True, point_inputs))
            heads = self._decode(pix_feat, high_res, point_inputs=point_inputs, multimask=multimask)
            low_res, obj_ptr = self._best_mask_and_pointer(heads, multimask)
            obj_score = heads.object_score_logits
            iou = float(heads.ious.max())
        # The reference re-encodes the prompt frame's memory from the low-res logits
        # upsampled again (SAM 2's "consolidation"), not from the decoder's own upsampling.
        high = F.interpolate(
            low_res, size=(m.image_size, m.image_size), mode="bilinear", align_corners=False
        )
        # Prompt frames count as user input ("mask from points") like in SAM 2.
        features = self._encode_memory(feats, high, obj_score, True)
        obj.cond = _Cond(
            frame_idx=p.frame_idx,
            memory=_FrameMemory(features, obj_ptr),
            object_score=float(obj_score.item()),
        )
        obj.decided[p.frame_idx] = (low_res, iou, float(obj_score.item()))
        obj.decided_upto = p.frame_idx
        if self.recorder is not None:
            self.recorder.add(
                FrameRecord(
                    p.frame_idx,
                    p.obj_id,
                    "prompt",
                    [float(obj_score.item())],
                    [],
                    slot_lowres=[low_res] if self.recorder.keep_slot_logits else [],
                )
            )

    def _point_input(self, p: ObjectPrompt, video_hw: tuple[int, int]) -> dict[str, torch.Tensor]:
        coords = torch.zeros(0, 2, dtype=torch.float32)
        labels = torch.zeros(0, dtype=torch.int32)
        if p.points is not None:
            coords = torch.tensor(p.points, dtype=torch.float32).reshape(-1, 2)
            labels = torch.tensor(p.labels, dtype=torch.int32).reshape(-1)
            if len(coords) != len(labels):
                raise ValueError(f"object {p.obj_id}: one label per point is needed")
        if p.box is not None:
            box = torch.tensor(p.box, dtype=torch.float32).reshape(2, 2)
            coords = torch.cat([box, coords], dim=0)
            labels = torch.cat([torch.tensor([2, 3], dtype=torch.int32), labels], dim=0)
        vh, vw = video_hw
        # Same arithmetic as SAM 2: divide by (W, H), then scale to the model input size.
        coords = coords[None] / torch.tensor([vw, vh])
        coords = coords * self.model.image_size
        return {
            "point_coords": coords.to(self.device),
            "point_labels": labels[None].to(self.device),
        }

    def _mask_input(self, mask: np.ndarray, video_hw: tuple[int, int]) -> torch.Tensor:
        mask_t = torch.as_tensor(np.asarray(mask)).bool()
        if mask_t.shape != video_hw:
            raise ValueError(
                f"mask prompt must be {video_hw} (video size), got {tuple(mask_t.shape)}"
            )
        x = mask_t[None, None].float().to(self.device)
        s = self.model.image_size
        if x.shape[-2:] != (s, s):
            x = F.interpolate(x, size=(s, s), align_corners=False, mode="bilinear", antialias=True)
            x = (x >= 0.5).float()
        return x

    def _no_memory_features(self, feats: _Features) -> torch.Tensor:
        m = self.model
        h, w = feats.sizes[-1]
        if m.directly_add_no_mem_embed:
            pix = feats.vision[-1] + m.no_mem_embed
        else:
            pix = m.memory_attention(
                curr=feats.vision[-1:],
                curr_pos=feats.pos[-1:],
                memory=m.no_mem_embed.expand(1, 1, m.mem_dim),
                memory_pos=m.no_mem_pos_enc.expand(1, 1, m.mem_dim),
                num_obj_ptr_tokens=0,
            )
        return pix.permute(1, 2, 0).view(1, m.hidden_dim, h, w)

    # first tracked frame -------------------------------------------------------------

    def _first_frame(self, obj: _Object, t: int, feats: _Features, max_ptrs: int) -> None:
        """Frame after the prompt: plain SAM 2 with the prompt frame as only memory."""
        assert obj.cond is not None
        pix = self._attend(feats, [[]], [[]], obj.cond, t, max_ptrs, scale=False)
        multimask = bool(self.model._use_multimask(False, None))
        heads = self._decode(pix, feats.high_res(1), point_inputs=None, multimask=multimask)
        low_res, obj_ptr = self._best_mask_and_pointer(heads, multimask)
        high = F.interpolate(
            low_res, size=(self.model.image_size,) * 2, mode="bilinear", align_corners=False
        )
        features = self._encode_memory(feats, high, heads.object_score_logits, False)
        iou = float(heads.ious.max(-1)[0].item())
        score = float(heads.object_score_logits.item())
        node = _Node(
            frame_idx=t,
            slot=0,
            parent=None,
            mask_index=-1,
            acc_score=0.0,
            iou=iou,
            object_score=score,
            key=next(self._key_counter),
            lowres=low_res,
            memory=_FrameMemory(features, obj_ptr),
        )
        # All P pathways start as copies of this single path (as in the reference).
        obj.leaves = [node] * self.config.num_pathways
        if self.recorder is not None:
            self.recorder.add(
                FrameRecord(
                    t,
                    obj.prompt.obj_id,
                    "first",
                    [score],
                    [[iou]],
                    slot_lowres=[low_res] if self.recorder.keep_slot_logits else [],
                )
            )

    # tree frames -----------------------------------------------------------------------

    def _tree_frame(self, obj: _Object, t: int, feats: _Features, max_ptrs: int) -> None:
        cfg = self.config
        m = self.model
        assert obj.cond is not None
        self._flush_pending(obj)
        leaves = obj.leaves
        # 1. which pathway evaluations are needed
        if cfg.dedup:
            reps: dict[int, _Node] = {}
            for leaf in leaves:
                reps.setdefault(leaf.key, leaf)
            evals = list(reps.values())
        else:
            evals = list(leaves)
        selections = [
            select_memory_frames(leaf.lineage(), max_ptrs, cfg.iou_threshold) for leaf in evals
        ]
        layouts = [memory_layout(sel, int(m.num_maskmem)) for sel in selections]

        # 2. group evaluations sharing a memory layout (same token count) into batches
        groups: dict[tuple[int, int], list[int]] = {}
        for i, lay in enumerate(layouts):
            shape = (len(lay.spatial), len(lay.pointers))
            if cfg.batch:
                groups.setdefault(shape, []).append(i)
            else:
                groups[(i, -1)] = [i]
        results: list[tuple[_Heads, int] | None] = [None] * len(evals)
        for idxs in groups.values():
            spatial = [[(n.memory, k, n.object_score) for n, k in layouts[i].spatial] for i in idxs]
            pointers = [
                [(n.memory, r, n.object_score) for n, r in layouts[i].pointers] for i in idxs
            ]
            pix = self._attend(feats, spatial, pointers, obj.cond, t, max_ptrs, scale=True)
            heads = self._decode(pix, feats.high_res(len(idxs)), point_inputs=None, multimask=True)
            if heads.low_res.shape[1] != 3:
                raise RuntimeError("SAM2Long needs a model with 3 multimask outputs for tracking")
            for row, i in enumerate(idxs):
                results[i] = (heads, row)

        # 3. candidates per pathway (fanned out) and selection
        if cfg.dedup:
            row_of = {leaf.key: results[i] for i, leaf in enumerate(evals)}
            per_path = [row_of[leaf.key] for leaf in leaves]
        else:
            per_path = results
        ious: list[list[float]] = []
        obj_scores: list[float] = []
        for res in per_path:
            assert res is not None
            heads, row = res
            ious.append([float(v) for v in heads.ious[row].tolist()])
            obj_scores.append(float(heads.object_score_logits[row, 0].item()))
        cands = score_candidates([leaf.acc_score for leaf in leaves], ious, obj_scores)
        kept = select_candidates(cands, obj_scores, cfg.num_pathways, cfg.uncertainty)

        # 4. children: memory-encode each distinct kept mask once
        child_keys: dict[tuple[int, int], int] = {}
        to_encode: dict[int, tuple[_Heads, int, int]] = {}
        new_keys: list[int] = []
        for c in kept:
            parent = leaves[c.pathway]
            ident = (parent.key, c.mask_index) if cfg.dedup else (c.pathway, c.mask_index)
            if ident not in child_keys:
                child_keys[ident] = next(self._key_counter)
                res = per_path[c.pathway]
                assert res is not None
                to_encode[child_keys[ident]] = (res[0], res[1], c.mask_index)
            new_keys.append(child_keys[ident])
        memories = self._child_memories(to_encode)
        if cfg.lazy_memory:
            obj.pending = _PendingMemory(feats.lowest(), to_encode, memories)
        else:
            self._encode_into(feats, to_encode, memories)

        new_leaves: list[_Node] = []
        for slot, (c, key) in enumerate(zip(kept, new_keys, strict=True)):
            heads, row, j = to_encode[key]
            new_leaves.append(
                _Node(
                    frame_idx=t,
                    slot=slot,
                    parent=leaves[c.pathway],
                    mask_index=j,
                    acc_score=c.score,
                    iou=c.iou,
                    object_score=obj_scores[c.pathway],
                    key=key,
                    lowres=heads.low_res[row : row + 1, j : j + 1],
                    memory=memories[key],
                )
            )
        obj.leaves = new_leaves

        self.stats["tree_frames"] += 1
        self.stats["pathway_evals"] += len(leaves)
        self.stats["distinct_evals"] += len(evals)
        if self.recorder is not None:
            self.recorder.add(
                FrameRecord(
                    t,
                    obj.prompt.obj_id,
                    "tree",
                    obj_scores,
                    ious,
                    kept=list(kept),
                    slot_lowres=[n.lowres for n in new_leaves if n.lowres is not None]
                    if self.recorder.keep_slot_logits
                    else [],
                    num_distinct=len(evals),
                    num_batches=len(groups),
                )
            )

    # ------------------------------------------------------------------ model pieces

    def _attend(
        self,
        feats: _Features,
        spatial: list[list[tuple[_FrameMemory | None, int, float]]],
        pointers: list[list[tuple[_FrameMemory | None, int, float]]],
        cond: _Cond,
        t: int,
        max_ptrs: int,
        scale: bool,
    ) -> torch.Tensor:
        """Memory attention for a batch of pathways with identical memory layout.

        ``spatial[b]`` = ``(memory, tpos_index, object_score)`` oldest first and
        ``pointers[b]`` = ``(memory, temporal_position, object_score)`` newest first, both
        without the prompt frame, which is prepended here.  Returns ``[B, C, h, w]``.
        """
        with stage("memory bank"):
            bank = self._memory_bank(feats, spatial, pointers, cond, t, max_ptrs, scale)
        m = self.model
        bsz = len(spatial)
        h, w = feats.sizes[-1]
        curr = feats.vision[-1].expand(-1, bsz, -1)
        curr_pos = feats.pos[-1].expand(-1, bsz, -1)
        with stage("memory attention"):
            first_sa = None
            if self.config.share_first_layer:
                if feats.first_layer_sa is None:
                    feats.first_layer_sa = first_self_attention(
                        m.memory_attention, feats.vision[-1], feats.pos[-1]
                    )
                first_sa = feats.first_layer_sa
            out = memory_attention_scaled(
                m.memory_attention,
                curr,
                curr_pos,
                bank.memory,
                bank.memory_pos,
                num_obj_ptr_tokens=bank.num_ptr_tokens,
                frame_factors=bank.frame_factors,
                ptr_factors=bank.ptr_factors,
                tokens_per_frame=h * w,
                first_layer_sa=first_sa,
                rope_cache=self._rope_cache,
            )
        return out.permute(1, 2, 0).reshape(bsz, m.hidden_dim, h, w)

    def _memory_bank(
        self,
        feats: _Features,
        spatial: list[list[tuple[_FrameMemory | None, int, float]]],
        pointers: list[list[tuple[_FrameMemory | None, int, float]]],
        cond: _Cond,
        t: int,
        max_ptrs: int,
        scale: bool,
    ) -> _Bank:
        """Concatenate a batch's memory tokens, their encodings and key factors."""
        m = self.model
        bsz = len(spatial)
        n_mm = int(m.num_maskmem)
        pos_enc = self._maskmem_pos_enc()  # [HW, 1, C_mem]

        mem_parts: list[torch.Tensor] = []
        pos_parts: list[torch.Tensor] = []
        # prompt frame, then spatial frames oldest -> newest
        cond_feat = _features(cond.memory).flatten(2).permute(2, 0, 1)
        mem_parts.append(cond_feat.expand(-1, bsz, -1))
        pos_parts.append((pos_enc + m.maskmem_tpos_enc[n_mm - 1]).expand(-1, bsz, -1))
        n_spatial = len(spatial[0])
        for k in range(n_spatial):
            tpos = spatial[0][k][1]
            feats_k = [_features(_need(spatial[b][k][0])) for b in range(bsz)]
            stacked = torch.cat(feats_k, dim=0) if bsz > 1 else feats_k[0]
            mem_parts.append(stacked.flatten(2).permute(2, 0, 1))
            pos_parts.append((pos_enc + m.maskmem_tpos_enc[tpos]).expand(-1, bsz, -1))

        # object pointers: prompt frame (true distance) then ranked recent frames
        c = m.hidden_dim
        ptr_rows = [cond.memory.obj_ptr.expand(bsz, -1)]
        pos_list = [abs(t - cond.frame_idx)]
        for k in range(len(pointers[0])):
            ptr_rows.append(torch.cat([_need(pointers[b][k][0]).obj_ptr for b in range(bsz)], 0))
            pos_list.append(pointers[0][k][1])
        obj_ptrs = torch.stack(ptr_rows, dim=0)  # [n_ptr, B, C]
        if m.add_tpos_enc_to_obj_ptrs:
            from sam2.modeling.sam2_utils import get_1d_sine_pe

            t_diff_max = max_ptrs - 1
            tpos_dim = c if m.proj_tpos_enc_in_obj_ptrs else m.mem_dim
            obj_pos = torch.tensor(pos_list, device=self.device)
            obj_pos = get_1d_sine_pe(obj_pos / t_diff_max, dim=tpos_dim)
            obj_pos = m.obj_ptr_tpos_proj(obj_pos)
            obj_pos = obj_pos.unsqueeze(1).expand(-1, bsz, m.mem_dim)
        else:
            obj_pos = obj_ptrs.new_zeros(len(pos_list), bsz, m.mem_dim)
        if m.mem_dim < c:
            obj_ptrs = obj_ptrs.reshape(-1, bsz, c // m.mem_dim, m.mem_dim)
            obj_ptrs = obj_ptrs.permute(0, 2, 1, 3).flatten(0, 1)
            obj_pos = obj_pos.repeat_interleave(c // m.mem_dim, dim=0)
        mem_parts.append(obj_ptrs)
        pos_parts.append(obj_pos)
        memory = torch.cat(mem_parts, dim=0)  # bf16 frame memories promote to float32
        memory_pos = torch.cat(pos_parts, dim=0)

        frame_f = ptr_f = None
        if scale and n_spatial > 0:
            frame_f = torch.cat(
                [rank_scale_factors([s for _, _, s in spatial[b]], self.device) for b in range(bsz)]
            )
            ptr_f = torch.cat(
                [
                    rank_scale_factors([s for _, _, s in pointers[b]], self.device)
                    for b in range(bsz)
                ]
            )
        return _Bank(memory, memory_pos, obj_ptrs.shape[0], frame_f, ptr_f)

    def _maskmem_pos_enc(self) -> torch.Tensor:
        """Spatial encoding of memory frames; identical for every frame, so cached."""
        pe = self._pos_enc_cache
        if pe is None:
            raise RuntimeError("memory position encoding requested before any memory exists")
        return pe

    def _decode(
        self,
        pix_feat: torch.Tensor,
        high_res: list[torch.Tensor],
        point_inputs: dict[str, torch.Tensor] | None,
        multimask: bool,
    ) -> _Heads:
        """SAM prompt encoder + mask decoder, keeping every mask token (for pointers)."""
        m = self.model
        bsz = pix_feat.size(0)
        if point_inputs is not None:
            coords, labels = point_inputs["point_coords"], point_inputs["point_labels"]
        else:
            coords = torch.zeros(bsz, 1, 2, device=pix_feat.device)
            labels = -torch.ones(bsz, 1, dtype=torch.int32, device=pix_feat.device)
        sparse, dense = m.sam_prompt_encoder(points=(coords, labels), boxes=None, masks=None)
        low_res, ious, tokens, obj_logits = m.sam_mask_decoder(
            image_embeddings=pix_feat,
            image_pe=m.sam_prompt_encoder.get_dense_pe(),
            sparse_prompt_embeddings=sparse,
            dense_prompt_embeddings=dense,
            multimask_output=multimask,
            repeat_image=False,
            high_res_features=high_res,
        )
        if m.pred_obj_scores:
            present = obj_logits > 0
            low_res = torch.where(present[:, None, None], low_res, NO_OBJ_SCORE)
        return _Heads(low_res.float(), ious, tokens, obj_logits)

    def _best_mask_and_pointer(
        self, heads: _Heads, multimask: bool
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """SAM 2's single-output path: best-IoU mask and the pointer of its token."""
        m = self.model
        bsz = heads.low_res.size(0)
        token = heads.tokens[:, 0]
        if multimask:
            best = torch.argmax(heads.ious, dim=-1)
            rows = torch.arange(bsz, device=heads.low_res.device)
            low_res = heads.low_res[rows, best].unsqueeze(1)
            if heads.tokens.size(1) > 1:
                token = heads.tokens[rows, best]
        else:
            low_res = heads.low_res
        ptr = m.obj_ptr_proj(token)
        if m.pred_obj_scores:
            if m.soft_no_obj_ptr:
                lam = heads.object_score_logits.sigmoid()
            else:
                lam = (heads.object_score_logits > 0).float()
            if m.fixed_no_obj_ptr:
                ptr = lam * ptr
            ptr = ptr + (1 - lam) * m.no_obj_ptr
        return low_res, ptr

    def _all_pointers(self, heads: _Heads) -> torch.Tensor:
        """Pointers of all three mask tokens ``[B, 3, C]`` (the reference's tree path).

        Absent objects get the learned no-object pointer, with the hard presence weight
        regardless of ``soft_no_obj_ptr`` (as in the reference).
        """
        m = self.model
        ptrs = m.obj_ptr_proj(heads.tokens)
        lam = (heads.object_score_logits > 0).float()[:, None]
        ptrs = lam * ptrs
        return ptrs + (1 - lam) * m.no_obj_ptr

    def _encode_memory(
        self,
        feats: _Features,
        high_res_masks: torch.Tensor,
        object_score_logits: torch.Tensor,
        is_mask_from_pts: bool,
    ) -> torch.Tensor:
        """SAM 2 memory encoder for a batch of masks; features rounded to bfloat16."""
        bsz = high_res_masks.size(0)
        vision = [x.expand(-1, bsz, -1) for x in feats.vision]
        features, pos = self.model._encode_new_memory(
            current_vision_feats=vision,
            feat_sizes=feats.sizes,
            pred_masks_high_res=high_res_masks,
            object_score_logits=object_score_logits,
            is_mask_from_pts=is_mask_from_pts,
        )
        if self._pos_enc_cache is None:
            self._pos_enc_cache = pos[-1][0:1].flatten(2).permute(2, 0, 1).clone()
        self.stats["memory_encodings"] += bsz
        return features.to(torch.bfloat16)

    def _child_memories(
        self, to_encode: dict[int, tuple[_Heads, int, int]]
    ) -> dict[int, _FrameMemory]:
        """Each distinct kept mask's memory with its object pointer, features not yet encoded."""
        out: dict[int, _FrameMemory] = {}
        for key, (heads, row, j) in to_encode.items():
            if heads.pointers is None:
                heads.pointers = self._all_pointers(heads)
            out[key] = _FrameMemory(None, heads.pointers[row : row + 1, j])
        return out

    def _flush_pending(self, obj: _Object) -> None:
        """Encode the previous tree frame's kept masks now that a frame needs them."""
        pending, obj.pending = obj.pending, None
        if pending is not None:
            self._encode_into(pending.feats, pending.to_encode, pending.memories)

    def _encode_into(
        self,
        feats: _Features,
        to_encode: dict[int, tuple[_Heads, int, int]],
        memories: dict[int, _FrameMemory],
    ) -> None:
        """Memory-encode each distinct kept mask (batched when allowed) into ``memories``."""
        m = self.model
        keys = list(to_encode)
        highs, scores = [], []
        for key in keys:
            heads, row, j = to_encode[key]
            lr = heads.low_res[row : row + 1, j : j + 1]
            highs.append(
                F.interpolate(lr, size=(m.image_size,) * 2, mode="bilinear", align_corners=False)
            )
            scores.append(heads.object_score_logits[row : row + 1])
        # Batching the memory encoder is only valid if it treats rows independently.
        can_batch = self.config.batch and not m.non_overlap_masks_for_mem_enc
        if can_batch and len(keys) > 1:
            feats_b = self._encode_memory(feats, torch.cat(highs), torch.cat(scores), False)
            for i, key in enumerate(keys):
                # clone: a pathway's memory must not pin its siblings' rows once they die
                memories[key].features = feats_b[i : i + 1].clone()
        else:
            for i, key in enumerate(keys):
                memories[key].features = self._encode_memory(feats, highs[i], scores[i], False)

    # ------------------------------------------------------------------ decisions

    def _decide_and_prune(self, obj: _Object, max_ptrs: int) -> None:
        """Emit frames all pathways agree on; drop what selection can no longer use."""
        if not obj.leaves:
            return
        agreed = _common_ancestor(obj.leaves)
        if agreed is not None:
            self._decide_along(obj, agreed)
        # memory that any pathway can still select (monotone: never needed again if not now)
        needed: set[int] = set()
        oldest = math.inf
        for leaf in obj.leaves:
            sel = select_memory_frames(leaf.lineage(), max_ptrs, self.config.iou_threshold)
            needed.update(id(n) for n in sel)
            oldest = min(oldest, sel[0].frame_idx)
        cut = min(oldest, obj.decided_upto)
        seen: set[int] = set()
        for leaf in obj.leaves:
            for node in leaf.lineage():
                if id(node) in seen:
                    break
                seen.add(id(node))
                if id(node) not in needed:
                    node.memory = None
                if node.frame_idx <= cut:
                    # Nothing older can be selected or is still undecided.
                    node.parent = None
                    break

    def _decide_along(self, obj: _Object, node: _Node) -> None:
        chain = []
        for n in node.lineage():
            if n.frame_idx <= obj.decided_upto:
                break
            chain.append(n)
        for n in chain:
            assert n.lowres is not None
            obj.decided[n.frame_idx] = (n.lowres, n.iou, n.object_score)
            n.lowres = None
        obj.decided_upto = max(obj.decided_upto, node.frame_idx)

    def _finalize(self, obj: _Object) -> None:
        """End of video: the output is the history of slot 0 (best accumulated score)."""
        if obj.leaves:
            self._decide_along(obj, obj.leaves[0])

    @staticmethod
    def _ready(objects: list[_Object], f: int) -> bool:
        """Frame ``f`` (already read) is final for every object."""
        return all(o.start > f or f in o.decided for o in objects)

    def _emit(self, objects: list[_Object], f: int, video_hw: tuple[int, int]) -> TrackedFrame:
        m = self.model
        s = m.image_size // 4
        lows, ious, scores = [], [], []
        for o in objects:
            got = o.decided.pop(f, None)
            if got is None:  # not prompted yet
                got = (
                    torch.full((1, 1, s, s), NO_OBJ_SCORE, device=self.device),
                    math.nan,
                    math.nan,
                )
            lows.append(got[0])
            ious.append(got[1])
            scores.append(got[2])
        low = torch.cat(lows, dim=0)
        with torch.inference_mode():
            video = F.interpolate(low, size=video_hw, mode="bilinear", align_corners=False)
            if getattr(m, "non_overlap_masks", False) and video.size(0) > 1:
                video = m._apply_non_overlapping_constraints(video)
        logits = video[:, 0]
        return TrackedFrame(
            frame_idx=f,
            obj_ids=[o.prompt.obj_id for o in objects],
            lowres_logits=low[:, 0],
            logits=logits,
            masks=(logits > 0).cpu().numpy(),
            ious=ious,
            object_scores=scores,
        )


def _need(mem: _FrameMemory | None) -> _FrameMemory:
    if mem is None:  # pragma: no cover - guarded by the monotone pruning argument
        raise RuntimeError("internal error: a pruned memory was selected")
    return mem


def _features(mem: _FrameMemory) -> torch.Tensor:
    if mem.features is None:  # pragma: no cover - pending memories are flushed first
        raise RuntimeError("internal error: a memory was read before it was encoded")
    return mem.features


def _common_ancestor(leaves: list[_Node]) -> _Node | None:
    """Newest node whose content all pathways share (leaves are on the same frame)."""
    nodes: list[_Node | None] = list(leaves)
    while True:
        if any(n is None for n in nodes):
            return None
        if len({n.key for n in nodes if n is not None}) == 1:
            return nodes[0]
        nodes = [n.parent for n in nodes if n is not None]
