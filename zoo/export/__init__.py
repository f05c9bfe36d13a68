"""Exporting a model's stages to ONNX, and running them with ONNX Runtime.

One mechanism for every family: a family declares its stages once (``ZooModel.graphs()``,
see :mod:`zoo.export.graph`) and lists ``"onnx"`` in ``export_formats``; the core does the
rest:

* :mod:`zoo.export.onnx` - ``zoo export NAME --format onnx --out DIR``: each stage to
  ``DIR/<stage>.onnx`` (dynamic number of prompts, metadata stamped, ``onnx.checker``
  passed, optional float16), plus ``DIR/zoo-export.json``, written atomically;
* :mod:`zoo.export.backend` - ``zoo.load(..., backend="onnxruntime")``: the same export,
  built on first use and cached under ``$ZOO_HOME/onnx`` keyed by the weights' sha256 and
  the export options, then run by ONNX Runtime behind the model's usual methods;
* :mod:`zoo.export.keys` - what identifies an export (weights digest, options, versions).

Importing this package is cheap (no torch, no onnx): the CLI reads :data:`FORMATS` and
:data:`DTYPES` from here.
"""

from __future__ import annotations

#: Formats ``zoo export --format`` accepts.
FORMATS = ("onnx",)
#: ``--dtype`` of an export: the graphs' weights and arithmetic; inputs/outputs stay float32.
DTYPES = {"fp32": "float32", "float32": "float32", "fp16": "float16", "float16": "float16"}
#: ONNX opset written when ``--opset`` is not given (ONNX Runtime >= 1.14 runs it).
DEFAULT_OPSET = 18
#: Opsets the torch exporter here writes natively (lower ones need a lossy down-conversion).
MIN_OPSET = 18
#: Name of the descriptor written next to the graphs.
DESCRIPTOR = "zoo-export.json"
#: Install requirement of everything this package needs.
REQUIREMENT = "sam-zoo[onnx]"

__all__ = ["DEFAULT_OPSET", "DESCRIPTOR", "DTYPES", "FORMATS", "MIN_OPSET", "REQUIREMENT"]
