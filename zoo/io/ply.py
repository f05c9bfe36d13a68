"""Point clouds as binary PLY: what depth-sam's 3-D output and any viewer (MeshLab,
CloudCompare, Open3D) share. Header ``comment`` lines carry provenance."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from zoo.errors import InputError
from zoo.io.atomic import atomic_write

_PLY_TYPES: dict[str, str] = {
    "char": "i1",
    "int8": "i1",
    "uchar": "u1",
    "uint8": "u1",
    "short": "i2",
    "int16": "i2",
    "ushort": "u2",
    "uint16": "u2",
    "int": "i4",
    "int32": "i4",
    "uint": "u4",
    "uint32": "u4",
    "float": "f4",
    "float32": "f4",
    "double": "f8",
    "float64": "f8",
}
_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_RESERVED = {"x", "y", "z", "red", "green", "blue"}


def write_ply(
    path: str | os.PathLike[str],
    xyz: np.ndarray,
    rgb: np.ndarray | None = None,
    extra: Mapping[str, np.ndarray] | None = None,
    comments: Sequence[str] = (),
) -> None:
    """Write a point cloud as a binary little-endian PLY.

    ``comments`` become ``comment`` header lines (provenance, the test-mode note).

    Vertex properties: ``x y z`` (float32), then ``red green blue`` (uchar) if ``rgb`` is
    given, then one property per ``extra`` column in insertion order: integer columns as
    ``int`` (int32; e.g. ``{"instance": ids, "label": classes}``), float columns as
    ``float``, bool columns as ``uchar``.
    """
    pts = np.asarray(xyz)
    if pts.ndim != 2 or pts.shape[1] != 3:
        raise InputError(f"xyz has shape {tuple(pts.shape)}; expected Nx3 points")
    n = pts.shape[0]
    fields: list[tuple[str, str, str]] = [(c, "float", "<f4") for c in ("x", "y", "z")]
    columns: dict[str, np.ndarray] = {"x": pts[:, 0], "y": pts[:, 1], "z": pts[:, 2]}
    if rgb is not None:
        colors = np.asarray(rgb)
        if colors.shape != (n, 3):
            raise InputError(f"rgb has shape {tuple(colors.shape)}; expected {n}x3 uint8 colours")
        if colors.dtype != np.uint8:
            if colors.size and (colors.min() < 0 or colors.max() > 255):
                raise InputError("rgb values must lie in 0-255; pass uint8 colours")
            colors = colors.astype(np.uint8)
        for i, c in enumerate(("red", "green", "blue")):
            fields.append((c, "uchar", "u1"))
            columns[c] = colors[:, i]
    for name, values in (extra or {}).items():
        col = np.asarray(values)
        if not _NAME_RE.match(name) or name in _RESERVED:
            raise InputError(
                f"PLY property name '{name}' is invalid or reserved; use letters, digits, _"
            )
        if col.shape != (n,):
            raise InputError(f"extra column '{name}' has shape {tuple(col.shape)}; expected ({n},)")
        if col.dtype == np.bool_:
            fields.append((name, "uchar", "u1"))
        elif np.issubdtype(col.dtype, np.integer):
            if col.size and (col.min() < -(2**31) or col.max() > 2**31 - 1):
                raise InputError(f"extra column '{name}' does not fit in int32")
            fields.append((name, "int", "<i4"))
        elif np.issubdtype(col.dtype, np.floating):
            fields.append((name, "float", "<f4"))
        else:
            raise InputError(f"extra column '{name}' has dtype {col.dtype}; pass ints or floats")
        columns[name] = col
    record = np.empty(n, dtype=[(name, np_type) for name, _, np_type in fields])
    for name, _, _ in fields:
        record[name] = columns[name]
    header = ["ply", "format binary_little_endian 1.0", "comment written by sam-zoo"]
    header.extend(f"comment {' '.join(str(c).split())}" for c in comments)
    header.append(f"element vertex {n}")
    header.extend(f"property {ply_type} {name}" for name, ply_type, _ in fields)
    header.append("end_header")
    with atomic_write(path) as tmp, open(tmp, "wb") as fh:
        fh.write(("\n".join(header) + "\n").encode("ascii"))
        fh.write(record.tobytes())


def read_ply(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """Read the vertex element of a PLY file (binary little/big endian or ASCII).

    Returns ``{"xyz": Nx3, "rgb": Nx3 uint8 (if present), <other property>: (N,)}``.
    Only scalar vertex properties are supported; elements after the vertex element
    (faces) are ignored. Elements before it must have scalar properties only.
    """
    p = Path(path)
    if not p.is_file():
        raise InputError(f"PLY file {p} does not exist; check the path")
    with open(p, "rb") as fh:
        if fh.readline().strip() != b"ply":
            raise InputError(f"{p} is not a PLY file (no 'ply' magic); pass a .ply point cloud")
        fmt = ""
        elements: list[tuple[str, int, list[tuple[str, str]]]] = []
        while True:
            raw = fh.readline()
            if not raw:
                raise InputError(f"PLY file {p} has no end_header; the file is truncated")
            line = raw.decode("ascii", errors="replace").strip()
            parts = line.split()
            if not parts or parts[0] in ("comment", "obj_info"):
                continue
            if parts[0] == "end_header":
                break
            if parts[0] == "format":
                fmt = parts[1]
            elif parts[0] == "element":
                elements.append((parts[1], int(parts[2]), []))
            elif parts[0] == "property":
                if not elements:
                    raise InputError(f"PLY file {p} has a property before any element")
                if parts[1] == "list":
                    elements[-1][2].append((parts[-1], "list"))
                else:
                    if parts[1] not in _PLY_TYPES:
                        raise InputError(f"PLY file {p} uses unknown type '{parts[1]}'")
                    elements[-1][2].append((parts[2], parts[1]))
        if fmt not in ("binary_little_endian", "binary_big_endian", "ascii"):
            raise InputError(f"PLY file {p} has unsupported format '{fmt}'")
        endian = ">" if fmt == "binary_big_endian" else "<"
        vertex: np.ndarray | None = None
        for name, count, props in elements:
            if any(t == "list" for _, t in props):
                if name == "vertex" or vertex is None:
                    raise InputError(
                        f"PLY file {p}: list properties in '{name}' before the vertices "
                        "are not supported"
                    )
                break
            dtype = np.dtype([(pn, endian + _PLY_TYPES[pt]) for pn, pt in props])
            if fmt == "ascii":
                rows = [fh.readline().split() for _ in range(count)]
                data = np.zeros(count, dtype=dtype)
                if count:
                    table = np.array(rows, dtype=np.float64).reshape(count, len(props))
                    for j, (pn, _) in enumerate(props):
                        data[pn] = table[:, j]
            else:
                buf = fh.read(dtype.itemsize * count)
                if len(buf) != dtype.itemsize * count:
                    raise InputError(f"PLY file {p} is truncated ({name} data incomplete)")
                data = np.frombuffer(buf, dtype=dtype)
            if name == "vertex":
                vertex = data
                break
    if vertex is None:
        raise InputError(f"PLY file {p} has no vertex element")
    names = list(vertex.dtype.names or ())
    out: dict[str, np.ndarray] = {}
    if all(c in names for c in ("x", "y", "z")):
        out["xyz"] = np.stack([vertex[c] for c in ("x", "y", "z")], axis=1).astype(
            vertex.dtype["x"].newbyteorder("=")
        )
    if all(c in names for c in ("red", "green", "blue")):
        out["rgb"] = np.stack([vertex[c] for c in ("red", "green", "blue")], axis=1).astype(
            np.uint8
        )
    for name in names:
        if name not in _RESERVED:
            out[name] = vertex[name].astype(vertex.dtype[name].newbyteorder("="))
    return out
