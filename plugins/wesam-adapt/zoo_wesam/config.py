"""``zoo train wesam-adapt``'s typed config: every knob of a WeSAM run, declared once.

:class:`WesamTrainConfig` is what ``zoo train wesam-adapt --steps 500 ...`` is validated
into, what ``zoo info wesam-adapt`` lists and what the Python API takes
(``model.adapt(data, "box", {"steps": 500})``); the trainer
(:func:`zoo_wesam.train.train`) and the training loop read it and nothing else. Defaults are
the paper's / upstream's settings. Imports neither torch nor numpy (``zoo info`` and the
registration module read it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import ValidationError, field_validator

from zoo.errors import InputError
from zoo.options import image_size_option, option
from zoo.training.config import TrainConfig
from zoo.training.schedules import warmup_step_decay, warmup_steps

if TYPE_CHECKING:
    from .losses import LossWeights

__all__ = ["LOADING_FIELDS", "PromptKind", "WesamTrainConfig", "prompt_option"]

#: The weak labels WeSAM prompts with.
PromptKind = Literal["box", "point", "coarse"]
#: Fields that say which model to load and on what data: ``zoo train`` acts on them,
#: ``model.adapt()`` (a model already loaded, a dataset given) refuses them.
LOADING_FIELDS = (
    "base",
    "image_size",
    "annotations",
    "images",
    "out",
    "device",
    "weights",
    "checkpoint",
)
_TRAIN = ("train",)


def prompt_option(*commands: str) -> Any:
    """``--prompt``, declared once for ``zoo train`` (this config) and ``zoo eval`` (the
    family's options)."""
    return option(
        "box",
        help="weak label used as prompt: box, point (5 positive + 5 negative clicks from the "
        "mask) or coarse (box of a simplified polygon)",
        commands=commands,
    )


class WesamTrainConfig(TrainConfig):
    """Every knob of a WeSAM run (plus ``zoo train``'s data, weights and ``--out``)."""

    base: str | None = option(
        None,
        help="SAM 2.1 model to adapt: sam2:tiny|small|base-plus|large (default: the size of "
        "the variant named, tiny for `wesam-adapt`)",
        commands=_TRAIN,
    )
    name: str | None = option(
        None,
        help="name of the adapted model, registered as wesam-adapt:<name> (required by zoo "
        "train; in Python None keeps the adaptation in memory)",
        commands=_TRAIN,
    )
    prompt: PromptKind = prompt_option(*_TRAIN)
    image_size: int | None = image_size_option(
        64, commands=_TRAIN, note="default 1024; an adaptation remembers the size it was trained at"
    )
    steps: int = option(2000, help="optimisation steps", ge=1, le=1_000_000, commands=_TRAIN)
    batch_size: int = option(
        1, help="images per step", ge=1, le=256, aliases=("batch",), commands=_TRAIN
    )
    lr: float = option(
        1e-4,
        help="Adam learning rate (warm-up, then divided by --decay-factor at each --decay-at)",
        gt=0,
        le=1,
        commands=_TRAIN,
    )
    weight_decay: float = option(1e-4, help="Adam weight decay", ge=0, le=1, commands=_TRAIN)
    warmup_steps: int = option(
        250,
        help="linear warm-up steps (at most a quarter of --steps)",
        ge=0,
        le=1_000_000,
        aliases=("warmup",),
        commands=_TRAIN,
    )
    decay_at: tuple[float, ...] = option(
        (2 / 3, 8 / 9),
        help="step decay points, as fractions of --steps (comma list, each in (0, 1])",
        commands=_TRAIN,
    )
    decay_factor: float = option(
        10.0, help="learning-rate divisor at each decay point", ge=1, le=1e6, commands=_TRAIN
    )
    rank: int = option(4, help="LoRA rank", ge=1, le=256, commands=_TRAIN)
    alpha: float | None = option(
        None,
        help="LoRA scale = alpha / rank (default: alpha = rank)",
        gt=0,
        le=1e4,
        commands=_TRAIN,
    )
    max_instances: int = option(
        40, help="instances sampled per image and step", ge=1, le=1000, commands=_TRAIN
    )
    num_points: int = option(
        5,
        help="--prompt point: positive (and as many negative) clicks per instance",
        ge=1,
        le=64,
        commands=_TRAIN,
    )
    coarse_tolerance: float = option(
        0.05,
        help="--prompt coarse: polygon simplification, as a fraction of the contour's length",
        gt=0,
        lt=1,
        commands=_TRAIN,
    )
    focal_weight: float = option(
        20.0,
        help="weight of the focal term (student vs pseudo-labels)",
        ge=0,
        le=1000,
        commands=_TRAIN,
    )
    anchor_weight: float = option(
        1.0,
        help="weight of the anchor (source model) regulariser",
        ge=0,
        le=1000,
        commands=_TRAIN,
    )
    contrastive_weight: float = option(
        1.0, help="weight of the InfoNCE embedding term", ge=0, le=1000, commands=_TRAIN
    )
    temperature: float = option(0.3, help="InfoNCE temperature", gt=0, le=100, commands=_TRAIN)
    ema_teacher: bool = option(
        False,
        help="an EMA teacher instead of the shared-weights one (off, as upstream)",
        aliases=("ema",),
        commands=_TRAIN,
    )
    ema_rate: float = option(
        0.999, help="--ema-teacher: the EMA's decay per step", gt=0, lt=1, commands=_TRAIN
    )
    seed: int = option(
        0,
        help="random seed: data order, augmentations, LoRA init (and a random base's weights)",
        ge=0,
        le=2**32 - 1,
        commands=_TRAIN,
    )
    save_every: int = option(
        100,
        help="steps between resumable checkpoints (rerun the same command to resume)",
        ge=1,
        le=1_000_000,
        commands=_TRAIN,
    )
    holdout: int = option(
        7,
        help="every k-th image is held out to measure before/after mIoU (upstream's 6:1 "
        "split; 0: measure on the training images)",
        ge=0,
        le=1000,
        commands=_TRAIN,
    )
    eval_images: int = option(
        200,
        help="at most this many held-out images for the before/after mIoU",
        ge=1,
        le=1_000_000,
        commands=_TRAIN,
    )
    evaluate: bool = option(True, help="measure mIoU/F1 before and after adapting", commands=_TRAIN)
    overwrite: bool = option(
        False,
        help="replace an existing adaptation (or unfinished run) of that name",
        commands=_TRAIN,
    )

    @field_validator("decay_at")
    @classmethod
    def _fractions(cls, v: tuple[float, ...]) -> tuple[float, ...]:
        if len(v) > 16 or not all(0 < f <= 1 for f in v):
            raise ValueError("decay points must be at most 16 fractions in (0, 1]")
        return v

    @classmethod
    def parse(cls, config: Any) -> WesamTrainConfig:
        """What the Python API takes: ``None`` (the defaults), a config, or a dict of fields."""
        if config is None:
            return cls()
        if isinstance(config, cls):
            return config
        try:
            return cls(**dict(config))
        except ValidationError as exc:
            err = exc.errors()[0]
            loc = ".".join(str(p) for p in err.get("loc", ())) or "config"
            raise InputError(f"bad adapt config {loc}: {err.get('msg')}") from None
        except TypeError as exc:
            raise InputError(f"bad adapt config: {exc}") from None

    def warmup(self) -> int:
        """Warm-up length: ``warmup_steps``, capped at a quarter of the run."""
        return warmup_steps(self.steps, steps=self.warmup_steps, at_most=0.25)

    def lr_factor(self, step: int) -> float:
        """Linear warm-up, then a step decay by ``decay_factor`` at each ``decay_at`` point.

        A pure function of the step, so a resumed run needs no scheduler state.
        """
        return warmup_step_decay(
            step,
            self.steps,
            warmup=self.warmup(),
            decay_at=self.decay_at,
            factor=self.decay_factor,
        )

    def loss_weights(self) -> LossWeights:
        from .losses import LossWeights

        return LossWeights(
            focal=self.focal_weight,
            anchor=self.anchor_weight,
            contrastive=self.contrastive_weight,
            temperature=self.temperature,
        )
