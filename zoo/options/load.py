"""How a model is loaded: the one declaration behind ``zoo.load`` and every command.

:class:`LoadOptions` (device, dtype, weights, checkpoint, seed, backend) is read by
:func:`zoo.load`, by ``zoo run/eval/batch/serve/export`` (whose ``--device``... flags are
generated from it, :mod:`zoo.cli.params`), by batch plans and by the server's config. The
loader keywords a *family* adds (``--image-size``, ``--pathways``) are fields of that
family's :class:`~zoo.options.Options` marked ``loader=True``; the ones several families
share are declared here once: :func:`image_size_option`, :data:`MAX_BATCH_FIELD`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import field_validator

from zoo.errors import InputError

from .base import Options, option

__all__ = [
    "DEFAULT_TEST_SEED",
    "LoadOptions",
    "checkpoint_arg",
    "image_size_option",
    "max_batch_option",
]

RANDOM = "random"
PRETRAINED = "pretrained"
#: Seed of the random initialisation in test mode when none is given: same command, same bytes.
DEFAULT_TEST_SEED = 0

#: What ``checkpoint=`` takes: a path (the primary file) or ``{"clip": path}`` (named files).
CheckpointArg = str | os.PathLike[str] | dict[str, str | os.PathLike[str]] | None


class LoadOptions(Options):
    """Where a model runs and which weights it gets; the same for every family."""

    device: str = option(
        "auto", help="auto, cpu, cuda or cuda:N", commands=("run", "eval", "batch", "serve")
    )
    dtype: str | None = option(
        None,
        help="float32, bfloat16 or float16 (families list what they support)",
        commands=("run", "eval", "batch", "serve"),
    )
    weights: Literal["random", "pretrained"] | None = option(
        None,
        help="'random': the architecture at random init (TEST MODE, labelled in every output)",
        commands=("run", "eval", "train", "batch", "serve", "export"),
    )
    checkpoint: str | dict[str, str] | None = option(
        None,
        help="custom/fine-tuned weights: PATH replaces the main file, NAME=PATH a named one "
        "(see `zoo info`)",
        commands=("run", "eval", "train", "batch", "export"),
    )
    seed: int | None = option(
        None,
        help="random seed (test-mode init, sampling); default 0 with --weights random",
        ge=0,
        commands=("run", "eval", "train", "batch", "serve", "export"),
    )
    backend: str = option(
        "torch",
        help="torch, or onnxruntime: run the exported encoder/decoder graphs (exported on "
        "first use, cached in $ZOO_HOME/onnx; needs sam-zoo[onnx])",
        commands=("run", "eval", "batch", "serve"),
    )

    @field_validator("dtype")
    @classmethod
    def _dtype(cls, v: str | None) -> str | None:
        from zoo.devices import dtype_name

        return dtype_name(v)

    @field_validator("backend")
    @classmethod
    def _backend(cls, v: str) -> str:
        from zoo.devices import normalize_backend

        return normalize_backend(v)

    @field_validator("device")
    @classmethod
    def _device(cls, v: str) -> str:
        d = (v or "auto").strip().lower()
        if d not in ("auto", "cpu", "mps") and not (d == "cuda" or d.startswith("cuda:")):
            raise ValueError(f"unknown device {v!r}; use auto, cpu, cuda or cuda:N")
        return d

    def checkpoint_files(self) -> CheckpointArg:
        """``--checkpoint`` as :func:`zoo.load` takes it (``NAME=PATH`` -> ``{NAME: PATH}``)."""
        return checkpoint_arg(self.checkpoint)

    def load_kwargs(self) -> dict[str, Any]:
        """The keywords of :func:`zoo.load` these options stand for."""
        return {
            "device": self.device,
            "dtype": self.dtype,
            "weights": self.weights,
            "checkpoint": self.checkpoint_files(),
            "seed": self.seed,
            "backend": self.backend,
        }

    @property
    def random(self) -> bool:
        return self.weights == RANDOM


def checkpoint_arg(value: Any) -> CheckpointArg:
    """``PATH`` or ``NAME=PATH`` (a named file of a multi-file variant)."""
    if value is None or isinstance(value, dict):
        return value
    text = os.fspath(value)
    key, eq, path = text.partition("=")
    if eq and key.replace("-", "_").isidentifier() and not Path(text).exists():
        return {key: path}
    return text


def image_size_option(
    multiple_of: int,
    *,
    commands: tuple[str, ...] = ("run", "eval", "batch", "serve", "export"),
    default: int | None = None,
    note: str = "default 1024; smaller is faster",
) -> Any:
    """The ``--image-size`` loader option every SAM-style family declares: the encoder's
    input side, 64 to 4096 and a multiple of the encoder's stride (64 for SAM 2's Hiera,
    16 for ViT patches). ``note`` says what the default is for this family."""
    return option(
        default,
        help=f"encoder input side, a multiple of {multiple_of} ({note})",
        loader=True,
        commands=commands,
        ge=64,
        le=4096,
        multiple_of=multiple_of,
    )


def max_batch_option() -> Any:
    """``--max-batch``: prompts per decoder call (:mod:`zoo.decoder_chunks`), declared once
    for every family with a batched decoder. The loader takes it off the config and sets
    ``model.max_batch``, so a family's ``create`` never sees it."""
    return option(
        None,
        help="prompts per decoder call (default: per device; on CPU as many as keep one "
        "activation under 4 MB: 1 at 1024 px, 8 at 256; 64 on CUDA); results do not depend "
        "on it",
        loader=True,
        commands=("run", "eval", "batch", "serve"),
        ge=1,
        le=4096,
    )


def check_weights_arg(weights: str | None) -> None:
    """The CLI's ``--weights``: only the two words (a file goes to ``--checkpoint``)."""
    if weights not in (None, RANDOM, PRETRAINED):
        raise InputError(
            f"--weights takes 'random' or 'pretrained', got {weights!r}; "
            "use --checkpoint PATH for a file"
        )
