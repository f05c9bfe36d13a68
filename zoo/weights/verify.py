"""Do these bytes match what the registry says? (size first, because it is free; then sha256)

Why a module of its own: every source ends with the same check and the same rule about what
happens to a file that fails it: a file the zoo downloaded is deleted (a wrong file must not
be loaded next time), a file the user gave us is left where it is.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path

from zoo.errors import ChecksumError

HASH_CHUNK = 8 << 20


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file, read in chunks so multi-GB checkpoints need no RAM."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while True:
            chunk = fh.read(HASH_CHUNK)
            if not chunk:
                break
            digest.update(chunk)
    return digest.hexdigest()


def verify_file(
    path: Path,
    uri: str,
    sha256: str | None,
    size: int | None,
    *,
    delete: Callable[[Path], None] | None,
) -> str | None:
    """Check size (cheap) then sha256; on mismatch delete (if we own the file) and raise.

    Returns the computed sha256, or None when none was requested.
    """
    actual_size = path.stat().st_size
    what = "the cached file was deleted" if delete else f"the file {path} was left in place"
    if size is not None and actual_size != size:
        if delete:
            delete(path)
        raise ChecksumError(
            f"size mismatch for {uri}: expected {size} bytes, got {actual_size}; {what}. "
            "Pull it again, or fix the registry entry if upstream changed the file"
        )
    if sha256 is None:
        return None
    actual = sha256_file(path)
    if actual != sha256:
        if delete:
            delete(path)
        raise ChecksumError(
            f"sha256 mismatch for {uri}: expected {sha256}, got {actual}; {what}. "
            "Pull it again, or fix the registry entry if upstream changed the file"
        )
    return actual
