"""What defines a SAMEO training run: :class:`TrainConfig` (torch-free).

It lives apart from :mod:`zoo_sameo.train` so that :mod:`zoo_sameo.plugin` can take the
``zoo train`` option defaults from it without importing torch: the Python API
(``train_sameo(TrainConfig(...))``) and the command line then share one set of defaults,
declared here once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

#: ``embed_cache`` modes; ``auto`` keeps embeddings in memory up to 4 GB, else on disk.
EMBED_CACHE_MODES = ("auto", "memory", "disk", "off")
BASES = ("vitt", "vits")
#: EfficientSAM's encoder input side (the published setting).
DEFAULT_IMAGE_SIZE = 1024


@dataclass
class TrainConfig:
    """Everything that defines a training run (stored with the run, checked on resume).

    The fields after ``resume`` are filled from the command's shared options (device,
    ``--weights random``, ``--checkpoint``); the recipe constants (``modal_prob`` ...)
    are the paper's and reachable from Python only.
    """

    annotations: str
    images: str
    base: str = "vitt"
    name: str | None = None
    out: str | None = None
    epochs: int = 10
    batch_size: int = 8
    lr: float = 1e-4
    weight_decay: float = 0.01
    max_steps: int | None = None
    image_size: int = DEFAULT_IMAGE_SIZE
    embed_cache: str = "auto"
    box_jitter: float = 0.0
    seed: int = 0
    save_every: int = 200
    modal_prob: float = 0.5
    warmup_frac: float = 0.05
    iou_weight: float = 0.05
    focal_gamma: float = 2.0
    focal_alpha: float = 0.25
    resume: bool = False
    device: str = "auto"
    weights: str | None = None  # "random": random base (test mode)
    checkpoint: str | None = None  # EfficientSAM base or SAMEO checkpoint to start from

    #: fields that must not change when a run is resumed
    FIXED: ClassVar[tuple[str, ...]] = (
        "annotations",
        "base",
        "image_size",
        "batch_size",
        "seed",
        "modal_prob",
        "box_jitter",
        "weights",
        "checkpoint",
    )

    @property
    def test_mode(self) -> bool:
        """Trained on a random EfficientSAM base: its outputs stay labelled as test mode."""
        return self.weights == "random"

    def validate(self) -> TrainConfig:
        """One-line :class:`~zoo.errors.InputError` for anything that cannot run.

        The command line already checked types and minimums (``OptionSpec``); this also
        guards the Python API, where a ``TrainConfig`` is built by hand.
        """
        from zoo.errors import InputError

        if self.base not in BASES:
            raise InputError(f"unknown SAMEO base {self.base!r}; use vitt (ViT-T) or vits (ViT-S)")
        if self.image_size < 64 or self.image_size % 16:
            raise InputError(
                f"--image-size {self.image_size} must be a multiple of 16 and at least 64 "
                f"(EfficientSAM uses {DEFAULT_IMAGE_SIZE})"
            )
        if self.epochs < 1:
            raise InputError(f"--epochs must be at least 1, got {self.epochs}")
        if self.batch_size < 1:
            raise InputError(f"--batch-size must be at least 1, got {self.batch_size}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise InputError(f"--lr must be a positive number, got {self.lr}")
        if not (self.weight_decay >= 0 and math.isfinite(self.weight_decay)):
            raise InputError(f"--weight-decay must be >= 0, got {self.weight_decay}")
        if self.max_steps is not None and self.max_steps < 1:
            raise InputError(f"--max-steps must be at least 1, got {self.max_steps}")
        if self.embed_cache not in EMBED_CACHE_MODES:
            raise InputError(
                f"--embed-cache {self.embed_cache!r}: use {', '.join(EMBED_CACHE_MODES)}"
            )
        if not 0 <= self.box_jitter < 1:
            raise InputError(f"--box-jitter must lie in [0, 1), got {self.box_jitter}")
        if self.save_every < 1:
            raise InputError(f"--save-every must be at least 1, got {self.save_every}")
        if self.weights not in (None, "random", "pretrained"):
            raise InputError(f"weights={self.weights!r}: use 'random' or leave it unset")
        if self.test_mode and self.checkpoint:
            raise InputError("choose either --weights random or --checkpoint, not both")
        return self
