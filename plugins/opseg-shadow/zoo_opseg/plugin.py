"""Registration of the ``opseg-shadow`` family. Imports nothing heavy: specs and paths.

Weights: the authors publish one checkpoint, an ordinary SAM 2.1 base-plus state dict
fine-tuned on SOBA, on ModelScope (``deyang2000/SAM2_Shadow``) and on Google Drive. The
ModelScope copy is primary: it is a versioned model repo served by a hub client with its own
cache and resumable downloads, whereas a Drive link can hit download quotas or an HTML
interstitial at any time and has no revision. We do not know the file name inside the
ModelScope repo in advance, so the resolver snapshots the repo and picks the single
``*.pt`` file (``pattern="*.pt"``), logging the name, sha256 and size it found. No sha256 or
size is published for either copy (the upstream README and the ModelScope card give none),
so both stay unset and ``zoo info`` says "unknown (not published)". The Drive copy is
registered as an explicit second variant, ``opseg-shadow:base-plus-gdrive`` (same weights),
rather than as a silent automatic fallback: with no published sha256, silently switching
sources could load a different file without anyone noticing.

Fine-tuned checkpoints made by ``zoo train opseg-shadow`` are published with
:func:`zoo.registry.local.write_variant` and registered by the core's local-variant scanner,
like every family's.

``zoo run``, ``zoo batch`` and ``zoo serve`` are the core's ``shadow`` and ``promptable``
tasks. Every option is declared once, typed: the family's (loader and eval options) in
:class:`OpSegOptions`, the trainer's in :class:`zoo_opseg.config.OpSegTrainConfig`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import field_validator

from zoo.hookspecs import RegisterFamily, hookimpl
from zoo.options import Options, image_size_option, max_batch_option, option
from zoo.specs import PRIMARY, FamilySpec, Task, VariantSpec, WeightsSpec

#: This module follows plugin API 3 (typed options, the core shadow task, a typed trainer).
ZOO_PLUGIN_API = 3

#: The model card ships inside this distribution (uninstalling it removes the card).
CARD = Path(__file__).with_name("card.md")

FAMILY = "opseg-shadow"
MODELSCOPE_URI = "ms://deyang2000/SAM2_Shadow"
GDRIVE_FILE_ID = "1K7HwdSrK9O9kfKF0F7X_7-T_6McGjG4j"
#: parameters of SAM 2.1 base-plus as built by the sam2 package (all modules, incl. memory)
BASE_PLUS_PARAMS = 80_850_434
#: SAM 2.1 sizes the sam2 plugin builds (``--size`` at run time, ``--base`` for training)
SAM21_SIZES = ("tiny", "small", "base-plus", "large")
Sam21Size = Literal["tiny", "small", "base-plus", "large"]
#: the two recipes of the paper: frozen Hiera encoder ("Fz.") or everything ("Ft.")
FREEZE_CHOICES = ("image-encoder", "none")
#: tags a trained variant may not take (they would hide the published ones)
RESERVED_TAGS = ("base-plus", "base-plus-gdrive")

_EVAL = ("eval",)
#: ``--iou-thresholds`` takes at most this many (SOAP's own is 10: 0.5:0.95:0.05)
MAX_THRESHOLDS = 100


class OpSegOptions(Options):
    """The family's options. ``zoo run/batch/serve`` take the tasks' own (``--objects``,
    ``--shadows``, ``--multimask``: :mod:`zoo.tasks.shadow`; the promptable task's);
    ``zoo train``'s are :class:`zoo_opseg.config.OpSegTrainConfig`'s."""

    image_size: int | None = image_size_option(64, note="default: the variant's; 1024 for SAM 2.1")
    size: Sam21Size | None = option(
        None,
        help="SAM 2.1 size to build (default: the variant's, base-plus for the published model)",
        loader=True,
    )
    max_batch: int | None = max_batch_option()  # object + shadow prompts per decoder call
    # ---------------------------------------------------------------- eval
    split: Literal["test", "challenge"] = option(
        "test",
        help="SOBA split: labels the table; picks the JSON with --dataset",
        commands=_EVAL,
    )
    max_images: int | None = option(
        None,
        help="evaluate only the first N images (default: all)",
        ge=1,
        le=10_000_000,
        commands=_EVAL,
    )
    iou_thresholds: str = option(
        "0.5:0.95:0.05",
        help="SOAP IoU thresholds: one value (0.5), a list (0.5,0.75) or start:stop:step; "
        f"at most {MAX_THRESHOLDS}",
        commands=_EVAL,
    )

    @field_validator("iou_thresholds")
    @classmethod
    def _bounded(cls, v: str) -> str:
        """SOAP scores every threshold: no unbounded work (the evaluator's parser checks
        the rest: the spelling, each value in (0, 1])."""
        parts = v.split(":")
        if len(parts) == 3:
            try:
                lo, hi, step = (float(p) for p in parts)
            except ValueError:
                return v
            if not step > 0 or (hi - lo) / step >= MAX_THRESHOLDS:
                raise ValueError(
                    f"a start:stop:step range needs a step above 0 and at most "
                    f"{MAX_THRESHOLDS} thresholds"
                )
        elif len(v.split(",")) > MAX_THRESHOLDS:
            raise ValueError(f"give at most {MAX_THRESHOLDS} thresholds")
        return v


VARIANTS = [
    VariantSpec(
        family=FAMILY,
        tag="base-plus",
        params=BASE_PLUS_PARAMS,
        aliases=["opseg", "sam2-shadow"],
        config={"size": "base-plus"},
        description=(
            "OpSeg: SAM 2.1 base-plus fully fine-tuned on SOBA with box prompts on objects and "
            "shadows (the paper's 'Ft.' model)"
        ),
        checkpoints={
            PRIMARY: WeightsSpec(
                uri=MODELSCOPE_URI,
                pattern="*.pt",
                license="Apache-2.0",
                note=(
                    "no sha256/size published; the file name is unknown in advance: the ModelScope "
                    "snapshot is searched for the one *.pt file, and its name, sha256 and size are "
                    "logged on first download"
                ),
            )
        },
    ),
    VariantSpec(
        family=FAMILY,
        tag="base-plus-gdrive",
        params=BASE_PLUS_PARAMS,
        config={"size": "base-plus"},
        description="the same OpSeg checkpoint from the authors' Google Drive mirror",
        checkpoints={
            PRIMARY: WeightsSpec(
                uri=f"gdrive://{GDRIVE_FILE_ID}",
                license="Apache-2.0",
                note=(
                    "mirror of opseg-shadow:base-plus; no sha256/size published; Drive may refuse "
                    "large downloads (quota)"
                ),
            )
        },
    ),
]


@hookimpl
def zoo_register_families(register: RegisterFamily) -> None:
    register(
        FamilySpec(
            name=FAMILY,
            tasks=[Task.SHADOW, Task.PROMPTABLE],
            loader="zoo_opseg.model:OpSegModel",
            card=str(CARD),
            default_tag="base-plus",
            description=(
                "OpSeg (IJCNN 2025): SAM 2.1 b+ fine-tuned on SOBA; object and shadow prompts "
                "give paired object/shadow masks"
            ),
            variants=VARIANTS,
            evaluator="zoo_opseg.runners:eval_shadows",
            trainer="zoo_opseg.train:train",
            train_config="zoo_opseg.config:OpSegTrainConfig",
            options=OpSegOptions,
            conformance={"image_size": 256},
            # half precision through ZooModel.autocast (inherited from Sam2Model)
            dtypes=["float32", "bfloat16", "float16"],
            license="Apache-2.0",
        )
    )
