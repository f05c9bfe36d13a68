"""``zoo export --format onnx``: a model's stages as ONNX graphs, with a descriptor.

The loop is the same for every family; what is family-specific (which modules, their
inputs, which axes are dynamic) comes from ``model.graphs()`` (:mod:`zoo.export.graph`).
For each stage it:

1. exports the stage module with torch's exporter (``torch.onnx.export(dynamo=True)``,
   which needs ``onnxscript``), dynamic axes from the declaration (``num_prompts``...);
2. names the dynamic dimensions as declared (the exporter invents ``s0``, ``s1``);
3. converts to float16 if asked (weights and arithmetic; inputs/outputs stay float32, so
   callers feed the same arrays);
4. stamps metadata (family, variant, weights sha256, zoo version, input sizes...) into the
   model's ``metadata_props``;
5. saves one self-contained file and runs ``onnx.checker`` (full check, with shapes).

Then it writes ``zoo-export.json`` (what was exported, from what, and how to feed it), and
all of it lands in ``--out`` atomically: a failure leaves no partial folder.
"""

from __future__ import annotations

import contextlib
import io
import json
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zoo.errors import InputError, install_hint
from zoo.export import DESCRIPTOR, DTYPES, FORMATS, MIN_OPSET, REQUIREMENT

if TYPE_CHECKING:
    import onnx

    from zoo.export.graph import Graph
    from zoo.model import ZooModel

#: The descriptor's format tag; bump when its layout changes.
DESCRIPTOR_FORMAT = "sam-zoo-export/1"


def require_onnx(*, runtime: bool = False) -> None:
    """One-line error naming the extra to install when ``onnx``/``onnxscript`` (and, for
    running, ``onnxruntime``) are missing."""
    import importlib.util

    needed = ["onnx", "onnxscript"] + (["onnxruntime"] if runtime else [])
    missing = [m for m in needed if importlib.util.find_spec(m) is None]
    if missing:
        what = "running exported graphs" if runtime else "ONNX export"
        raise InputError(
            f"{what} needs {', '.join(missing)}, which is not installed; "
            f"install it with: {install_hint(REQUIREMENT)}"
        )


def check_export_options(fmt: str, opset: int | None, dtype: str | None) -> tuple[int, str]:
    """Validate ``--format/--opset/--dtype`` before anything is loaded: ``(opset, dtype)``."""
    from zoo.export import DEFAULT_OPSET

    if fmt.lower() not in FORMATS:
        raise InputError(f"unknown export format {fmt!r}; zoo export writes {', '.join(FORMATS)}")
    name = DTYPES.get(str(dtype or "fp32").lower())
    if name is None:
        raise InputError(f"--dtype {dtype!r} cannot be exported; use fp32 or fp16")
    opset = DEFAULT_OPSET if opset is None else int(opset)
    top = max_opset()
    if not MIN_OPSET <= opset <= top:
        raise InputError(
            f"--opset {opset} is not supported; the exporter here writes opsets "
            f"{MIN_OPSET} to {top} (default {DEFAULT_OPSET})"
        )
    return opset, name


def max_opset() -> int:
    """Highest ONNX opset the installed ``onnx`` and ``onnxruntime`` both know."""
    top = 21
    try:
        import onnx

        top = min(top, int(onnx.defs.onnx_opset_version()))
    except ImportError:
        pass
    return top


def check_exportable(model_or_cls: Any, name: str) -> None:
    """One line when a family has no ONNX export (checked on the class, before loading)."""
    formats = getattr(model_or_cls, "export_formats", ())
    if "onnx" not in formats:
        raise InputError(
            f"{name} cannot be exported to ONNX (its plugin declares no exportable graphs); "
            f"exportable families: {', '.join(exportable_families()) or 'none installed'}"
        )


def exportable_families() -> list[str]:
    """Installed families whose model class declares ONNX export (imports their loaders)."""
    from zoo.registry import get_registry
    from zoo.specs import import_string

    names = []
    for fam in get_registry().families.values():
        try:
            cls = import_string(fam.loader)
        except Exception:  # a broken plugin is `zoo doctor`'s business, not this message's
            continue
        if "onnx" in getattr(cls, "export_formats", ()):
            names.append(fam.name)
    return sorted(names)


