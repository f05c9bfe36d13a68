"""The architectures ``sam3`` builds, as transformers configs.

``base`` is transformers' default :class:`~transformers.Sam3VideoConfig`, the architecture
``facebook/sam3`` publishes (a 1008 px ViT-L/14 image encoder, a 24-layer CLIP-style text
encoder, a 6+6-layer DETR-style detector and SAM 2's tracker). ``tiny`` keeps that layout
(every module, every key pattern) at sizes that run in about a second on a CPU: 112 px
input (8x8 patches), widths 32 (encoders) and 128, one or two layers per stack, 5
queries. It exists for
tests and examples with random weights; no published checkpoint fits it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from zoo.errors import InputError

if TYPE_CHECKING:
    from transformers import Sam3VideoConfig

ARCHS = ("base", "tiny")

#: Patches per side of the tiny architecture's input (``8 * 14 = 112`` px), the width of
#: its ViT and text encoder, and of everything after the feature pyramid. The last must be a
#: multiple of 64 above 64: the tracker splits each object pointer into 64-d memory tokens
#: (transformers fails on a single token) and its memory attention reads 64-d keys.
TINY_PATCHES = 8
TINY_ENCODER_WIDTH = 32
TINY_WIDTH = 128


def _tiny_kwargs() -> dict[str, Any]:
    n, h, e = TINY_PATCHES, TINY_WIDTH, TINY_ENCODER_WIDTH
    side = n * 14
    vit = {
        "model_type": "sam3_vit_model",
        "hidden_size": e,
        "intermediate_size": 2 * e,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "image_size": side,
        "window_size": 4,
        "global_attn_indexes": [1],
        "pretrain_image_size": 56,  # 4x4 position embeddings, tiled to 8x8 as in the real one
    }
    vision = {
        "model_type": "sam3_vision_model",
        "backbone_config": vit,
        "fpn_hidden_size": h,
        "backbone_feature_sizes": [[4 * n, 4 * n], [2 * n, 2 * n], [n, n]],
    }
    layers = {"hidden_size": h, "num_attention_heads": 2, "intermediate_size": 2 * h}
    return {
        "detector_config": {
            "vision_config": vision,
            "text_config": {
                "model_type": "clip_text_model",
                "vocab_size": 49408,  # the CLIP BPE vocabulary: the real tokenizer works
                "max_position_embeddings": 32,
                "hidden_act": "gelu",
                "hidden_size": e,
                "intermediate_size": 2 * e,
                "projection_dim": e,
                "num_hidden_layers": 2,
                "num_attention_heads": 2,
            },
            "geometry_encoder_config": {**layers, "num_layers": 1},
            "detr_encoder_config": {**layers, "num_layers": 1},
            "detr_decoder_config": {**layers, "num_layers": 2, "num_queries": 5},
            "mask_decoder_config": {"hidden_size": h, "num_attention_heads": 2},
        },
        "tracker_config": {
            "vision_config": vision,
            "prompt_encoder_config": {"hidden_size": h, "image_size": side},
            "mask_decoder_config": {
                "hidden_size": h,
                "mlp_dim": 2 * h,
                "num_attention_heads": 2,
                "iou_head_hidden_dim": h,
            },
            "memory_attention_hidden_size": h,
            "memory_attention_num_layers": 1,
            "memory_attention_feed_forward_hidden_size": 2 * h,
            "memory_encoder_hidden_size": h,
            "memory_encoder_output_channels": 64,
            "mask_downsampler_embed_dim": h,
            "memory_fuser_embed_dim": h,
            "memory_fuser_intermediate_dim": 2 * h,
            "image_size": side,
        },
        "low_res_mask_size": 4 * n,
    }


def check_arch(arch: str) -> str:
    if arch not in ARCHS:
        raise InputError(f"unknown --arch {arch!r}; use {' or '.join(ARCHS)}")
    return arch


#: The ViT's patch size: input sides are multiples of it.
PATCH = 14


def set_image_size(config: Sam3VideoConfig, side: int) -> Sam3VideoConfig:
    """Make ``config`` take ``side`` x ``side`` inputs: the ViT's grid, both feature
    pyramids (4x, 2x, 1x the grid), the tracker's prompt frame and rotary tables, and the
    low-res mask size. The weights do not depend on it (the ViT tiles its position
    embeddings and scales its rotary positions), so any checkpoint still loads."""
    if side % PATCH or side < 8 * PATCH:
        raise InputError(
            f"--image-size {side} must be a multiple of {PATCH} and at least {8 * PATCH}"
        )
    n = side // PATCH
    sizes = [[4 * n, 4 * n], [2 * n, 2 * n], [n, n]]
    detector: Any = config.detector_config
    tracker: Any = config.tracker_config
    detector.vision_config.image_size = side
    detector.vision_config.backbone_feature_sizes = sizes
    tracker.image_size = side  # its setter updates the prompt encoder and RoPE
    tracker.vision_config.backbone_feature_sizes = sizes
    config.low_res_mask_size = 4 * n
    return config


def video_config(
    arch: str = "base", config_file: Path | None = None, image_size: int | None = None
) -> Sam3VideoConfig:
    """The whole network's config: ``config_file`` (a ``config.json`` of ``facebook/sam3``)
    when given, else the named architecture; ``image_size`` changes the input side."""
    config = _config(arch, config_file)
    return config if image_size is None else set_image_size(config, int(image_size))


def _config(arch: str, config_file: Path | None) -> Sam3VideoConfig:
    from transformers import Sam3VideoConfig

    if config_file is not None:
        if arch != "base":
            raise InputError(
                f"--arch {arch} builds a test architecture; it takes no config file "
                "(drop --arch, or use --weights random)"
            )
        try:
            return Sam3VideoConfig.from_json_file(str(config_file))
        except (OSError, ValueError, TypeError) as exc:
            raise InputError(
                f"{config_file} is not a SAM 3 config.json ({type(exc).__name__}: "
                f"{str(exc).splitlines()[0] if str(exc) else ''})"
            ) from None
    check_arch(arch)
    return Sam3VideoConfig(**_tiny_kwargs()) if arch == "tiny" else Sam3VideoConfig()


def image_side(config: Sam3VideoConfig) -> int:
    """The encoder's square input side in pixels (1008 for ``base``)."""
    detector: Any = config.detector_config
    return int(detector.vision_config.image_size)


def grid(config: Sam3VideoConfig) -> int:
    """Patches per side of the ViT's output (72 for ``base``)."""
    detector: Any = config.detector_config
    return int(detector.vision_config.backbone_feature_sizes[-1][0])
