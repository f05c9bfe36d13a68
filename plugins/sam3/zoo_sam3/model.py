"""SAM 3 as a zoo model: ``find`` (concepts), ``segment`` (clicks and boxes) and
``track_concepts`` (concepts through a video), all through transformers' SAM 3 modules.

The image is embedded once (:meth:`Sam3ZooModel.set_image`: the ViT and the detector's
feature pyramid) and every later call on it reuses the embedding: another concept runs only
the text encoder (once per distinct text, cached) and the detector heads; a click runs the
tracker's neck once and then only its prompt encoder and mask decoder.

Every stage runs through :mod:`zoo_sam3.graphs` (``run_graph``), the modules ``zoo export``
exports, so ``backend="onnxruntime"`` swaps the compute of ``find`` and ``segment`` and keeps
everything else (``track_concepts`` runs transformers' video model either way).
"""

from __future__ import annotations

from collections import OrderedDict, defaultdict
from collections.abc import Iterator
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from zoo.errors import InputError
from zoo.io.images import image_fingerprint
from zoo.loading import LoadContext
from zoo.model import ZooModel
from zoo.prompts import ConceptPrompts, ObjectPrompt, Prompts, as_concept_prompts, as_prompts
from zoo.results import ConceptFrameResult, ConceptResult, SegmentationResult
from zoo.specs import Task

from .build import Sam3Network, build_network
from .configs import check_arch, grid
from .graphs import sam3_graphs
from .tokenizer import CONTEXT_LENGTH

#: Distinct concept texts whose encodings are kept (an LRU; an entry is a few KB).
TEXT_CACHE_SIZE = 64
#: transformers' post-processing: instance masks are ``sigmoid(logits) > 0.5`` after resizing.
MASK_THRESHOLD = 0.5


