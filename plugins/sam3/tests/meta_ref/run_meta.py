"""Test-only: run Meta's ``sam3`` package on a checkpoint and some prompts (scratch venv).

    /work/refs/sam3-venv/bin/python run_meta.py WEIGHTS.pt BPE REQUESTS.json OUT.npz

``WEIGHTS.pt``: a state dict in Meta's ``sam3.pt`` layout (``detector.*``, ``tracker.*``),
loaded **strictly** into ``build_sam3_image_model(enable_inst_interactivity=True)`` (the
image model with its click predictor), on the CPU through :mod:`cpu_shim`.

``REQUESTS.json``: ``[{"image": PATH, "pixels": NPY or null, "texts": [...], "exemplar":
{"text": ..., "box": [x1, y1, x2, y2]}, "click": [x, y]}]``. Each image is embedded twice:
by Meta's ``Sam3Processor`` (its own resize and normalisation: ``meta/...`` results) and,
when ``pixels`` is given, from those preprocessed pixels (``given/...``: the network alone,
same input as the other side). For each: every text, the last text with the exemplar box,
and the click. Saved per result: ``scores`` (every query: no threshold), ``boxes`` (pixels,
``x1, y1, x2, y2``), ``low_res`` (mask logits before resizing), ``masks`` (Meta's
post-processing: resize the logits, then sigmoid > 0.5). Also writes ``OUT.npz.json``: key
counts of the load.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import cpu_shim

cpu_shim.install()

import torch  # noqa: E402
from PIL import Image  # noqa: E402
from sam3.model import box_ops  # noqa: E402
from sam3.model.data_misc import interpolate  # noqa: E402
from sam3.model.sam3_image_processor import Sam3Processor  # noqa: E402
from sam3.model_builder import build_sam3_image_model  # noqa: E402


def load(weights: str, bpe: str) -> tuple[torch.nn.Module, dict[str, int]]:
    model = build_sam3_image_model(
        bpe_path=bpe,
        device="cpu",
        checkpoint_path=None,
        load_from_HF=False,
        enable_inst_interactivity=True,
    )
    ckpt = torch.load(weights, map_location="cpu", weights_only=True)
    state = {}
    for k, v in ckpt.items():
        if k.startswith("detector."):
            state[k[len("detector.") :]] = v
        elif k.startswith("tracker."):
            state["inst_interactive_predictor.model." + k[len("tracker.") :]] = v
    own = model.state_dict()
    # the ViT's rotary tables are computed buffers, not weights (transformers recomputes
    # them; a converted checkpoint carries placeholders): the model's own are used
    rotary = [k for k in own if k.endswith("attn.freqs_cis")]
    for k in rotary:
        state[k] = own[k]
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    counts = {
        "checkpoint_keys": len(ckpt),
        "model_keys": len(own),
        "missing": len(missing),
        "unexpected": len(unexpected),
        "rotary_tables_from_model": len(rotary),
    }
    if missing or unexpected:
        raise SystemExit(
            f"not a strict fit: {len(missing)} missing (e.g. {missing[:3]}), "
            f"{len(unexpected)} unexpected (e.g. {unexpected[:3]})"
        )
    model.load_state_dict(state, strict=True)
    return model.eval(), counts


@torch.inference_mode()
def embed_pixels(proc: Sam3Processor, pixels: torch.Tensor, h: int, w: int) -> dict[str, Any]:
    """Meta's ``Sam3Processor.set_image`` from already preprocessed pixels (1x3xSxS)."""
    model = proc.model
    state: dict[str, Any] = {"original_height": h, "original_width": w}
    state["backbone_out"] = model.backbone.forward_image(pixels)
    sam2 = state["backbone_out"].get("sam2_backbone_out")
    if sam2 is not None and model.inst_interactive_predictor is not None:
        dec = model.inst_interactive_predictor.model.sam_mask_decoder
        sam2["backbone_fpn"][0] = dec.conv_s0(sam2["backbone_fpn"][0])
        sam2["backbone_fpn"][1] = dec.conv_s1(sam2["backbone_fpn"][1])
    return state


