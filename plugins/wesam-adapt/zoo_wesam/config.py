"""The settings of a WeSAM run, declared once.

:class:`AdaptConfig` holds every knob with the paper's / upstream's default. It is the
Python API (``model.adapt(data, "box", {"steps": 500})``) and the source of the
defaults that :mod:`zoo_wesam.plugin` declares for ``zoo train``'s options, so the
command line and Python cannot drift apart. Imports neither torch nor numpy (the
registration module reads it on every ``zoo list``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from zoo.errors import InputError
from zoo.training.schedules import warmup_step_decay, warmup_steps

if TYPE_CHECKING:
    from .losses import LossWeights


class AdaptConfig(BaseModel):
    """Every knob of a WeSAM run; defaults are the paper's / upstream's settings."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(
        default=None, description="save as wesam-adapt:<name> (None: in memory)"
    )
    steps: int = Field(default=2000, ge=1)
    batch_size: int = Field(default=1, ge=1)
    lr: float = Field(default=1e-4, gt=0)
    weight_decay: float = Field(default=1e-4, ge=0)
    warmup_steps: int = Field(default=250, ge=0, description="capped at steps // 4")
    decay_at: tuple[float, ...] = Field(
        default=(2 / 3, 8 / 9), description="step decay points, as fractions of steps"
    )
    decay_factor: float = Field(default=10.0, ge=1)
    rank: int = Field(default=4, ge=1)
    alpha: float | None = Field(default=None, description="LoRA scale = alpha / rank; None: 1")
    max_instances: int = Field(default=40, ge=1)
    num_points: int = Field(default=5, ge=1)
    coarse_tolerance: float = Field(default=0.05, gt=0, lt=1)
    focal_weight: float = 20.0
    anchor_weight: float = 1.0
    contrastive_weight: float = 1.0
    temperature: float = Field(default=0.3, gt=0)
    ema_teacher: bool = False
    ema_rate: float = Field(default=0.999, gt=0, lt=1)
    seed: int = 0
    save_every: int = Field(default=100, ge=1)
    holdout: int = Field(
        default=7, ge=0, description="every k-th image held out for before/after mIoU"
    )
    eval_images: int = Field(default=200, ge=1)
    evaluate: bool = True
    overwrite: bool = False
    progress: bool = True

    @classmethod
    def parse(cls, config: Any) -> AdaptConfig:
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
