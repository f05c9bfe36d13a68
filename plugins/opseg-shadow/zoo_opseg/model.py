"""OpSeg as a zoo model: SAM 2.1 whose prompts segment objects *and* their cast shadows.

OpSeg changes no architecture: it fine-tunes SAM 2.1 base-plus on SOBA so that a box (or
clicks) on a shadow yields the shadow, and a box on an object yields the object. So this
class *is* the ``sam2`` plugin's :class:`~zoo_sam2.model.Sam2Model` (same embedding cache,
same batched decoder) with a different checkpoint check and one more task:
:meth:`OpSegModel.segment_shadows` takes instances, each an object prompt and/or a shadow
prompt, sends every prompt of every instance through the decoder together (one image
embedding, one decoder call when all prompts are boxes), and pairs the masks back up under
one association id per instance.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from zoo_sam2.build import build_sam2_model
from zoo_sam2.model import Sam2Model

from zoo.errors import InputError
from zoo.loading import LoadContext
from zoo.prompts import (
    ObjectPrompt,
    Prompts,
    ShadowPrompt,
    as_shadow_prompts,
    fit_shadow_prompts,
)
from zoo.results import ShadowInstance, ShadowResult
from zoo.specs import Task

from .checkpoint import read_sam21_checkpoint

ROLES = ("object", "shadow")


def flatten_instances(
    instances: list[ShadowPrompt], height: int, width: int
) -> tuple[list[ObjectPrompt], list[tuple[int, str]]]:
    """All object and shadow prompts as one list, plus ``(instance index, role)`` per entry.

    Prompts are fitted to the image here (:func:`zoo.prompts.fit_shadow_prompts`, the rule
    of every surface: boxes crossing the edge are clipped, prompts outside the image are
    refused) so that an error names the instance and the role ("instance 2 shadow: box ...
    lies entirely outside ...") rather than a flattened index.
    """
    fitted, _ = fit_shadow_prompts(instances, height, width)
    flat: list[ObjectPrompt] = []
    owners: list[tuple[int, str]] = []
    for i, inst in enumerate(fitted):
        for role in ROLES:
            p: ObjectPrompt | None = getattr(inst, role)
            if p is None:
                continue
            flat.append(p)
            owners.append((i, role))
    return flat, owners


def pair_up(
    instances: list[ShadowPrompt],
    owners: list[tuple[int, str]],
    masks: np.ndarray,
    scores: np.ndarray,
) -> list[ShadowInstance]:
    """Regroup flat decoder outputs into one :class:`ShadowInstance` per instance.

    Association ids are 1-based instance positions (SOBA numbers pairs 1, 2, ... per image).
    """
    found: dict[int, dict[str, Any]] = {i: {} for i in range(len(instances))}
    for k, (i, role) in enumerate(owners):
        found[i][f"{role}_mask"] = masks[k]
        found[i][f"{role}_score"] = float(scores[k])
    return [
        ShadowInstance(
            association_id=i + 1,
            object_mask=found[i].get("object_mask"),
            shadow_mask=found[i].get("shadow_mask"),
            object_score=found[i].get("object_score"),
            shadow_score=found[i].get("shadow_score"),
        )
        for i in range(len(instances))
    ]


class OpSegModel(Sam2Model):
    """SAM 2.1 with OpSeg's shadow-adapted weights (``shadow`` + ``promptable`` tasks)."""

    tasks = (Task.SHADOW, Task.PROMPTABLE)

    @classmethod
    def create(
        cls,
        ctx: LoadContext,
        *,
        size: str | None = None,
        image_size: int | None = None,
        apply_postprocessing: bool = False,
        **_: Any,
    ) -> OpSegModel:
        """Build SAM 2.1 ``size`` with the sam2 plugin and load ``ctx.path()`` strictly.

        ``size`` is base-plus for the published model; variants trained by ``zoo train
        --base tiny`` carry their own size and ``image_size`` in their config. The file is
        read and recognised (:func:`read_sam21_checkpoint`) *before* the model is built, so
        a SAM 1 file or a checkpoint of another size fails in the time it takes to read it,
        with a sentence naming the mistake. ``ctx.path()`` is ``None`` in test mode: the
        random init (seeded by the core) is kept. ``ctx.dtype`` is not applied to the
        weights: :class:`Sam2Model` runs its forward passes under ``self.autocast()``.
        """
        from zoo.model import load_state_dict_strict

        size = size or "base-plus"  # the published model's size
        path = ctx.path()
        sd = read_sam21_checkpoint(path, size, model_name=ctx.name) if path else None
        model = build_sam2_model(
            size,
            None,
            device="cpu",
            image_size=image_size,
            apply_postprocessing=apply_postprocessing,
            model_name=ctx.name,
        )
        if sd is not None:
            load_state_dict_strict(model, sd, model_name=ctx.name, path=path)
            del sd
        # --dtype runs through Sam2Model's autocast(); the weights stay float32
        return cls(model.to(ctx.device).eval())

    def segment_shadows(
        self, image: Any = None, instances: Any = None, *, multimask: bool = False
    ) -> ShadowResult:
        """Object and shadow masks for each instance, paired under one association id.

        ``instances``: ``[{"object": {"box": [...]}, "shadow": {"box": [...]}}, ...]`` or
        :class:`~zoo.prompts.ShadowPrompt` objects; either side may be missing (its mask is
        then ``None``). ``image=None`` reuses the image of the last call / ``set_image``.
        A box crossing the image edge is clipped to it; a prompt entirely outside the image
        is an ``InputError`` naming the instance and the side.
        """
        if instances is None:
            raise InputError("empty prompt: give at least one object or shadow prompt")
        insts = as_shadow_prompts(instances)
        if image is not None:
            self.set_image(image)
        if self._features is None or self._orig_hw is None:
            raise InputError("no image is set; call set_image(image) or pass an image")
        h, w = self._orig_hw
        flat, owners = flatten_instances(insts, h, w)
        seg = self.segment(None, Prompts(objects=flat), multimask=multimask)
        return ShadowResult(
            instances=pair_up(insts, owners, seg.masks, seg.scores),
            image_size=(h, w),
            provenance=self.provenance(Task.SHADOW),
        )


def predict_pairs(
    model: Any, image: Any, instances: Any, *, multimask: bool = False
) -> ShadowResult:
    """Run any model on object/shadow instances: OpSeg natively, a plain promptable model
    (e.g. ``sam2:base-plus``, the paper's "original" baseline) by decoding the same flat
    prompt list with ``segment`` and pairing the masks up the same way."""
    if hasattr(model, "segment_shadows"):
        return model.segment_shadows(image, instances, multimask=multimask)
    from zoo.io.images import load_image

    insts = as_shadow_prompts(instances)
    img = load_image(image)
    h, w = img.shape[:2]
    flat, owners = flatten_instances(insts, h, w)
    seg = model.segment(img, Prompts(objects=flat), multimask=multimask)
    return ShadowResult(
        instances=pair_up(insts, owners, seg.masks, seg.scores),
        image_size=(h, w),
        provenance=model.provenance(Task.PROMPTABLE),
    )