@torch.inference_mode()
def ground(proc: Sam3Processor, state: dict[str, Any]) -> dict[str, np.ndarray]:
    """Meta's ``_forward_grounding`` without its threshold, keeping the raw outputs too."""
    out = proc.model.forward_grounding(
        backbone_out=state["backbone_out"],
        find_input=proc.find_stage,
        geometric_prompt=state["geometric_prompt"],
        find_target=None,
    )
    probs = out["pred_logits"].sigmoid() * out["presence_logit_dec"].sigmoid().unsqueeze(1)
    probs = probs.squeeze(-1)[0]
    h, w = state["original_height"], state["original_width"]
    boxes = box_ops.box_cxcywh_to_xyxy(out["pred_boxes"][0]) * torch.tensor([w, h, w, h])
    low = out["pred_masks"][0]
    masks = interpolate(low.unsqueeze(1), (h, w), mode="bilinear", align_corners=False).sigmoid()
    return {
        "scores": probs.float().numpy(),
        "boxes": boxes.float().numpy(),
        "low_res": low.float().numpy(),
        "masks": (masks[:, 0] > 0.5).numpy(),
    }


def run_image(proc: Sam3Processor, state: dict[str, Any], req: dict[str, Any]) -> dict[str, Any]:
    model = proc.model
    w, h = state["original_width"], state["original_height"]
    out: dict[str, Any] = {}
    for j, text in enumerate(req["texts"]):
        proc.reset_all_prompts(state)
        state["backbone_out"].update(model.backbone.forward_text([text], device="cpu"))
        state["geometric_prompt"] = model._get_dummy_prompt()
        out[f"text{j}"] = ground(proc, state)
    ex = req.get("exemplar")
    if ex:
        proc.reset_all_prompts(state)
        state["backbone_out"].update(model.backbone.forward_text([ex["text"]], device="cpu"))
        state["geometric_prompt"] = model._get_dummy_prompt()
        x1, y1, x2, y2 = ex["box"]
        box = [(x1 + x2) / 2 / w, (y1 + y2) / 2 / h, (x2 - x1) / w, (y2 - y1) / h]
        state["geometric_prompt"].append_boxes(
            torch.tensor(box, dtype=torch.float32).view(1, 1, 4),
            torch.tensor([True]).view(1, 1),
        )
        out["exemplar"] = ground(proc, state)
    click = req.get("click")
    if click:
        masks, ious, low = model.predict_inst(
            state,
            point_coords=np.array([click], dtype=np.float32),
            point_labels=np.array([1]),
            multimask_output=False,
        )
        out["click"] = {
            "masks": np.asarray(masks).astype(bool),
            "scores": np.asarray(ious, dtype=np.float32).reshape(-1),
            "low_res": np.asarray(low, dtype=np.float32).reshape(1, *np.asarray(low).shape[-2:]),
        }
    return out


def main(weights: str, bpe: str, requests: str, out: str) -> None:
    model, counts = load(weights, bpe)
    proc = Sam3Processor(model, device="cpu", confidence_threshold=0.0)
    results: dict[str, np.ndarray] = {}
    for i, req in enumerate(json.loads(Path(requests).read_text())):
        image = Image.open(req["image"]).convert("RGB")
        runs = {"meta": proc.set_image(image)}
        if req.get("pixels"):
            pixels = torch.from_numpy(np.load(req["pixels"]))
            runs["given"] = embed_pixels(proc, pixels, image.height, image.width)
        for source, state in runs.items():
            for tag, arrays in run_image(proc, state, req).items():
                for name, value in arrays.items():
                    results[f"{source}/{i}/{tag}/{name}"] = value
    np.savez_compressed(out, **results)
    Path(out + ".json").write_text(json.dumps(counts) + "\n")
    print(json.dumps(counts))


if __name__ == "__main__":
    main(*sys.argv[1:5])
