"""Clean-room PyTorch implementation of EfficientSAM (Xiong et al., CVPR 2024).

The module tree mirrors the published checkpoints attribute for attribute, so
``load_state_dict(..., strict=True)`` works on the upstream ``{"model": state_dict}``
files. Attribute names such as ``invalid_points`` or ``final_output_upscaling_layers``
therefore look arbitrary here: they are the checkpoint's key names, not a style choice.

Behaviour that differs from the original SAM and is reproduced on purpose:

* the image is resized straight to 1024x1024 (bilinear, aspect ratio *not* kept, no
  padding) *before* ImageNet normalisation;
* point coordinates are scaled per axis (x by 1024/W, y by 1024/H), prompts are padded
  to a fixed number of points with coordinate -1 / label -1, and all coordinates are
  shifted by +0.5 before the Fourier encoding;
* label 0 (negative click) adds *no* learned embedding: it carries positional
  information only;
* the low-resolution logits are upsampled with bicubic interpolation, and the three
  multimask outputs are returned in decoder order (not sorted by predicted IoU).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "EfficientSam",
    "ImageEncoderViT",
    "MaskDecoder",
    "PromptEncoder",
    "TwoWayTransformer",
]

# Label ids understood by the prompt encoder (upstream convention).
LABEL_PADDING = -1
LABEL_NEGATIVE = 0
LABEL_POSITIVE = 1
LABEL_BOX_TOP_LEFT = 2
LABEL_BOX_BOTTOM_RIGHT = 3


# --------------------------------------------------------------------------------------
# Shared building blocks
# --------------------------------------------------------------------------------------


class LayerNorm2d(nn.Module):
    """Layer norm over the channel axis of an NCHW tensor.

    Written out by hand (instead of permuting and calling ``F.layer_norm``) so the
    arithmetic follows the reference's order closely; the neck's outputs are the image
    embedding that golden tests compare at 1e-4.
    """

    def __init__(self, num_channels: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(num_channels))
        self.bias = nn.Parameter(torch.zeros(num_channels))
        self.eps = eps

    def forward(self, x: Tensor) -> Tensor:
        mean = x.mean(dim=1, keepdim=True)
        centred = x - mean
        var = centred.pow(2).mean(dim=1, keepdim=True)
        normed = centred / torch.sqrt(var + self.eps)
        return self.weight[:, None, None] * normed + self.bias[:, None, None]


class MLPBlock(nn.Module):
    """``num_layers`` x (Linear + activation) followed by a plain output Linear.

    The hidden layers live in ``layers.<i>.0`` (a Sequential of Linear and activation)
    and the output layer in ``fc``: that nesting is what the checkpoints use.
    """

    def __init__(
        self,
        input_dim: int,
        hidden_dim: int,
        output_dim: int,
        num_layers: int,
        act: type[nn.Module],
    ) -> None:
        super().__init__()
        in_dims = [input_dim] + [hidden_dim] * (num_layers - 1)
        self.layers = nn.ModuleList(nn.Sequential(nn.Linear(d, hidden_dim), act()) for d in in_dims)
        self.fc = nn.Linear(hidden_dim, output_dim)

    def forward(self, x: Tensor) -> Tensor:
        for layer in self.layers:
            x = layer(x)
        return self.fc(x)


# --------------------------------------------------------------------------------------
# Image encoder: plain (non-windowed) ViT with a conv neck
# --------------------------------------------------------------------------------------


class PatchEmbed(nn.Module):
    """Non-overlapping ``patch_size`` convolution; output stays NCHW."""

    def __init__(self, patch_size: int, in_chans: int, embed_dim: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(in_chans, embed_dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, x: Tensor) -> Tensor:
        return self.proj(x)


class Attention(nn.Module):
    """Global multi-head self-attention with a fused qkv projection."""

    def __init__(self, dim: int, num_heads: int, qkv_bias: bool = True) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"dim={dim} is not divisible by num_heads={num_heads}")
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: Tensor) -> Tensor:
        b, n, c = x.shape
        head_dim = c // self.num_heads
        # (B, N, 3C) -> (3, B, heads, N, head_dim)
        qkv = self.qkv(x).view(b, n, 3, self.num_heads, head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        # The fused kernel avoids materialising the (heads, 4096, 4096) score matrix
        # (~200 MB per block for ViT-T); its default scale is head_dim ** -0.5 as in ViT.
        out = F.scaled_dot_product_attention(q, k, v)
        return self.proj(out.transpose(1, 2).reshape(b, n, c))


class Mlp(nn.Module):
    """Two-layer feed-forward network of a ViT block."""

    def __init__(self, in_features: int, hidden_features: int, act_layer: type[nn.Module]):
        super().__init__()
        self.fc1 = nn.Linear(in_features, hidden_features)
        self.act = act_layer()
        self.fc2 = nn.Linear(hidden_features, in_features)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    """Pre-norm transformer block (LayerNorm eps 1e-6, as in the MAE-style ViTs)."""

    def __init__(
        self,
        dim: int,
        num_heads: int,
        mlp_ratio: float,
        qkv_bias: bool,
        act_layer: type[nn.Module],
    ) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, num_heads, qkv_bias=qkv_bias)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), act_layer)

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


def resize_abs_pos_embed(
    pos_embed: Tensor, grid_hw: tuple[int, int], has_cls_token: bool
) -> Tensor:
    """Turn a pre-training position table into a ``(1, H, W, C)`` grid.

    The encoder was pre-trained at 224 px (a 14x14 grid plus a class-token slot) and runs
    at 1024 px (64x64), so the table is bicubically resized on every call; doing it on the
    fly keeps fine-tuning of ``pos_embed`` meaningful.
    """
    if has_cls_token:
        pos_embed = pos_embed[:, 1:]
    n = pos_embed.shape[1]
    side = math.isqrt(n)
    if side * side != n:
        raise ValueError(f"position table has {n} entries, which is not a square grid")
    grid = pos_embed.reshape(1, side, side, -1)
    if (side, side) == tuple(grid_hw):
        return grid
    resized = F.interpolate(
        grid.permute(0, 3, 1, 2), size=grid_hw, mode="bicubic", align_corners=False
    )
    return resized.permute(0, 2, 3, 1)


class ImageEncoderViT(nn.Module):
    """ViT backbone + two-conv neck producing a ``(B, 256, 64, 64)`` embedding."""

    def __init__(
        self,
        img_size: int,
        patch_size: int,
        in_chans: int,
        patch_embed_dim: int,
        depth: int,
        num_heads: int,
        mlp_ratio: float,
        neck_dims: list[int],
        act_layer: type[nn.Module],
        pretrain_img_size: int = 224,
    ) -> None:
        super().__init__()
        self.img_size = img_size
        self.image_embedding_size = img_size // patch_size
        self.transformer_output_dim = neck_dims[-1]
        self.pretrain_use_cls_token = True
        self.patch_embed = PatchEmbed(patch_size, in_chans, patch_embed_dim)
        num_positions = (pretrain_img_size // patch_size) ** 2 + 1  # +1: class token slot
        self.pos_embed = nn.Parameter(torch.zeros(1, num_positions, patch_embed_dim))
        self.blocks = nn.ModuleList(
            Block(patch_embed_dim, num_heads, mlp_ratio, qkv_bias=True, act_layer=act_layer)
            for _ in range(depth)
        )
        self.neck = nn.Sequential(
            nn.Conv2d(patch_embed_dim, neck_dims[0], kernel_size=1, bias=False),
            LayerNorm2d(neck_dims[0]),
            nn.Conv2d(neck_dims[0], neck_dims[1], kernel_size=3, padding=1, bias=False),
            LayerNorm2d(neck_dims[1]),
        )

    def forward(self, x: Tensor) -> Tensor:
        if x.shape[-2:] != (self.img_size, self.img_size):
            raise ValueError(
                f"image encoder expects {self.img_size}x{self.img_size} input, "
                f"got {tuple(x.shape[-2:])}; call EfficientSam.preprocess first"
            )
        x = self.patch_embed(x).permute(0, 2, 3, 1)  # B, H, W, C
        b, h, w, c = x.shape
        x = x + resize_abs_pos_embed(self.pos_embed, (h, w), self.pretrain_use_cls_token)
        x = x.reshape(b, h * w, c)
        for block in self.blocks:
            x = block(x)
        x = x.reshape(b, h, w, c).permute(0, 3, 1, 2)
        return self.neck(x)


# --------------------------------------------------------------------------------------
# Prompt encoder
# --------------------------------------------------------------------------------------


class PositionEmbeddingRandom(nn.Module):
    """Random Fourier features of 2-D coordinates (Tancik et al.), as in SAM.

    The Gaussian projection is a persistent buffer: it is part of the checkpoint and must
    be loaded, not re-sampled.
    """

    positional_encoding_gaussian_matrix: Tensor

    def __init__(self, num_pos_feats: int) -> None:
        super().__init__()
        self.register_buffer("positional_encoding_gaussian_matrix", torch.randn(2, num_pos_feats))

    def _encode(self, unit_coords: Tensor) -> Tensor:
        """Encode coordinates in ``[0, 1]`` (last axis = (x, y)) to ``2 * num_pos_feats``."""
        gaussian = self.positional_encoding_gaussian_matrix
        proj = (2 * unit_coords.to(gaussian.dtype) - 1) @ gaussian
        proj = 2 * math.pi * proj
        return torch.cat([proj.sin(), proj.cos()], dim=-1)

    def forward(self, size: tuple[int, int]) -> Tensor:
        """Dense ``(C, H, W)`` encoding of the centres of an ``H x W`` grid."""
        h, w = size
        device = self.positional_encoding_gaussian_matrix.device
        ys = (torch.arange(h, device=device, dtype=torch.float32) + 0.5) / h
        xs = (torch.arange(w, device=device, dtype=torch.float32) + 0.5) / w
        grid = torch.stack(
            [xs[None, :].expand(h, w), ys[:, None].expand(h, w)], dim=-1
        )  # H, W, 2 as (x, y)
        return self._encode(grid).permute(2, 0, 1)

    def forward_with_coords(self, coords: Tensor, image_size: tuple[int, int]) -> Tensor:
        """Encode pixel coordinates ``(..., 2)`` of an ``image_size = (H, W)`` image."""
        h, w = image_size
        unit = torch.stack([coords[..., 0] / w, coords[..., 1] / h], dim=-1)
        # Projected in the matrix's dtype (float32 for float64 inputs, as upstream does;
        # bf16/fp16 when the model was cast), so a cast model accepts float32 prompts.
        return self._encode(unit)


class PromptEncoder(nn.Module):
    """Embeds a fixed-length list of labelled points into sparse prompt tokens.

    Boxes arrive as two points (labels 2 and 3). There is no dense (mask) prompt and no
    "no mask" embedding in EfficientSAM.
    """

    def __init__(
        self,
        embed_dim: int,
        image_embedding_size: tuple[int, int],
        input_image_size: tuple[int, int],
    ) -> None:
        super().__init__()
        self.embed_dim = embed_dim
        self.image_embedding_size = image_embedding_size
        self.input_image_size = input_image_size
        self.pe_layer = PositionEmbeddingRandom(embed_dim // 2)
        self.invalid_points = nn.Embedding(1, embed_dim)
        self.point_embeddings = nn.Embedding(1, embed_dim)
        self.bbox_top_left_embeddings = nn.Embedding(1, embed_dim)
        self.bbox_bottom_right_embeddings = nn.Embedding(1, embed_dim)

    def get_dense_pe(self) -> Tensor:
        """``(1, C, h, w)`` positional encoding of the image-embedding grid."""
        return self.pe_layer(self.image_embedding_size).unsqueeze(0)

    def forward(self, coords: Tensor, labels: Tensor) -> Tensor:
        """Embed ``coords (B, N, 2)`` in 1024-px input space with ``labels (B, N)``.

        Returns ``(B, N, embed_dim)``. Label 0 (negative point) deliberately gets only the
        positional part; any label outside {-1, 1, 2, 3} behaves the same way.
        """
        tokens = self.pe_layer.forward_with_coords(coords + 0.5, self.input_image_size)
        label_tables = (
            (LABEL_PADDING, self.invalid_points),
            (LABEL_POSITIVE, self.point_embeddings),
            (LABEL_BOX_TOP_LEFT, self.bbox_top_left_embeddings),
            (LABEL_BOX_BOTTOM_RIGHT, self.bbox_bottom_right_embeddings),
        )
        for label, table in label_tables:
            # Multiply by a 0/1 mask rather than index-assign so the graph stays
            # traceable and exported models see the same arithmetic.
            tokens = tokens + table.weight[None] * (labels == label)[..., None]
        return tokens


# --------------------------------------------------------------------------------------
# Two-way transformer + mask decoder
# --------------------------------------------------------------------------------------


class AttentionForTwoWayAttentionBlock(nn.Module):
    """Multi-head attention whose q/k/v are projected to ``dim / downsample_rate``.

    Kept as separate q/k/v projections (the checkpoint layout) with the score matrix
    written out; the token counts are small so a fused kernel buys nothing here.
    """

    def __init__(self, embedding_dim: int, num_heads: int, downsample_rate: int = 1) -> None:
        super().__init__()
        internal_dim = embedding_dim // downsample_rate
        if internal_dim % num_heads:
            raise ValueError("num_heads must divide embedding_dim // downsample_rate")
        self.embedding_dim = embedding_dim
        self.internal_dim = internal_dim
        self.num_heads = num_heads
        self.q_proj = nn.Linear(embedding_dim, internal_dim)
        self.k_proj = nn.Linear(embedding_dim, internal_dim)
        self.v_proj = nn.Linear(embedding_dim, internal_dim)
        self.out_proj = nn.Linear(internal_dim, embedding_dim)
        self.inv_sqrt_c_per_head = 1.0 / math.sqrt(internal_dim / num_heads)

    def _split(self, x: Tensor) -> Tensor:
        b, n, c = x.shape
        return x.view(b, n, self.num_heads, c // self.num_heads).transpose(1, 2)

    def forward(self, q: Tensor, k: Tensor, v: Tensor) -> Tensor:
        qh = self._split(self.q_proj(q))
        kh = self._split(self.k_proj(k))
        vh = self._split(self.v_proj(v))
        scores = (qh @ kh.transpose(-2, -1)) * self.inv_sqrt_c_per_head
        out = scores.softmax(dim=-1) @ vh  # B, heads, Nq, c
        b, _, nq, _ = out.shape
        return self.out_proj(out.transpose(1, 2).reshape(b, nq, self.internal_dim))


class TwoWayAttentionBlock(nn.Module):
    """Token self-attn, token->image cross-attn, token MLP, image->token cross-attn.

    Post-norm residuals throughout. The first block feeds the raw prompt tokens (not
    tokens + PE) to self-attention, because at that point the tokens *are* the PE.
    """

    def __init__(
        self,
        embedding_dim: int,
        num_heads: int,
        mlp_dim: int,
        activation: type[nn.Module],
        attention_downsample_rate: int = 2,
        skip_first_layer_pe: bool = False,
    ) -> None:
        super().__init__()
        self.self_attn = AttentionForTwoWayAttentionBlock(embedding_dim, num_heads)
        self.norm1 = nn.LayerNorm(embedding_dim)
        self.cross_attn_token_to_image = AttentionForTwoWayAttentionBlock(
            embedding_dim, num_heads, downsample_rate=attention_downsample_rate
        )
        self.norm2 = nn.LayerNorm(embedding_dim)
        self.mlp = MLPBlock(embedding_dim, mlp_dim, embedding_dim, 1, activation)
        self.norm3 = nn.LayerNorm(embedding_dim)
        self.norm4 = nn.LayerNorm(embedding_dim)
        self.cross_attn_image_to_token = AttentionForTwoWayAttentionBlock(
            embedding_dim, num_heads, downsample_rate=attention_downsample_rate
        )
        self.skip_first_layer_pe = skip_first_layer_pe

    def forward(
        self, queries: Tensor, keys: Tensor, query_pe: Tensor, key_pe: Tensor
    ) -> tuple[Tensor, Tensor]:
        if not self.skip_first_layer_pe:
            queries = queries + query_pe
        queries = self.norm1(queries + self.self_attn(queries, queries, queries))

        attended = self.cross_attn_token_to_image(queries + query_pe, keys + key_pe, keys)
        queries = self.norm2(queries + attended)

        queries = self.norm3(queries + self.mlp(queries))

        attended = self.cross_attn_image_to_token(keys + key_pe, queries + query_pe, queries)
        keys = self.norm4(keys + attended)
        return queries, keys


class TwoWayTransformer(nn.Module):
    """Stack of two-way blocks plus a final token->image attention and norm."""

    def __init__(
        self,
        depth: int,
        embedding_dim: int,
        num_heads: int,
        mlp_dim: int,
        activation: type[nn.Module],
        attention_downsample_rate: int = 2,
    ) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            TwoWayAttentionBlock(
                embedding_dim,
                num_heads,
                mlp_dim,
                activation,
                attention_downsample_rate=attention_downsample_rate,
                skip_first_layer_pe=(i == 0),
            )
            for i in range(depth)
        )
        self.final_attn_token_to_image = AttentionForTwoWayAttentionBlock(
            embedding_dim, num_heads, downsample_rate=attention_downsample_rate
        )
        self.norm_final_attn = nn.LayerNorm(embedding_dim)

    def forward(
        self, image_embedding: Tensor, image_pe: Tensor, point_embedding: Tensor
    ) -> tuple[Tensor, Tensor]:
        """Return ``(tokens (B, N, C), image tokens (B, h*w, C))``."""
        keys = image_embedding.flatten(2).transpose(1, 2)
        key_pe = image_pe.flatten(2).transpose(1, 2)
        queries = point_embedding
        for layer in self.layers:
            queries, keys = layer(queries, keys, point_embedding, key_pe)
        attended = self.final_attn_token_to_image(queries + point_embedding, keys + key_pe, keys)
        return self.norm_final_attn(queries + attended), keys


class MaskDecoder(nn.Module):
    """Predicts ``1 + num_multimask_outputs`` masks and IoU scores per prompt."""

    def __init__(
        self,
        transformer_dim: int,
        transformer: TwoWayTransformer,
        num_multimask_outputs: int,
        activation: type[nn.Module],
        iou_head_depth: int,
        iou_head_hidden_dim: int,
        upscaling_layer_dims: list[int],
    ) -> None:
        super().__init__()
        self.transformer_dim = transformer_dim
        self.transformer = transformer
        self.num_multimask_outputs = num_multimask_outputs
        self.num_mask_tokens = num_multimask_outputs + 1 if num_multimask_outputs > 1 else 1
        self.iou_token = nn.Embedding(1, transformer_dim)
        self.mask_tokens = nn.Embedding(self.num_mask_tokens, transformer_dim)

        # Each stage doubles the resolution (64 -> 128 -> 256); only non-final stages
        # carry a GroupNorm(1, C), the final one goes straight to the activation.
        stages = []
        in_dim = transformer_dim
        for idx, out_dim in enumerate(upscaling_layer_dims):
            is_last = idx == len(upscaling_layer_dims) - 1
            stages.append(
                nn.Sequential(
                    nn.ConvTranspose2d(in_dim, out_dim, kernel_size=2, stride=2),
                    nn.Identity() if is_last else nn.GroupNorm(1, out_dim),
                    activation(),
                )
            )
            in_dim = out_dim
        self.final_output_upscaling_layers = nn.ModuleList(stages)

        self.output_hypernetworks_mlps = nn.ModuleList(
            MLPBlock(transformer_dim, transformer_dim, in_dim, 2, activation)
            for _ in range(self.num_mask_tokens)
        )
        self.iou_prediction_head = MLPBlock(
            transformer_dim, iou_head_hidden_dim, self.num_mask_tokens, iou_head_depth, activation
        )

    def forward(
        self,
        image_embeddings: Tensor,
        image_pe: Tensor,
        sparse_prompt_embeddings: Tensor,
        multimask_output: bool,
    ) -> tuple[Tensor, Tensor]:
        """Decode ``sparse_prompt_embeddings (B, Q, N, C)`` against ``(B, C, h, w)``.

        Every query of an image shares that image's embedding, so many prompts cost one
        encoder pass. Returns masks ``(B*Q, M, 4h, 4w)`` and IoU ``(B*Q, M)``, with
        ``M = 3`` (multimask) or ``1``.
        """
        b, q, n, c = sparse_prompt_embeddings.shape
        src = image_embeddings.repeat_interleave(q, dim=0)
        masks, iou_pred = self._decode(src, image_pe, sparse_prompt_embeddings.reshape(b * q, n, c))
        if multimask_output and self.num_multimask_outputs > 1:
            return masks[:, 1:], iou_pred[:, 1:]
        return masks[:, :1], iou_pred[:, :1]

    def _decode(
        self, src: Tensor, image_pe: Tensor, prompt_tokens: Tensor
    ) -> tuple[Tensor, Tensor]:
        batch = prompt_tokens.shape[0]
        output_tokens = torch.cat([self.iou_token.weight, self.mask_tokens.weight], dim=0)
        tokens = torch.cat([output_tokens[None].expand(batch, -1, -1), prompt_tokens], dim=1)
        pos = image_pe.expand(batch, -1, -1, -1)

        _, c, h, w = src.shape
        hs, image_tokens = self.transformer(src, pos, tokens)
        iou_token_out = hs[:, 0]
        mask_tokens_out = hs[:, 1 : 1 + self.num_mask_tokens]

        upscaled = image_tokens.transpose(1, 2).reshape(batch, c, h, w)
        for stage in self.final_output_upscaling_layers:
            upscaled = stage(upscaled)
        hyper_in = torch.stack(
            [mlp(mask_tokens_out[:, i]) for i, mlp in enumerate(self.output_hypernetworks_mlps)],
            dim=1,
        )  # B, M, C'
        _, c_up, h_up, w_up = upscaled.shape
        masks = (hyper_in @ upscaled.reshape(batch, c_up, h_up * w_up)).view(batch, -1, h_up, w_up)
        return masks, self.iou_prediction_head(iou_token_out)


# --------------------------------------------------------------------------------------
# Full model
# --------------------------------------------------------------------------------------


class EfficientSam(nn.Module):
    """Image encoder + point/box prompt encoder + two-way mask decoder.

    Image tensors are ``(B, 3, H, W)`` float in ``[0, 1]`` (RGB); prompts are pixel
    coordinates of that original ``H x W`` image, ``(B, Q, N, 2)`` as (x, y), with labels
    ``(B, Q, N)``: 1 positive, 0 negative, 2/3 box corners, -1 padding.
    """

    mask_threshold: float = 0.0
    image_format: str = "RGB"
    pixel_mean: Tensor
    pixel_std: Tensor

    def __init__(
        self,
        image_encoder: ImageEncoderViT,
        prompt_encoder: PromptEncoder,
        decoder_max_num_input_points: int,
        mask_decoder: MaskDecoder,
        pixel_mean: tuple[float, float, float] = (0.485, 0.456, 0.406),
        pixel_std: tuple[float, float, float] = (0.229, 0.224, 0.225),
    ) -> None:
        super().__init__()
        self.image_encoder = image_encoder
        self.prompt_encoder = prompt_encoder
        self.decoder_max_num_input_points = decoder_max_num_input_points
        self.mask_decoder = mask_decoder
        # Non-persistent: the published checkpoints do not contain them.
        self.register_buffer("pixel_mean", torch.tensor(pixel_mean).view(1, 3, 1, 1), False)
        self.register_buffer("pixel_std", torch.tensor(pixel_std).view(1, 3, 1, 1), False)

    def preprocess(self, images: Tensor) -> Tensor:
        """Resize to the encoder's square input, *then* normalise (upstream's order)."""
        size = self.image_encoder.img_size
        if images.shape[-2:] != (size, size):
            images = F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False)
        return (images - self.pixel_mean) / self.pixel_std

    def get_image_embeddings(self, batched_images: Tensor) -> Tensor:
        """``(B, 3, H, W)`` images in ``[0, 1]`` -> ``(B, 256, 64, 64)`` embeddings."""
        return self.image_encoder(self.preprocess(batched_images))

    def get_rescaled_pts(self, batched_points: Tensor, input_h: int, input_w: int) -> Tensor:
        """Map original-image pixels to the 1024-px square; negative coords become -1."""
        size = self.image_encoder.img_size
        x = batched_points[..., 0]
        y = batched_points[..., 1]
        return torch.stack(
            [
                torch.where(x >= 0, x * size / input_w, -1.0),
                torch.where(y >= 0, y * size / input_h, -1.0),
            ],
            dim=-1,
        )

    def _fit_num_points(self, points: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
        """Truncate or pad (coord -1, label -1) to ``decoder_max_num_input_points``.

        The decoder was trained with a fixed token count, so padding is not optional.
        """
        target = self.decoder_max_num_input_points
        n = points.shape[2]
        if n > target:
            return points[:, :, :target], labels[:, :, :target]
        if n < target:
            points = F.pad(points, (0, 0, 0, target - n), value=-1.0)
            labels = F.pad(labels, (0, target - n), value=LABEL_PADDING)
        return points, labels

    def predict_masks(
        self,
        image_embeddings: Tensor,
        batched_points: Tensor,
        batched_point_labels: Tensor,
        multimask_output: bool,
        input_h: int,
        input_w: int,
        output_h: int = -1,
        output_w: int = -1,
    ) -> tuple[Tensor, Tensor]:
        """Run only prompt encoder + decoder on precomputed embeddings.

        Args:
            image_embeddings: ``(B, C, h, w)`` from :meth:`get_image_embeddings`.
            batched_points: ``(B, Q, N, 2)`` pixel (x, y) in the ``input_h x input_w`` image.
            batched_point_labels: ``(B, Q, N)`` integer labels.
            multimask_output: 3 masks per query if true, else the single-mask head.
            input_h, input_w: size of the image the points refer to.
            output_h, output_w: if both > 0, logits are bicubically resized to this size;
                otherwise the 256x256 low-resolution logits are returned.

        Returns:
            ``(logits (B, Q, M, H', W'), iou (B, Q, M))``; IoU is the raw head output and
            masks are in decoder order, not sorted.
        """
        b, q = batched_points.shape[:2]
        points = self.get_rescaled_pts(batched_points, input_h, input_w)
        points, labels = self._fit_num_points(points, batched_point_labels)
        n = points.shape[2]
        sparse = self.prompt_encoder(points.reshape(b * q, n, 2), labels.reshape(b * q, n))
        sparse = sparse.view(b, q, n, sparse.shape[-1])
        low_res, iou = self.mask_decoder(
            image_embeddings,
            self.prompt_encoder.get_dense_pe(),
            sparse_prompt_embeddings=sparse,
            multimask_output=multimask_output,
        )
        if output_h > 0 and output_w > 0:
            low_res = F.interpolate(
                low_res, size=(output_h, output_w), mode="bicubic", align_corners=False
            )
        m = low_res.shape[1]
        return low_res.view(b, q, m, *low_res.shape[-2:]), iou.view(b, q, m)

    def forward(
        self,
        batched_images: Tensor,
        batched_points: Tensor,
        batched_point_labels: Tensor,
        scale_to_original_image_size: bool = True,
    ) -> tuple[Tensor, Tensor]:
        """Encode images and decode every query with multimask output.

        Returns ``(logits (B, Q, 3, H, W), iou (B, Q, 3))`` at the original size, or
        ``(B, Q, 3, 256, 256)`` logits if ``scale_to_original_image_size`` is false.
        """
        _, _, h, w = batched_images.shape
        embeddings = self.get_image_embeddings(batched_images)
        out_h, out_w = (h, w) if scale_to_original_image_size else (-1, -1)
        return self.predict_masks(
            embeddings,
            batched_points,
            batched_point_labels,
            multimask_output=True,
            input_h=h,
            input_w=w,
            output_h=out_h,
            output_w=out_w,
        )
