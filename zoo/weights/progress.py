"""What the user sees while a file is fetched: one line before connecting, then a bar.

Why a module of its own: every source (https, Google Drive, the Hub) reports the same way,
and the rules are shared: a caller's callback is used as is, ``progress=False`` is silent,
and the rich bar appears only on a terminal so that logs and CI output do not fill with
redraws. rich is imported only when a bar is actually drawn.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from typing import TypeAlias

#: ``progress(done_bytes, total_bytes_or_None)``; called while a file downloads.
ProgressCallback: TypeAlias = Callable[[int, "int | None"], None]
#: What ``resolve(progress=...)`` accepts: a flag (rich bar on a TTY) or a callback.
ProgressArg: TypeAlias = "bool | ProgressCallback"


def stderr_is_tty() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def announce(host: str, what: str, progress: ProgressArg) -> None:
    """Say, once and before connecting, where a file is being fetched from.

    A hub that does not answer otherwise looks like a hung command. Printed as a ``note:``
    line on stderr (the CLI's convention for lines that are not the result or the error);
    ``progress=False`` and callers that draw their own progress (a callback) stay silent.
    """
    if progress is not True:
        return
    print(f"note: connecting to {host} for {what}", file=sys.stderr, flush=True)


def _noop_progress(done: int, total: int | None) -> None:
    return None


@contextlib.contextmanager
def progress_reporter(progress: ProgressArg, label: str) -> Iterator[ProgressCallback]:
    """Yield a ``report(done, total)`` function.

    A callback is used as is. ``True`` shows a transient rich bar, but only when stderr is
    a terminal.
    """
    if callable(progress):
        yield progress
        return
    if not progress or not stderr_is_tty():
        yield _noop_progress
        return
    try:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )
    except ImportError:
        yield _noop_progress
        return
    bar = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        transient=True,
        console=Console(file=sys.stderr),
    )
    with bar:
        task = bar.add_task(label, total=None)

        def report(done: int, total: int | None) -> None:
            bar.update(task, completed=done, total=total)

        yield report
