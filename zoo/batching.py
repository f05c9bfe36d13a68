"""How many prompts go through a decoder in one call: the one mechanism every family uses.

Why chunking at all: a SAM-style mask decoder shares *no* work between prompts. Each prompt
gets its own copy of the image tokens (a 256 x 64 x 64 embedding, 4 MB in float32) and the
two-way transformer updates that copy, so the arithmetic of N prompts is N times that of
one, batched or not. What batching buys is parallelism and fewer fixed per-call costs
(prompt encoding, the dense positional encoding, Python, kernel launches); what it costs is
memory traffic: N copies of every per-prompt activation (128 MB per tensor for 32 prompts)
no longer fit in the CPU's caches. On a GPU parallelism wins; on a CPU one big call was
measured up to 2x slower per prompt than a Python loop (issue 14; ``benchmarks/bench_core.py``).
Chunks of a few prompts keep the per-call savings and stay in cache.

The chunk size is per device (:data:`DEVICE_MAX_BATCH`, measured with
``benchmarks/bench_core.py``), overridable per model with the core ``--max-batch`` option
(:data:`MAX_BATCH`, ``zoo.load(..., max_batch=N)``), which families add to their option
list instead of declaring their own. The loader takes it off the config and sets
:attr:`zoo.model.ZooModel.max_batch`, so a family's ``create`` never sees it.

Torch-free: imported by plugin registration code.
"""

from __future__ import annotations

from collections.abc import Iterator

from zoo.errors import InputError
from zoo.specs import OptionSpec

#: Prompts per decoder call when ``--max-batch`` is not given, by device type.
#:
#: ``cpu``: measured on the 2-core development machine (``benchmarks/bench_core.py``,
#: ``sam2:tiny``, 1800x1200 photo): small chunks are never slower than a loop, and stay in
#: cache where one big call does not (see the module docstring and the README's
#: performance table). ``cuda``/``mps``: the decoder is throughput-bound there, so larger
#: chunks only help until memory runs out; 64 keeps the per-call activations of a 1024-px
#: model under ~2 GB. Not measured here (no GPU was available); see the README.
DEVICE_MAX_BATCH: dict[str, int] = {"cpu": 8, "cuda": 64, "mps": 16}

#: The ``--max-batch`` option, declared once for every family with a batched decoder.
MAX_BATCH = OptionSpec(
    name="max_batch",
    type="int",
    default=None,
    minimum=1,
    model=True,
    commands=("run", "eval", "batch", "serve"),
    help="prompts per decoder call (default: per device, "
    + ", ".join(f"{k} {v}" for k, v in DEVICE_MAX_BATCH.items())
    + "); results do not depend on it, only speed and memory do",
)


def default_max_batch(device: str) -> int:
    """The chunk size for ``device`` (``cpu``, ``cuda:1``, ``mps``...)."""
    kind = str(device).split(":", 1)[0].lower()
    return DEVICE_MAX_BATCH.get(kind, DEVICE_MAX_BATCH["cpu"])


def check_max_batch(value: int | None) -> int | None:
    """Validate a ``max_batch`` given from Python (the CLI already checked the minimum)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InputError(f"max_batch must be a whole number of at least 1, got {value!r}")
    return value


def chunks(n: int, size: int) -> Iterator[slice]:
    """``slice`` objects covering ``range(n)`` in runs of at most ``size``."""
    step = max(1, int(size))
    for lo in range(0, n, step):
        yield slice(lo, min(n, lo + step))
