"""What identifies an export: the weights' sha256, the options, and the code that made it.

Two exports with equal keys are interchangeable, so the ONNX Runtime backend can reuse a
cached one; anything that can change the graph's bytes or meaning is in the key: the
weights (sha256 of every file used, or ``random`` + seed in test mode), the family,
variant and loader config (image size...), opset and dtype, the graph declarations, and
the zoo/torch/onnx versions (a new exporter may write a different graph).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from zoo.model import ZooModel


def weights_sha256(model: ZooModel) -> dict[str, str]:
    """``{file name: sha256}`` of every checkpoint the model loaded (``{"random": "seed=N"}``
    in test mode, ``{}`` for a family without learned weights).

    A registered file with a published sha256 was verified against it by the resolver, so
    that hash is used as is; a local ``--checkpoint`` or an unhashed download is hashed.
    """
    from zoo.weights.verify import sha256_file

    ctx = model.context
    if ctx is None:
        return {}
    if ctx.random:
        return {"random": f"seed={ctx.seed}"}
    out: dict[str, str] = {}
    for key, path in ctx._resolved.items():
        spec = ctx.checkpoints.get(key)
        out[key] = spec.sha256 if spec is not None and spec.sha256 else sha256_file(path)
    for key, path in ctx.overrides.items():
        out[key] = sha256_file(path)
    return dict(sorted(out.items()))


def versions() -> dict[str, str]:
    """Versions of the code that writes the graphs."""
    import torch

    from zoo import __version__

    out = {"zoo": __version__, "torch": str(torch.__version__)}
    try:
        import onnx
        import onnxscript

        out["onnx"] = str(onnx.__version__)
        out["onnxscript"] = str(onnxscript.__version__)
    except ImportError:  # the caller reports the missing extra
        pass
    return out


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, Path):
        return str(value)
    return repr(value)


def export_key(
    model: ZooModel, *, opset: int, dtype: str, config: dict[str, Any] | None = None
) -> tuple[str, dict[str, Any]]:
    """``(key, the facts it hashes)``; the key is 16 hex digits of their sha256."""
    facts = {
        "family": model.family.name,
        "variant": model.name,
        "weights_sha256": weights_sha256(model),
        "config": _jsonable(config or {}),
        "opset": int(opset),
        "dtype": dtype,
        "graphs": {g.name: g.describe() for g in model.graphs()},
        "versions": versions(),
    }
    blob = json.dumps(facts, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()[:16], facts
