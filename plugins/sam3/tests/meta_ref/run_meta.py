"""Test-only: run Meta's ``sam3`` package on a checkpoint and some prompts (scratch venv).

    /work/refs/sam3-venv/bin/python run_meta.py WEIGHTS.pt BPE REQUESTS.json OUT.npz

``WEIGHTS.pt``: a state dict in Meta's ``sam3.pt`` layout (``detector.*``, ``tracker.*``),
loaded **strictly** into ``build_sam3_image_model(enable_inst_interactivity=True)`` (the
image model with its click predictor), on the CPU through :mod:`cpu_shim`.
``REQUESTS.json``: ``[{"image": PATH, "texts": [...], "exemplar": {"text": ..., "box":
[x1, y1, x2, y2]}, "click": [x, y]}]``. For each image it runs Meta's ``Sam3Processor``
(threshold 0: every query comes back) for each text and for the text with the exemplar
box, and ``predict_inst`` for the click; everything goes into ``OUT.npz`` as
``{i}/{what}/{masks,boxes,scores}``. Also writes ``OUT.npz.json``: key counts of the load.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import cpu_shim

cpu_shim.install()

import torch  # noqa: E402
from PIL import Image  # noqa: E402
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
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    counts = {
        "checkpoint_keys": len(ckpt),
        "model_keys": len(own),
        "missing": len(missing),
        "unexpected": len(unexpected),
    }
    if missing or unexpected:
        raise SystemExit(
            f"not a strict fit: {len(missing)} missing (e.g. {missing[:3]}), "
            f"{len(unexpected)} unexpected (e.g. {unexpected[:3]})"
        )
    model.load_state_dict(state, strict=True)
    return model.eval(), counts


def main(weights: str, bpe: str, requests: str, out: str) -> None:
    model, counts = load(weights, bpe)
    proc = Sam3Processor(model, device="cpu", confidence_threshold=0.0)
    results: dict[str, np.ndarray] = {}
    for i, req in enumerate(json.loads(Path(requests).read_text())):
        image = Image.open(req["image"]).convert("RGB")
        w, h = image.size

        def keep(tag: str, state: dict, i: int = i) -> None:
            results[f"{i}/{tag}/masks"] = state["masks"][:, 0].cpu().numpy()
            results[f"{i}/{tag}/boxes"] = state["boxes"].float().cpu().numpy()
            results[f"{i}/{tag}/scores"] = state["scores"].float().cpu().numpy()

        state = proc.set_image(image)
        for j, text in enumerate(req["texts"]):
            proc.reset_all_prompts(state)
            keep(f"text{j}", proc.set_text_prompt(prompt=text, state=state))
        ex = req.get("exemplar")
        if ex:
            proc.reset_all_prompts(state)
            proc.set_text_prompt(prompt=ex["text"], state=state)
            x1, y1, x2, y2 = ex["box"]
            box = [(x1 + x2) / 2 / w, (y1 + y2) / 2 / h, (x2 - x1) / w, (y2 - y1) / h]
            keep("exemplar", proc.add_geometric_prompt(box=box, label=True, state=state))
        click = req.get("click")
        if click:
            masks, ious, low = model.predict_inst(
                state,
                point_coords=np.array([click], dtype=np.float32),
                point_labels=np.array([1]),
                multimask_output=False,
            )
            results[f"{i}/click/masks"] = np.asarray(masks).astype(bool)
            results[f"{i}/click/scores"] = np.asarray(ious, dtype=np.float32)
            results[f"{i}/click/low_res"] = np.asarray(low, dtype=np.float32)
    np.savez_compressed(out, **results)
    Path(out + ".json").write_text(json.dumps(counts) + "\n")
    print(json.dumps(counts))


if __name__ == "__main__":
    main(*sys.argv[1:5])
