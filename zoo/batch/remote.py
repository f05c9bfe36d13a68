"""Remote locations (``s3://``, ``gs://``, ``https://``) through fsspec, an optional extra.

Only these schemes are opened, and only with fsspec's own filesystems: a manifest cannot
make the batch engine run a program or read through an arbitrary protocol handler. A
missing extra is a one-line error naming the ``pip install`` that fixes it.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from typing import IO, Any

from zoo.errors import InputError

__all__ = ["SCHEMES", "download", "open_remote", "read_bytes", "scheme_of"]

#: scheme -> the extra that installs its fsspec filesystem
SCHEMES = {
    "s3": "s3",
    "gs": "gcs",
    "gcs": "gcs",
    "http": "http",
    "https": "http",
    "file": "http",  # plain fsspec; any extra brings it
}


def scheme_of(uri: str) -> str | None:
    """``"s3"`` for ``s3://b/k``; ``None`` for a local path."""
    if "://" not in uri:
        return None
    return uri.split("://", 1)[0].lower()


def _filesystem(uri: str) -> tuple[Any, str]:
    scheme = scheme_of(uri)
    if scheme not in SCHEMES:
        raise InputError(
            f"{uri}: unsupported scheme {scheme!r}://; use a local path, s3://, gs:// or https://"
        )
    extra = SCHEMES[scheme or "file"]
    try:
        import fsspec

        fs, path = fsspec.core.url_to_fs(uri)
    except ImportError as exc:
        why = str(exc).strip().splitlines()[0] if str(exc).strip() else "fsspec is missing"
        raise InputError(
            f"reading {scheme}:// needs an optional package ({why}); pip install 'sam-zoo[{extra}]'"
        ) from None
    return fs, path


@contextlib.contextmanager
def open_remote(uri: str, mode: str = "rb") -> Iterator[IO[Any]]:
    """Open ``uri`` for reading (a one-line ``InputError`` when it cannot be)."""
    fs, path = _filesystem(uri)
    try:
        fh = fs.open(path, mode)
    except FileNotFoundError:
        raise InputError(f"{uri} does not exist; check the URI") from None
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read {uri} ({type(exc).__name__}: {exc})") from None
    with fh:
        yield fh


def read_bytes(uri: str) -> bytes:
    with open_remote(uri) as fh:
        return bytes(fh.read())


def download(uri: str, suffix: str = "") -> str:
    """Copy ``uri`` into a temporary local file (for readers that need a path: videos,
    depth maps); the caller deletes it."""
    fd, tmp = tempfile.mkstemp(prefix="zoo-batch-", suffix=suffix)
    try:
        with os.fdopen(fd, "wb") as out, open_remote(uri) as fh:
            while chunk := fh.read(1 << 20):
                out.write(chunk)
    except BaseException:
        os.unlink(tmp)
        raise
    return tmp


def find(uri: str, suffixes: tuple[str, ...]) -> list[str]:
    """Files under a remote folder or matching a remote glob, sorted, as URIs."""
    fs, path = _filesystem(uri)
    scheme = scheme_of(uri)
    try:
        if any(c in path for c in "*?["):
            found = fs.glob(path)
        else:
            found = fs.find(path)
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot list {uri} ({type(exc).__name__}: {exc})") from None
    out = sorted(p for p in found if p.lower().endswith(suffixes))
    return [p if "://" in p else f"{scheme}://{p}" for p in out]
