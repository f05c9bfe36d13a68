"""What defines a SAMEO training run: :class:`SameoTrainConfig` (torch-free).

The one declaration of ``zoo train sameo-amodal``'s options: ``zoo train`` validates the
command line into it (types, bounds, choices: one-line errors), ``zoo info`` lists its
fields, and :func:`zoo_sameo.train.train_sameo` takes it, from the CLI and from Python
alike. It lives apart from :mod:`zoo_sameo.train` so that reading it needs no torch.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal

from zoo.options import option
from zoo.training.config import TrainConfig

from . import FAMILY

#: ``embed_cache`` modes; ``auto`` keeps embeddings in memory up to 4 GB, else on disk.
EMBED_CACHE_MODES = ("auto", "memory", "disk", "off")
BASES = ("vitt", "vits")
#: EfficientSAM's encoder input side (the published setting).
DEFAULT_IMAGE_SIZE = 1024

_TRAIN = ("train",)


class SameoTrainConfig(TrainConfig):
    """Everything that defines a training run (stored with the run, checked on resume).

    ``annotations``, ``images``, ``out``, ``device``, ``weights`` (``"random"``: a random
    EfficientSAM base, test mode) and ``checkpoint`` (an EfficientSAM or SAMEO file to start
    from) are :class:`zoo.training.config.TrainConfig`'s; the recipe constants
    (``modal_prob`` ...) are the paper's.
    """

    base: Literal["vitt", "vits"] = option(
        "vitt",
        help="EfficientSAM base, vitt (ViT-T) or vits (ViT-S); `zoo train sameo-amodal:vits` "
        "means vits",
        commands=_TRAIN,
    )
    name: str | None = option(
        None,
        help="name of the trained variant, then `zoo run sameo-amodal:NAME` "
        "(default: base and annotation file name)",
        commands=_TRAIN,
    )
    epochs: int = option(10, help="passes over all instances", ge=1, le=100_000, commands=_TRAIN)
    batch_size: int = option(8, help="instances per step", ge=1, le=4096, commands=_TRAIN)
    lr: float = option(
        1e-4, help="AdamW learning rate (cosine schedule after the warm-up)", gt=0, le=1,
        commands=_TRAIN,
    )  # fmt: skip
    weight_decay: float = option(0.01, help="AdamW weight decay", ge=0, le=1, commands=_TRAIN)
    max_steps: int | None = option(
        None,
        help="stop after this many steps (default: epochs x instances / batch size)",
        ge=1,
        le=10_000_000,
        commands=_TRAIN,
    )
    image_size: int = option(
        DEFAULT_IMAGE_SIZE,
        help=f"encoder input side, a multiple of 16 (EfficientSAM's {DEFAULT_IMAGE_SIZE}); "
        "smaller is faster and coarser",
        ge=64,
        le=4096,
        multiple_of=16,
        commands=_TRAIN,
    )
    embed_cache: Literal["auto", "memory", "disk", "off"] = option(
        "auto",
        help="reuse each image's frozen-encoder embedding: auto (memory up to 4 GB, else "
        "disk), memory, disk or off",
        commands=_TRAIN,
    )
    box_jitter: float = option(
        0.0, help="random box noise as a fraction of the box size, below 1", ge=0, lt=1,
        commands=_TRAIN,
    )  # fmt: skip
    seed: int = option(
        0, help="random seed (data order, prompts, a random base)", ge=0, le=2**32 - 1,
        commands=_TRAIN,
    )  # fmt: skip
    save_every: int = option(
        200,
        help="write a resumable state every N steps (Ctrl-C also writes one)",
        ge=1,
        le=10_000_000,
        commands=_TRAIN,
    )
    modal_prob: float = option(
        0.5,
        help="probability of prompting with the modal (visible) box instead of the amodal "
        "one (the paper's 0.5)",
        ge=0,
        le=1,
        commands=_TRAIN,
    )
    warmup_frac: float = option(
        0.05, help="fraction of the steps spent in linear warm-up", ge=0, lt=1,
        commands=_TRAIN,
    )  # fmt: skip
    iou_weight: float = option(
        0.05, help="weight of the L1 loss on the predicted IoU (the paper's 0.05)", ge=0,
        le=100, commands=_TRAIN,
    )  # fmt: skip
    focal_gamma: float = option(2.0, help="focal loss gamma", ge=0, le=10, commands=_TRAIN)
    focal_alpha: float = option(
        0.25, help="focal loss alpha (weight of the foreground)", ge=0, le=1, commands=_TRAIN
    )
    resume: bool = option(
        False, help="continue the unfinished run of --name where it stopped", commands=_TRAIN
    )

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

    def check(self) -> SameoTrainConfig:
        """One-line :class:`~zoo.errors.InputError` for what the fields' own declarations
        cannot say (what is missing, what contradicts); returns the config with its paths
        made absolute (the run records them, and ``--resume`` compares them)."""
        from zoo.errors import InputError

        if self.annotations is None or self.images is None:
            raise InputError(f"`zoo train {FAMILY}` needs --annotations COCO.json and --images DIR")
        if self.weights not in (None, "random", "pretrained"):
            raise InputError(f"weights={self.weights!r}: use 'random' or leave it unset")
        if self.test_mode and self.checkpoint:
            raise InputError("choose either --weights random or --checkpoint, not both")
        return self.model_copy(
            update={
                "annotations": _absolute(self.annotations),
                "images": _absolute(self.images),
                "out": None if self.out is None else _absolute(self.out),
            }
        )


def _absolute(path: Path | str) -> Path:
    return Path(path).expanduser().resolve()
