"""EfficientSAM as a ``promptable`` zoo model (the class the ``efficientsam`` family loads).

The image is embedded once (:meth:`EfficientSamModel.set_image`); every later prompt on the
same image reuses that embedding. EfficientSAM's decoder always sees a fixed number of prompt
points (padding fills the rest), so prompts of any mix (boxes, clicks, box plus clicks) fit
into one tensor and go through the decoder together, in chunks of ``decoder_batch``
(:mod:`zoo.decoder_chunks`: per device, ``--max-batch`` overrides).

Both stages run through :mod:`zoo_efficientsam.graphs` (``run_graph``), the modules that
``zoo export`` exports, so ``backend="onnxruntime"`` swaps the compute and nothing else.
"""

from __future__ import annotations

import contextlib
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from zoo.errors import InputError
from zoo.io.images import image_fingerprint
from zoo.loading import LoadContext
from zoo.model import ZooModel
from zoo.prompts import ObjectPrompt, as_prompts
from zoo.results import SegmentationResult
from zoo.specs import Task

from .build import IMG_SIZE, VARIANTS, build_efficientsam
from .graphs import efficientsam_graphs
from .model import (
    LABEL_BOX_BOTTOM_RIGHT,
    LABEL_BOX_TOP_LEFT,
    LABEL_PADDING,
    EfficientSam,
)
from .preprocess import image_to_tensor

__all__ = ["EfficientSamModel"]


class EfficientSamNetworkModel(ZooModel):
    """What every model on an EfficientSAM network shares (this family and SAMEO's amodal
    one): the cached image embedding, the encoder/decoder stages (:mod:`.graphs`) that
    ``zoo export`` and the ONNX Runtime backend use, CPU chunk sizing, device moves.
    Subclasses add their task methods and their ``create``.
    """

    #: what set_image fills: zoo serve keeps these per image (ZooModel.image_state)
    image_state_attrs = ("_embedding", "_orig_hw", "_fingerprint")
    export_formats = ("onnx",)

    def __init__(self, model: EfficientSam) -> None:
        self.model = model
        self._embedding: torch.Tensor | None = None
        self._orig_hw: tuple[int, int] | None = None
        self._fingerprint: str | None = None

    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        """No autocast: ``--dtype`` casts the weights themselves at load (see :meth:`create`)."""
        return contextlib.nullcontext()

    @property
    def decoder_prompt_bytes(self) -> int:
        """One prompt's largest decoder activation: CPU chunks are sized from it."""
        from zoo.decoder_chunks import sam_decoder_prompt_bytes

        return sam_decoder_prompt_bytes(self.model.image_encoder.image_embedding_size)

    def graphs(self) -> list[Any]:
        """Encoder and decoder (:mod:`zoo_efficientsam.graphs`), for torch and export alike."""
        return efficientsam_graphs(self.model)

    def export_info(self) -> dict[str, Any]:
        return efficientsam_export_info(self.model)

    def to(self, device: str) -> EfficientSamNetworkModel:
        super().to(device)
        self._embedding = None  # the cache lives on the old device; re-embed on demand
        self._fingerprint = None
        return self

    # ------------------------------------------------------------------ embedding
    @property
    def _param(self) -> torch.Tensor:
        return next(self.model.parameters())

    @torch.inference_mode()
    def set_image(self, image: Any) -> None:
        """Embed ``image`` once; later ``segment`` calls on the same pixels reuse it."""
        from zoo.io.images import load_image

        img = load_image(image)
        fp = image_fingerprint(img)
        if fp == self._fingerprint and self._embedding is not None:
            return
        ref = self._param
        x = image_to_tensor(img).to(device=ref.device, dtype=ref.dtype)
        (self._embedding,) = self.run_graph("encoder", resize_for_encoder(self.model, x))
        self._orig_hw = (int(img.shape[0]), int(img.shape[1]))
        self._fingerprint = fp

    def get_image_embedding(self) -> torch.Tensor:
        """The cached ``(1, 256, 64, 64)`` embedding of the current image."""
        if self._embedding is None:
            raise InputError("no image is set; call set_image(image) or pass an image to segment")
        return self._embedding


