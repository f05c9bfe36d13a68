"""Atomic file and folder writes.

Every writer in :mod:`zoo.io` goes through here so that an interrupted run (Ctrl-C, a
crash, a full disk) never leaves a half-written PNG or JSON that a later step would read
as if it were complete. The trick is always the same: write next to the target (same
folder, hence the same filesystem) and ``os.replace`` at the end, which is atomic on
POSIX and Windows.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from zoo.errors import InputError
from zoo.io.interrupt import keeping

__all__ = ["atomic_output_dir", "atomic_write", "ensure_writable_dir"]

_UMASK: int | None = None


def _umask() -> int:
    """The process umask, read once (``os.umask`` can only be read by setting it)."""
    global _UMASK
    if _UMASK is None:
        current = os.umask(0o022)
        os.umask(current)
        _UMASK = current
    return _UMASK


def _apply_default_mode(path: Path) -> None:
    """Give a ``mkstemp``/``mkdtemp`` result the permissions a plain ``open`` would have.

    ``mkstemp`` creates 0600 files for safety; the final outputs are ordinary files that
    other users and tools are expected to read.
    """
    with contextlib.suppress(OSError):  # e.g. filesystems without POSIX modes
        os.chmod(path, 0o666 & ~_umask())


def ensure_writable_dir(path: str | os.PathLike[str]) -> Path:
    """Create ``path`` (and parents) if needed and prove we can write a file in it.

    Called before any heavy work so that a typo in ``--out`` fails in a second, not after
    a ten-minute video run. ``os.access`` is not trusted (it lies for root and on network
    filesystems); a real temporary file is created and removed instead.

    Raises:
        InputError: ``cannot write to --out DIR: <reason>; choose a writable folder``.
    """
    out = Path(path)
    try:
        if out.exists() and not out.is_dir():
            raise InputError(
                f"cannot write to --out {out}: it is an existing file, not a folder; "
                "choose a writable folder"
            )
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out, prefix=".zoo-write-test-"):
            pass
    except InputError:
        raise
    except OSError as exc:
        reason = exc.strerror or exc.__class__.__name__
        raise InputError(
            f"cannot write to --out {out}: {reason}; choose a writable folder"
        ) from exc
    return out


@contextmanager
def atomic_write(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; move it onto ``path`` only on success.

    The temporary name keeps the target's suffix so that suffix-sniffing writers
    (``PIL.Image.save``, ``np.save``) pick the right format. If the ``with`` body raises,
    the temporary file is deleted and ``path`` is left exactly as it was (absent or the
    previous version). Parent folders are created.

    Example::

        with atomic_write("out/mask.png") as tmp:
            Image.fromarray(mask).save(tmp)
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(
        dir=target.parent, prefix=f".{target.stem}.", suffix=f".tmp{target.suffix}"
    )
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        _apply_default_mode(tmp)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextmanager
def atomic_output_dir(out_dir: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary sibling folder; on success move every file in it into ``out_dir``.

    Used for commands that write many files (one mask per frame, a JSON, an overlay): a
    failure half-way leaves ``out_dir`` untouched (not even created if it did not exist)
    instead of a mix of new and stale files. Sub-folders of the temporary folder are
    reproduced inside ``out_dir``; existing files of the same name are replaced, other
    files already in ``out_dir`` are kept.

    Writability is checked before the body runs (:func:`ensure_writable_dir` on the
    parent, plus ``out_dir`` itself when it exists). An interruption, Ctrl-C or SIGTERM
    alike (:mod:`zoo.io.interrupt`), removes the temporary folder and is reported as
    "``out_dir`` was not created / is unchanged; run the same command again".
    """
    target = Path(out_dir)
    if target.exists():
        ensure_writable_dir(target)
    # The temporary folder lives in the nearest folder that already exists: nothing new
    # (not even a missing parent of --out) appears before the work has succeeded.
    anchor = target.parent
    while not anchor.exists() and anchor != anchor.parent:
        anchor = anchor.parent
    parent = ensure_writable_dir(anchor)
    existed = target.exists()

    def kept() -> str:
        state = "is unchanged" if existed else "was not created"
        return (
            f"{target} {state} (outputs are moved there only when the run completes; the "
            "partial ones were removed); run the same command again"
        )

    tmp = Path(tempfile.mkdtemp(dir=parent, prefix=f".{target.name}.tmp-"))
    try:
        with keeping(kept):  # SIGTERM too removes the temporary folder
            yield tmp
        target.mkdir(parents=True, exist_ok=True)
        for src in sorted(tmp.rglob("*")):
            rel = src.relative_to(tmp)
            dst = target / rel
            if src.is_dir():
                dst.mkdir(parents=True, exist_ok=True)
                continue
            dst.parent.mkdir(parents=True, exist_ok=True)
            os.replace(src, dst)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
