"""Registration of the ``opseg-shadow`` family. Imports nothing heavy: specs, json, paths.

Weights: the authors publish one checkpoint, an ordinary SAM 2.1 base-plus state dict
fine-tuned on SOBA, on ModelScope (``deyang2000/SAM2_Shadow``) and on Google Drive. The
ModelScope copy is primary: it is a versioned model repo served by a hub client with its own
cache and resumable downloads, whereas a Drive link can hit download quotas or an HTML
interstitial at any time and has no revision. We do not know the file name inside the
ModelScope repo in advance, so the resolver snapshots the repo and picks the single
``*.pt`` file (``pattern="*.pt"``), logging the name, sha256 and size it found. The Drive
copy is registered as an explicit second variant, ``opseg-shadow:base-plus-gdrive``
(same weights), rather than as a silent automatic fallback: with no published sha256,
silently switching sources could load a different file without anyone noticing.

Fine-tuned checkpoints made by ``zoo train opseg-shadow`` are registered as local variants by
:func:`zoo_register_variants`, which reads ``$ZOO_HOME/local/opseg-shadow/*/variant.json``.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from zoo.hookspecs import hookimpl
from zoo.specs import FamilySpec, Task, VariantSpec, WeightsSpec

#: The model card ships inside this distribution (uninstalling it removes the card).
CARD = Path(__file__).with_name("card.md")

FAMILY = "opseg-shadow"
MODELSCOPE_URI = "ms://deyang2000/SAM2_Shadow"
GDRIVE_FILE_ID = "1K7HwdSrK9O9kfKF0F7X_7-T_6McGjG4j"
#: parameters of SAM 2.1 base-plus as built by the sam2 package (all modules, incl. memory)
BASE_PLUS_PARAMS = 80_850_434

OPTIONS: dict[str, str] = {
    # run
    "objects": 'run: object boxes "x1,y1,x2,y2;..." (pixels); pair with --shadows by order',
    "shadows": 'run: shadow boxes "x1,y1,x2,y2;..."; alone = shadow-only instances',
    "multimask": "run: three candidates per prompt, keep the best (for single clicks)",
    "image_size": "run/eval/train: model input side (multiple of 64; default 1024)",
    # eval
    "split": "eval: test or challenge (labels the table; picks the JSON with --dataset)",
    "max_images": "eval: evaluate only the first N images",
    "iou_thresholds": "eval: SOAP IoU thresholds, e.g. 0.5 or 0.5:0.95:0.05 (default)",
    # train
    "freeze": "train: image-encoder (the 'frozen' recipe) or none (full fine-tune)",
    "base": "train: SAM 2.1 size to start from: base-plus (default, OpSeg), tiny, small, large",
    "name": "train: name of the new variant, run as opseg-shadow:<name>",
    "steps": "train: optimizer steps (default 2000)",
    "batch_size": "train: images per step (default 4)",
    "accum": "train: gradient accumulation micro-batches per step (default 1)",
    "lr": "train: AdamW learning rate (default 1e-4 frozen, 1e-5 full)",
    "weight_decay": "train: AdamW weight decay (default 0.01)",
    "max_prompts": "train: object+shadow box prompts sampled per image (default 16)",
    "box_noise": "train: box jitter, fraction of the box side (default 0.1)",
    "loss_weights": "train: focal,dice,iou loss factors (default 20,1,1 as in SAM)",
    "warmup": "train: linear warm-up steps (default min(100, steps/10))",
    "val_annotations": "train: SOBA JSON scored before and after training (into the card)",
    "val_images": "train: image folder of --val-annotations (default --images)",
    "save_every": "train: write a resumable state every N steps (default 100)",
    "resume": "train: continue the run --name from its last saved state",
    "seed": "train: random seed (default 0)",
    "amp": "train: bf16 autocast on CUDA (default on for cuda; --amp false to disable)",
    "cache_embeddings": "train: with --freeze image-encoder, embed each image once and reuse",
    "workers": "train: data-loading worker processes (default 0)",
}


def _card() -> str:
    return str(CARD)


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
        weights=WeightsSpec(
            uri=MODELSCOPE_URI,
            pattern="*.pt",
            sha256=None,
            size=None,
            license="Apache-2.0",
            note=(
                "file name unknown in advance: the ModelScope snapshot is searched for the one "
                "*.pt file; its name, sha256 and size are logged on first download"
            ),
        ),
    ),
    VariantSpec(
        family=FAMILY,
        tag="base-plus-gdrive",
        params=BASE_PLUS_PARAMS,
        config={"size": "base-plus"},
        description="the same OpSeg checkpoint from the authors' Google Drive mirror",
        weights=WeightsSpec(
            uri=f"gdrive://{GDRIVE_FILE_ID}",
            license="Apache-2.0",
            note="mirror of opseg-shadow:base-plus; Drive may refuse large downloads (quota)",
        ),
    ),
]


@hookimpl
def zoo_register_families(register: Callable[[Any], None]) -> None:
    register(
        FamilySpec(
            name=FAMILY,
            tasks=[Task.SHADOW, Task.PROMPTABLE],
            loader="zoo_opseg.model:OpSegModel",
            card=_card(),
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
            license="Apache-2.0",
        )
    )


def local_root() -> Path:
    """``$ZOO_HOME/local/opseg-shadow``: where trained variants live (one folder each)."""
    from zoo.weights import cache_dir

    return cache_dir() / "local" / FAMILY


@hookimpl
def zoo_register_variants(register: Callable[[Any], None]) -> None:
    """Register every trained variant found under :func:`local_root` (json only, no torch).

    A damaged ``variant.json`` is skipped with a warning so that one bad run never hides
    the others (or breaks ``zoo list``).
    """
    root = local_root()
    if not root.is_dir():
        return
    for path in sorted(root.glob("*/variant.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            spec = VariantSpec(**data)
            if spec.family != FAMILY:
                raise ValueError(f"family is {spec.family!r}, expected {FAMILY!r}")
        except Exception as exc:
            warnings.warn(f"skipping trained variant {path}: {exc}", stacklevel=2)
            continue
        register(spec)
