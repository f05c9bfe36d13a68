"""Exception types shared by the SDK and the CLI.

The CLI maps every :class:`ZooError` to a one-line message and exit code 2, so anything
a user can fix (a bad path, a malformed box, a missing checkpoint) must raise one of
these with a message that names the problem and the fix. Anything else is a bug and
keeps its traceback.
"""

from __future__ import annotations


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
