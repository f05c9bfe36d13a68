"""Building SAM 3 from transformers' modules and loading a checkpoint into it, strictly.

The whole published network is one :class:`~transformers.Sam3VideoModel`: its
``detector_model`` (a :class:`~transformers.Sam3Model`) finds concepts, its
``tracker_model`` and ``tracker_neck`` track them through a video. The promptable image
task runs transformers' :class:`~transformers.Sam3TrackerModel`, which is assembled here
from the *same* tensors (the detector's ViT, the tracker's neck, prompt encoder and mask
decoder), by the renaming transformers itself applies when it loads ``facebook/sam3`` into
that class. So one file, one copy of the weights in memory, three models.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zoo.errors import WeightsError
from zoo.model import load_state_dict_strict

from .configs import image_side, video_config
from .convert import to_transformers
from .tokenizer import clip_tokenizer

if TYPE_CHECKING:
    import torch
    from transformers import (
        CLIPTokenizer,
        Sam3ImageProcessor,
        Sam3TrackerModel,
        Sam3VideoConfig,
        Sam3VideoModel,
    )


@dataclass
class Sam3Network:
    """The modules and processors of one SAM 3 (see the module docstring)."""

    video: Sam3VideoModel
    tracker: Sam3TrackerModel
    config: Sam3VideoConfig
    image_processor: Sam3ImageProcessor
    tokenizer: CLIPTokenizer
    side: int
    layout: str | None = None  # the checkpoint's layout (transformers / meta), None if random
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def detector(self) -> Any:
        return self.video.detector_model


def read_checkpoint(path: Path) -> tuple[dict[str, torch.Tensor], str]:
    """The state dict of ``path`` in transformers' names, and the layout it came in."""
    from zoo.weights import safe_torch_load

    from .convert import layout_of

    state = safe_torch_load(path)
    if isinstance(state, dict) and isinstance(state.get("model"), dict):
        state = state["model"]  # Meta's training checkpoints wrap the weights
    if not isinstance(state, dict):
        raise WeightsError(f"{path} holds a {type(state).__name__}, not a state dict")
    layout = layout_of(state.keys()) or "unknown"
    return to_transformers(state, str(path)), layout


def image_tracker(video: Sam3VideoModel) -> Sam3TrackerModel:
    """transformers' promptable image model over ``video``'s own tensors (no copy).

    Built empty (``meta`` device), then given the detector's ViT and the tracker neck as
    modules and every other tensor by a strict, assigning load of ``video.tracker_model``'s
    state dict: the names match one to one (transformers' ``sam3_tracker`` key mapping).
    """
    import torch
    from transformers import Sam3TrackerModel

    config: Any = video.config  # Sam3TrackerModel takes a video config (its tracker_config)
    with torch.device("meta"):
        tracker = Sam3TrackerModel(config)
    tracker.vision_encoder.backbone = video.detector_model.vision_encoder.backbone
    tracker.vision_encoder.neck = video.tracker_neck
    own = video.tracker_model.state_dict(keep_vars=True)
    state: dict[str, Any] = {}
    for key in tracker.state_dict(keep_vars=True):
        if key.startswith("vision_encoder."):
            continue
        if key not in own:
            raise WeightsError(f"the SAM 3 tracker has no tensor for {key}; transformers changed")
        state[key] = own[key]
    shared = {
        f"vision_encoder.{k}": v
        for k, v in tracker.vision_encoder.state_dict(keep_vars=True).items()
    }
    tracker.load_state_dict({**shared, **state}, strict=True, assign=True)
    left = [n for n, t in [*tracker.named_parameters(), *tracker.named_buffers()] if t.is_meta]
    if left:
        raise WeightsError(f"the SAM 3 tracker has unset tensors ({left[0]}); transformers changed")
    return tracker.eval()


def _tie_fourier_features(video: Sam3VideoModel) -> None:
    """The tracker's random-Fourier matrix is stored twice by transformers (the image-wide
    positional encoding and the prompt encoder's) but is one tensor in SAM 3 (Meta's
    ``pe_layer``), and equal in every published checkpoint. transformers initialises the two
    copies independently; random weights get one value in both, like real ones."""
    import torch

    tracker = video.tracker_model
    with torch.no_grad():
        tracker.shared_image_embedding.positional_embedding.copy_(
            tracker.prompt_encoder.shared_embedding.positional_embedding
        )


def build_network(
    *,
    arch: str,
    weights: Path | None,
    image_size: int | None = None,
    config_file: Path | None = None,
    vocab: Path | None = None,
    merges: Path | None = None,
    device: str = "cpu",
    model_name: str = "sam3",
) -> Sam3Network:
    """The architecture (``arch`` or ``config_file``), random or loaded from ``weights``.

    Random weights come from transformers' own initialisation under the caller's seed
    (``zoo.load`` seeds torch). A checkpoint in either layout is loaded with strict key and
    shape matching; without random init first (nothing is computed twice).
    """
    from transformers import Sam3ImageProcessor, Sam3VideoModel
    from transformers.initialization import no_init_weights

    config = video_config(arch, config_file, image_size)
    layout = None
    if weights is None:
        video = Sam3VideoModel(config)
        _tie_fourier_features(video)
    else:
        state, layout = read_checkpoint(weights)
        with no_init_weights():
            video = Sam3VideoModel(config)
        load_state_dict_strict(video, state, model_name=model_name, path=weights)
        del state
    video = video.eval().to(device)
    side = image_side(config)
    processor = Sam3ImageProcessor(size={"height": side, "width": side})
    return Sam3Network(
        video=video,
        tracker=image_tracker(video),
        config=config,
        image_processor=processor,
        tokenizer=clip_tokenizer(vocab, merges),
        side=side,
        layout=layout,
    )
