"""Record Meta's SAM 3 state-dict keys and shapes (run with the scratch venv's Python).

    /work/refs/sam3-venv/bin/python plugins/sam3/tests/meta_ref/record_keys.py BPE OUT.json

Builds ``sam3.model_builder.build_sam3_video_model`` at random initialisation (no download:
``load_from_HF=False``) on the CPU through :mod:`cpu_shim`, and writes every key of its
state dict with its shape: the layout of Meta's ``sam3.pt``. ``BPE`` is the CLIP
vocabulary file (the wheel lacks its own copy).
"""

from __future__ import annotations

import json
import sys
from importlib.metadata import version
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import cpu_shim

cpu_shim.install()

from sam3.model_builder import build_sam3_video_model  # noqa: E402


def main(bpe: str, out: str) -> None:
    model = build_sam3_video_model(
        checkpoint_path=None, load_from_HF=False, device="cpu", bpe_path=bpe
    )
    state = model.state_dict()
    record = {
        "source": f"sam3 {version('sam3')}: build_sam3_video_model(load_from_HF=False), "
        "random init",
        "keys": {k: list(v.shape) for k, v in state.items()},
    }
    Path(out).write_text(json.dumps(record, indent=0) + "\n")
    print(f"{len(state)} keys -> {out}")


if __name__ == "__main__":
    main(*sys.argv[1:3])
