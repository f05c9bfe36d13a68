"""Open-vocabulary classification of masks with CLIP (``open_clip``).

Two ways to give a SAM mask a class, selected by ``semantics``:

``"mask"`` (default): **mask-crop classification.** Each mask's bounding square (plus 10 %
context) is cut from the RGB image, pixels outside the mask are replaced by CLIP's mean
colour, and all crops go through the image encoder in batches; each mask takes the class
whose prompt-ensembled text embedding is closest. This is the deviation from SAD, which
painted a per-pixel OVSeg map and gave every SAM mask the majority class inside it. OVSeg
needs its own Swin-B MaskFormer and a mask-prompt-tuned CLIP (two more checkpoints, not in
this project); OVSeg itself labels regions by classifying masked crops with CLIP, so
classifying SAM's masks the same way keeps the mechanism with one checkpoint.

``"pixel"``: **per-pixel map + majority vote** (SAD's recipe). The per-pixel map is
MaskCLIP's dense CLIP prediction (Zhou et al., ECCV 2022): the last attention block's value
projection is read at every patch token (no query-key attention, which mixes the global
image into every token), projected into the text space and compared with the class
embeddings; the map is upsampled to the image and each mask takes the majority class of
its pixels. One image-encoder forward per image regardless of the number of masks, but
raw CLIP dense predictions are coarse (16 px patches) and noisy.

Text embeddings are the mean of the L2-normalised embeddings of a few templates per class
(CLIP's prompt ensembling), cached per vocabulary.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from zoo.errors import InputError

from .vocab import DEFAULT_TEMPLATES, build_prompts, check_templates

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
DEFAULT_CLIP_MODEL = "ViT-B-16"


def build_clip(
    model_name: str = DEFAULT_CLIP_MODEL,
    checkpoint: str | Path | None = None,
    *,
    device: str = "cpu",
) -> Any:
    """Build an open_clip model; ``checkpoint=None`` keeps the random initialisation.

    OpenAI's CLIP weights were trained with QuickGELU, so the architecture is always built
    with it (open_clip's own ``openai`` configs do the same); the activation has no
    parameters, so random-init and pretrained models share one state-dict layout.
    Loading is strict and pickle-free (:func:`zoo.weights.load_state_dict`).
    """
    import logging

    import open_clip

    if model_name not in open_clip.list_models():
        raise InputError(
            f"unknown open_clip model {model_name!r}; e.g. ViT-B-16, ViT-B-32, ViT-L-14"
        )
    log = logging.getLogger()
    level = log.level
    log.setLevel(logging.ERROR)  # open_clip logs a warning for the intended pretrained=None
    try:
        model = open_clip.create_model(model_name, pretrained=None, force_quick_gelu=True)
    finally:
        log.setLevel(level)
    if checkpoint is not None:
        from zoo.model import load_state_dict_strict
        from zoo.weights import load_state_dict

        sd = load_state_dict(Path(checkpoint), key=None)
        ls = sd.get("logit_scale")
        if ls is not None and ls.ndim != model.logit_scale.ndim:
            sd["logit_scale"] = ls.reshape(model.logit_scale.shape)
        load_state_dict_strict(model, sd, model_name=f"CLIP {model_name}", path=checkpoint)
    return model.to(device).eval()


def _square_box(mask: np.ndarray, context: float) -> tuple[int, int, int] | None:
    """(x0, y0, side) of a square around the mask's box, grown by ``context`` per side."""
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    y0, y1, x0, x1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    side = max(round(float(max(y1 - y0, x1 - x0)) * (1.0 + 2.0 * context)), 1)
    cy, cx = (y0 + y1) / 2.0, (x0 + x1) / 2.0
    return round(cx - side / 2.0), round(cy - side / 2.0), side


def mask_crops(
    image: np.ndarray, masks: np.ndarray, size: int = 224, context: float = 0.1
) -> np.ndarray:
    """``N x size x size x 3 uint8`` crops: a square around each mask, outside filled grey.

    The fill is CLIP's mean colour, i.e. exactly zero after CLIP's normalisation, so the
    encoder sees the object's shape and appearance and nothing of its neighbours.
    Regions of the square that fall outside the image are filled the same way.
    """
    import cv2

    h, w = image.shape[:2]
    fill = np.array([round(255 * m) for m in CLIP_MEAN], dtype=np.uint8)
    out = np.empty((len(masks), size, size, 3), dtype=np.uint8)
    for i, m in enumerate(masks):
        box = _square_box(m, context)
        if box is None:
            out[i] = fill
            continue
        x0, y0, side = box
        canvas = np.empty((side, side, 3), dtype=np.uint8)
        canvas[:] = fill
        sx0, sy0 = max(x0, 0), max(y0, 0)
        sx1, sy1 = min(x0 + side, w), min(y0 + side, h)
        crop = image[sy0:sy1, sx0:sx1].copy()
        crop[~m[sy0:sy1, sx0:sx1]] = fill
        canvas[sy0 - y0 : sy1 - y0, sx0 - x0 : sx1 - x0] = crop
        interp = cv2.INTER_AREA if side > size else cv2.INTER_CUBIC
        out[i] = cv2.resize(canvas, (size, size), interpolation=interp)
    return out


class ClipClassifier:
    """CLIP image and text towers plus the prompt templates and a text-embedding cache."""

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        templates: Sequence[str] = DEFAULT_TEMPLATES,
        batch_size: int = 32,
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.templates = check_templates(templates)
        if batch_size < 1:
            raise InputError(f"clip_batch_size must be >= 1, got {batch_size}")
        self.batch_size = int(batch_size)
        self._text_cache: dict[tuple[str, ...], torch.Tensor] = {}

    @classmethod
    def build(
        cls,
        model_name: str = DEFAULT_CLIP_MODEL,
        checkpoint: str | Path | None = None,
        *,
        device: str = "cpu",
        templates: Sequence[str] = DEFAULT_TEMPLATES,
        batch_size: int = 32,
    ) -> ClipClassifier:
        import open_clip

        # The ViT-B-16 tokenizer is open_clip's SimpleTokenizer, whose BPE vocabulary
        # (bpe_simple_vocab_16e6.txt.gz) ships inside the package: no network needed.
        tokenizer = open_clip.get_tokenizer(model_name)
        return cls(
            build_clip(model_name, checkpoint, device=device),
            tokenizer,
            templates=templates,
            batch_size=batch_size,
        )

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def input_size(self) -> int:
        size = self.model.visual.image_size
        return int(size[0] if isinstance(size, (tuple, list)) else size)

    # ------------------------------------------------------------------ text
    def _text_key(self, classes: Sequence[str]) -> tuple[str, ...]:
        return (*self.templates, "\x00", *classes)

    def text_cached(self, classes: Sequence[str]) -> bool:
        """Whether :meth:`text_features` of ``classes`` is already computed (no work)."""
        cached = self._text_cache.get(self._text_key(classes))
        return cached is not None and cached.device == self.device

    def num_prompts(self, classes: Sequence[str]) -> int:
        return len(classes) * len(self.templates)

    @torch.inference_mode()
    def text_features(
        self, classes: Sequence[str], on_batch: Callable[[int], None] | None = None
    ) -> torch.Tensor:
        """``C x D`` unit vectors: per class, the renormalised mean over templates.

        The prompts go through the text tower in chunks of 64; ``on_batch(k)`` follows
        each chunk of ``k`` prompts (ScanNet200 is 1000 prompts: seconds on a CPU).
        """
        key = self._text_key(classes)
        cached = self._text_cache.get(key)
        if cached is not None and cached.device == self.device:
            return cached
        prompts = build_prompts(classes, self.templates)
        feats = []
        for i in range(0, len(prompts), 64):
            chunk = prompts[i : i + 64]
            tokens = self.tokenizer(chunk).to(self.device)
            feats.append(F.normalize(self.model.encode_text(tokens).float(), dim=-1))
            if on_batch is not None:
                on_batch(len(chunk))
        emb = torch.cat(feats).reshape(len(classes), len(self.templates), -1)
        out = F.normalize(emb.mean(dim=1), dim=-1)
        self._text_cache[key] = out
        return out

    @property
    def logit_scale(self) -> float:
        return float(self.model.logit_scale.exp().clamp(max=100.0))

    # ------------------------------------------------------------------ masks
    def _normalise(self, crops: np.ndarray) -> torch.Tensor:
        x = torch.from_numpy(crops).to(self.device).permute(0, 3, 1, 2).float() / 255.0
        mean = torch.tensor(CLIP_MEAN, device=self.device).view(1, 3, 1, 1)
        std = torch.tensor(CLIP_STD, device=self.device).view(1, 3, 1, 1)
        dtype = next(self.model.parameters()).dtype
        return ((x - mean) / std).to(dtype)

    @torch.inference_mode()
    def classify_masks(
        self,
        image: np.ndarray,
        masks: np.ndarray,
        classes: Sequence[str],
        batch_size: int | None = None,
        on_batch: Callable[[int], None] | None = None,
    ) -> np.ndarray:
        """``N x C`` class probabilities of each mask's crop (softmax over the vocabulary).

        All crops go through the image encoder in batches of ``batch_size`` (default the
        classifier's; ``len(masks)`` means one forward for everything); ``on_batch(k)`` is
        called after each batch of ``k`` crops (progress).
        """
        c = len(classes)
        if len(masks) == 0:
            return np.zeros((0, c), dtype=np.float32)
        text = self.text_features(classes)
        crops = mask_crops(image, masks, size=self.input_size)
        bs = int(batch_size or self.batch_size)
        probs = []
        for i in range(0, len(crops), bs):
            feats = self.model.encode_image(self._normalise(crops[i : i + bs])).float()
            logits = self.logit_scale * F.normalize(feats, dim=-1) @ text.T
            probs.append(logits.softmax(dim=-1).cpu())
            if on_batch is not None:
                on_batch(len(feats))
        return torch.cat(probs).numpy().astype(np.float32)

    # ------------------------------------------------------------------ pixels
    def tokens_before_last_block(self, x: torch.Tensor) -> torch.Tensor:
        """``B x (1 + gh*gw) x width`` tokens entering the last ViT block, for any input
        size that is a multiple of the patch size (positional grid resized bicubically)."""
        visual = self.model.visual
        gh, gw = x.shape[-2] // visual.conv1.stride[0], x.shape[-1] // visual.conv1.stride[1]
        x = visual.conv1(x).flatten(2).transpose(1, 2)  # B x (gh*gw) x width
        pos = visual.positional_embedding.to(x.dtype)
        g0 = round((pos.shape[0] - 1) ** 0.5)
        grid = pos[1:]
        if (gh, gw) != (g0, g0):
            g = grid.reshape(1, g0, g0, -1).permute(0, 3, 1, 2).float()
            g = F.interpolate(g, size=(gh, gw), mode="bicubic", align_corners=False)
            grid = g.to(x.dtype).permute(0, 2, 3, 1).reshape(gh * gw, -1)
        cls_tok = (visual.class_embedding.to(x.dtype) + pos[0]).expand(x.shape[0], 1, -1)
        x = visual.ln_pre(torch.cat([cls_tok, x + grid], dim=1))
        batch_first = getattr(visual.transformer, "batch_first", True)
        if not batch_first:
            x = x.transpose(0, 1)
        for blk in list(visual.transformer.resblocks)[:-1]:
            x = blk(x)
        return x if batch_first else x.transpose(0, 1)

    @torch.inference_mode()
    def dense_probs(
        self, image: np.ndarray, classes: Sequence[str], short_side: int = 448
    ) -> np.ndarray:
        """``C x H x W`` per-pixel class probabilities (MaskCLIP), at the image's size."""
        import cv2

        visual = self.model.visual
        if not hasattr(visual, "conv1") or not hasattr(visual, "transformer"):
            raise InputError("semantics='pixel' needs a ViT CLIP (e.g. ViT-B-16)")
        h, w = image.shape[:2]
        patch = int(
            visual.patch_size[0]
            if isinstance(visual.patch_size, (tuple, list))
            else visual.patch_size
        )
        scale = short_side / min(h, w)
        gh, gw = max(1, round(h * scale / patch)), max(1, round(w * scale / patch))
        resized = cv2.resize(image, (gw * patch, gh * patch), interpolation=cv2.INTER_AREA)
        x = self.tokens_before_last_block(self._normalise(resized[None]))
        last = visual.transformer.resblocks[-1]
        attn = last.attn
        width = x.shape[-1]
        y = last.ln_1(x)
        v = F.linear(y, attn.in_proj_weight[2 * width :], attn.in_proj_bias[2 * width :])
        feats = visual.ln_post(attn.out_proj(v))[:, 1:]
        if visual.proj is not None:
            feats = feats @ visual.proj
        feats = F.normalize(feats.float(), dim=-1)
        logits = self.logit_scale * feats @ self.text_features(classes).T  # 1 x L x C
        logits = logits.reshape(1, gh, gw, -1).permute(0, 3, 1, 2)
        logits = F.interpolate(logits, size=(h, w), mode="bilinear", align_corners=False)
        return logits[0].softmax(dim=0).cpu().numpy().astype(np.float32)


def majority_vote(
    class_map: np.ndarray, probs: np.ndarray | None, masks: np.ndarray, num_classes: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per mask: the most frequent class of ``class_map`` inside it (SAD's rule), and as a
    score the mean probability of that class over the mask (or the vote share)."""
    n = len(masks)
    cls = np.zeros(n, dtype=np.int64)
    score = np.zeros(n, dtype=np.float32)
    for i, m in enumerate(masks):
        votes = np.bincount(class_map[m].ravel(), minlength=num_classes)
        if votes.sum() == 0:
            continue
        k = int(votes.argmax())
        cls[i] = k
        score[i] = float(probs[k][m].mean()) if probs is not None else votes[k] / votes.sum()
    return cls, score