def export_onnx(
    model: ZooModel,
    out_dir: str | Path,
    *,
    opset: int,
    dtype: str = "float32",
    config: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Export every stage of ``model`` into ``out_dir`` atomically; returns the descriptor."""
    from zoo.io.atomic import atomic_output_dir

    check_exportable(model, model.name)
    require_onnx()
    with atomic_output_dir(out_dir) as tmp:
        return write_export(model, tmp, opset=opset, dtype=dtype, config=config)


def write_export(
    model: ZooModel,
    folder: Path,
    *,
    opset: int,
    dtype: str = "float32",
    config: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Write ``<stage>.onnx`` files and the descriptor into an existing ``folder``."""
    from zoo.export.keys import export_key, weights_sha256
    from zoo.progress import work

    t0 = time.perf_counter()
    key, facts = export_key(model, opset=opset, dtype=dtype, config=config)
    sha = weights_sha256(model)
    meta_common = {
        "zoo.family": model.family.name,
        "zoo.variant": model.name,
        "zoo.weights": model.weights,
        "zoo.weights_sha256": json.dumps(sha, sort_keys=True),
        "zoo.test_mode": str(bool(model.context and model.context.random)).lower(),
        "zoo.version": facts["versions"]["zoo"],
        "zoo.export_key": key,
        "zoo.dtype": dtype,
    }
    graphs: dict[str, Any] = {}
    stages = list(model.graphs())
    with work(f"exporting {model.name}", len(stages), "graphs") as advance:
        for g in stages:
            graphs[g.name] = _write_graph(model, g, folder, opset, dtype, meta_common)
            advance(1)
    descriptor = {
        "format": DESCRIPTOR_FORMAT,
        "key": key,
        "family": model.family.name,
        "variant": model.name,
        "model": model.label,  # the network exported ("sam3:base (arch tiny)")
        "weights": model.weights,
        "weights_sha256": sha,
        "test_mode": bool(model.context and model.context.random),
        "opset": opset,
        "dtype": dtype,
        "config": facts["config"],
        "versions": facts["versions"],
        "graphs": graphs,
        "usage": model.export_info(),
        "seconds": round(time.perf_counter() - t0, 2),
    }
    (folder / DESCRIPTOR).write_text(json.dumps(descriptor, indent=2) + "\n")
    return descriptor


def _write_graph(
    model: ZooModel,
    g: Graph,
    folder: Path,
    opset: int,
    dtype: str,
    meta_common: dict[str, str],
) -> dict[str, Any]:
    """Export, stamp, save and check one stage; its descriptor entry."""
    import onnx

    from zoo.weights.verify import sha256_file

    proto = _export_graph(model, g, opset)
    _name_dynamic_dims(proto, g)
    if dtype == "float16":
        proto = _to_float16(proto)
    meta = {
        **meta_common,
        "zoo.graph": g.name,
        "zoo.input_sizes": json.dumps({t.name: list(t.shape) for t in g.inputs}),
        "zoo.sizes": json.dumps(g.sizes, sort_keys=True),
    }
    onnx.helper.set_model_props(proto, meta)
    path = folder / f"{g.name}.onnx"
    onnx.save(proto, str(path))
    onnx.checker.check_model(str(path), full_check=True)
    return {"file": path.name, "sha256": sha256_file(path), **g.describe()}


def _export_graph(model: ZooModel, g: Graph, opset: int) -> onnx.ModelProto:
    """torch's exporter on one stage; its progress chatter and axis-renaming warnings are
    swallowed (stdout may be a ``--json`` report), real errors propagate."""
    import torch
    from torch.export import Dim

    dims: dict[str, Any] = {}
    dynamic: list[dict[int, Any] | None] = []
    for t in g.inputs:
        axes = t.dynamic_axes
        dynamic.append(
            {i: dims.setdefault(d, Dim(d, min=1, max=1 << 16)) for i, d in axes.items()}
            if axes
            else None
        )
    dev = next(iter(g.module.parameters())).device
    examples = tuple(x.to(dev) for x in g.examples())
    module = g.module.eval()
    with (
        torch.inference_mode(False),
        torch.no_grad(),
        warnings.catch_warnings(),
        contextlib.redirect_stdout(io.StringIO()),
    ):
        warnings.simplefilter("ignore")
        program = torch.onnx.export(
            module,
            examples,
            dynamo=True,
            input_names=[t.name for t in g.inputs],
            output_names=[t.name for t in g.outputs],
            dynamic_shapes=tuple(dynamic) if any(d is not None for d in dynamic) else None,
            opset_version=opset,
            external_data=False,
            optimize=True,
            verbose=False,
        )
    assert program is not None
    return program.model_proto


def _name_dynamic_dims(proto: onnx.ModelProto, g: Graph) -> None:
    """Give dynamic axes their declared names on the graph's inputs and outputs."""
    specs = {t.name: t for t in (*g.inputs, *g.outputs)}
    for value in (*proto.graph.input, *proto.graph.output):
        spec = specs.get(value.name)
        if spec is None:
            continue
        shape = value.type.tensor_type.shape
        for i, name in spec.dynamic_axes.items():
            if i < len(shape.dim):
                shape.dim[i].dim_param = name


def _to_float16(proto: onnx.ModelProto) -> onnx.ModelProto:
    """Float16 weights and arithmetic with float32 inputs/outputs (ONNX Runtime's converter),
    topologically re-sorted (the converter leaves its input casts out of order)."""
    import onnx_ir as ir
    from onnxruntime.transformers.float16 import convert_float_to_float16

    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        half = convert_float_to_float16(proto, keep_io_types=True, disable_shape_infer=False)
    model = ir.from_proto(half)
    model.graph.sort()
    return ir.to_proto(model)
