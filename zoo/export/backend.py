"""``zoo.load(..., backend="onnxruntime")``: a model's stages run by ONNX Runtime.

The model object stays the family's own class: prompts, pre- and post-processing and the
result objects are untouched; only ``model.run_graph(...)`` changes hands, from the torch
stage modules to ONNX Runtime sessions of the same modules exported. That is what makes the
backend a loader feature: ``zoo run --backend onnxruntime``, ``zoo batch`` and ``zoo serve``
get it by passing ``backend=`` to :func:`zoo.load`, with no family code involved.

Graphs are exported on first use into ``$ZOO_HOME/onnx/<family>/<tag>/<key>/`` (the same
files ``zoo export`` writes), where ``key`` hashes the weights' sha256 (or ``random`` and
the seed), the loader config, opset, dtype and tool versions (:mod:`zoo.export.keys`).
Concurrent first uses wait on a file lock; the folder appears atomically. An export takes
about a minute on a CPU, so it is announced (a ``note:`` line on stderr naming the folder,
then how long it took) instead of looking like a hung command; a cached one is silent.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zoo.errors import InputError, WeightsError, hint
from zoo.export import DEFAULT_OPSET, DESCRIPTOR

if TYPE_CHECKING:
    import torch

    from zoo.model import ZooModel

#: numpy dtype names of the graphs' inputs (as declared by ``TensorSpec.dtype``)
_NP = {"float32": "float32", "int64": "int64", "int32": "int32"}


def check_graph_dtype(dtype: str | None) -> str:
    """The graphs' precision for ``dtype`` (``None`` -> float32); bfloat16 is refused."""
    if dtype in (None, "float32"):
        return "float32"
    if dtype == "float16":
        return "float16"
    raise InputError(
        f"the onnxruntime backend runs float32 or float16 graphs, not {dtype}; "
        f"use {hint('--dtype float16', 'dtype=' + repr('float16'))} or drop it"
    )


def export_dir(model: ZooModel, key: str) -> Path:
    """``$ZOO_HOME/onnx/<family>/<tag>/<key>``."""
    from zoo.weights.env import cache_dir

    tag = model.name.split(":", 1)[-1] if ":" in model.name else "default"
    return cache_dir() / "onnx" / model.family.name / tag / key


def cached_export(
    model: ZooModel, *, dtype: str = "float32", opset: int = DEFAULT_OPSET, config: Any = None
) -> Path:
    """The folder of ``model``'s export with these options, exported now if not cached."""
    from filelock import FileLock

    from zoo.export.keys import export_key
    from zoo.export.onnx import require_onnx, write_export

    require_onnx(runtime=True)
    key, _ = export_key(model, opset=opset, dtype=dtype, config=config)
    folder = export_dir(model, key)
    if (folder / DESCRIPTOR).is_file():
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    from filelock import Timeout

    lock = FileLock(str(folder) + ".lock")
    try:
        lock.acquire(timeout=0)
    except Timeout:
        _note(f"waiting for another process exporting {model.name} to ONNX into {folder}")
        lock.acquire()
    try:
        if (folder / DESCRIPTOR).is_file():  # another process finished it meanwhile
            return folder
        _note(
            f"exporting {model.name} to ONNX for "
            f"{hint('--backend onnxruntime', 'backend=' + repr('onnxruntime'))} (once for these "
            f"weights and settings; about a minute on a CPU) into {folder}"
        )
        start = time.perf_counter()
        tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{key}.tmp-"))
        try:
            write_export(model, tmp, opset=opset, dtype=dtype, config=config)
            if folder.exists():  # a partial folder from a killed run: no descriptor in it
                shutil.rmtree(folder)
            os.replace(tmp, folder)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        _note(
            f"exported in {time.perf_counter() - start:.0f} s; later runs with the same "
            "weights and settings reuse it"
        )
    finally:
        lock.release()
    return folder


def _note(text: str) -> None:
    """A ``note:`` line on stderr (stdout stays for results and ``--json``)."""
    print(f"note: {text}", file=sys.stderr, flush=True)


class OrtRuntime:
    """ONNX Runtime sessions of an export folder, run with torch tensors in and out."""

    name = "onnxruntime"

    def __init__(self, folder: Path, *, device: str = "cpu", threads: int | None = None) -> None:
        import onnxruntime as ort

        self.folder = Path(folder)
        self.descriptor: dict[str, Any] = json.loads((self.folder / DESCRIPTOR).read_text())
        self.providers = providers_for(device)
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.intra_op_num_threads = threads if threads is not None else _torch_threads()
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3  # warnings about constant folding are not the user's
        self.sessions: dict[str, Any] = {}
        self.inputs: dict[str, list[tuple[str, str]]] = {}
        for name, g in self.descriptor["graphs"].items():
            self.sessions[name] = ort.InferenceSession(
                str(self.folder / g["file"]), sess_options=opts, providers=self.providers
            )
            self.inputs[name] = [(t["name"], t["dtype"]) for t in g["inputs"]]

    def run(
        self, name: str, inputs: Sequence[torch.Tensor], *, device: str = "cpu"
    ) -> list[torch.Tensor]:
        """Run graph ``name``; inputs in the declared order, outputs on ``device``."""
        import torch

        specs = self.inputs[name]
        if len(inputs) != len(specs):
            raise InputError(f"graph {name} takes {len(specs)} inputs, got {len(inputs)}")
        feeds = {
            n: inp.detach().to("cpu").contiguous().numpy().astype(_NP.get(dt, dt), copy=False)
            for (n, dt), inp in zip(specs, inputs, strict=True)
        }
        outs = self.sessions[name].run(None, feeds)
        return [torch.from_numpy(o).to(device) for o in outs]


def providers_for(device: str) -> list[str]:
    """ONNX Runtime execution providers for a zoo device (``cpu``, ``cuda[:N]``)."""
    import onnxruntime as ort

    if str(device).startswith("cuda"):
        if "CUDAExecutionProvider" not in ort.get_available_providers():
            raise InputError(
                "the installed onnxruntime has no CUDA provider; install onnxruntime-gpu "
                f"or use {hint('--device cpu', 'device=' + repr('cpu'))}"
            )
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    if str(device) != "cpu":
        raise InputError(f"the onnxruntime backend runs on cpu or cuda, not {device}")
    return ["CPUExecutionProvider"]


def _torch_threads() -> int:
    """The same thread count torch uses, so backends are compared like for like."""
    import torch

    return int(torch.get_num_threads())


def attach_runtime(
    model: ZooModel, backend: str, *, dtype: str = "float32", config: Any = None
) -> ZooModel:
    """Route ``model.run_graph`` to ``backend`` (only ``onnxruntime``), exporting if needed."""
    from zoo.export.onnx import check_exportable

    if backend != OrtRuntime.name:
        raise InputError(f"unknown backend {backend!r}")
    check_exportable(model, model.name)
    providers_for(model.device)  # fail before a long export
    try:
        folder = cached_export(model, dtype=dtype, config=config)
    except OSError as exc:
        raise WeightsError(
            f"cannot write the exported graphs under $ZOO_HOME: {exc.strerror or exc}; "
            "set ZOO_HOME to a writable folder"
        ) from exc
    model.runtime = OrtRuntime(folder, device=model.device)
    return model
