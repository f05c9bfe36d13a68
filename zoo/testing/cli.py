"""Run the ``zoo`` CLI inside a test and check what a user would see.

Plugin test suites need the same two things: invoke ``zoo.cli.main`` (the console script's
code path, which owns error formatting and exit codes) without paying an interpreter start
per call, and assert the project's bad-input contract: exit 2, one line, no traceback.
"""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import traceback


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``zoo ARGS`` in this process; returns exit code, stdout and stderr like ``subprocess``.

    ``env`` is applied for the call only. The registry is rebuilt before and after, so
    plugins installed or environment switches set by the test are seen.
    """
    from zoo.cli import main
    from zoo.registry import reset_registry

    out, err = io.StringIO(), io.StringIO()
    saved = {k: os.environ.get(k) for k in (env or {})}
    os.environ.update(env or {})
    reset_registry()
    code = 0
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                main(list(args))
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            except Exception:  # a bug, not a user error: keep the traceback visible
                traceback.print_exc()
                code = 1
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        reset_registry()
    return subprocess.CompletedProcess(["zoo", *args], code, out.getvalue(), err.getvalue())


def assert_user_error(proc: subprocess.CompletedProcess[str], *needles: str) -> None:
    """Exit 2, one line on stderr naming the problem (each needle, case-insensitive)."""
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    err = proc.stderr.strip()
    assert "Traceback" not in err, err
    lines = [ln for ln in err.splitlines() if ln.strip() and not ln.startswith("note:")]
    assert len(lines) == 1, err
    for n in needles:
        assert n.lower() in err.lower(), (n, err)
