"""Builders for the published EfficientSAM variants.

Only the ViT width and head count differ between variants; everything else (1024-px
input, 16-px patches, 12 blocks, 256-d neck and decoder, 6 prompt points, 3 masks) is
fixed by the released checkpoints, so it is not exposed as knobs here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from torch import nn

from zoo.errors import InputError

from .model import (
    EfficientSam,
    ImageEncoderViT,
    MaskDecoder,
    PromptEncoder,
    TwoWayTransformer,
)

__all__ = ["VARIANTS", "EfficientSamConfig", "build_efficientsam"]

Variant = Literal["vitt", "vits"]


@dataclass(frozen=True)
class EfficientSamConfig:
    """Encoder size of one variant; the rest of the architecture is shared."""

    patch_embed_dim: int
    num_heads: int


VARIANTS: dict[str, EfficientSamConfig] = {
    "vitt": EfficientSamConfig(patch_embed_dim=192, num_heads=3),
    "vits": EfficientSamConfig(patch_embed_dim=384, num_heads=6),
}

IMG_SIZE = 1024
PATCH_SIZE = 16
ENCODER_DEPTH = 12
ENCODER_MLP_RATIO = 4.0
NECK_DIMS = [256, 256]
DECODER_MAX_NUM_INPUT_POINTS = 6
DECODER_DEPTH = 2
DECODER_MLP_DIM = 2048
DECODER_NUM_HEADS = 8
UPSCALING_LAYER_DIMS = [64, 32]
NUM_MULTIMASK_OUTPUTS = 3
# Upstream's builder names the IoU head "depth 3" but passes depth - 1 hidden layers,
# so the head is Linear-GELU-Linear-GELU-Linear. Two is what the checkpoints hold.
IOU_HEAD_HIDDEN_LAYERS = 2
IOU_HEAD_HIDDEN_DIM = 256


def _architecture(cfg: EfficientSamConfig, image_size: int = IMG_SIZE) -> EfficientSam:
    act = nn.GELU
    encoder = ImageEncoderViT(
        img_size=image_size,
        patch_size=PATCH_SIZE,
        in_chans=3,
        patch_embed_dim=cfg.patch_embed_dim,
        depth=ENCODER_DEPTH,
        num_heads=cfg.num_heads,
        mlp_ratio=ENCODER_MLP_RATIO,
        neck_dims=NECK_DIMS,
        act_layer=act,
    )
    dim = encoder.transformer_output_dim
    grid = encoder.image_embedding_size
    return EfficientSam(
        image_encoder=encoder,
        prompt_encoder=PromptEncoder(
            embed_dim=dim,
            image_embedding_size=(grid, grid),
            input_image_size=(image_size, image_size),
        ),
        decoder_max_num_input_points=DECODER_MAX_NUM_INPUT_POINTS,
        mask_decoder=MaskDecoder(
            transformer_dim=dim,
            transformer=TwoWayTransformer(
                depth=DECODER_DEPTH,
                embedding_dim=dim,
                num_heads=DECODER_NUM_HEADS,
                mlp_dim=DECODER_MLP_DIM,
                activation=act,
            ),
            num_multimask_outputs=NUM_MULTIMASK_OUTPUTS,
            activation=act,
            iou_head_depth=IOU_HEAD_HIDDEN_LAYERS,
            iou_head_hidden_dim=IOU_HEAD_HIDDEN_DIM,
            upscaling_layer_dims=UPSCALING_LAYER_DIMS,
        ),
    )


def build_efficientsam(
    variant: Variant = "vitt",
    checkpoint: str | Path | None = None,
    *,
    model_name: str | None = None,
    image_size: int = IMG_SIZE,
) -> EfficientSam:
    """Build an EfficientSAM variant in eval mode, optionally loading weights strictly.

    Args:
        variant: ``"vitt"`` (ViT-Tiny, 192-d, 3 heads) or ``"vits"`` (ViT-Small, 384-d,
            6 heads).
        checkpoint: a ``.pt`` file holding upstream's ``{"model": state_dict}`` or a bare
            state dict; ``None`` leaves random initialisation (the explicit test mode).
        model_name: how error messages name the model (default ``efficientsam:<variant>``).
        image_size: input side; 1024 is the published setting. Smaller sides (multiples of
            the 16-px patch) make CPU tests and experiments fast; the encoder resizes its
            position table, so published weights still load.

    Loading goes through the core's pickle-free reader and strict loader, so a file from
    another family or size fails with a :class:`zoo.errors.WeightsError` that says so.
    Strictness matters here: a silently missing key (the Fourier matrix, say) would still
    give plausible-looking but wrong masks.
    """
    try:
        cfg = VARIANTS[variant]
    except KeyError:
        raise InputError(
            f"unknown EfficientSAM variant {variant!r}; choose one of {', '.join(VARIANTS)}"
        ) from None
    if image_size % PATCH_SIZE:
        raise InputError(f"image_size must be a multiple of {PATCH_SIZE}, got {image_size}")
    model = _architecture(cfg, image_size)
    if checkpoint is not None:
        from zoo.model import load_state_dict_strict
        from zoo.weights import load_state_dict

        load_state_dict_strict(
            model,
            load_state_dict(Path(checkpoint), key="model"),
            model_name=model_name or f"efficientsam:{variant}",
            path=checkpoint,
        )
    return model.eval()
