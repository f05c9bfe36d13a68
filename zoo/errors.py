"""Exception types shared by the SDK and the CLI.

The CLI maps every :class:`ZooError` to a one-line message and exit code 2, so anything
a user can fix (a bad path, a malformed box, a missing checkpoint) must raise one of
these with a message that names the problem and the fix. Anything else is a bug and
keeps its traceback.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator


class ZooError(Exception):
    """Base class: a problem the user can fix. Message = one line, problem + fix."""


class InputError(ZooError, ValueError):
    """Bad user input: prompts, images, paths, options."""


class UnknownModelError(ZooError, KeyError):
    """A model name that is not registered."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


class WeightsError(ZooError):
    """A checkpoint cannot be resolved, downloaded, verified or loaded."""


class ChecksumError(WeightsError):
    """Downloaded or cached bytes do not match the registered sha256."""


class OfflineError(WeightsError):
    """The file is needed but offline mode forbids the network."""


class PluginError(ZooError):
    """A plugin failed to load or registered something invalid."""


# ----------------------------------------------------------------------------- phrasing
#
# The same error reaches people through two doors: the ``zoo`` command line and Python.
# A hint must be written for the door the user came through ("--weights random" on the
# CLI, "weights='random'" in Python). The CLI sets :data:`_SURFACE` to "cli" for the
# duration of a command; library code phrases its hints with :func:`hint`.

_SURFACE: contextvars.ContextVar[str] = contextvars.ContextVar("zoo_surface", default="python")


def surface() -> str:
    """``"cli"`` while a ``zoo`` command runs, else ``"python"``."""
    return _SURFACE.get()


@contextlib.contextmanager
def cli_surface() -> Iterator[None]:
    """Phrase every hint raised inside this block for the command line."""
    token = _SURFACE.set("cli")
    try:
        yield
    finally:
        _SURFACE.reset(token)


def hint(cli: str, python: str) -> str:
    """Pick the phrasing of a hint for the current surface, e.g.
    ``hint("--weights random", "weights='random'")``."""
    return cli if surface() == "cli" else python


def install_hint(requirement: str) -> str:
    """The command that installs ``requirement`` into *this* interpreter's environment.

    Detected, not guessed: a uv-made virtual environment has no ``pip`` module, so
    ``pip install`` there fails or, worse, installs into another Python. The interpreter is
    named by path so the package lands where ``zoo`` runs.
    """
    import importlib.util
    import shutil
    import sys

    py = sys.executable or "python"
    if importlib.util.find_spec("pip") is not None:
        return f"{py} -m pip install '{requirement}'"
    if shutil.which("uv"):
        return f"uv pip install --python {py} '{requirement}'"
    return (
        f"install uv (https://docs.astral.sh/uv/) and run uv pip install --python {py} "
        f"'{requirement}'"
    )


class ZooDeprecationWarning(FutureWarning):
    """Something a plugin (or a user's code) does that a later release removes. A
    ``FutureWarning``, so Python shows it by default, once per place."""
