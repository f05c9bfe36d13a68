"""Building SAM 2.1 from the ``sam2`` package's own configs, with our checkpoint loading.

Why not ``sam2.build_sam.build_sam2(ckpt_path=...)``: its loader raises a bare
``RuntimeError`` on a mismatched file and prints the key lists. We load through
:mod:`zoo.weights` (``weights_only=True`` or safetensors) and
:func:`zoo.model.load_state_dict_strict`, which say which family the file does not fit.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from zoo.errors import InputError
from zoo.model import load_state_dict_strict

#: size tag -> config inside the sam2 package (SAM 2.1 configs).
SAM2_CONFIGS: dict[str, str] = {
    "tiny": "configs/sam2.1/sam2.1_hiera_t.yaml",
    "small": "configs/sam2.1/sam2.1_hiera_s.yaml",
    "base-plus": "configs/sam2.1/sam2.1_hiera_b+.yaml",
    "large": "configs/sam2.1/sam2.1_hiera_l.yaml",
}

#: Flags of SAM 2's own "postprocessing" mode (build_sam's apply_postprocessing=True).
POSTPROCESSING_OVERRIDES = [
    "++model.sam_mask_decoder_extra_args.dynamic_multimask_via_stability=true",
    "++model.sam_mask_decoder_extra_args.dynamic_multimask_stability_delta=0.05",
    "++model.sam_mask_decoder_extra_args.dynamic_multimask_stability_thresh=0.98",
]
VIDEO_POSTPROCESSING_OVERRIDES = [
    *POSTPROCESSING_OVERRIDES,
    "++model.binarize_mask_from_pts_for_mem_enc=true",
    "++model.fill_hole_area=8",
]


def config_for(size: str) -> str:
    try:
        return SAM2_CONFIGS[size]
    except KeyError:
        raise InputError(
            f"unknown SAM 2.1 size {size!r}; choose one of {', '.join(SAM2_CONFIGS)}"
        ) from None


def build_sam2_model(
    size: str = "tiny",
    checkpoint: str | Path | None = None,
    *,
    device: str = "cpu",
    video: bool = False,
    apply_postprocessing: bool = False,
    image_size: int | None = None,
    overrides: list[str] | None = None,
    model_name: str | None = None,
) -> Any:
    """Instantiate a SAM 2.1 model (``SAM2Base``, or ``SAM2VideoPredictor`` with ``video``).

    ``checkpoint=None`` leaves the random initialisation (the explicit test mode).
    ``image_size`` overrides the 1024 input side (smaller is faster on CPU; for tests).
    """
    import sam2  # noqa: F401  (initialises hydra's config module search path)
    from hydra import compose
    from hydra.core.global_hydra import GlobalHydra
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    if not GlobalHydra.instance().is_initialized():
        from hydra import initialize_config_module

        initialize_config_module("sam2", version_base="1.2")

    ov: list[str] = []
    if video:
        ov.append("++model._target_=sam2.sam2_video_predictor.SAM2VideoPredictor")
        if apply_postprocessing:
            ov += VIDEO_POSTPROCESSING_OVERRIDES
    elif apply_postprocessing:
        ov += POSTPROCESSING_OVERRIDES
    if image_size is not None:
        if image_size % 64:
            raise InputError(f"image_size must be a multiple of 64, got {image_size}")
        ov.append(f"++model.image_size={image_size}")
    ov += overrides or []
    cfg = compose(config_name=config_for(size), overrides=ov)
    OmegaConf.resolve(cfg)
    model = instantiate(cfg.model, _recursive_=True)
    if checkpoint is not None:
        load_checkpoint(model, checkpoint, model_name=model_name or f"sam2:{size}")
    return model.to(device).eval()


def feature_sizes(image_size: int) -> list[tuple[int, int]]:
    """Backbone feature-map sizes (strides 4, 8, 16) of a SAM 2 model with this input side.

    SAM 2's image predictor hard-codes the sizes of a 1024 input (256, 128, 64); any other
    ``image_size`` (smaller inputs are what makes CPU runs and tests affordable) needs
    these instead.
    """
    s = int(image_size)
    if s <= 0 or s % 64:
        raise InputError(f"image_size must be a positive multiple of 64, got {image_size}")
    return [(s // 4, s // 4), (s // 8, s // 8), (s // 16, s // 16)]


def fit_image_predictor(predictor: Any) -> Any:
    """Make a ``SAM2ImagePredictor`` (or one a generator built) follow its model's input size.

    Returns the same predictor, patched in place. Used for predictors that SAM 2 code
    constructs itself, e.g. ``SAM2AutomaticMaskGenerator(model).predictor``.
    """
    predictor._bb_feat_sizes = feature_sizes(predictor.model.image_size)
    return predictor


def image_predictor(model: Any, **kwargs: Any) -> Any:
    """``sam2.sam2_image_predictor.SAM2ImagePredictor(model, **kwargs)`` for any input size.

    The one place that knows about the predictor's hard-coded 1024 feature sizes, so
    plugins built on SAM 2 (depth-sam's mask generator, later ``zoo batch --everything``)
    do not each patch it.
    """
    from sam2.sam2_image_predictor import SAM2ImagePredictor

    return fit_image_predictor(SAM2ImagePredictor(model, **kwargs))


def load_checkpoint(model: torch.nn.Module, checkpoint: str | Path, *, model_name: str) -> None:
    """Strict, pickle-free load of a SAM 2 checkpoint (``{"model": state_dict}`` or bare)."""
    from zoo.weights import load_state_dict

    sd = load_state_dict(Path(checkpoint), key="model")
    load_state_dict_strict(model, sd, model_name=model_name, path=checkpoint)
