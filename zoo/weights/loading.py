"""Loading a checkpoint without ever running code from it.

Why a module of its own: a checkpoint from the internet is data, never code. Everything is
loaded through safetensors or ``torch.load(weights_only=True)``; a pickle that needs more
than tensors is refused, and to tell a malicious pickle from a damaged file its opcodes are
*decoded* (:mod:`pickletools`, which executes nothing), never unpickled. torch is imported
only when something is loaded.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zoo.errors import WeightsError, install_hint

if TYPE_CHECKING:  # pragma: no cover - typing only
    import torch


def _looks_like_safetensors(path: Path) -> bool:
    """Sniff the header: blobs in the store have no file extension to go by."""
    if path.suffix == ".safetensors":
        return True
    try:
        with open(path, "rb") as fh:
            head = fh.read(9)
        file_size = path.stat().st_size
    except OSError:
        return False
    if len(head) < 9 or head[8:9] != b"{":
        return False
    (header_len,) = struct.unpack("<Q", head[:8])
    return 2 <= header_len <= file_size - 8


def _corrupt(path: Path, exc: BaseException) -> WeightsError:
    detail = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    detail = f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__
    return WeightsError(
        f"{path} is corrupt or truncated ({detail[:200]}); re-download it: "
        "`zoo cache rm <uri-or-sha>` then `zoo pull <model>`"
    )


def safe_torch_load(path: str | os.PathLike[str]) -> Any:
    """Load a checkpoint without running code from it.

    ``.safetensors`` (by suffix or header) go through safetensors; everything else through
    ``torch.load(map_location="cpu", weights_only=True)``. A pickle that needs arbitrary
    globals is refused rather than trusted, and a damaged file becomes a
    :class:`WeightsError` that says how to fetch it again. Dtypes are left untouched.
    """
    p = Path(path)
    if not p.is_file():
        raise WeightsError(f"checkpoint not found: {p}")
    if _looks_like_safetensors(p):
        try:
            from safetensors.torch import load_file
        except ImportError as exc:
            raise WeightsError(f"{p} is a safetensors file: {install_hint('safetensors')}") from exc
        try:
            return load_file(str(p), device="cpu")
        except Exception as exc:
            raise _corrupt(p, exc) from exc

    import pickle

    import torch

    try:
        return torch.load(str(p), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        message = str(exc)
        if "weights only" not in message.lower() and "weights_only" not in message.lower():
            raise _corrupt(p, exc) from exc
        # torch's restricted unpickler refused something. Tell a malicious or code-bearing
        # pickle apart from a damaged file by decoding the opcodes (decoding runs nothing).
        found = _pickle_globals(p)
        if found is None:
            raise _corrupt(p, exc) from exc
        suspicious = sorted({g for g in found if not g.startswith(_DATA_GLOBALS)})
        if suspicious:
            reason = "references " + ", ".join(suspicious[:3])
            raise WeightsError(
                f"refusing to unpickle {p}: it contains code objects ({reason}); convert it "
                "to safetensors or a plain state dict"
            ) from exc
        raise WeightsError(
            f"refusing to unpickle {p}: torch's weights_only loader rejects it "
            f"({_weights_only_reason(message)}); convert it to safetensors or a plain state dict"
        ) from exc
    except MemoryError:
        raise
    except Exception as exc:
        raise _corrupt(p, exc) from exc


#: Globals that plain tensor checkpoints legitimately reference.
_DATA_GLOBALS = ("torch.", "collections.OrderedDict", "_codecs.encode", "numpy.")


def _pickle_globals(path: Path) -> list[str] | None:
    """Names of the globals a pickle would import, or None if it is not a valid pickle.

    Uses :func:`pickletools.genops`, which decodes opcodes without executing them. Handles
    torch's zip format (``*/data.pkl``) and the legacy format (several pickles in a row,
    followed by raw storage bytes: only the leading pickles are decoded).
    """
    import pickletools
    import zipfile

    found: list[str] = []

    def scan(fh: Any, max_pickles: int) -> bool:
        parsed = 0
        while parsed < max_pickles:
            if not fh.peek(1):  # end of the pickle stream(s)
                break
            strings: list[str] = []
            try:
                for op, arg, _pos in pickletools.genops(fh):
                    if op.name in ("GLOBAL", "INST"):
                        found.append(str(arg).replace(" ", "."))
                    elif op.name == "STACK_GLOBAL" and len(strings) >= 2:
                        found.append(f"{strings[-2]}.{strings[-1]}")
                    elif isinstance(arg, str):
                        strings.append(arg)
            except Exception:
                return parsed > 0
            parsed += 1
        return parsed > 0

    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as zf:
                members = [n for n in zf.namelist() if n.endswith("data.pkl")]
                if not members:
                    return None
                with zf.open(members[0]) as member:
                    return found if scan(member, 1) else None
        with open(path, "rb") as fh:
            return found if scan(fh, 5) else None
    except (OSError, zipfile.BadZipFile):
        return None


def _weights_only_reason(message: str) -> str:
    """The informative line of torch's long weights_only refusal."""
    for line in message.splitlines():
        text = line.replace("WeightsUnpickler error:", "").strip()
        if text and ("unsupported" in text.lower() or "blocked" in text.lower()):
            return text[:200]
    return "objects outside the weights_only allow-list"


def load_state_dict(
    path: str | os.PathLike[str], key: str | None = "model"
) -> dict[str, torch.Tensor]:
    """Load a checkpoint and return its flat ``name -> tensor`` state dict.

    Training scripts wrap weights differently (``{"model": sd}``, ``{"state_dict": sd}``,
    or the bare dict); the first of ``key``, ``"model"``, ``"state_dict"`` holding a mapping
    wins, else the top level is used if every value is a tensor. Values are returned as
    stored: no dtype conversion, so fp16 subnormals survive bit for bit.
    """
    import torch

    p = Path(path)
    obj = safe_torch_load(p)
    if not isinstance(obj, Mapping):
        raise WeightsError(
            f"{p} holds a {type(obj).__name__}, not a state dict; save model.state_dict()"
        )
    candidates: list[str] = []
    for k in (key, "model", "state_dict"):
        if k is not None and k not in candidates:
            candidates.append(k)
    state: Mapping[Any, Any] = obj
    for k in candidates:
        inner = obj.get(k)
        if isinstance(inner, Mapping):
            state = inner
            break
    bad = [str(k) for k, v in state.items() if not isinstance(v, torch.Tensor)]
    if bad:
        tried = ", ".join(repr(c) for c in candidates)
        top = ", ".join(str(k) for k in list(obj.keys())[:10])
        raise WeightsError(
            f"{p} has no state dict under {tried} and its top level is not all tensors "
            f"(non-tensor entries: {', '.join(bad[:5])}; top-level keys: {top}); "
            "pass the right key"
        )
    return {str(k): v for k, v in state.items()}
