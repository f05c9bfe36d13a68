"""What defines an OpSeg fine-tuning run: :class:`OpSegTrainConfig` (torch-free).

The one declaration of ``zoo train opseg-shadow``'s options: ``zoo train`` validates the
command line into it (types, bounds, choices: one-line errors), ``zoo info`` lists its
fields, and :func:`zoo_opseg.train.train` takes it, from the CLI and from Python alike.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal

from pydantic import field_validator

from zoo.options import option
from zoo.training.config import TrainConfig

from .plugin import FAMILY, Sam21Size

#: where a run starts (:attr:`OpSegTrainConfig.init`): ``sam2:<base>``'s registered file, a
#: random init (test mode), or else the ``--checkpoint`` file
RANDOM_INIT = "random"
PRETRAINED_INIT = "pretrained"

_TRAIN = ("train",)


class OpSegTrainConfig(TrainConfig):
    """Everything that defines a run; stored with it so ``--resume`` can refuse a mismatch.

    ``image_size=None`` trains at the base model's own input size (1024 for SAM 2.1);
    ``lr=None`` and ``warmup=None`` pick the recipe's value (:attr:`learning_rate`,
    :attr:`warmup_steps`). The start is ``sam2:<base>`` (pretrained), ``weights="random"``
    (test mode) or ``checkpoint`` (another SAM 2.1 file): :attr:`init`.
    """

    freeze: Literal["image-encoder", "none"] = option(
        "image-encoder",
        help="image-encoder (the paper's 'Fz.' recipe) or none (full fine-tune, 'Ft.')",
        commands=_TRAIN,
    )
    base: Sam21Size = option(
        "base-plus",
        help="SAM 2.1 size to start from (sam2:<base>); base-plus is OpSeg's",
        commands=_TRAIN,
    )
    name: str | None = option(
        None,
        help="name of the new variant, run as opseg-shadow:<name> (default <base>-<recipe>)",
        commands=_TRAIN,
    )
    image_size: int | None = option(
        None,
        help="encoder input side, a multiple of 64 (default: the base model's, 1024 for SAM 2.1)",
        ge=64,
        le=4096,
        multiple_of=64,
        commands=_TRAIN,
    )
    steps: int = option(2000, help="optimizer steps", ge=1, le=10_000_000, commands=_TRAIN)
    batch_size: int = option(4, help="images per micro-batch", ge=1, le=1024, commands=_TRAIN)
    accum: int = option(
        1, help="gradient accumulation: micro-batches per optimizer step", ge=1, le=1024,
        commands=_TRAIN,
    )  # fmt: skip
    lr: float | None = option(
        None,
        help="AdamW learning rate (default 1e-4 with a frozen encoder, 1e-5 full)",
        gt=0,
        lt=1,
        commands=_TRAIN,
    )
    weight_decay: float = option(0.01, help="AdamW weight decay", ge=0, le=1, commands=_TRAIN)
    warmup: int | None = option(
        None,
        help="linear warm-up steps (default min(100, steps/10))",
        ge=0,
        le=10_000_000,
        commands=_TRAIN,
    )
    max_prompts: int = option(
        16, help="object+shadow box prompts sampled per image and step", ge=1, le=1024,
        commands=_TRAIN,
    )  # fmt: skip
    box_noise: float = option(
        0.1, help="box jitter, a fraction of the box side (SAM's recipe)", ge=0, lt=1,
        commands=_TRAIN,
    )  # fmt: skip
    loss_weights: list[float] = option(
        [20.0, 1.0, 1.0], help="focal,dice,iou loss factors (SAM's 20,1,1)", commands=_TRAIN
    )
    val_annotations: Path | None = option(
        None, help="SOBA JSON scored before and after training (into the card)", commands=_TRAIN
    )
    val_images: Path | None = option(
        None, help="image folder of --val-annotations (default: --images)", commands=_TRAIN
    )
    save_every: int = option(
        100, help="write the resumable state every N steps", ge=1, le=10_000_000,
        commands=_TRAIN,
    )  # fmt: skip
    resume: bool = option(
        False,
        help="continue the run --name from its last saved state (same options)",
        commands=_TRAIN,
    )
    amp: bool | None = option(
        None,
        help="bf16 autocast on CUDA (default: on for cuda; --amp false turns it off)",
        commands=_TRAIN,
    )
    cache_embeddings: bool = option(
        False,
        help="with --freeze image-encoder, embed each image once and reuse it",
        commands=_TRAIN,
    )
    workers: int = option(0, help="data-loading worker processes", ge=0, le=64, commands=_TRAIN)
    seed: int = option(
        0, help="random seed (batches, box jitter, a random init)", ge=0, le=2**32 - 1,
        commands=_TRAIN,
    )  # fmt: skip

    #: what must agree for --resume to continue a run
    RESUME_KEYS: ClassVar[tuple[str, ...]] = (
        "annotations",
        "base",
        "freeze",
        "image_size",
        "batch_size",
        "accum",
        "seed",
        "max_prompts",
        "init",
    )

    @field_validator("loss_weights")
    @classmethod
    def _three_weights(cls, v: list[float]) -> list[float]:
        if len(v) != 3 or any(w < 0 for w in v) or not any(v):
            shown = ",".join(f"{w:g}" for w in v)
            raise ValueError(
                f"must be three non-negative numbers focal,dice,iou (not all 0), got {shown}"
            )
        return [float(w) for w in v]

    @property
    def init(self) -> str:
        """``"pretrained"`` (``sam2:<base>``), ``"random"`` (test mode) or the checkpoint."""
        if self.weights == RANDOM_INIT:
            return RANDOM_INIT
        return str(self.checkpoint) if self.checkpoint else PRETRAINED_INIT

    @property
    def frozen(self) -> bool:
        return self.freeze == "image-encoder"

    @property
    def random_init(self) -> bool:
        return self.init == RANDOM_INIT

    @property
    def learning_rate(self) -> float:
        return self.lr if self.lr is not None else (1e-4 if self.frozen else 1e-5)

    @property
    def warmup_steps(self) -> int:
        return self.warmup if self.warmup is not None else min(100, self.steps // 10)

    def record(self) -> dict[str, object]:
        """The config as plain JSON values (paths as text, the start as ``init``): what the
        run stores, the card shows and ``--resume`` compares."""
        return {**self.model_dump(mode="json"), "init": self.init}

    def check(self) -> OpSegTrainConfig:
        """One-line :class:`~zoo.errors.InputError` for what the fields' own declarations
        cannot say (what is missing, what contradicts); returns the config with its paths
        made absolute and its name chosen."""
        from zoo.errors import InputError
        from zoo.registry.local import check_name

        from .plugin import RESERVED_TAGS

        if self.annotations is None or self.images is None:
            raise InputError(f"`zoo train {FAMILY}` needs --annotations SOBA.json and --images DIR")
        if self.weights == RANDOM_INIT and self.checkpoint is not None:
            raise InputError("choose either --weights random or --checkpoint PATH, not both")
        if self.weights not in (None, RANDOM_INIT, PRETRAINED_INIT):
            raise InputError(f"weights={self.weights!r}: use 'random' or leave it unset")
        name = self.name or f"{self.base}-{'frozen' if self.frozen else 'full'}"
        check_name(FAMILY, name, RESERVED_TAGS)
        if self.cache_embeddings and not self.frozen:
            raise InputError(
                "--cache-embeddings needs --freeze image-encoder (a trained encoder "
                "changes its embeddings)"
            )
        if self.checkpoint is not None and not Path(self.checkpoint).expanduser().is_file():
            raise InputError(f"--checkpoint {self.checkpoint} does not exist; check the path")
        return self.model_copy(
            update={
                "name": name,
                "annotations": _absolute(self.annotations),
                "images": _absolute(self.images),
                "val_annotations": _maybe_absolute(self.val_annotations),
                "val_images": _maybe_absolute(self.val_images),
                "checkpoint": None if self.checkpoint is None else str(_absolute(self.checkpoint)),
            }
        )


def _absolute(path: Path | str) -> Path:
    return Path(path).expanduser().resolve()


def _maybe_absolute(path: Path | str | None) -> Path | None:
    return None if path is None else _absolute(path)
