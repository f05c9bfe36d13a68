"""The typed config every trainer takes: the one declaration of ``zoo train``'s options.

A family subclasses :class:`TrainConfig` with its hyperparameters (declared with
:func:`zoo.options.option`: help, bounds, choices) and points ``FamilySpec.train_config``
at it; ``zoo train FAMILY --epochs 3`` validates the command line into that class and
hands the instance to the trainer, and ``zoo info`` lists the same fields. Nothing maps one
declaration onto another.
"""

from __future__ import annotations

from pathlib import Path

from zoo.options import Options, option

__all__ = ["TrainConfig"]

_TRAIN = ("train",)


class TrainConfig(Options):
    """What every ``zoo train`` takes; families add their hyperparameters."""

    annotations: Path | None = option(None, help="COCO-style training annotations", commands=_TRAIN)
    images: Path | None = option(None, help="training image folder", commands=_TRAIN)
    out: Path | None = option(None, help="also copy the trained model here", commands=_TRAIN)
    device: str = option("auto", help="auto, cpu, cuda or cuda:N", commands=_TRAIN)
    weights: str | None = option(
        None, help="'random': start from a random base (TEST MODE)", commands=_TRAIN
    )
    checkpoint: str | None = option(None, help="the file to start from", commands=_TRAIN)
    seed: int | None = option(None, help="random seed", ge=0, commands=_TRAIN)
