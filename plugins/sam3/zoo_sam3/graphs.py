"""SAM 3's inference stages as tensor-only modules: what runs, and what is exported.

:class:`~zoo_sam3.model.Sam3ZooModel` calls these modules for every image, concept and
prompt (``run_graph``), and ``zoo export`` / ``backend="onnxruntime"`` export exactly them,
so the torch and ONNX paths share one definition. They only *reference* the submodules of
transformers' ``Sam3VideoModel`` (no copies):

* :class:`Sam3ImageEncoder` (``image_encoder``): the ViT and the detector's feature pyramid
  (``Sam3Model.get_vision_features``): the three levels the detector reads, and the ViT's
  output, from which the tracker's own pyramid is derived on the first click.
* :class:`Sam3TextEncoder` (``text_encoder``): the CLIP-style text encoder and its projection
  (``Sam3Model.get_text_features``' ``pooler_output``) for one concept's 32 tokens.
* :class:`Sam3Detector` (``detector``, and ``detector_exemplars`` with exemplar boxes): the
  DETR-style encoder and decoder, the presence head, the scoring and the mask decoder: a
  call of transformers' ``Sam3Model.forward`` with the image's and the text's features, so
  the arithmetic is transformers' own. Two graphs, because transformers runs its geometry
  encoder (which adds a CLS token to the prompt) only when boxes are given.
* :class:`Sam3TrackerNeck` (``tracker_neck``): the tracker's feature pyramid from the ViT's
  output, with the mask decoder's ``conv_s0``/``conv_s1`` and the no-memory embedding
  (see :meth:`~zoo_sam3.model.Sam3ZooModel._maps`).
* :class:`Sam3PromptDecoder` (``prompt_decoder``): the tracker's prompt encoder and mask
  decoder for N prompts of P points each, like ``zoo_sam2``'s: boxes are two corner points
  labelled 2/3, every prompt ends with padding points labelled -1, a mask prompt is an input
  with a per-prompt ``has_mask_input`` flag, and all four mask tokens come out (the choice
  of one is made by the caller, identically for every backend).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from zoo.export.graph import Graph, TensorSpec, sam_prompt_io

from .configs import grid, image_side
from .tokenizer import CONTEXT_LENGTH


class Sam3ImageEncoder(nn.Module):
    """``(1, 3, S, S)`` normalised pixels -> ``fpn_0``, ``fpn_1``, ``fpn_2``, ``vit``.

    The detector's pyramid at 4x, 2x and 1x the patch grid (its 0.5x level is never read),
    and the ViT's last hidden state ``(1, g*g, E)``.
    """

    def __init__(self, detector: Any) -> None:
        super().__init__()
        self.vision_encoder = detector.vision_encoder

    def forward(
        self, pixel_values: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        out = self.vision_encoder(pixel_values)
        fpn = out.fpn_hidden_states
        return fpn[0], fpn[1], fpn[2], out.last_hidden_state


class Sam3TextEncoder(nn.Module):
    """``input_ids``, ``attention_mask`` ``(1, 32)`` -> ``text_features`` ``(1, 32, C)``."""

    def __init__(self, detector: Any) -> None:
        super().__init__()
        self.detector = detector

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        out = self.detector.get_text_features(
            input_ids=input_ids, attention_mask=attention_mask, return_dict=True
        )
        return out.pooler_output  # type: ignore[no-any-return]


def vision_embeds(detector: Any, fpn: list[torch.Tensor]) -> Any:
    """transformers' ``Sam3VisionEncoderOutput`` of the three pyramid levels the detector
    reads (its ``forward`` drops the last level: a placeholder stands there), with the
    position encodings the neck computes from their shapes."""
    from transformers.models.sam3.modeling_sam3 import Sam3VisionEncoderOutput

    encode = detector.vision_encoder.neck.position_encoding
    levels = (*fpn, fpn[-1])
    pos = tuple(encode(f.shape, f.device, f.dtype) for f in levels)
    return Sam3VisionEncoderOutput(fpn_hidden_states=levels, fpn_position_encoding=pos)


class Sam3Detector(nn.Module):
    """Image and text features (and exemplar boxes) -> the detector's outputs.

    Inputs: ``fpn_0``, ``fpn_1``, ``fpn_2`` (:class:`Sam3ImageEncoder`), ``text_features``
    ``(1, 32, C)``, ``text_mask`` ``(1, 32)`` (the tokens' attention mask) and, for
    ``exemplars=True``, ``exemplar_boxes`` ``(1, K, 4)`` (centre x, y, width, height in
    [0, 1]) with ``exemplar_labels`` ``(1, K)`` (1 positive, 0 negative).
    Outputs: ``pred_logits`` ``(1, Q)``, ``pred_boxes`` ``(1, Q, 4)`` (x1, y1, x2, y2 in
    [0, 1]), ``pred_masks`` ``(1, Q, 4g, 4g)`` logits, ``presence_logits`` ``(1, 1)``.
    """

    def __init__(self, detector: Any, *, exemplars: bool) -> None:
        super().__init__()
        self.detector = detector
        self.exemplars = exemplars

    def forward(
        self,
        fpn_0: torch.Tensor,
        fpn_1: torch.Tensor,
        fpn_2: torch.Tensor,
        text_features: torch.Tensor,
        text_mask: torch.Tensor,
        exemplar_boxes: torch.Tensor | None = None,
        exemplar_labels: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        from transformers.modeling_outputs import BaseModelOutputWithPooling

        out = self.detector(
            vision_embeds=vision_embeds(self.detector, [fpn_0, fpn_1, fpn_2]),
            text_embeds=BaseModelOutputWithPooling(pooler_output=text_features),
            attention_mask=text_mask,
            input_boxes=exemplar_boxes,
            input_boxes_labels=exemplar_labels,
        )
        return out.pred_logits, out.pred_boxes, out.pred_masks, out.presence_logits


class Sam3TrackerNeck(nn.Module):
    """The ViT's ``(1, g*g, E)`` output -> the tracker's ``image_embed`` ``(1, C, g, g)``,
    ``feat_s0`` ``(1, C/8, 4g, 4g)`` and ``feat_s1`` ``(1, C/4, 2g, 2g)``, as upstream SAM 3
    feeds its mask decoder (the no-memory embedding on the g x g level)."""

    def __init__(self, tracker: Any, grid_size: int) -> None:
        super().__init__()
        self.neck = tracker.vision_encoder.neck
        self.conv_s0 = tracker.mask_decoder.conv_s0
        self.conv_s1 = tracker.mask_decoder.conv_s1
        self.no_memory_embedding = tracker.no_memory_embedding  # (1, 1, C), shared
        self.grid_size = grid_size

    def forward(self, vit: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        n = self.grid_size
        spatial = vit.view(vit.shape[0], n, n, -1).permute(0, 3, 1, 2)
        fpn, _ = self.neck(spatial)
        embed = fpn[2] + self.no_memory_embedding.reshape(1, -1, 1, 1)
        return embed, self.conv_s0(fpn[0]), self.conv_s1(fpn[1])


class Sam3PromptDecoder(nn.Module):
    """The tracker's prompt encoder and mask decoder for a batch of prompts on one image.

    Inputs: ``image_embed``, ``feat_s0``, ``feat_s1`` (:class:`Sam3TrackerNeck`),
    ``point_coords (N, P, 2)`` in the model's input pixels, ``point_labels (N, P)`` (1 fg,
    0 bg, 2/3 box corners, -1 padding), ``mask_input (N, 1, 4g, 4g)`` logits and
    ``has_mask_input (N,)`` (1.0 or 0.0). Outputs: ``masks (N, 4, 4g, 4g)`` low-res logits
    of all four mask tokens, ``iou_predictions (N, 4)``.

    transformers' ``Sam3TrackerModel`` embeds clicks, then the box (two corners and a padding
    point), or the clicks and one padding point; a prompt of neither is two padding points.
    The caller lays the points out in that order, so the tokens are the same. Each prompt is
    one batch element with a point batch of 1 (transformers: one batch element with a point
    batch of N): the same attention over the same tokens, and each prompt may carry its own
    mask.
    """

    def __init__(self, tracker: Any) -> None:
        super().__init__()
        self.prompt_encoder = tracker.prompt_encoder
        self.mask_decoder = tracker.mask_decoder
        self.tracker = tracker

    def forward(
        self,
        image_embed: torch.Tensor,
        feat_s0: torch.Tensor,
        feat_s1: torch.Tensor,
        point_coords: torch.Tensor,
        point_labels: torch.Tensor,
        mask_input: torch.Tensor,
        has_mask_input: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        pe = self.prompt_encoder
        n = point_coords.shape[0]
        sparse = pe._embed_points(point_coords[:, None], point_labels[:, None], pad=False)
        has = has_mask_input.reshape(-1, 1, 1, 1).to(sparse.dtype)
        no_mask = pe.no_mask_embed.weight.reshape(1, -1, 1, 1)
        dense = pe.mask_embed(mask_input) * has + (1.0 - has) * no_mask
        image_pe = self.tracker.get_image_wide_positional_embeddings()
        return self._decode(
            image_embed.expand(n, -1, -1, -1), image_pe, sparse, dense, feat_s0, feat_s1
        )

    def _decode(
        self,
        image_embeddings: torch.Tensor,
        image_pe: torch.Tensor,
        sparse: torch.Tensor,
        dense: torch.Tensor,
        feat_s0: torch.Tensor,
        feat_s1: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """transformers 5.24's ``Sam3TrackerMaskDecoder.forward``, operation for operation,
        up to the choice of masks (every mask token comes out)."""
        dec = self.mask_decoder
        batch_size, num_channels, height, width = image_embeddings.shape
        point_batch_size = sparse.shape[1]
        output_tokens = torch.cat(
            [dec.obj_score_token.weight, dec.iou_token.weight, dec.mask_tokens.weight], dim=0
        )
        output_tokens = output_tokens.repeat(batch_size, point_batch_size, 1, 1)
        tokens = torch.cat((output_tokens, sparse), dim=2)
        point_embeddings = tokens.to(dec.iou_token.weight.dtype)
        image_embeddings = image_embeddings + dense
        image_embeddings = image_embeddings.repeat_interleave(point_batch_size, dim=0)
        image_pe = image_pe.repeat_interleave(point_batch_size, 0)
        point_embeddings, image_embeddings = dec.transformer(
            point_embeddings=point_embeddings,
            image_embeddings=image_embeddings,
            image_positional_embeddings=image_pe,
            attention_similarity=None,
            target_embedding=None,
        )
        iou_token_out = point_embeddings[:, :, 1, :]
        mask_tokens_out = point_embeddings[:, :, 2 : (2 + dec.num_mask_tokens), :]
        image_embeddings = image_embeddings.transpose(2, 3).view(
            batch_size * point_batch_size, num_channels, height, width
        )
        feat_s0 = feat_s0.repeat_interleave(point_batch_size, dim=0)
        feat_s1 = feat_s1.repeat_interleave(point_batch_size, dim=0)
        upscaled = dec.upscale_conv1(image_embeddings) + feat_s1
        upscaled = dec.activation(dec.upscale_layer_norm(upscaled))
        upscaled = dec.activation(dec.upscale_conv2(upscaled) + feat_s0)
        hyper_in = torch.stack(
            [
                mlp(mask_tokens_out[:, :, i, :])
                for i, mlp in enumerate(dec.output_hypernetworks_mlps)
            ],
            dim=2,
        )
        _, num_channels, height, width = upscaled.shape
        upscaled = upscaled.view(batch_size, point_batch_size, num_channels, height * width)
        masks = (hyper_in @ upscaled).view(batch_size, point_batch_size, -1, height, width)
        iou = dec.iou_prediction_head(iou_token_out)
        return masks[:, 0], iou[:, 0]


def sam3_graphs(net: Any) -> list[Graph]:
    """The stages of a SAM 3 network (:class:`~zoo_sam3.build.Sam3Network`), declared."""
    detector = net.detector
    config = net.config
    s = image_side(config)
    g = grid(config)
    c = int(detector.config.detr_encoder_config.hidden_size)
    e = int(detector.config.vision_config.backbone_config.hidden_size)
    vocab = int(detector.config.text_config.vocab_size)
    q = int(detector.config.detr_decoder_config.num_queries)
    tracker = net.tracker
    tc = int(tracker.mask_decoder.hidden_size)
    fpn = [
        TensorSpec("fpn_0", (1, c, 4 * g, 4 * g), low=-1.0),
        TensorSpec("fpn_1", (1, c, 2 * g, 2 * g), low=-1.0),
        TensorSpec("fpn_2", (1, c, g, g), low=-1.0),
    ]
    vit = TensorSpec("vit", (1, g * g, e), low=-1.0)
    text = [
        TensorSpec("text_features", (1, CONTEXT_LENGTH, c), low=-1.0),
        TensorSpec("text_mask", (1, CONTEXT_LENGTH), dtype="int64", low=1, high=2),
    ]
    k = "num_exemplars"
    exemplars = [
        TensorSpec("exemplar_boxes", (1, k, 4), low=0.2, high=0.5),
        TensorSpec("exemplar_labels", (1, k), dtype="int64", low=0, high=2),
    ]
    detections = [
        TensorSpec("pred_logits", (1, q)),
        TensorSpec("pred_boxes", (1, q, 4)),
        TensorSpec("pred_masks", (1, q, 4 * g, 4 * g)),
        TensorSpec("presence_logits", (1, 1)),
    ]
    maps = [
        TensorSpec("image_embed", (1, tc, g, g), low=-1.0),
        TensorSpec("feat_s0", (1, tc // 8, 4 * g, 4 * g), low=-1.0),
        TensorSpec("feat_s1", (1, tc // 4, 2 * g, 2 * g), low=-1.0),
    ]
    prompts, answers = sam_prompt_io(s, g)
    sizes = {"image_size": s, "embed_size": g, "low_res_size": 4 * g}
    return [
        Graph(
            name="image_encoder",
            module=Sam3ImageEncoder(detector),
            inputs=[TensorSpec("pixel_values", (1, 3, s, s), low=-1.0)],
            outputs=[*fpn, vit],
            doc="ViT + the detector's feature pyramid (4x, 2x, 1x the patch grid) and the "
            "ViT's output; input resized to SxS, scaled to [-1, 1]",
            sizes={"image_size": s, "embed_size": g},
        ),
        Graph(
            name="text_encoder",
            module=Sam3TextEncoder(detector),
            inputs=[
                TensorSpec("input_ids", (1, CONTEXT_LENGTH), dtype="int64", high=vocab),
                TensorSpec("attention_mask", (1, CONTEXT_LENGTH), dtype="int64", low=1, high=2),
            ],
            outputs=[text[0]],
            doc=f"CLIP text encoder + projection of one concept's {CONTEXT_LENGTH} CLIP BPE "
            "tokens (padded to the length, attention_mask 0 on the padding)",
            sizes={"context_length": CONTEXT_LENGTH},
        ),
        Graph(
            name="detector",
            module=Sam3Detector(detector, exemplars=False),
            inputs=[*fpn, *text],
            outputs=detections,
            doc="DETR encoder/decoder, presence head, scoring and mask decoder for a text "
            "prompt; score = sigmoid(pred_logits) * sigmoid(presence_logits)",
            sizes={**sizes, "num_queries": q},
        ),
        Graph(
            name="detector_exemplars",
            module=Sam3Detector(detector, exemplars=True),
            inputs=[*fpn, *text, *exemplars],
            outputs=detections,
            doc="the detector with exemplar boxes (cx, cy, w, h in [0, 1]; label 1 "
            "positive, 0 negative) through the geometry encoder",
            sizes={**sizes, "num_queries": q},
        ),
        Graph(
            name="tracker_neck",
            module=Sam3TrackerNeck(tracker, g),
            inputs=[vit],
            outputs=maps,
            doc="the tracker's feature pyramid from the ViT's output (clicks and boxes)",
            sizes={"embed_size": g},
        ),
        Graph(
            name="prompt_decoder",
            module=Sam3PromptDecoder(tracker),
            inputs=[*maps, *prompts],
            outputs=answers,
            doc="the tracker's prompt encoder + mask decoder; masks[:, 0] is the single-mask "
            "output, masks[:, 1:] the three multimask candidates",
            sizes=sizes,
        ),
    ]
