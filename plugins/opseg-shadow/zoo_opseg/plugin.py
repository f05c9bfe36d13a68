"""Registration of the ``opseg-shadow`` family. Imports nothing heavy: specs and paths.

Its variants (the authors' checkpoint on ModelScope, and the same file from Google Drive as
a second, explicit variant) are data in the core's catalogue, ``registry.yaml``, which also
says why; its card is ``cards/opseg-shadow.md``.

Fine-tuned checkpoints made by ``zoo train opseg-shadow`` are published with
:func:`zoo.registry.local.write_variant` and registered by the core's local-variant scanner,
like every family's.

``zoo run``, ``zoo batch`` and ``zoo serve`` are the core's ``shadow`` and ``promptable``
tasks. Every option is declared once, typed: the family's (loader and eval options) in
:class:`OpSegOptions`, the trainer's in :class:`zoo_opseg.config.OpSegTrainConfig`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import field_validator

from zoo.hookspecs import RegisterDataset, RegisterFamily, hookimpl
from zoo.options import Options, image_size_option, max_batch_option, option
from zoo.specs import FamilySpec, Task

#: This module follows plugin API 3 (typed options, the core shadow task, a typed trainer).
ZOO_PLUGIN_API = 3

FAMILY = "opseg-shadow"
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
        architecture=True,
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


@hookimpl
def zoo_register_families(register: RegisterFamily) -> None:
    register(
        FamilySpec(
            name=FAMILY,
            tasks=[Task.SHADOW, Task.PROMPTABLE],
            loader="zoo_opseg.model:OpSegModel",
            evaluator="zoo_opseg.runners:eval_shadows",
            trainer="zoo_opseg.train:train",
            train_config="zoo_opseg.config:OpSegTrainConfig",
            options=OpSegOptions,
            conformance={"image_size": 256},
            # half precision through ZooModel.autocast (inherited from Sam2Model)
            dtypes=["float32", "bfloat16", "float16"],
        )
    )


@hookimpl
def zoo_register_datasets(register: RegisterDataset) -> None:
    register(
        "soba",
        "zoo_opseg.synthetic:make_soba",
        "synthetic SOBA shadows (annotations.json + images/; objects, shadows, pairs): "
        "zoo eval / zoo train opseg-shadow",
    )
