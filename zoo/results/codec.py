"""Lossless JSON for results: the wire format of ``to_dict`` / ``from_dict``.

Batch workers and the HTTP server ship results between processes and over the network, so
the format must be plain JSON, compact for masks, and exact for everything else:

* a 2-D bool array becomes ``{"__rle__": <COCO RLE>}`` (what COCO tools read);
* a 3-D bool stack becomes ``{"__rles__": [...], "shape": [n, h, w]}``;
* any other array becomes ``{"__array__": <base64 of its bytes>, "dtype", "shape"}``, so
  float scores and logits come back bit for bit.

Decoding only ever builds numpy arrays and plain values: nothing in a payload can name
code to run.
"""

from __future__ import annotations

import base64
from enum import Enum
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel

_DTYPES = {"bool", "uint8", "uint16", "int16", "int32", "int64", "float16", "float32", "float64"}


def encode(value: Any) -> Any:
    """A JSON-safe copy of ``value`` (pydantic models field by field, arrays as above)."""
    from zoo.io.masks import encode_rle

    if isinstance(value, BaseModel):
        return {name: encode(getattr(value, name)) for name in type(value).model_fields}
    if isinstance(value, np.ndarray):
        if value.dtype == np.bool_ and value.ndim == 2:
            return {"__rle__": encode_rle(value)}
        if value.dtype == np.bool_ and value.ndim == 3:
            return {"__rles__": [encode_rle(m) for m in value], "shape": list(value.shape)}
        arr = np.ascontiguousarray(value)
        return {
            "__array__": base64.b64encode(arr.tobytes()).decode("ascii"),
            "dtype": str(arr.dtype),
            "shape": list(arr.shape),
        }
    if isinstance(value, dict):
        return {str(k): encode(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [encode(v) for v in value]
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    return value


def decode(value: Any) -> Any:
    """Inverse of :func:`encode` (pydantic then re-validates the typed fields)."""
    from zoo.io.masks import decode_rle

    if isinstance(value, list):
        return [decode(v) for v in value]
    if not isinstance(value, dict):
        return value
    if "__rle__" in value:
        return decode_rle(value["__rle__"]).astype(bool)
    if "__rles__" in value:
        shape = tuple(int(v) for v in value["shape"])
        if not value["__rles__"]:
            return np.zeros(shape, dtype=bool)
        return np.stack([decode_rle(r).astype(bool) for r in value["__rles__"]])
    if "__array__" in value:
        dtype = str(value["dtype"])
        if dtype not in _DTYPES:
            raise ValueError(f"unsupported array dtype {dtype!r} in a result payload")
        raw = base64.b64decode(value["__array__"])
        shape = tuple(int(v) for v in value["shape"])
        return np.frombuffer(raw, dtype=dtype).reshape(shape).copy()
    return {k: decode(v) for k, v in value.items()}
