"""``file:///path`` URIs and plain paths: files the user already has.

Why a module of its own: local files follow a different rule from downloads. They are the
user's, so they are verified but never deleted, and a directory (a checkpoint folder) is
accepted as long as no checksum is asked of it.
"""

from __future__ import annotations

from pathlib import Path

from zoo.errors import WeightsError
from zoo.weights.request import ResolvedFile, ResolveRequest
from zoo.weights.uris import file_uri_to_path
from zoo.weights.verify import verify_file


def resolve_local(request: ResolveRequest) -> ResolvedFile:
    """Resolve ``file://`` and scheme-less URIs; never touches the network."""
    uri = request.uri
    path = file_uri_to_path(uri) if request.scheme == "file" else Path(uri).expanduser()
    if not path.exists():
        where = "" if str(path) == uri else f" (from {uri})"
        raise WeightsError(f"checkpoint not found: {path}{where}; check the path")
    if path.is_dir():
        if request.sha256 is not None or request.size is not None:
            raise WeightsError(
                f"{path} is a directory; a sha256/size can only be checked for a single file"
            )
        return ResolvedFile(path, uri, None, 0, True, "local")
    actual = verify_file(path, uri, request.sha256, request.size, delete=None)
    return ResolvedFile(path, uri, actual, path.stat().st_size, True, "local")