class Sam3ZooModel(ZooModel):
    tasks: ClassVar[tuple[Task, ...]] = (Task.CONCEPT, Task.PROMPTABLE, Task.CONCEPT_VIDEO)
    image_state_attrs = ("_vision", "_tracker_maps", "_orig_hw", "_fingerprint")
    export_formats = ("onnx",)

    def __init__(self, net: Sam3Network) -> None:
        self.net = net
        #: the image encoder's outputs: ``fpn_0``, ``fpn_1``, ``fpn_2``, ``vit``
        self._vision: tuple[torch.Tensor, ...] | None = None
        #: the tracker neck's outputs: ``image_embed``, ``feat_s0``, ``feat_s1``
        self._tracker_maps: tuple[torch.Tensor, ...] | None = None
        self._orig_hw: tuple[int, int] | None = None
        self._fingerprint: str | None = None
        self._texts: OrderedDict[str, tuple[Any, torch.Tensor]] = OrderedDict()
        #: counters for tests and benchmarks: vision encoder and text encoder passes
        self.stats: dict[str, int] = defaultdict(int)

    @classmethod
    def create(
        cls, ctx: LoadContext, *, arch: str = "base", image_size: int | None = None, **_: Any
    ) -> Sam3ZooModel:
        check_arch(arch)
        local = ctx.primary in ctx.overrides
        if arch != "base" and not (ctx.random or local):
            raise InputError(
                f"--arch {arch} is a test architecture the published weights do not fit; "
                "add --weights random (or pass a checkpoint of that architecture)"
            )

        def side_file(name: str) -> Any:
            """Config/tokenizer files: given ones, else the registered ones unless the
            weights are local (a local checkpoint must not need the gated hub)."""
            if ctx.random:
                return None
            if name in ctx.overrides:
                return ctx.overrides[name]
            if local or not ctx.has(name):
                return None
            return ctx.path(name)

        vocab, merges = side_file("vocab"), side_file("merges")
        if (vocab is None) != (merges is None):
            vocab = merges = None  # one without the other: the built-in vocabulary
        net = build_network(
            arch=arch,
            weights=ctx.path(),
            image_size=image_size,
            config_file=side_file("config"),
            vocab=vocab,
            merges=merges,
            device=ctx.device,
            model_name=ctx.name,
        )
        return cls(net)

    def modules(self) -> list[torch.nn.Module]:
        return [self.net.video]  # the tracker shares its tensors

    def to(self, device: str) -> Sam3ZooModel:
        super().to(device)
        self._vision = self._tracker_maps = self._fingerprint = None
        self._texts.clear()
        return self

    # ------------------------------------------------------------------ stages
    def graphs(self) -> list[Any]:
        """Image and text encoders, the detector (text; text and exemplars), the tracker's
        neck and prompt decoder (:mod:`zoo_sam3.graphs`), for torch and export alike."""
        return sam3_graphs(self.net)

    def export_info(self) -> dict[str, Any]:
        s = int(self.net.side)
        proc = self.net.image_processor
        return {
            "preprocess": f"RGB resized to {s}x{s} (bilinear, aspect not kept), scaled to "
            "[0, 1], normalised with mean/std (Sam3ImageProcessor) -> image_encoder",
            "mean": [float(v) for v in proc.image_mean],
            "std": [float(v) for v in proc.image_std],
            "text": f"CLIP BPE tokens of one concept, start and end tokens included, padded "
            f"to {CONTEXT_LENGTH} (attention_mask 0 on the padding) -> text_encoder; "
            "text_features and attention_mask -> detector as text_features, text_mask",
            "concepts": "detector: image_encoder's fpn_0..2 and the text's features; "
            "detector_exemplars also takes exemplar boxes (cx, cy, w, h divided by the "
            "image's width/height) and labels (1 positive, 0 negative); score = "
            "sigmoid(pred_logits) * sigmoid(presence_logits), pred_boxes x1, y1, x2, y2 in "
            "[0, 1]; instance masks: sigmoid(bilinear resize of pred_masks) > 0.5",
            "prompts": f"tracker_neck on image_encoder's vit output, then prompt_decoder: "
            f"pixel (x, y) scaled to the {s}x{s} input; clicks, then a box as two points "
            "labelled 2 and 3 and one padding point (0, 0) labelled -1, or clicks and one "
            "padding point; mask_input are 4x-downsampled logits (+-20) with "
            "has_mask_input 1",
            "postprocess": "masks[:, 0] unless unstable (dynamic_multimask_via_stability), "
            "else the best of masks[:, 1:] by iou_predictions; bilinear resize to the "
            "image, > 0",
            "mask_threshold": MASK_THRESHOLD,
        }

    @property
    def _device(self) -> torch.device:
        return next(self.net.video.parameters()).device

    # ------------------------------------------------------------------ embeddings
    @torch.inference_mode()
    def set_image(self, image: Any) -> None:
        """Embed ``image`` once (ViT + detector pyramid); later calls on it reuse this."""
        from zoo.io.images import load_image

        img = load_image(image)
        fp = image_fingerprint(img)
        if fp == self._fingerprint and self._vision is not None:
            return
        pixels = self.net.image_processor(images=img, return_tensors="pt").pixel_values
        vision = self.run_graph("image_encoder", pixels.to(self._device))
        self.stats["vision"] += 1
        self._vision = vision
        self._tracker_maps = None  # the tracker's pyramid is derived on the first click
        self._orig_hw = (int(img.shape[0]), int(img.shape[1]))
        self._fingerprint = fp

    def _need_image(self, image: Any) -> tuple[int, int]:
        if image is not None:
            self.set_image(image)
        if self._vision is None or self._orig_hw is None:
            raise InputError("no image is set; call set_image(image) or pass an image")
        return self._orig_hw

    def text_tokens(self, text: str) -> tuple[torch.Tensor, torch.Tensor]:
        """``input_ids`` and ``attention_mask`` (1 x 32) of one concept text."""
        tok = self.net.tokenizer
        ids = tok(text)["input_ids"]
        if len(ids) > CONTEXT_LENGTH:
            raise InputError(
                f"concept {text!r} is {len(ids) - 2} tokens long; SAM 3 reads at most "
                f"{CONTEXT_LENGTH - 2}: use a shorter noun phrase"
            )
        enc = tok(text, return_tensors="pt", padding="max_length", max_length=CONTEXT_LENGTH)
        return enc["input_ids"].to(self._device), enc["attention_mask"].to(self._device)

    @torch.inference_mode()
    def encode_text(self, text: str) -> tuple[Any, torch.Tensor]:
        """The text encoder's output for ``text`` (cached per distinct text) and its mask.

        The output is what transformers' ``Sam3Model`` takes as ``text_embeds``: an object
        whose ``pooler_output`` holds the projected text features (1 x 32 x C).
        """
        from transformers.modeling_outputs import BaseModelOutputWithPooling

        hit = self._texts.get(text)
        if hit is not None:
            self._texts.move_to_end(text)
            return hit
        ids, mask = self.text_tokens(text)
        (features,) = self.run_graph("text_encoder", ids, mask)
        out = BaseModelOutputWithPooling(pooler_output=features)
        self.stats["text"] += 1
        self._texts[text] = (out, mask)
        while len(self._texts) > TEXT_CACHE_SIZE:
            self._texts.popitem(last=False)
        return out, mask

    # ------------------------------------------------------------------ concept
    def _exemplar_tensors(
        self, prompts: ConceptPrompts, k: int, hw: tuple[int, int]
    ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """Concept ``k``'s exemplar boxes as the detector takes them: centre, size in [0, 1]."""
        ex = prompts.exemplars_of(k)
        if not ex:
            return None, None
        h, w = hw
        xyxy = torch.tensor([e.box for e in ex], dtype=torch.float32)
        xyxy = xyxy / torch.tensor([w, h, w, h], dtype=torch.float32)
        x1, y1, x2, y2 = xyxy.unbind(-1)
        boxes = torch.stack([(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1], dim=-1)
        labels = torch.tensor([[e.label for e in ex]], dtype=torch.int64)
        return boxes[None].to(self._device), labels.to(self._device)

    @torch.inference_mode()
    def find(
        self,
        image: Any = None,
        concepts: Any = None,
        exemplars: Any = None,
        *,
        threshold: float = 0.5,
    ) -> ConceptResult:
        """Every instance of each concept: ``concepts`` ``"dog;red car"`` or a list, and/or
        ``exemplars`` ``[{"box": [x1, y1, x2, y2], "label": 1, "concept": "dog"}]``.

        An instance's score is its query score times the concept's presence score; those at
        most ``threshold`` are dropped. ``image=None`` reuses the image of ``set_image``.
        """
        if not 0.0 <= float(threshold) <= 1.0:
            raise InputError(f"threshold must lie in [0, 1], got {threshold}")
        prompts = as_concept_prompts(concepts, exemplars)
        for c in prompts.concepts:
            self.text_tokens(c)  # too long: refused before any image work
        h, w = self._need_image(image)
        prompts, notes = prompts.fit(h, w)  # exemplars crossing the edge are clipped to it
        masks, boxes, scores, ids, presence = [], [], [], [], []
        scale = torch.tensor([w, h, w, h], dtype=torch.float32, device=self._device)
        for k, concept in enumerate(prompts.concepts):
            text, mask = self.encode_text(concept)
            input_boxes, box_labels = self._exemplar_tensors(prompts, k, (h, w))
            assert self._vision is not None
            fpn = self._vision[:3]
            if input_boxes is None or box_labels is None:
                found = self.run_graph("detector", *fpn, text.pooler_output, mask)
            else:
                found = self.run_graph(
                    "detector_exemplars", *fpn, text.pooler_output, mask, input_boxes, box_labels
                )
            pred_logits, pred_boxes, pred_masks, presence_logits = found
            present = presence_logits[0].float().sigmoid()
            s = pred_logits[0].float().sigmoid() * present
            keep = s > threshold
            presence.append(float(present.reshape(-1)[0]))
            scores.append(s[keep].cpu().numpy())
            boxes.append((pred_boxes[0][keep].float() * scale).cpu().numpy())
            ids.append(np.full(int(keep.sum()), k, dtype=np.int64))
            low = pred_masks[0][keep].float().sigmoid()
            # one instance at a time: an HxW float per instance is large on big photos
            masks += [
                (
                    F.interpolate(m[None, None], size=(h, w), mode="bilinear", align_corners=False)[
                        0, 0
                    ]
                    > MASK_THRESHOLD
                )
                .cpu()
                .numpy()
                for m in low
            ]
        return ConceptResult(
            concepts=prompts.concepts,
            masks=np.stack(masks) if masks else np.zeros((0, h, w), dtype=bool),
            boxes=np.concatenate(boxes).astype(np.float32).reshape(-1, 4),
            scores=np.concatenate(scores).astype(np.float32),
            concept_ids=np.concatenate(ids),
            presence=np.array(presence, dtype=np.float32),
            prompts=prompts,
            threshold=float(threshold),
            image_size=(h, w),
            provenance=self.provenance(Task.CONCEPT),
            extra={"notes": notes} if notes else {},
        )

    # ------------------------------------------------------------------ promptable
    def _maps(self) -> tuple[torch.Tensor, ...]:
        """The tracker's feature maps for the current image: ``image_embed``, ``feat_s0``,
        ``feat_s1`` (the ``tracker_neck`` graph, :class:`~zoo_sam3.graphs.Sam3TrackerNeck`).

        From the ViT output already computed by :meth:`set_image`, through the tracker's
        neck, as upstream SAM 3 does: the 0.5x level is dropped, levels 0 and 1 are
        projected by the mask decoder's ``conv_s0``/``conv_s1``, and the no-memory embedding
        is added to the lowest-resolution level kept (72 x 72 at 1008 px).

        transformers 5.24's ``Sam3TrackerModel.get_image_embeddings`` adds that embedding to
        the dropped level instead, so it never reaches the decoder there; the result is the
        same only while the embedding is zero (as at random initialisation).
        """
        if self._tracker_maps is None:
            assert self._vision is not None
            self._tracker_maps = self.run_graph("tracker_neck", self._vision[3])
        return self._tracker_maps

    @property
    def decoder_prompt_bytes(self) -> int:
        from zoo.decoder_chunks import sam_decoder_prompt_bytes

        return sam_decoder_prompt_bytes(grid(self.net.config))

    def _mask_input(self, masks: list[np.ndarray]) -> torch.Tensor:
        """Image-sized binary masks -> the tracker's mask-input logits (+-20), N x 1 x s x s."""
        side = tuple(self.net.tracker.prompt_encoder.mask_input_size)
        m = torch.as_tensor(np.stack([np.asarray(x, dtype=np.float32) for x in masks]))
        m = F.interpolate(
            m[:, None].to(self._device), size=side, mode="bilinear", align_corners=False
        )
        return (m - 0.5) * 40.0

    @torch.inference_mode()
    def _decode(
        self, objs: list[ObjectPrompt], multimask: bool, hw: tuple[int, int]
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Masks (N, H, W), scores (N,) and low-res logits (N, s, s) of same-shape prompts."""
        h, w = hw
        # pixels -> the square input, as transformers' processor scales them: ``side / size``
        # with the size an integer tensor, i.e. float32 ``side * (1 / size)`` (a float64
        # quotient, or a float32 division, differs in the last bit and moves mask edges)
        scale = int(self.net.side) / torch.tensor([w, h])
        n = len(objs)
        # transformers' token order: the clicks, then the box's corners (labels 2, 3) and
        # a padding point (-1); clicks alone end with a padding point, a mask alone is two
        coords = [torch.zeros(n, 0, 2)]
        labels = [torch.zeros(n, 0, dtype=torch.int64)]
        if objs[0].points is not None:
            coords.append(torch.tensor([o.points for o in objs], dtype=torch.float32) * scale)
            labels.append(torch.tensor([o.labels for o in objs], dtype=torch.int64))
        if objs[0].box is not None:
            bx = torch.tensor([o.box for o in objs], dtype=torch.float32)
            coords.append((bx * scale.repeat(2)).reshape(n, 2, 2))
            labels.append(torch.tensor([[2, 3]], dtype=torch.int64).repeat(n, 1))
        pads = 2 if objs[0].points is None and objs[0].box is None else 1
        coords.append(torch.zeros(n, pads, 2))
        labels.append(torch.full((n, pads), -1, dtype=torch.int64))
        side = tuple(self.net.tracker.prompt_encoder.mask_input_size)
        if objs[0].mask is not None:
            mask_input = self._mask_input([o.mask for o in objs])  # type: ignore[misc]
            has_mask = torch.ones(n)
        else:
            mask_input = torch.zeros(n, 1, *side)
            has_mask = torch.zeros(n)
        dev = self._device
        low, iou = self.run_graph(
            "prompt_decoder",
            *self._maps(),
            torch.cat(coords, dim=1).to(dev),
            torch.cat(labels, dim=1).to(dev),
            mask_input.to(dev),
            has_mask.to(dev),
        )
        low, iou = self._select(low.float(), iou.float(), multimask)
        full = torch.cat(
            [
                F.interpolate(
                    low[i : i + 1, None], size=(h, w), mode="bilinear", align_corners=False
                )[:, 0]
                > 0
                for i in range(low.shape[0])
            ]
        )
        return full, iou, low

    def _select(
        self, low: torch.Tensor, iou: torch.Tensor, multimask: bool
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One mask per prompt from the four mask tokens (N x 4 x s x s, N x 4), as
        transformers' tracker chooses: with ``multimask`` the best of the three candidates
        by predicted IoU, else the single-mask token or, when it is unstable, that best
        candidate (``dynamic_multimask_via_stability``, on in SAM 3)."""
        dec = self.net.tracker.mask_decoder
        if multimask:
            low, iou = low[:, 1:], iou[:, 1:]
            best = iou.argmax(dim=1)
            idx = torch.arange(low.shape[0], device=low.device)
            return low[idx, best], iou[idx, best]
        if dec.dynamic_multimask_via_stability:
            low, iou = dec._dynamic_multimask_via_stability(low[None], iou[None])
            return low[0, :, 0], iou[0, :, 0]
        return low[:, 0], iou[:, 0]

    def segment(
        self, image: Any = None, prompts: Any = None, *, multimask: bool = False
    ) -> SegmentationResult:
        """One mask per object prompt (boxes, clicks, a box with clicks, or a mask), through
        the modules of transformers' ``Sam3TrackerModel`` (the ``prompt_decoder`` graph).
        ``image=None`` reuses the image of ``set_image``.

        ``multimask=True`` asks for three candidates per prompt and keeps the one with the
        highest predicted IoU (better for a single ambiguous click).
        """
        if prompts is None:
            raise InputError("empty prompt: give boxes, points with labels, or a mask")
        h, w = self._need_image(image)
        p: Prompts
        p, _ = as_prompts(prompts).fit(h, w)  # boxes crossing the edge are clipped to it
        groups = p.shape_groups()  # prompts of one shape share a decoder call
        n = len(p.objects)
        side = int(self.net.tracker.prompt_encoder.mask_input_size[0])
        masks = np.zeros((n, h, w), dtype=bool)
        scores = np.zeros(n, dtype=np.float32)
        logits = np.zeros((n, side, side), dtype=np.float32)
        for group in groups.values():
            # each prompt is its own batch element in the decoder graph, so mask prompts
            # batch too (transformers' tracker adds one dense prompt to the whole image)
            for part in self.decoder_chunks(len(group)):
                idxs = group[part]
                m, s, lr = self._decode([p.objects[i] for i in idxs], multimask, (h, w))
                masks[idxs] = m.cpu().numpy()
                scores[idxs] = s.cpu().numpy()
                logits[idxs] = lr.cpu().numpy()
        return SegmentationResult(
            masks=masks,
            scores=scores,
            low_res_logits=logits,
            image_size=(h, w),
            provenance=self.provenance(Task.PROMPTABLE),
            prompts=p,
        )

    # ------------------------------------------------------------------ video
    def track_concepts(
        self,
        frames: Any,
        concepts: Any = None,
        exemplars: Any = None,
        *,
        prompt_frame: int = 0,
    ) -> Iterator[ConceptFrameResult]:
        """Find and track every instance of the concepts through a video, frame by frame.

        ``frames``: a frame folder, a video file, a :class:`zoo.io.frames.FrameSource` or a
        list of ``HxWx3`` arrays; decoded one at a time. Detection runs on every frame from
        ``prompt_frame`` on (earlier frames are yielded empty); ``exemplars`` are boxes on
        ``prompt_frame``. Yields one :class:`~zoo.results.ConceptFrameResult` per frame, in
        order; results come out up to ``hotstart_delay`` (15) frames after the frame was
        read, because SAM 3 confirms new tracks over those frames before reporting them.
        Memory stays flat with the video's length (see :mod:`zoo_sam3.video`).
        """
        from .video import track_concepts

        return track_concepts(self, frames, concepts, exemplars, prompt_frame=prompt_frame)
