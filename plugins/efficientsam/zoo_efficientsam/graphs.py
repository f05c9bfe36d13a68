"""EfficientSAM's two inference stages as tensor-only modules (run *and* exported).

:class:`~zoo_efficientsam.loader.EfficientSamModel` and SAMEO's model call these through
``run_graph``; ``zoo export`` and ``backend="onnxruntime"`` export exactly them. They only
reference the network's submodules and reproduce :meth:`EfficientSam.get_image_embeddings`
and :meth:`EfficientSam.predict_masks` operation for operation, minus the steps that depend
on the original image size (resizing the image, scaling prompt coordinates), which stay in
the model class so that one graph serves every image size.
"""

from __future__ import annotations

import torch
from torch import nn

from zoo.export.graph import Graph, TensorSpec

from .model import EfficientSam


class EfficientSamEncoder(nn.Module):
    """``(1, 3, S, S)`` RGB in [0, 1], already resized to S -> ``(1, 256, S/16, S/16)``."""

    pixel_mean: torch.Tensor
    pixel_std: torch.Tensor

    def __init__(self, model: EfficientSam) -> None:
        super().__init__()
        self.image_encoder = model.image_encoder
        self.register_buffer("pixel_mean", model.pixel_mean, persistent=False)
        self.register_buffer("pixel_std", model.pixel_std, persistent=False)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.image_encoder((image - self.pixel_mean) / self.pixel_std)


class EfficientSamDecoder(nn.Module):
    """Prompt encoder + mask decoder, always in multimask mode (as upstream runs it).

    Inputs: ``image_embed (1, 256, g, g)``, ``point_coords (N, P, 2)`` in the encoder's S x S
    input pixels (padding points at -1), ``point_labels (N, P)`` (1 fg, 0 bg, 2/3 box
    corners, -1 padding). Outputs: ``masks (N, 3, 4g, 4g)`` low-res logits, ``iou (N, 3)``.
    """

    def __init__(self, model: EfficientSam) -> None:
        super().__init__()
        self.prompt_encoder = model.prompt_encoder
        self.mask_decoder = model.mask_decoder

    def forward(
        self, image_embed: torch.Tensor, point_coords: torch.Tensor, point_labels: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        sparse = self.prompt_encoder(point_coords, point_labels)
        return self.mask_decoder(
            image_embed,
            self.prompt_encoder.get_dense_pe(),
            sparse_prompt_embeddings=sparse[None],
            multimask_output=True,
        )


def efficientsam_graphs(model: EfficientSam) -> list[Graph]:
    """Encoder and decoder graphs of an EfficientSAM network (also SAMEO's)."""
    s = int(model.image_encoder.img_size)
    g = int(model.image_encoder.image_embedding_size)
    c = int(model.image_encoder.transformer_output_dim)
    p = int(model.decoder_max_num_input_points)
    n = "num_prompts"
    embed = TensorSpec("image_embed", (1, c, g, g), low=-1.0)
    return [
        Graph(
            name="encoder",
            module=EfficientSamEncoder(model),
            inputs=[TensorSpec("image", (1, 3, s, s))],
            outputs=[embed],
            doc="ViT encoder + neck; input RGB in [0,1] resized to SxS, normalised inside",
            sizes={"image_size": s, "embed_size": g},
        ),
        Graph(
            name="decoder",
            module=EfficientSamDecoder(model),
            inputs=[
                embed,
                TensorSpec("point_coords", (n, p, 2), low=-1.0, high=float(s)),
                TensorSpec("point_labels", (n, p), dtype="int64", low=-1, high=4),
            ],
            outputs=[
                TensorSpec("masks", (n, 3, 4 * g, 4 * g)),
                TensorSpec("iou_predictions", (n, 3)),
            ],
            doc=f"prompt encoder + mask decoder; exactly {p} points per prompt (pad with "
            "coordinate -1, label -1); three candidate masks per prompt",
            sizes={"image_size": s, "embed_size": g, "low_res_size": 4 * g, "max_points": p},
        ),
    ]
