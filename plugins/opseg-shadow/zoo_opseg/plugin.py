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
:func:`zoo.training.store.write_variant` and registered by the core's local-variant scanner,
like every family's.

Every option is declared once here, with its type and real default; the runners and the
trainer read them through ``ctx.opt(...)`` and :class:`zoo_opseg.train.TrainConfig` takes
its defaults from :data:`OPTIONS` (:func:`option_default`), so nothing re-states them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from zoo.batching import MAX_BATCH
from zoo.hookspecs import RegisterFamily, hookimpl
from zoo.specs import (
    PRIMARY,
    Command,
    FamilySpec,
    OptionSpec,
    Task,
    VariantSpec,
    WeightsSpec,
    image_size_option,
)

#: The model card ships inside this distribution (uninstalling it removes the card).
CARD = Path(__file__).with_name("card.md")

FAMILY = "opseg-shadow"
MODELSCOPE_URI = "ms://deyang2000/SAM2_Shadow"
GDRIVE_FILE_ID = "1K7HwdSrK9O9kfKF0F7X_7-T_6McGjG4j"
#: parameters of SAM 2.1 base-plus as built by the sam2 package (all modules, incl. memory)
BASE_PLUS_PARAMS = 80_850_434
#: SAM 2.1 sizes the sam2 plugin builds (``--size`` at run time, ``--base`` for training)
SAM21_SIZES = ("tiny", "small", "base-plus", "large")
#: the two recipes of the paper: frozen Hiera encoder ("Fz.") or everything ("Ft.")
FREEZE_CHOICES = ("image-encoder", "none")
#: tags a trained variant may not take (they would hide the published ones)
RESERVED_TAGS = ("base-plus", "base-plus-gdrive")

_RUN: tuple[Command, ...] = ("run", "batch")
_TRAIN: tuple[Command, ...] = ("train",)
_RUN_ONLY: tuple[Command, ...] = ("run",)
_EVAL: tuple[Command, ...] = ("eval",)
_LOADER: tuple[Command, ...] = ("run", "eval", "train", "batch")
_SIZE: tuple[Command, ...] = ("run", "eval", "batch")

