"""Deprecated name of :mod:`zoo.decoder_chunks` (plugin API 2 imported ``MAX_BATCH`` here).

``MAX_BATCH`` is the ``OptionSpec`` form of ``--max-batch`` for ``options=[...]`` lists;
API 3 families declare ``max_batch: int | None = zoo.options.max_batch_option()``.
"""

from __future__ import annotations

import warnings

from zoo.decoder_chunks import (  # noqa: F401
    CPU_CHUNK_BYTES,
    CPU_UNKNOWN_MAX_BATCH,
    DEVICE_MAX_BATCH,
    check_max_batch,
    chunks,
    default_max_batch,
    sam_decoder_prompt_bytes,
)
from zoo.options.legacy import OptionSpec

warnings.warn(
    "zoo.batching is deprecated: import from zoo.decoder_chunks, and declare --max-batch as "
    "max_batch = zoo.options.max_batch_option() (works until sam-zoo 0.3)",
    DeprecationWarning,
    stacklevel=2,
)

MAX_BATCH = OptionSpec(
    name="max_batch",
    type="int",
    default=None,
    minimum=1,
    model=True,
    commands=("run", "eval", "batch", "serve"),
    help="prompts per decoder call (default: per device); results do not depend on it",
)
