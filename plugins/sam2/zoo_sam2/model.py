"""SAM 2.1 as a ``promptable`` zoo model.

The image is embedded once (:meth:`Sam2Model.set_image`) and every later prompt reuses the
embedding. Object prompts of the same shape (all boxes, or the same number of clicks) go
through the prompt encoder and mask decoder together, in chunks of ``decoder_batch``
prompts (:mod:`zoo.decoder_chunks`: per device, ``--max-batch`` overrides), so N prompts in one
call are never slower than N calls.

Both stages run through :mod:`zoo_sam2.graphs` (``run_graph``), the modules ``zoo export``
exports, so ``backend="onnxruntime"`` swaps the compute and keeps everything else.
"""

from __future__ import annotations

from typing import Any, ClassVar

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

from .build import build_sam2_model
from .graphs import sam2_graphs


class Sam2Model(ZooModel):
    tasks: ClassVar[tuple[Task, ...]] = (Task.PROMPTABLE,)
    image_state_attrs = ("_features", "_orig_hw", "_fingerprint")
    export_formats = ("onnx",)

    def __init__(self, model: Any, *, mask_threshold: float = 0.0) -> None:
        from sam2.utils.transforms import SAM2Transforms

        self.model = model
        self.mask_threshold = mask_threshold
        self._transforms = SAM2Transforms(  # its jit warning is filtered in zoo_sam2
            resolution=model.image_size, mask_threshold=mask_threshold
        )
        s = model.image_size
        self._feat_sizes = [(s // 4, s // 4), (s // 8, s // 8), (s // 16, s // 16)]
        self._features: dict[str, Any] | None = None
        self._orig_hw: tuple[int, int] | None = None
        self._fingerprint: str | None = None
        self._generators: dict[Any, Any] = {}

    @classmethod
    def create(
        cls,
        ctx: LoadContext,
        *,
        size: str | None = None,
        image_size: int | None = None,
        apply_postprocessing: bool = False,
        **_: Any,
    ) -> Sam2Model:
        size = size or (ctx.variant.tag if ctx.variant else "tiny")
        model = build_sam2_model(
            size,
            ctx.path(),
            device=ctx.device,
            image_size=image_size,
            apply_postprocessing=apply_postprocessing,
            model_name=ctx.name,
        )
        return cls(model)  # --dtype runs through self.autocast(); weights stay float32

    # ------------------------------------------------------------------ embedding
    @property
    def _device(self) -> torch.device:
        return next(self.model.parameters()).device

    @torch.inference_mode()
    def set_image(self, image: Any) -> None:
        """Embed ``image`` once; later ``segment`` calls on the same image reuse it."""
        from zoo.io.images import load_image

        img = load_image(image)
        fp = image_fingerprint(img)
        if fp == self._fingerprint and self._features is not None:
            return
        x = self._transforms(img)[None].to(self._device)
        embed, feat_s0, feat_s1 = self.run_graph("encoder", x)
        self._features = {"image_embed": embed, "high_res_feats": [feat_s0, feat_s1]}
        self._orig_hw = (int(img.shape[0]), int(img.shape[1]))
        self._fingerprint = fp

    def get_image_embedding(self) -> torch.Tensor:
        if self._features is None:
            raise InputError("no image is set; call set_image(image) or pass an image to segment")
        return self._features["image_embed"]

    # ------------------------------------------------------------------ stages
    def graphs(self) -> list[Any]:
        """Encoder and prompt decoder (:mod:`zoo_sam2.graphs`), for torch and export alike."""
        return sam2_graphs(self.model)

    @property
    def decoder_prompt_bytes(self) -> int:
        """One prompt's largest decoder activation: CPU chunks are sized from it."""
        from zoo.decoder_chunks import sam_decoder_prompt_bytes

        return sam_decoder_prompt_bytes(self.model.image_size // 16)

    def export_info(self) -> dict[str, Any]:
        s = int(self.model.image_size)
        return {
            "preprocess": f"RGB in [0,1], resized to {s}x{s} (bilinear, aspect not kept), "
            "normalised with ImageNet mean/std",
            "mean": [0.485, 0.456, 0.406],
            "std": [0.229, 0.224, 0.225],
            "prompts": f"pixel (x, y) scaled to the {s}x{s} input; a box is two points "
            "labelled 2 and 3; mask_input are 4x-downsampled logits (+-20)",
            "postprocess": "bilinear resize of the low-res logits to the image, > 0",
            "mask_threshold": self.mask_threshold,
        }

    # ------------------------------------------------------------------ prompting
    def _mask_prompt(self, mask: np.ndarray) -> torch.Tensor:
        """An image-sized binary (or probability) mask -> SAM's 4x-downsampled logit input."""
        side = self.model.image_size // 4
        m = torch.as_tensor(np.asarray(mask, dtype=np.float32), device=self._device)
        m = F.interpolate(m[None, None], size=(side, side), mode="bilinear", align_corners=False)
        return (m - 0.5) * 40.0  # {0,1} -> {-20,+20} logits

    @torch.inference_mode()
    def _decode_group(
        self, objs: list[ObjectPrompt], multimask: bool
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Masks (N, H, W), scores (N,) and low-res logits (N, s, s) of same-shape prompts.

        One decoder call for all of ``objs``: :meth:`segment` already chunked them.
        """
        assert self._features is not None and self._orig_hw is not None
        dev = self._device
        tf = self._transforms
        n = len(objs)
        coords: torch.Tensor | None = None
        labels: torch.Tensor | None = None
        if objs[0].box is not None:
            boxes = torch.tensor([o.box for o in objs], dtype=torch.float, device=dev)
            coords = tf.transform_boxes(boxes, normalize=True, orig_hw=self._orig_hw).reshape(
                -1, 2, 2
            )
            labels = torch.tensor([[2, 3]], dtype=torch.int64, device=dev).repeat(n, 1)
        if objs[0].points is not None:
            pts = torch.tensor([o.points for o in objs], dtype=torch.float, device=dev)
            pts = tf.transform_coords(pts, normalize=True, orig_hw=self._orig_hw)
            labs = torch.tensor([o.labels for o in objs], dtype=torch.int64, device=dev)
            coords = pts if coords is None else torch.cat([coords, pts], dim=1)
            labels = labs if labels is None else torch.cat([labels, labs], dim=1)
        side = self.model.image_size // 4
        if objs[0].mask is not None:
            mask_input = torch.cat([self._mask_prompt(o.mask) for o in objs], dim=0)  # type: ignore[arg-type]
            has_mask = torch.ones(n, device=dev)
        else:
            mask_input = torch.zeros(n, 1, side, side, device=dev)
            has_mask = torch.zeros(n, device=dev)
        if coords is None or labels is None:  # a mask alone: no sparse tokens at all
            coords = torch.zeros(n, 0, 2, device=dev)
            labels = torch.zeros(n, 0, dtype=torch.int64, device=dev)
        else:  # SAM's padding point (its pad=True when no separate box is given)
            coords = torch.cat([coords, torch.zeros(n, 1, 2, device=dev)], dim=1)
            labels = torch.cat([labels, torch.full((n, 1), -1, device=dev)], dim=1)
        feats = self._features
        low_res, iou = self.run_graph(
            "decoder",
            feats["image_embed"],
            *feats["high_res_feats"],
            coords,
            labels,
            mask_input,
            has_mask,
        )
        low_res, iou = self._select(low_res, iou, multimask)
        # upsampled one prompt at a time: an H x W float per prompt is 8.6 MB on an
        # 1800x1200 photo, and larger tensors cost page faults on every call
        # (zoo.decoder_chunks)
        masks = torch.cat(
            [
                tf.postprocess_masks(low_res[i : i + 1], self._orig_hw) > self.mask_threshold
                for i in range(n)
            ]
        )
        return masks[:, 0], iou[:, 0], low_res[:, 0]

    def _select(
        self, low_res: torch.Tensor, iou: torch.Tensor, multimask: bool
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Pick one mask per prompt from the four mask tokens, as SAM 2's decoder would.

        ``multimask``: the best of the three candidates by predicted IoU. Otherwise the
        single-mask token, or SAM 2's stability fallback when the model was built with
        ``apply_postprocessing``. Float32 out, whatever the backend computed in.
        """
        low_res, iou = low_res.float(), iou.float()
        dec = self.model.sam_mask_decoder
        if multimask:
            low_res, iou = low_res[:, 1:], iou[:, 1:]
            best = iou.argmax(dim=1)
            idx = torch.arange(low_res.shape[0], device=low_res.device)
            return low_res[idx, best][:, None], iou[idx, best][:, None]
        if dec.dynamic_multimask_via_stability:
            return dec._dynamic_multimask_via_stability(low_res, iou)
        return low_res[:, :1], iou[:, :1]

    def segment(
        self, image: Any = None, prompts: Any = None, *, multimask: bool = False
    ) -> SegmentationResult:
        """One mask per object prompt. ``image=None`` reuses the image from ``set_image``.

        ``multimask=True`` asks the decoder for three candidates per prompt and keeps the one
        with the highest predicted IoU (better for a single ambiguous click).
        """
        if prompts is None:
            raise InputError("empty prompt: give boxes, points with labels, or a mask")
        if image is not None:
            self.set_image(image)
        if self._features is None or self._orig_hw is None:
            raise InputError("no image is set; call set_image(image) or pass an image to segment")
        h, w = self._orig_hw
        p, _ = as_prompts(prompts).fit(h, w)  # boxes crossing the edge are clipped to it
        groups = p.shape_groups()  # prompts of one shape share a decoder call
        n = len(p.objects)
        masks = np.zeros((n, h, w), dtype=bool)
        scores = np.zeros(n, dtype=np.float32)
        side = self.model.image_size // 4
        logits = np.zeros((n, side, side), dtype=np.float32)
        for group in groups.values():
            for part in self.decoder_chunks(len(group)):
                idxs = group[part]
                m, s, lr = self._decode_group([p.objects[i] for i in idxs], multimask)
                masks[idxs] = m.cpu().numpy()
                scores[idxs] = s.float().cpu().numpy()
                logits[idxs] = lr.float().cpu().numpy()
        return SegmentationResult(
            masks=masks,
            scores=scores,
            low_res_logits=logits,
            image_size=(h, w),
            provenance=self.provenance(Task.PROMPTABLE),
            prompts=p,
        )

    # ------------------------------------------------------------------ everything
    def segment_everything(self, image: Any, **settings: Any) -> SegmentationResult:
        """Every object in ``image`` with the ``sam2`` package's ``SAM2AutomaticMaskGenerator``
        over this network (three masks per grid point, upstream's filters and NMS); see
        :mod:`zoo_sam2.everything`. ``settings``: :class:`zoo.everything.EverythingSettings`.
        """
        from zoo.everything import everything_result, resolve_settings
        from zoo.io.images import load_image
        from zoo.progress import work

        from .everything import generate, make_generator, num_batches

        s = resolve_settings(self, **settings)
        gen = self._generators.get(s)
        if gen is None:
            gen = self._generators[s] = make_generator(self.model, s)
        img = load_image(image)
        with (
            torch.inference_mode(),
            self.autocast(),
            work("segment everything", num_batches(s), "batches") as advance,
        ):
            found = generate(gen, img, s, on_batch=advance)
        gen.predictor.reset_predictor()
        return everything_result(
            self,
            found.masks,
            found.scores,
            found.stability,
            found.points,
            s,
            "sam2.SAM2AutomaticMaskGenerator",
        )
