"""Weights URIs: which scheme, what it names, and whether it is well formed (no I/O).

Why a module of its own: a registry entry is validated when it is declared (``WeightSpec``,
``zoo list``, the conformance kit), long before anything is downloaded, and that must not
import a hub client. Every function here is pure string work.
"""

from __future__ import annotations

import re
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from zoo.errors import WeightsError
from zoo.weights.env import gdrive_endpoint

SHA256_RE = re.compile(r"[0-9a-f]{64}")
_SCHEME_RE = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*)://")
_HF_REPO_TYPES = {"models": "model", "datasets": "dataset", "spaces": "space"}


@dataclass(frozen=True)
class HfRef:
    """A parsed ``hf://[datasets/|spaces/]org/repo/path/in/repo[@revision]``."""

    repo_id: str
    filename: str
    revision: str
    repo_type: str = "model"


@dataclass(frozen=True)
class MsRef:
    """A parsed ``ms://org/model[/path/in/repo][@revision]``; ``revision`` None = default."""

    model_id: str
    path: str | None
    revision: str | None


def scheme_of(uri: str) -> str | None:
    """``"hf"`` for ``hf://...`` (lower-cased); None for a plain path."""
    match = _SCHEME_RE.match(uri)
    return match.group(1).lower() if match else None


def uri_basename(uri: str) -> str:
    """A human name for the file behind a URI (for messages)."""
    body = uri.split("://", 1)[-1]
    body = body.split("?", 1)[0].split("#", 1)[0]
    if scheme_of(uri) in ("hf", "ms") and "@" in body:
        body = body.rsplit("@", 1)[0]
    name = body.rstrip("/").rsplit("/", 1)[-1]
    return urllib.parse.unquote(name) or uri


def normalize_sha256(value: str | None, uri: str = "") -> str | None:
    """Lower-case hex; accepts a ``sha256:`` prefix as written by some registries."""
    if value is None:
        return None
    text = value.strip().lower()
    for prefix in ("sha256:", "sha256-"):
        if text.startswith(prefix):
            text = text[len(prefix) :]
    if not SHA256_RE.fullmatch(text):
        where = f" for {uri}" if uri else ""
        raise WeightsError(f"invalid sha256{where}: {value!r} is not 64 hex digits")
    return text


def parse_hf_uri(uri: str) -> HfRef:
    """Split an ``hf://`` URI. The revision follows the *last* ``@`` (it may be ``refs/pr/1``)."""
    body = uri[len("hf://") :] if uri.lower().startswith("hf://") else uri
    revision = "main"
    if "@" in body:
        body, revision = body.rsplit("@", 1)
    parts = body.split("/")
    repo_type = "model"
    if parts and parts[0] in _HF_REPO_TYPES:
        repo_type = _HF_REPO_TYPES[parts[0]]
        parts = parts[1:]
    if len(parts) < 3 or any(not p for p in parts) or not revision:
        raise WeightsError(
            f"malformed Hugging Face URI {uri!r}: expected hf://org/repo/path/in/repo[@revision]"
        )
    return HfRef(
        repo_id=f"{parts[0]}/{parts[1]}",
        filename="/".join(parts[2:]),
        revision=revision,
        repo_type=repo_type,
    )


def parse_ms_uri(uri: str) -> MsRef:
    """Split an ``ms://`` URI; a missing path means "pick a file by pattern"."""
    body = uri[len("ms://") :] if uri.lower().startswith("ms://") else uri
    revision: str | None = None
    if "@" in body:
        body, revision = body.rsplit("@", 1)
        if not revision:
            raise WeightsError(f"malformed ModelScope URI {uri!r}: empty revision after '@'")
    parts = body.rstrip("/").split("/")
    if len(parts) < 2 or any(not p for p in parts):
        raise WeightsError(
            f"malformed ModelScope URI {uri!r}: expected ms://org/model[/path/in/repo][@revision]"
        )
    path = "/".join(parts[2:]) or None
    return MsRef(model_id=f"{parts[0]}/{parts[1]}", path=path, revision=revision)


def file_uri_to_path(uri: str) -> Path:
    """``file:///abs/path`` -> ``Path``; a remote host is refused."""
    parsed = urllib.parse.urlparse(uri)
    if parsed.netloc not in ("", "localhost"):
        raise WeightsError(
            f"unsupported file URI {uri!r}: only local files (file:///path) can be read"
        )
    return Path(urllib.request.url2pathname(parsed.path))


def gdrive_url(uri: str) -> str:
    """``gdrive://FILE_ID`` -> the direct-download URL (endpoint from ``ZOO_GDRIVE_ENDPOINT``)."""
    file_id = uri[len("gdrive://") :].strip("/")
    if not file_id or not re.fullmatch(r"[A-Za-z0-9_\-]+", file_id):
        raise WeightsError(f"malformed Google Drive URI {uri!r}: expected gdrive://FILE_ID")
    query = urllib.parse.urlencode({"id": file_id, "export": "download", "confirm": "t"})
    return f"{gdrive_endpoint()}/download?{query}"


def check_url(uri: str) -> None:
    """An ``http(s)://`` URL must name a host."""
    if not urllib.parse.urlparse(uri).netloc:
        raise WeightsError(f"malformed URL {uri!r}: no host")


def check_uri(uri: str) -> None:
    """Raise :class:`WeightsError` if a built-in scheme's URI is malformed (no I/O).

    Unknown schemes pass: a plugin may register them later (``zoo_register_resolvers``).
    """
    if not uri or not uri.strip():
        raise WeightsError("empty weights URI")
    scheme = scheme_of(uri)
    if scheme == "hf":
        parse_hf_uri(uri)
    elif scheme == "ms":
        parse_ms_uri(uri)
    elif scheme == "gdrive":
        gdrive_url(uri)
    elif scheme == "file":
        file_uri_to_path(uri)
    elif scheme in ("http", "https"):
        check_url(uri)
