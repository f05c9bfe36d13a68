"""SAM 2.1's two inference stages as tensor-only modules: what runs, and what is exported.

:class:`Sam2Model` calls these modules for every image and prompt (``run_graph``), and
``zoo export`` / ``backend="onnxruntime"`` export exactly them, so the torch and ONNX paths
share one definition. Both only *reference* the submodules of the SAM 2 model (no copies),
and reproduce SAM 2's image-predictor arithmetic operation for operation:

* :class:`Sam2ImageEncoder`: ``forward_image`` + ``_prepare_backbone_features`` + the
  no-memory embedding, without the flatten/permute round trip (an identity).
* :class:`Sam2PromptDecoder`: prompt encoder + mask decoder for N prompts of P points each
  (boxes are two points labelled 2/3, as ``SAM2ImagePredictor`` feeds them, followed by
  the padding point labelled -1 that SAM adds when no separate box is given). The mask prompt
  is an input with a per-prompt ``has_mask_input`` flag (SAM's own ONNX recipe) so one graph
  serves prompts with and without masks. All four mask tokens come out; picking the single
  mask, the best of three, or SAM 2's stability fallback is done by the caller on those
  outputs, identically for every backend.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from zoo.errors import PluginError
from zoo.export.graph import Graph, TensorSpec, sam_prompt_io


class Sam2ImageEncoder(nn.Module):
    """``(1, 3, S, S)`` normalised image -> ``image_embed``, ``feat_s0``, ``feat_s1``."""

    def __init__(self, sam: Any) -> None:
        super().__init__()
        if not sam.use_high_res_features_in_sam or sam.num_feature_levels != 3:
            raise PluginError(
                "Sam2ImageEncoder expects SAM 2.1's three feature levels with high-res "
                "features (every published config)"
            )
        self.image_encoder = sam.image_encoder
        self.conv_s0 = sam.sam_mask_decoder.conv_s0
        self.conv_s1 = sam.sam_mask_decoder.conv_s1
        self.add_no_mem = bool(sam.directly_add_no_mem_embed)
        self.no_mem_embed = sam.no_mem_embed  # (1, 1, C) parameter, shared

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        fpn = self.image_encoder(image)["backbone_fpn"]
        feat_s0 = self.conv_s0(fpn[0])
        feat_s1 = self.conv_s1(fpn[1])
        embed = fpn[2]
        if self.add_no_mem:
            embed = embed + self.no_mem_embed.reshape(1, -1, 1, 1)
        return embed, feat_s0, feat_s1


class Sam2PromptDecoder(nn.Module):
    """Prompt encoder + mask decoder for a batch of prompts on one image embedding.

    Inputs: ``image_embed (1, 256, g, g)``, ``feat_s0 (1, 32, 4g, 4g)``,
    ``feat_s1 (1, 64, 2g, 2g)``, ``point_coords (N, P, 2)`` in the model's input pixels,
    ``point_labels (N, P)`` (1 fg, 0 bg, 2/3 box corners, -1 padding; SAM's padding point
    ends every prompt that has points),
    ``mask_input (N, 1, 4g, 4g)`` logits and ``has_mask_input (N,)`` (1.0 or 0.0).
    Outputs: ``masks (N, 4, 4g, 4g)`` low-res logits of all mask tokens, ``iou (N, 4)``.
    """

    def __init__(self, sam: Any) -> None:
        super().__init__()
        self.prompt_encoder = sam.sam_prompt_encoder
        self.mask_decoder = sam.sam_mask_decoder

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
        # the caller appends SAM's padding point (label -1): a mask-only prompt has none
        sparse = pe._embed_points(point_coords, point_labels, pad=False)
        has = has_mask_input.reshape(-1, 1, 1, 1).to(sparse.dtype)
        no_mask = pe.no_mask_embed.weight.reshape(1, -1, 1, 1)
        dense = pe._embed_masks(mask_input) * has + (1.0 - has) * no_mask
        masks, iou, _, _ = self.mask_decoder.predict_masks(
            image_embeddings=image_embed,
            image_pe=pe.get_dense_pe(),
            sparse_prompt_embeddings=sparse,
            dense_prompt_embeddings=dense,
            repeat_image=True,
            high_res_features=[feat_s0, feat_s1],
        )
        return masks, iou


def sam2_graphs(sam: Any) -> list[Graph]:
    """The encoder and decoder graphs of a SAM 2 model, with their input declarations."""
    s = int(sam.image_size)
    g = s // 16
    c = int(sam.sam_prompt_encoder.embed_dim)
    c0 = int(sam.sam_mask_decoder.conv_s0.out_channels)
    c1 = int(sam.sam_mask_decoder.conv_s1.out_channels)
    feats = [
        TensorSpec("image_embed", (1, c, g, g), low=-1.0),
        TensorSpec("feat_s0", (1, c0, 4 * g, 4 * g), low=-1.0),
        TensorSpec("feat_s1", (1, c1, 2 * g, 2 * g), low=-1.0),
    ]
    prompts, answers = sam_prompt_io(s, g)
    encoder = Graph(
        name="encoder",
        module=Sam2ImageEncoder(sam),
        inputs=[TensorSpec("image", (1, 3, s, s), low=-2.0, high=2.0)],
        outputs=feats,
        doc="Hiera image encoder + FPN neck; input resized to SxS, ImageNet-normalised",
        sizes={"image_size": s, "embed_size": g},
    )
    decoder = Graph(
        name="decoder",
        module=Sam2PromptDecoder(sam),
        inputs=[*feats, *prompts],
        outputs=answers,
        doc="prompt encoder + mask decoder; masks[:, 0] is the single-mask output, "
        "masks[:, 1:] the three multimask candidates",
        sizes={"image_size": s, "embed_size": g, "low_res_size": 4 * g},
    )
    return [encoder, decoder]
