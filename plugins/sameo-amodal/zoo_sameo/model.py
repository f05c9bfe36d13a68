"""SAMEO as an ``amodal`` zoo model: boxes in, whole-object masks and scores out.

Inference follows the paper: the image is embedded once by the frozen EfficientSAM
encoder; every box becomes one decoder query and all queries of an image go through the
decoder together; of the three masks per box the one with the highest predicted IoU is
kept; the instance score is the detector's score times that predicted IoU (an amodal mask
the decoder is unsure of should rank below a confident one from an equally good box).

Boxes go through the decoder in chunks of ``decoder_batch`` (:mod:`zoo.decoder_chunks`, per
device; ``--max-batch`` overrides). Inference runs EfficientSAM's stage modules
(:mod:`zoo_efficientsam.graphs`) through ``run_graph``, so ``zoo export`` and
``backend="onnxruntime"`` cover SAMEO's decoder as they cover EfficientSAM's.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from zoo_efficientsam.loader import EfficientSamNetworkModel, decoder_inputs, resize_for_encoder
from zoo_efficientsam.model import EfficientSam

from zoo.errors import InputError, hint
from zoo.loading import LoadContext
from zoo.prompts import ObjectPrompt, Prompts
from zoo.results import AmodalInstance, AmodalResult
from zoo.specs import Task

from .build import (
    DEFAULT_IMAGE_SIZE,
    build_network,
    check_base,
    check_image_size,
    load_into,
    read_checkpoint,
)

LABEL_BOX_TOP_LEFT = 2
LABEL_BOX_BOTTOM_RIGHT = 3


class SameoModel(EfficientSamNetworkModel):
    """EfficientSAM encoder + prompt encoder (frozen) and SAMEO's amodal mask decoder.

    The embedding cache, the stages and device moves are EfficientSAM's
    (:class:`zoo_efficientsam.loader.EfficientSamNetworkModel`); this adds amodal decoding.
    """

    tasks = (Task.AMODAL,)

    def __init__(self, model: EfficientSam, *, base: str, image_size: int) -> None:
        super().__init__(model)
        self.base = base
        self.image_size = image_size

    @classmethod
    def create(
        cls,
        ctx: LoadContext,
        *,
        base: str | None = None,
        image_size: int | None = None,
        **_: Any,
    ) -> SameoModel:
        """Build the network and load ``ctx.path()``, a SAMEO checkpoint (``None`` in test
        mode: keep the seeded random init).

        ``base`` comes from the variant's config. The EfficientSAM base file
        (``ctx.path("base")``) is resolved only when the checkpoint lacks the encoder side.
        The image size defaults to the checkpoint's own (what its decoder was trained at),
        else EfficientSAM's 1024.
        """
        base = check_base(base or ctx.family.default_tag or "vitt")
        path = ctx.path()  # the decoder (an unpublished one is a one-line error in the core)
        ckpt = read_checkpoint(path) if path is not None else None
        trained_at = ckpt.image_size if ckpt is not None else None
        if image_size is not None and trained_at is not None and int(image_size) != trained_at:
            flag = hint(f"--image-size {trained_at}", f"image_size={trained_at}")
            raise InputError(
                f"checkpoint {path} was trained at image_size {trained_at}, not {image_size}; "
                f"leave the image size out or pass {flag}"
            )
        size = check_image_size(image_size or trained_at or DEFAULT_IMAGE_SIZE)
        net = build_network(base, size)
        if ckpt is not None:

            def base_file() -> Path | None:
                return ctx.path("base") if ctx.has("base") else None

            load_into(net, ckpt, base=base, model_name=ctx.name, path=path, base_file=base_file)
        net = net.to(device=ctx.device, dtype=ctx.dtype).eval()
        for p in net.parameters():
            p.requires_grad_(False)
        return cls(net, base=base, image_size=size)

    def export_info(self) -> dict[str, Any]:
        info = super().export_info()
        info["postprocess"] += "; score = detector score x clip(iou, 0, 1)"
        return info

    # ------------------------------------------------------------------ embedding
    @property
    def _device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def _dtype(self) -> torch.dtype:
        return next(self.model.parameters()).dtype

    def image_tensor(self, img: np.ndarray) -> torch.Tensor:
        """``H x W x 3`` uint8 -> ``(1, 3, H, W)`` in [0, 1] on the model's device."""
        t = torch.from_numpy(np.ascontiguousarray(img)).to(self._device)
        return (t.permute(2, 0, 1).to(self._dtype) / 255.0)[None]

    @torch.inference_mode()
    def embed(self, image: Any) -> torch.Tensor:
        """The frozen encoder's ``(1, 256, g, g)`` embedding of ``image`` (not cached)."""
        from zoo.io.images import load_image

        img = load_image(image)
        (emb,) = self.run_graph("encoder", resize_for_encoder(self.model, self.image_tensor(img)))
        return emb

    # ------------------------------------------------------------------ decoding
    def decode(
        self, embeddings: torch.Tensor, boxes: torch.Tensor, hw: torch.Tensor | tuple[int, int]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Decode boxes against embeddings: ``(logits (N, 3, s, s), iou (N, 3))``.

        ``embeddings`` is ``(1, C, g, g)`` (all boxes on one image) or ``(N, C, g, g)``
        (one embedding per box, the training batch); ``boxes`` ``(N, 4)`` xyxy pixels of an
        image of size ``hw`` (``(H, W)`` or ``(N, 2)``). Boxes are mapped to the encoder's
        square input here, so one call can mix images of different sizes. Gradients flow
        (training calls this too); inference wraps it in ``inference_mode``.
        """
        pts, labels = self._box_points(boxes, hw)
        n = boxes.shape[0]
        if embeddings.shape[0] == 1:
            pts, labels = pts[None], labels[None]  # one image, N queries
        else:
            pts, labels = pts[:, None], labels[:, None]  # N images, one query each
        size = int(self.image_size)
        logits, iou = self.model.predict_masks(embeddings, pts, labels, True, size, size)
        return logits.reshape(n, *logits.shape[2:]), iou.reshape(n, -1)

    def _box_points(
        self, boxes: torch.Tensor, hw: torch.Tensor | tuple[int, int]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Boxes ``(N, 4)`` of images of size ``hw`` -> corner points ``(N, 2, 2)`` in the
        encoder's square input, float32, and their labels ``(N, 2)`` (2 and 3).

        Coordinates stay float32: the positional encoding casts them to the model's dtype
        only after normalising to [0, 1] (bfloat16 cannot hold 1024-px coordinates).
        """
        s = float(self.image_size)
        hw_t = torch.as_tensor(hw, dtype=boxes.dtype, device=boxes.device).reshape(-1, 2)
        sx = (s / hw_t[:, 1]).reshape(-1, 1)
        sy = (s / hw_t[:, 0]).reshape(-1, 1)
        pts = torch.stack([boxes[:, 0::2] * sx, boxes[:, 1::2] * sy], dim=-1)  # N, 2, 2
        labels = torch.tensor(
            [LABEL_BOX_TOP_LEFT, LABEL_BOX_BOTTOM_RIGHT], device=boxes.device
        ).expand(boxes.shape[0], 2)
        return pts.float(), labels

    def _decode_boxes(
        self, boxes: torch.Tensor, hw: tuple[int, int]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Inference twin of :meth:`decode` on the cached embedding, through the decoder
        stage (``run_graph``: torch or an exported runtime); same arithmetic."""
        assert self._embedding is not None
        pts, labels = self._box_points(boxes, hw)
        size = int(self.image_size)
        coords, labs = decoder_inputs(self.model, pts[None], labels[None], size, size)
        logits, iou = self.run_graph("decoder", self._embedding, coords, labs)
        return logits, iou

    def _boxes(self, boxes: Any, h: int, w: int) -> np.ndarray:
        if isinstance(boxes, Prompts):
            arr = boxes.boxes
            if arr is None:
                raise InputError("SAMEO takes box prompts only; give one box per object")
        elif isinstance(boxes, ObjectPrompt):
            if boxes.box is None:
                raise InputError("SAMEO takes box prompts only; give one box per object")
            arr = np.array([boxes.box], dtype=np.float32)
        else:
            try:
                arr = np.asarray(boxes, dtype=np.float64)
            except (TypeError, ValueError):
                raise InputError("boxes must be numbers: an N x 4 array of x1,y1,x2,y2") from None
        if arr.size == 0:
            raise InputError("no boxes given; SAMEO needs at least one box per call")
        arr = arr.reshape(-1, 4) if arr.ndim == 1 and arr.size == 4 else arr
        if arr.ndim != 2 or arr.shape[1] != 4:
            raise InputError(f"boxes must be N x 4 (x1,y1,x2,y2), got shape {arr.shape}")
        # finite, x2>x1, y2>y1, not entirely outside the image; clipped where it crosses the edge
        fitted, _ = Prompts.build(boxes=arr).fit(h, w)
        out = fitted.boxes
        assert out is not None  # every prompt is a box
        return out

    @torch.inference_mode()
    def segment_amodal(
        self,
        image: Any,
        boxes: Any,
        *,
        scores: Sequence[float] | np.ndarray | None = None,
        category_ids: Sequence[int | None] | None = None,
        visible_masks: Sequence[np.ndarray | None] | None = None,
    ) -> AmodalResult:
        """Amodal masks for ``boxes`` (N x 4 xyxy pixels) on ``image``.

        A box crossing the image edge is clipped to it (as SAM does; the instance's ``box``
        is the clipped one); a box entirely outside the image is an ``InputError``.

        ``scores``: detector scores (the result's score is score x predicted IoU; without
        them it is the predicted IoU). ``category_ids`` are carried through. ``visible_masks``
        (e.g. a modal detector's instance masks) are attached, clipped to the amodal mask,
        so overlays can show the hidden part; SAMEO itself predicts only the amodal mask.
        """
        if image is not None:
            self.set_image(image)
        if self._embedding is None or self._orig_hw is None:
            raise InputError("no image is set; pass an image to segment_amodal")
        h, w = self._orig_hw
        arr = self._boxes(boxes, h, w)
        n = arr.shape[0]
        det = None if scores is None else np.asarray(scores, dtype=np.float64).reshape(-1)
        if det is not None and det.shape[0] != n:
            raise InputError(f"got {n} boxes but {det.shape[0]} scores; give one score per box")
        if category_ids is not None and len(category_ids) != n:
            raise InputError(f"got {n} boxes but {len(category_ids)} category ids")
        if visible_masks is not None and len(visible_masks) != n:
            raise InputError(f"got {n} boxes but {len(visible_masks)} visible masks")

        masks = np.zeros((n, h, w), dtype=bool)
        ious = np.zeros(n, dtype=np.float32)
        box_t = torch.from_numpy(arr).to(self._device, torch.float32)
        for sl in self.decoder_chunks(n):
            logits, iou = self._decode_boxes(box_t[sl], (h, w))
            best = iou.argmax(dim=1)
            idx = torch.arange(best.shape[0], device=iou.device)
            ious[sl] = iou[idx, best].float().cpu().numpy()
            masks[sl] = self._upsample(logits[idx, best], h, w)
        pred = np.clip(ious, 0.0, 1.0)
        final = pred if det is None else det * pred
        instances = []
        for i in range(n):
            vis = None
            if visible_masks is not None and visible_masks[i] is not None:
                v = np.asarray(visible_masks[i]).astype(bool)
                if v.shape != (h, w):
                    raise InputError(
                        f"visible mask {i} is {v.shape[1]}x{v.shape[0]} but the image is {w}x{h}"
                    )
                vis = v & masks[i]
            cat = None if category_ids is None else category_ids[i]
            instances.append(
                AmodalInstance(
                    amodal_mask=masks[i],
                    visible_mask=vis,
                    score=float(final[i]),
                    box=(float(arr[i, 0]), float(arr[i, 1]), float(arr[i, 2]), float(arr[i, 3])),
                    category_id=None if cat is None else int(cat),
                    pred_iou=float(ious[i]),
                    det_score=None if det is None else float(det[i]),
                )
            )
        return AmodalResult(
            instances=instances, image_size=(h, w), provenance=self.provenance(Task.AMODAL)
        )

    def _upsample(self, low_res: torch.Tensor, h: int, w: int, chunk: int = 1) -> np.ndarray:
        """Low-res logits -> ``H x W`` bool masks, bicubic like EfficientSAM, one mask at a
        time: 100 masks of a 4K image never need gigabytes, and an H x W float per call stays
        small enough to be reused instead of faulted in (zoo.decoder_chunks)."""
        out = np.zeros((low_res.shape[0], h, w), dtype=bool)
        for lo in range(0, low_res.shape[0], chunk):
            up = F.interpolate(
                low_res[lo : lo + chunk, None].float(),
                size=(h, w),
                mode="bicubic",
                align_corners=False,
            )
            out[lo : lo + chunk] = (up[:, 0] > 0).cpu().numpy()
        return out
