"""SAM 2.1 as a ``promptable`` zoo model.

The image is embedded once (:meth:`Sam2Model.set_image`) and every later prompt reuses the
embedding. Object prompts of the same shape (all boxes, or the same number of clicks) go
through the prompt encoder and mask decoder as one batch: 100 boxes cost one decoder call,
not 100.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from zoo.errors import InputError
from zoo.io.images import image_fingerprint
from zoo.loading import LoadContext
from zoo.model import ZooModel
from zoo.tasks import ObjectPrompt, Prompts, SegmentationResult, Task, as_prompts

from .build import build_sam2_model


class Sam2Model(ZooModel):
    tasks = (Task.PROMPTABLE,)
    image_state_attrs = ("_features", "_orig_hw", "_fingerprint")

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
        with self.autocast():
            backbone_out = self.model.forward_image(x)
            _, vision_feats, _, _ = self.model._prepare_backbone_features(backbone_out)
            if self.model.directly_add_no_mem_embed:
                vision_feats[-1] = vision_feats[-1] + self.model.no_mem_embed
        feats = [
            feat.permute(1, 2, 0).view(1, -1, *size)
            for feat, size in zip(vision_feats[::-1], self._feat_sizes[::-1], strict=True)
        ][::-1]
        self._features = {"image_embed": feats[-1], "high_res_feats": feats[:-1]}
        self._orig_hw = (int(img.shape[0]), int(img.shape[1]))
        self._fingerprint = fp

    def get_image_embedding(self) -> torch.Tensor:
        if self._features is None:
            raise InputError("no image is set; call set_image(image) or pass an image to segment")
        return self._features["image_embed"]

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
        assert self._features is not None and self._orig_hw is not None
        dev = self._device
        tf = self._transforms
        coords: torch.Tensor | None = None
        labels: torch.Tensor | None = None
        if objs[0].box is not None:
            boxes = torch.tensor([o.box for o in objs], dtype=torch.float, device=dev)
            coords = tf.transform_boxes(boxes, normalize=True, orig_hw=self._orig_hw).reshape(
                -1, 2, 2
            )
            labels = torch.tensor([[2, 3]], dtype=torch.int, device=dev).repeat(len(objs), 1)
        if objs[0].points is not None:
            pts = torch.tensor([o.points for o in objs], dtype=torch.float, device=dev)
            pts = tf.transform_coords(pts, normalize=True, orig_hw=self._orig_hw)
            labs = torch.tensor([o.labels for o in objs], dtype=torch.int, device=dev)
            coords = pts if coords is None else torch.cat([coords, pts], dim=1)
            labels = labs if labels is None else torch.cat([labels, labs], dim=1)
        mask_input = None
        if objs[0].mask is not None:
            mask_input = torch.cat([self._mask_prompt(o.mask) for o in objs], dim=0)  # type: ignore[arg-type]
        points = (coords, labels) if coords is not None else None
        batched = len(objs) > 1
        high_res = [f[0].unsqueeze(0) for f in self._features["high_res_feats"]]
        with self.autocast():
            sparse, dense = self.model.sam_prompt_encoder(
                points=points, boxes=None, masks=mask_input
            )
            low_res, iou, _, _ = self.model.sam_mask_decoder(
                image_embeddings=self._features["image_embed"][0].unsqueeze(0),
                image_pe=self.model.sam_prompt_encoder.get_dense_pe(),
                sparse_prompt_embeddings=sparse,
                dense_prompt_embeddings=dense,
                multimask_output=multimask,
                repeat_image=batched,
                high_res_features=high_res,
            )
        low_res, iou = low_res.float(), iou.float()
        if multimask:  # keep the best of the three by predicted IoU
            best = iou.argmax(dim=1)
            idx = torch.arange(len(objs), device=dev)
            low_res, iou = low_res[idx, best][:, None], iou[idx, best][:, None]
        masks = tf.postprocess_masks(low_res, self._orig_hw)
        return masks[:, 0] > self.mask_threshold, iou[:, 0], low_res[:, 0]

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
        p: Prompts = as_prompts(prompts)
        h, w = self._orig_hw
        p.check_inside(h, w)
        for o in p.objects:
            if o.mask is not None and o.mask.shape != (h, w):
                raise InputError(
                    f"mask prompt is {o.mask.shape[1]}x{o.mask.shape[0]} but the image is "
                    f"{w}x{h}; give a mask the size of the image"
                )
        groups: dict[tuple[bool, int, bool], list[int]] = defaultdict(list)
        for i, o in enumerate(p.objects):
            groups[(o.box is not None, len(o.points or []), o.mask is not None)].append(i)
        n = len(p.objects)
        masks = np.zeros((n, h, w), dtype=bool)
        scores = np.zeros(n, dtype=np.float32)
        side = self.model.image_size // 4
        logits = np.zeros((n, side, side), dtype=np.float32)
        for idxs in groups.values():
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

        from .everything import generate, make_generator

        s = resolve_settings(self, **settings)
        gen = self._generators.get(s)
        if gen is None:
            gen = self._generators[s] = make_generator(self.model, s)
        img = load_image(image)
        with torch.inference_mode(), self.autocast():
            found = generate(gen, img, s)
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
