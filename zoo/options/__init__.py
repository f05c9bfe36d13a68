"""Typed options: one pydantic declaration per option set (see :mod:`zoo.options.base`).

``Options`` + ``option()`` declare; :func:`validate` reads raw values with one-line errors;
:class:`LoadOptions` is how every model is loaded. ``OptionSpec`` lists (plugin API 2) are
converted by :func:`options_class`.
"""

from __future__ import annotations

from .base import COMMANDS, Command, Options, flag, merge, option
from .legacy import OptionSpec, options_class
from .load import (
    DEFAULT_TEST_SEED,
    PRETRAINED,
    RANDOM,
    CheckpointArg,
    LoadOptions,
    check_weights_arg,
    checkpoint_arg,
    image_size_option,
    max_batch_option,
)
from .parse import parse_extras, validate, validate_many

__all__ = [
    "COMMANDS",
    "DEFAULT_TEST_SEED",
    "PRETRAINED",
    "RANDOM",
    "CheckpointArg",
    "Command",
    "LoadOptions",
    "OptionSpec",
    "Options",
    "check_weights_arg",
    "checkpoint_arg",
    "flag",
    "image_size_option",
    "max_batch_option",
    "merge",
    "option",
    "options_class",
    "parse_extras",
    "validate",
    "validate_many",
]
