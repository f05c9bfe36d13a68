"""Checkpoint layouts: transformers' (``facebook/sam3`` ``model.safetensors``) and Meta's
(``sam3.pt`` from facebookresearch/sam3), told apart by their keys.

transformers' keys start with ``detector_model.``, ``tracker_model.`` or ``tracker_neck.``;
Meta's with ``detector.`` and ``tracker.``. :func:`meta_to_transformers` renames Meta's keys
and reshapes the few tensors the two implementations store differently:

* fused projections are split: the ViT's ``attn.qkv`` and every ``nn.MultiheadAttention``
  ``in_proj_weight``/``in_proj_bias`` become ``q_proj``/``k_proj``/``v_proj``;
* the ViT's position embedding loses the class-token row Meta keeps but never uses;
* CLIP's ``text_projection`` (stored ``in x out``) is transposed to a Linear weight;
* the tracker's four ``point_embeddings.N`` (1 x C each) become one 4 x C table, and its
  random-Fourier matrix is stored under both names transformers reads it from;
* Meta-only tensors are dropped: the ViT's precomputed rotary tables (``freqs_cis``,
  recomputed by transformers) and the detector's point-prompt projections
  (``geometry_encoder.points_*``; transformers' detector takes boxes only).

The mapping is written out rule by rule below (one regex per key family). It is checked
three ways (see ``plugins/sam3/tests``): against Meta's key list recorded from its model,
by loading converted random weights into Meta's own model strictly, and by comparing that
model's outputs with transformers' on the same weights.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from zoo.errors import WeightsError

if TYPE_CHECKING:
    import torch

TRANSFORMERS = "transformers"
META = "meta"

_HF_PREFIXES = ("detector_model.", "tracker_model.", "tracker_neck.")
_META_PREFIXES = ("detector.", "tracker.")

# A replacement containing ``{qkv}`` is a fused projection split into q, k and v along dim 0.
# ``None`` drops the key. Rules are tried in order; the first full match wins.
_ATTN = r"(self_attn|cross_attn_image|cross_attn|ca_text)"

DETECTOR_RULES: list[tuple[str, str | None]] = [
    # ---- ViT trunk
    (
        r"backbone\.vision_backbone\.trunk\.pos_embed",
        "vision_encoder.backbone.embeddings.position_embeddings",
    ),
    (
        r"backbone\.vision_backbone\.trunk\.patch_embed\.proj\.weight",
        "vision_encoder.backbone.embeddings.patch_embeddings.projection.weight",
    ),
    (
        r"backbone\.vision_backbone\.trunk\.ln_pre\.(weight|bias)",
        r"vision_encoder.backbone.layer_norm.\1",
    ),
    (
        r"backbone\.vision_backbone\.trunk\.blocks\.(\d+)\.norm([12])\.(weight|bias)",
        r"vision_encoder.backbone.layers.\1.layer_norm\2.\3",
    ),
    (
        r"backbone\.vision_backbone\.trunk\.blocks\.(\d+)\.attn\.qkv\.(weight|bias)",
        r"vision_encoder.backbone.layers.\1.attention.{qkv}_proj.\2",
    ),
    (
        r"backbone\.vision_backbone\.trunk\.blocks\.(\d+)\.attn\.proj\.(weight|bias)",
        r"vision_encoder.backbone.layers.\1.attention.o_proj.\2",
    ),
    (r"backbone\.vision_backbone\.trunk\.blocks\.(\d+)\.attn\.freqs_cis", None),
    (
        r"backbone\.vision_backbone\.trunk\.blocks\.(\d+)\.mlp\.(fc[12])\.(weight|bias)",
        r"vision_encoder.backbone.layers.\1.mlp.\2.\3",
    ),
    # ---- feature pyramids: the detector's, and the tracker's (a top-level module in transformers)
    (
        r"backbone\.vision_backbone\.convs\.(\d+)\.dconv_2x2(?:_0)?\.(weight|bias)",
        r"vision_encoder.neck.fpn_layers.\1.scale_layers.0.\2",
    ),
    (
        r"backbone\.vision_backbone\.convs\.(\d+)\.dconv_2x2_1\.(weight|bias)",
        r"vision_encoder.neck.fpn_layers.\1.scale_layers.2.\2",
    ),
    (
        r"backbone\.vision_backbone\.convs\.(\d+)\.conv_1x1\.(weight|bias)",
        r"vision_encoder.neck.fpn_layers.\1.proj1.\2",
    ),
    (
        r"backbone\.vision_backbone\.convs\.(\d+)\.conv_3x3\.(weight|bias)",
        r"vision_encoder.neck.fpn_layers.\1.proj2.\2",
    ),
    (
        r"backbone\.vision_backbone\.sam2_convs\.(\d+)\.dconv_2x2(?:_0)?\.(weight|bias)",
        r"^tracker_neck.fpn_layers.\1.scale_layers.0.\2",
    ),
    (
        r"backbone\.vision_backbone\.sam2_convs\.(\d+)\.dconv_2x2_1\.(weight|bias)",
        r"^tracker_neck.fpn_layers.\1.scale_layers.2.\2",
    ),
    (
        r"backbone\.vision_backbone\.sam2_convs\.(\d+)\.conv_1x1\.(weight|bias)",
        r"^tracker_neck.fpn_layers.\1.proj1.\2",
    ),
    (
        r"backbone\.vision_backbone\.sam2_convs\.(\d+)\.conv_3x3\.(weight|bias)",
        r"^tracker_neck.fpn_layers.\1.proj2.\2",
    ),
    # ---- text encoder (CLIP)
    (
        r"backbone\.language_backbone\.encoder\.token_embedding\.weight",
        "text_encoder.text_model.embeddings.token_embedding.weight",
    ),
    (
        r"backbone\.language_backbone\.encoder\.positional_embedding",
        "text_encoder.text_model.embeddings.position_embedding.weight",
    ),
    (
        r"backbone\.language_backbone\.encoder\.ln_final\.(weight|bias)",
        r"text_encoder.text_model.final_layer_norm.\1",
    ),
    (
        r"backbone\.language_backbone\.encoder\.text_projection",
        "text_encoder.text_projection.weight",
    ),
    (
        r"backbone\.language_backbone\.encoder\.transformer\.resblocks\.(\d+)\.attn\.in_proj_(weight|bias)",
        r"text_encoder.text_model.encoder.layers.\1.self_attn.{qkv}_proj.\2",
    ),
    (
        r"backbone\.language_backbone\.encoder\.transformer\.resblocks\.(\d+)\.attn\.out_proj\.(weight|bias)",
        r"text_encoder.text_model.encoder.layers.\1.self_attn.out_proj.\2",
    ),
    (
        r"backbone\.language_backbone\.encoder\.transformer\.resblocks\.(\d+)\.ln_([12])\.(weight|bias)",
        r"text_encoder.text_model.encoder.layers.\1.layer_norm\2.\3",
    ),
    (
        r"backbone\.language_backbone\.encoder\.transformer\.resblocks\.(\d+)\.mlp\.c_fc\.(weight|bias)",
        r"text_encoder.text_model.encoder.layers.\1.mlp.fc1.\2",
    ),
    (
        r"backbone\.language_backbone\.encoder\.transformer\.resblocks\.(\d+)\.mlp\.c_proj\.(weight|bias)",
        r"text_encoder.text_model.encoder.layers.\1.mlp.fc2.\2",
    ),
    (r"backbone\.language_backbone\.resizer\.(weight|bias)", r"text_projection.\1"),
    # ---- geometry (exemplar) encoder
    (r"geometry_encoder\.points_\w+\.(weight|bias)", None),
    (r"geometry_encoder\.(label_embed|cls_embed)\.weight", r"geometry_encoder.\1.weight"),
    (
        r"geometry_encoder\.(boxes_direct_project|boxes_pool_project|boxes_pos_enc_project|final_proj)\.(weight|bias)",
        r"geometry_encoder.\1.\2",
    ),
    (r"geometry_encoder\.img_pre_norm\.(weight|bias)", r"geometry_encoder.vision_layer_norm.\1"),
    (r"geometry_encoder\.norm\.(weight|bias)", r"geometry_encoder.prompt_layer_norm.\1"),
    (r"geometry_encoder\.encode_norm\.(weight|bias)", r"geometry_encoder.output_layer_norm.\1"),
    (
        r"geometry_encoder\.encode\.(\d+)\.self_attn\.in_proj_(weight|bias)",
        r"geometry_encoder.layers.\1.self_attn.{qkv}_proj.\2",
    ),
    (
        r"geometry_encoder\.encode\.(\d+)\.cross_attn_image\.in_proj_(weight|bias)",
        r"geometry_encoder.layers.\1.cross_attn.{qkv}_proj.\2",
    ),
    (
        r"geometry_encoder\.encode\.(\d+)\.self_attn\.out_proj\.(weight|bias)",
        r"geometry_encoder.layers.\1.self_attn.o_proj.\2",
    ),
    (
        r"geometry_encoder\.encode\.(\d+)\.cross_attn_image\.out_proj\.(weight|bias)",
        r"geometry_encoder.layers.\1.cross_attn.o_proj.\2",
    ),
    (
        r"geometry_encoder\.encode\.(\d+)\.linear([12])\.(weight|bias)",
        r"geometry_encoder.layers.\1.mlp.fc\2.\3",
    ),
    (
        r"geometry_encoder\.encode\.(\d+)\.norm([123])\.(weight|bias)",
        r"geometry_encoder.layers.\1.layer_norm\2.\3",
    ),
    # ---- DETR encoder (image x prompt fusion)
    (
        r"transformer\.encoder\.layers\.(\d+)\.self_attn\.in_proj_(weight|bias)",
        r"detr_encoder.layers.\1.self_attn.{qkv}_proj.\2",
    ),
    (
        r"transformer\.encoder\.layers\.(\d+)\.cross_attn_image\.in_proj_(weight|bias)",
        r"detr_encoder.layers.\1.cross_attn.{qkv}_proj.\2",
    ),
    (
        r"transformer\.encoder\.layers\.(\d+)\.self_attn\.out_proj\.(weight|bias)",
        r"detr_encoder.layers.\1.self_attn.o_proj.\2",
    ),
    (
        r"transformer\.encoder\.layers\.(\d+)\.cross_attn_image\.out_proj\.(weight|bias)",
        r"detr_encoder.layers.\1.cross_attn.o_proj.\2",
    ),
    (
        r"transformer\.encoder\.layers\.(\d+)\.linear([12])\.(weight|bias)",
        r"detr_encoder.layers.\1.mlp.fc\2.\3",
    ),
    (
        r"transformer\.encoder\.layers\.(\d+)\.norm([123])\.(weight|bias)",
        r"detr_encoder.layers.\1.layer_norm\2.\3",
    ),
    # ---- DETR decoder
    (
        r"transformer\.decoder\.layers\.(\d+)\.self_attn\.in_proj_(weight|bias)",
        r"detr_decoder.layers.\1.self_attn.{qkv}_proj.\2",
    ),
    (
        r"transformer\.decoder\.layers\.(\d+)\.cross_attn\.in_proj_(weight|bias)",
        r"detr_decoder.layers.\1.vision_cross_attn.{qkv}_proj.\2",
    ),
    (
        r"transformer\.decoder\.layers\.(\d+)\.ca_text\.in_proj_(weight|bias)",
        r"detr_decoder.layers.\1.text_cross_attn.{qkv}_proj.\2",
    ),
    (
        r"transformer\.decoder\.layers\.(\d+)\.self_attn\.out_proj\.(weight|bias)",
        r"detr_decoder.layers.\1.self_attn.o_proj.\2",
    ),
    (
        r"transformer\.decoder\.layers\.(\d+)\.cross_attn\.out_proj\.(weight|bias)",
        r"detr_decoder.layers.\1.vision_cross_attn.o_proj.\2",
    ),
    (
        r"transformer\.decoder\.layers\.(\d+)\.ca_text\.out_proj\.(weight|bias)",
        r"detr_decoder.layers.\1.text_cross_attn.o_proj.\2",
    ),
    (
        r"transformer\.decoder\.layers\.(\d+)\.norm1\.(weight|bias)",
        r"detr_decoder.layers.\1.vision_cross_attn_layer_norm.\2",
    ),
    (
        r"transformer\.decoder\.layers\.(\d+)\.catext_norm\.(weight|bias)",
        r"detr_decoder.layers.\1.text_cross_attn_layer_norm.\2",
    ),
    (
        r"transformer\.decoder\.layers\.(\d+)\.norm2\.(weight|bias)",
        r"detr_decoder.layers.\1.self_attn_layer_norm.\2",
    ),
    (
        r"transformer\.decoder\.layers\.(\d+)\.norm3\.(weight|bias)",
        r"detr_decoder.layers.\1.mlp_layer_norm.\2",
    ),
    (
        r"transformer\.decoder\.layers\.(\d+)\.linear([12])\.(weight|bias)",
        r"detr_decoder.layers.\1.mlp.fc\2.\3",
    ),
    (r"transformer\.decoder\.norm\.(weight|bias)", r"detr_decoder.output_layer_norm.\1"),
    (
        r"transformer\.decoder\.(query_embed|reference_points|presence_token)\.weight",
        r"detr_decoder.\1.weight",
    ),
    (
        r"transformer\.decoder\.presence_token_out_norm\.(weight|bias)",
        r"detr_decoder.presence_layer_norm.\1",
    ),
    (
        r"transformer\.decoder\.bbox_embed\.layers\.(\d)\.(weight|bias)",
        r"detr_decoder.box_head.layer{+1}.\2",
    ),
    (
        r"transformer\.decoder\.presence_token_head\.layers\.(\d)\.(weight|bias)",
        r"detr_decoder.presence_head.layer{+1}.\2",
    ),
    (
        r"transformer\.decoder\.ref_point_head\.layers\.(\d)\.(weight|bias)",
        r"detr_decoder.ref_point_head.layer{+1}.\2",
    ),
    (
        r"transformer\.decoder\.boxRPB_embed_([xy])\.layers\.(\d)\.(weight|bias)",
        r"detr_decoder.box_rpb_embed_\1.layer{+2}.\3",
    ),
    # ---- mask head
    (
        r"segmentation_head\.pixel_decoder\.(conv_layers|norms)\.(\d+)\.(weight|bias)",
        r"mask_decoder.pixel_decoder.\1.\2.\3",
    ),
    (
        r"segmentation_head\.mask_predictor\.mask_embed\.layers\.(\d+)\.(weight|bias)",
        r"mask_decoder.mask_embedder.layers.\1.\2",
    ),
    (
        r"segmentation_head\.instance_seg_head\.(weight|bias)",
        r"mask_decoder.instance_projection.\1",
    ),
    (
        r"segmentation_head\.semantic_seg_head\.(weight|bias)",
        r"mask_decoder.semantic_projection.\1",
    ),
    (
        r"segmentation_head\.cross_attend_prompt\.in_proj_(weight|bias)",
        r"mask_decoder.prompt_cross_attn.{qkv}_proj.\1",
    ),
    (
        r"segmentation_head\.cross_attend_prompt\.out_proj\.(weight|bias)",
        r"mask_decoder.prompt_cross_attn.o_proj.\1",
    ),
    (
        r"segmentation_head\.cross_attn_norm\.(weight|bias)",
        r"mask_decoder.prompt_cross_attn_norm.\1",
    ),
    # ---- scoring
    (
        r"dot_prod_scoring\.prompt_mlp\.layers\.(\d)\.(weight|bias)",
        r"dot_product_scoring.text_mlp.layer{+1}.\2",
    ),
    (
        r"dot_prod_scoring\.prompt_mlp\.out_norm\.(weight|bias)",
        r"dot_product_scoring.text_mlp_out_norm.\1",
    ),
    (r"dot_prod_scoring\.prompt_proj\.(weight|bias)", r"dot_product_scoring.text_proj.\1"),
    (r"dot_prod_scoring\.hs_proj\.(weight|bias)", r"dot_product_scoring.query_proj.\1"),
]

# SAM-style three-layer MLPs: layers.0 / 1 / 2 -> proj_in / layers.0 / proj_out
_MLP3 = {"0": "proj_in", "1": "layers.0", "2": "proj_out"}

TRACKER_RULES: list[tuple[str, str | None]] = [
    (r"maskmem_tpos_enc", "memory_temporal_positional_encoding"),
    (r"no_mem_embed", "no_memory_embedding"),
    (r"no_mem_pos_enc", "no_memory_positional_encoding"),
    (r"no_obj_ptr", "no_object_pointer"),
    (r"no_obj_embed_spatial", "occlusion_spatial_embedding_parameter"),
    (r"mask_downsample\.(weight|bias)", r"mask_downsample.\1"),
    (r"obj_ptr_proj\.layers\.([012])\.(weight|bias)", r"object_pointer_proj.{mlp3:1}.\2"),
    (r"obj_ptr_tpos_proj\.(weight|bias)", r"temporal_positional_encoding_projection_layer.\1"),
    # ---- memory attention
    (
        r"transformer\.encoder\.layers\.(\d+)\.(self_attn|cross_attn_image)\.([qkv]_proj)\.(weight|bias)",
        r"memory_attention.layers.\1.\2.\3.\4",
    ),
    (
        r"transformer\.encoder\.layers\.(\d+)\.(self_attn|cross_attn_image)\.out_proj\.(weight|bias)",
        r"memory_attention.layers.\1.\2.o_proj.\3",
    ),
    (
        r"transformer\.encoder\.layers\.(\d+)\.linear([12])\.(weight|bias)",
        r"memory_attention.layers.\1.linear\2.\3",
    ),
    (
        r"transformer\.encoder\.layers\.(\d+)\.norm([123])\.(weight|bias)",
        r"memory_attention.layers.\1.layer_norm\2.\3",
    ),
    (r"transformer\.encoder\.norm\.(weight|bias)", r"memory_attention.layer_norm.\1"),
    # ---- memory encoder: downsampler Sequential (conv, norm, act) x 4 then a 1x1 conv
    (
        r"maskmem_backbone\.mask_downsampler\.encoder\.(\d+)\.(weight|bias)",
        r"memory_encoder.mask_downsampler.{down:1}.\2",
    ),
    (r"maskmem_backbone\.pix_feat_proj\.(weight|bias)", r"memory_encoder.feature_projection.\1"),
    (r"maskmem_backbone\.out_proj\.(weight|bias)", r"memory_encoder.projection.\1"),
    (
        r"maskmem_backbone\.fuser\.layers\.(\d+)\.gamma",
        r"memory_encoder.memory_fuser.layers.\1.scale",
    ),
    (
        r"maskmem_backbone\.fuser\.layers\.(\d+)\.dwconv\.(weight|bias)",
        r"memory_encoder.memory_fuser.layers.\1.depthwise_conv.\2",
    ),
    (
        r"maskmem_backbone\.fuser\.layers\.(\d+)\.norm\.(weight|bias)",
        r"memory_encoder.memory_fuser.layers.\1.layer_norm.\2",
    ),
    (
        r"maskmem_backbone\.fuser\.layers\.(\d+)\.pwconv([12])\.(weight|bias)",
        r"memory_encoder.memory_fuser.layers.\1.pointwise_conv\2.\3",
    ),
    # ---- prompt encoder
    (r"sam_prompt_encoder\.pe_layer\.positional_encoding_gaussian_matrix", "{gaussian}"),
    (r"sam_prompt_encoder\.point_embeddings\.(\d)\.weight", r"{point:1}"),
    (r"sam_prompt_encoder\.(not_a_point_embed|no_mask_embed)\.weight", r"prompt_encoder.\1.weight"),
    (
        r"sam_prompt_encoder\.mask_downscaling\.0\.(weight|bias)",
        r"prompt_encoder.mask_embed.conv1.\1",
    ),
    (
        r"sam_prompt_encoder\.mask_downscaling\.1\.(weight|bias)",
        r"prompt_encoder.mask_embed.layer_norm1.\1",
    ),
    (
        r"sam_prompt_encoder\.mask_downscaling\.3\.(weight|bias)",
        r"prompt_encoder.mask_embed.conv2.\1",
    ),
    (
        r"sam_prompt_encoder\.mask_downscaling\.4\.(weight|bias)",
        r"prompt_encoder.mask_embed.layer_norm2.\1",
    ),
    (
        r"sam_prompt_encoder\.mask_downscaling\.6\.(weight|bias)",
        r"prompt_encoder.mask_embed.conv3.\1",
    ),
    # ---- mask decoder
    (
        r"sam_mask_decoder\.transformer\.layers\.(\d+)\.norm([1234])\.(weight|bias)",
        r"mask_decoder.transformer.layers.\1.layer_norm\2.\3",
    ),
    (
        r"sam_mask_decoder\.transformer\.layers\.(\d+)\.mlp\.lin1\.(weight|bias)",
        r"mask_decoder.transformer.layers.\1.mlp.proj_in.\2",
    ),
    (
        r"sam_mask_decoder\.transformer\.layers\.(\d+)\.mlp\.lin2\.(weight|bias)",
        r"mask_decoder.transformer.layers.\1.mlp.proj_out.\2",
    ),
    (
        r"sam_mask_decoder\.transformer\.layers\.(\d+)\.(\w+)\.([qkv]_proj)\.(weight|bias)",
        r"mask_decoder.transformer.layers.\1.\2.\3.\4",
    ),
    (
        r"sam_mask_decoder\.transformer\.layers\.(\d+)\.(\w+)\.out_proj\.(weight|bias)",
        r"mask_decoder.transformer.layers.\1.\2.o_proj.\3",
    ),
    (
        r"sam_mask_decoder\.transformer\.final_attn_token_to_image\.([qkv]_proj)\.(weight|bias)",
        r"mask_decoder.transformer.final_attn_token_to_image.\1.\2",
    ),
    (
        r"sam_mask_decoder\.transformer\.final_attn_token_to_image\.out_proj\.(weight|bias)",
        r"mask_decoder.transformer.final_attn_token_to_image.o_proj.\1",
    ),
    (
        r"sam_mask_decoder\.transformer\.norm_final_attn\.(weight|bias)",
        r"mask_decoder.transformer.layer_norm_final_attn.\1",
    ),
    (
        r"sam_mask_decoder\.(iou_token|mask_tokens|obj_score_token)\.weight",
        r"mask_decoder.\1.weight",
    ),
    (r"sam_mask_decoder\.(conv_s0|conv_s1)\.(weight|bias)", r"mask_decoder.\1.\2"),
    (r"sam_mask_decoder\.output_upscaling\.0\.(weight|bias)", r"mask_decoder.upscale_conv1.\1"),
    (
        r"sam_mask_decoder\.output_upscaling\.1\.(weight|bias)",
        r"mask_decoder.upscale_layer_norm.\1",
    ),
    (r"sam_mask_decoder\.output_upscaling\.3\.(weight|bias)", r"mask_decoder.upscale_conv2.\1"),
    (
        r"sam_mask_decoder\.output_hypernetworks_mlps\.(\d+)\.layers\.([012])\.(weight|bias)",
        r"mask_decoder.output_hypernetworks_mlps.\1.{mlp3:2}.\3",
    ),
    (
        r"sam_mask_decoder\.(iou_prediction_head|pred_obj_score_head)\.layers\.([012])\.(weight|bias)",
        r"mask_decoder.\1.{mlp3:2}.\3",
    ),
]

_PLACEHOLDER = re.compile(r"\{(\+\d|mlp3:\d|down:\d)\}")


def layout_of(keys: Any) -> str | None:
    """``"transformers"``, ``"meta"`` or ``None`` (neither: another model's checkpoint)."""
    ks = list(keys)
    if any(k.startswith(_HF_PREFIXES) for k in ks):
        return TRANSFORMERS
    if any(k.startswith(_META_PREFIXES) for k in ks):
        return META
    return None


def _fill(template: str, m: re.Match[str]) -> str:
    """Expand ``\\N`` groups and the placeholders that need arithmetic on a group."""

    def placeholder(p: re.Match[str]) -> str:
        spec = p.group(1)
        if spec.startswith("+"):  # layers.N -> layerN+1 (1-based names)
            return str(int(m.group(int(spec[1:]))) + 1)
        kind, _, group = spec.partition(":")
        value = int(m.group(int(group)))
        if kind == "mlp3":
            return _MLP3[str(value)]
        # down: Sequential indices 0,1 | 3,4 | 6,7 | 9,10 (conv, norm; act between) then 12
        stage, slot = divmod(value, 3)
        if slot == 2:
            raise KeyError(value)  # an activation has no parameters
        if stage == 4 and slot == 0:
            return "final_conv"
        return f"layers.{stage}.{'conv' if slot == 0 else 'layer_norm'}"

    expanded = _PLACEHOLDER.sub(placeholder, template)
    return m.expand(expanded) if "\\" in expanded else expanded


def rename_meta_key(key: str) -> str | None:
    """The transformers name of one Meta key: ``None`` for a dropped key; ``{qkv}`` marks a
    split, ``{gaussian}`` / ``{point:N}`` the tracker's specials. ``KeyError`` if unknown."""
    if key.startswith("detector."):
        rules, rest, prefix = DETECTOR_RULES, key[len("detector.") :], "detector_model."
    elif key.startswith("tracker."):
        rules, rest, prefix = TRACKER_RULES, key[len("tracker.") :], "tracker_model."
    else:
        raise KeyError(key)
    for pattern, template in rules:
        m = re.fullmatch(pattern, rest)
        if m is None:
            continue
        if template is None:
            return None
        if template == "{gaussian}":
            return template
        if template.startswith("{point"):
            return "{point:" + m.group(1) + "}"
        name = _fill(template, m)
        return name[1:] if name.startswith("^") else prefix + name
    raise KeyError(key)


def meta_to_transformers(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Meta's ``sam3.pt`` state dict in transformers' ``Sam3VideoModel`` names and shapes.

    Raises :class:`WeightsError` naming the first key no rule knows (the file is then not a
    SAM 3 checkpoint, or a newer layout).
    """
    import torch

    out: dict[str, torch.Tensor] = {}
    points: dict[int, torch.Tensor] = {}
    unknown = []
    for key, value in state.items():
        try:
            name = rename_meta_key(key)
        except KeyError:
            unknown.append(key)
            continue
        if name is None:
            continue
        if name == "{gaussian}":
            out["tracker_model.prompt_encoder.shared_embedding.positional_embedding"] = value
            out["tracker_model.shared_image_embedding.positional_embedding"] = value
        elif name.startswith("{point:"):
            points[int(name[len("{point:") : -1])] = value
        elif "{qkv}" in name:
            q, k, v = torch.chunk(value, 3, dim=0)
            for part, tensor in zip("qkv", (q, k, v), strict=True):
                out[name.replace("{qkv}", part)] = tensor
        elif name.endswith("embeddings.position_embeddings"):
            out[name] = _drop_class_token(value)
        elif name.endswith("text_encoder.text_projection.weight"):
            out[name] = value.t()
        else:
            out[name] = value
    if unknown:
        raise WeightsError(
            f"{len(unknown)} keys of this Meta-layout checkpoint are not SAM 3's (e.g. "
            f"{unknown[0]}); it is probably another model's or a newer layout"
        )
    if points:
        if sorted(points) != list(range(len(points))):
            raise WeightsError("the tracker's point_embeddings are incomplete in this checkpoint")
        table = torch.cat([points[i] for i in range(len(points))], dim=0)
        out["tracker_model.prompt_encoder.point_embed.weight"] = table
    return out


def _drop_class_token(pos: torch.Tensor) -> torch.Tensor:
    """Meta keeps a class-token row (``1 + s*s`` rows); transformers has the ``s*s`` grid."""
    rows = int(pos.shape[1])
    side = round((rows - 1) ** 0.5)
    if side * side == rows - 1:
        return pos[:, 1:]
    return pos


def to_transformers(state: Mapping[str, torch.Tensor], source: str) -> dict[str, torch.Tensor]:
    """Any supported layout -> transformers' names (``source`` names the file in errors)."""
    layout = layout_of(state.keys())
    if layout == TRANSFORMERS:
        return dict(state)
    if layout == META:
        return meta_to_transformers(state)
    first = next(iter(state), "<empty>")
    raise WeightsError(
        f"{source} is not a SAM 3 checkpoint: its keys (e.g. {first}) are neither "
        "transformers' (detector_model.*) nor Meta's (detector.*, tracker.*)"
    )