class EfficientSamModel(EfficientSamNetworkModel):
    """Promptable segmentation with EfficientSAM (ViT-T or ViT-S).

    Prompts per object: a box, clicks (label 1 foreground, 0 background), or a box plus
    clicks; at most :attr:`max_points` points in total, a box counting as two. Mask prompts
    are refused: EfficientSAM has no mask input.

    EfficientSAM's decoder always runs in multimask mode (as every upstream entry point
    does): of its three candidates the one with the highest predicted IoU is returned, and
    ``scores`` holds that raw IoU prediction (not a probability; it can be negative).
    """

    tasks = (Task.PROMPTABLE,)

    @property
    def max_points(self) -> int:
        """Prompt points the decoder accepts per object (6 for the released weights)."""
        return self.model.decoder_max_num_input_points

    @classmethod
    def create(
        cls,
        ctx: LoadContext,
        *,
        size: str | None = None,
        image_size: int | None = None,
        **_: Any,
    ) -> EfficientSamModel:
        """Build the architecture of ``size`` (default: the variant's tag) and load
        ``ctx.path()`` strictly (``None`` in test mode: keep the seeded random init).

        ``ctx.dtype`` (``--dtype bfloat16/float16``) casts weights and buffers once and the
        image is cast to the same dtype on its way in (:meth:`set_image`), so half
        precision runs the same code on CPU and GPU. Prompt coordinates stay float32 until
        the positional encoding has normalised them to [0, 1] (bfloat16 cannot hold pixel
        coordinates of a 1024-px image to the pixel). Logits and scores come back float32.
        """
        size = size or (ctx.variant.tag if ctx.variant else ctx.family.default_tag)
        if size not in VARIANTS:
            raise InputError(
                f"unknown EfficientSAM size {size!r}; choose one of {', '.join(VARIANTS)}"
            )
        model = build_efficientsam(
            size,  # type: ignore[arg-type]
            ctx.path(),
            model_name=ctx.name,
            image_size=IMG_SIZE if image_size is None else int(image_size),
        )
        model = model.to(device=ctx.device, dtype=ctx.dtype)
        return cls(model)

    # ------------------------------------------------------------------ prompting
    def _encode_prompts(self, objects: list[ObjectPrompt]) -> tuple[torch.Tensor, torch.Tensor]:
        """Objects -> points ``(1, N, max_points, 2)`` and labels ``(1, N, max_points)``.

        Padding is added here rather than by the model so that objects with different
        numbers of points share one tensor, hence one decoder call.
        """
        n_max = self.max_points
        points = np.full((1, len(objects), n_max, 2), -1.0, dtype=np.float32)
        labels = np.full((1, len(objects), n_max), LABEL_PADDING, dtype=np.int64)
        for i, obj in enumerate(objects):
            if obj.mask is not None:
                raise InputError(
                    f"prompt {i}: EfficientSAM takes no mask prompts; give a box and/or points"
                )
            pts: list[tuple[float, float]] = []
            labs: list[int] = []
            if obj.box is not None:
                x1, y1, x2, y2 = obj.box
                pts += [(x1, y1), (x2, y2)]
                labs += [LABEL_BOX_TOP_LEFT, LABEL_BOX_BOTTOM_RIGHT]
            pts += list(obj.points or [])
            labs += list(obj.labels or [])
            if len(pts) > n_max:
                raise InputError(
                    f"prompt {i} has {len(pts)} points (a box counts as 2) but EfficientSAM "
                    f"takes at most {n_max} per object; drop some clicks"
                )
            points[0, i, : len(pts)] = pts
            labels[0, i, : len(labs)] = labs
        dev = self._param.device
        return torch.from_numpy(points).to(dev), torch.from_numpy(labels).to(dev)

    @torch.inference_mode()
    def _decode(
        self, points: torch.Tensor, labels: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Best-of-three low-res logits ``(N, 256, 256)`` and their IoU ``(N,)``, float32."""
        assert self._embedding is not None and self._orig_hw is not None
        h, w = self._orig_hw
        logits_out, iou_out = [], []
        for sl in self.decoder_chunks(points.shape[1]):
            low_res, iou = self.run_graph(
                "decoder",
                self._embedding,
                *decoder_inputs(self.model, points[:, sl], labels[:, sl], h, w),
            )
            low_res, iou = low_res.float(), iou.float()  # (n, 3, 256, 256), (n, 3)
            best = iou.argmax(dim=1)
            idx = torch.arange(best.shape[0], device=best.device)
            logits_out.append(low_res[idx, best])
            iou_out.append(iou[idx, best])
        return torch.cat(logits_out), torch.cat(iou_out)

    def segment(
        self, image: Any = None, prompts: Any = None, *, multimask: bool = False
    ) -> SegmentationResult:
        """One mask per object prompt. ``image=None`` reuses the image from ``set_image``.

        ``multimask`` is accepted for interface compatibility; EfficientSAM always picks the
        best of its three candidates (see the class docstring).
        """
        if prompts is None:
            raise InputError("empty prompt: give boxes, points with labels, or both")
        if image is not None:
            self.set_image(image)
        if self._embedding is None or self._orig_hw is None:
            raise InputError("no image is set; call set_image(image) or pass an image to segment")
        h, w = self._orig_hw
        p, _ = as_prompts(prompts).fit(h, w)  # boxes crossing the edge are clipped to it
        points, labels = self._encode_prompts(p.objects)
        low_res, scores = self._decode(points, labels)
        # Upsampling only the chosen mask per object (not all three), one at a time, keeps
        # the float activation at H x W (larger ones cost page faults, zoo.decoder_chunks);
        # bicubic matches upstream's resize to the original size.
        masks = np.zeros((low_res.shape[0], h, w), dtype=bool)
        for i in range(low_res.shape[0]):
            full = F.interpolate(
                low_res[i : i + 1, None], size=(h, w), mode="bicubic", align_corners=False
            )
            masks[i] = (full[0, 0] > self.model.mask_threshold).cpu().numpy()
        return SegmentationResult(
            masks=masks,
            scores=scores.cpu().numpy(),
            low_res_logits=low_res.cpu().numpy(),
            image_size=(h, w),
            provenance=self.provenance(Task.PROMPTABLE),
            prompts=p,
        )


def resize_for_encoder(model: EfficientSam, images: torch.Tensor) -> torch.Tensor:
    """The resize half of :meth:`EfficientSam.preprocess` (the graph normalises)."""
    size = model.image_encoder.img_size
    if images.shape[-2:] != (size, size):
        images = F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False)
    return images


def decoder_inputs(
    model: EfficientSam, points: torch.Tensor, labels: torch.Tensor, input_h: int, input_w: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(1, N, P, 2)`` pixel prompts of an ``input_h x input_w`` image -> the decoder
    graph's ``point_coords (N, max_points, 2)`` and ``point_labels (N, max_points)``, exactly
    as :meth:`EfficientSam.predict_masks` prepares them."""
    pts = model.get_rescaled_pts(points, input_h, input_w)
    pts, labs = model._fit_num_points(pts, labels)
    return pts.reshape(-1, *pts.shape[2:]), labs.reshape(-1, labs.shape[-1]).long()


def efficientsam_export_info(model: EfficientSam) -> dict[str, Any]:
    """Pre-/post-processing notes for the export descriptor (shared with SAMEO)."""
    s = int(model.image_encoder.img_size)
    p = int(model.decoder_max_num_input_points)
    return {
        "preprocess": f"RGB in [0,1] resized to {s}x{s} (bilinear, aspect not kept); "
        "the encoder graph normalises",
        "prompts": f"pixel (x, y) scaled per axis to the {s}x{s} input; {p} points per "
        "prompt, padded with (-1, -1) label -1; a box is two points labelled 2 and 3",
        "postprocess": "pick the candidate with the highest iou_predictions, bicubic "
        "resize of its logits to the image, > 0",
        "mask_threshold": float(model.mask_threshold),
    }