OPTIONS: list[OptionSpec] = [
    # ---------------------------------------------------------------- run
    OptionSpec(
        name="objects",
        commands=_RUN_ONLY,
        help='object boxes "x1,y1,x2,y2;..." (pixels); pair with --shadows by order',
    ),
    OptionSpec(
        name="shadows",
        commands=_RUN_ONLY,
        help='shadow boxes "x1,y1,x2,y2;..."; alone they give shadow-only instances',
    ),
    OptionSpec(
        name="multimask",
        type="bool",
        default=False,
        commands=_RUN,
        help="three candidates per prompt, keep the best (for single clicks)",
    ),
    # ---------------------------------------------------------------- loader kwargs
    image_size_option(64, commands=_LOADER, note="default: the variant's; 1024 for SAM 2.1"),
    OptionSpec(
        name="size",
        type="choice",
        choices=SAM21_SIZES,
        default=None,
        model=True,
        commands=_SIZE,
        help="SAM 2.1 size to build (default: the variant's, base-plus for the published model)",
    ),
    MAX_BATCH,  # the core's --max-batch (zoo.batching): object+shadow prompts per decoder call
    # ---------------------------------------------------------------- eval
    OptionSpec(
        name="split",
        type="choice",
        choices=("test", "challenge"),
        default="test",
        commands=_EVAL,
        help="SOBA split: labels the table; picks the JSON with --dataset",
    ),
    OptionSpec(
        name="max_images",
        type="int",
        default=None,
        minimum=1,
        commands=_EVAL,
        help="evaluate only the first N images (default: all)",
    ),
    OptionSpec(
        name="iou_thresholds",
        default="0.5:0.95:0.05",
        commands=_EVAL,
        help="SOAP IoU thresholds: one value (0.5), a list (0.5,0.75) or start:stop:step",
    ),
    # ---------------------------------------------------------------- train
    OptionSpec(
        name="freeze",
        type="choice",
        choices=FREEZE_CHOICES,
        default="image-encoder",
        commands=_TRAIN,
        help="image-encoder (the paper's 'Fz.' recipe) or none (full fine-tune, 'Ft.')",
    ),
    OptionSpec(
        name="base",
        type="choice",
        choices=SAM21_SIZES,
        default="base-plus",
        commands=_TRAIN,
        help="SAM 2.1 size to start from (sam2:<base>); base-plus is OpSeg's",
    ),
    OptionSpec(
        name="name",
        default=None,
        commands=_TRAIN,
        help="name of the new variant, run as opseg-shadow:<name> (default <base>-<recipe>)",
    ),
    OptionSpec(
        name="steps", type="int", default=2000, minimum=1, commands=_TRAIN, help="optimizer steps"
    ),
    OptionSpec(
        name="batch_size",
        type="int",
        default=4,
        minimum=1,
        commands=_TRAIN,
        help="images per micro-batch",
    ),
    OptionSpec(
        name="accum",
        type="int",
        default=1,
        minimum=1,
        commands=_TRAIN,
        help="gradient accumulation: micro-batches per optimizer step",
    ),
    OptionSpec(
        name="lr",
        type="float",
        default=None,
        commands=_TRAIN,
        help="AdamW learning rate (default 1e-4 with a frozen encoder, 1e-5 full)",
    ),
    OptionSpec(
        name="weight_decay",
        type="float",
        default=0.01,
        minimum=0,
        commands=_TRAIN,
        help="AdamW weight decay",
    ),
    OptionSpec(
        name="max_prompts",
        type="int",
        default=16,
        minimum=1,
        commands=_TRAIN,
        help="object+shadow box prompts sampled per image and step",
    ),
    OptionSpec(
        name="box_noise",
        type="float",
        default=0.1,
        minimum=0,
        commands=_TRAIN,
        help="box jitter, a fraction of the box side (SAM's recipe)",
    ),
    OptionSpec(
        name="loss_weights",
        type="floats",
        default=(20.0, 1.0, 1.0),
        commands=_TRAIN,
        help="focal,dice,iou loss factors (SAM's 20,1,1)",
    ),
    OptionSpec(
        name="warmup",
        type="int",
        default=None,
        minimum=0,
        commands=_TRAIN,
        help="linear warm-up steps (default min(100, steps/10))",
    ),
    OptionSpec(
        name="val_annotations",
        type="path",
        default=None,
        commands=_TRAIN,
        help="SOBA JSON scored before and after training (into the card)",
    ),
    OptionSpec(
        name="val_images",
        type="path",
        default=None,
        commands=_TRAIN,
        help="image folder of --val-annotations (default: --images)",
    ),
    OptionSpec(
        name="save_every",
        type="int",
        default=100,
        minimum=1,
        commands=_TRAIN,
        help="write the resumable state every N steps",
    ),
    OptionSpec(
        name="resume",
        type="bool",
        default=False,
        commands=_TRAIN,
        help="continue the run --name from its last saved state (same options)",
    ),
    OptionSpec(
        name="amp",
        type="bool",
        default=None,
        commands=_TRAIN,
        help="bf16 autocast on CUDA (default: on for cuda; --amp false turns it off)",
    ),
    OptionSpec(
        name="cache_embeddings",
        type="bool",
        default=False,
        commands=_TRAIN,
        help="with --freeze image-encoder, embed each image once and reuse it",
    ),
    OptionSpec(
        name="workers",
        type="int",
        default=0,
        minimum=0,
        commands=_TRAIN,
        help="data-loading worker processes",
    ),
]


def option_default(name: str) -> Any:
    """The declared default of option ``name`` (the trainer's config reads its defaults here)."""
    for o in OPTIONS:
        if o.name == name:
            return o.default
    raise KeyError(name)


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
            runner="zoo_opseg.runners:run_shadows",
            evaluator="zoo_opseg.runners:eval_shadows",
            trainer="zoo_opseg.train:train_command",
            options=OPTIONS,
            conformance={"image_size": 256},
            # half precision through ZooModel.autocast (inherited from Sam2Model)
            dtypes=["float32", "bfloat16", "float16"],
            license="Apache-2.0",
        )
    )
