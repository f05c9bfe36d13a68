"""How many prompts go through a decoder in one call: the one mechanism every family uses.

What batching buys and costs. A SAM-style mask decoder shares *no* work between prompts:
each prompt gets its own copy of the image tokens (256 x 64 x 64 floats, 4 MB, at 1024 px)
and its own upscaled mask features (32 x 256 x 256, 8 MB), so N prompts cost N times the
arithmetic of one, batched or not. Batching saves per-call overhead (prompt encoding, the
dense positional encoding, Python, kernel launches) and, on a GPU, buys parallelism.

Why one big call was 2x slower than a loop on CPU (issue 14: 145 vs 73 ms per box, 32
boxes, ``sam2:tiny``). Not cache misses: page faults. glibc serves every allocation above
its mmap threshold (at most 32 MB) with fresh pages that the kernel zero-fills on first
touch, and returns them on free; with 32 prompts each activation of the decoder is 128-256
MB, so every one of its dozens of intermediate tensors faults in anew on every call.
Measured here (``getrusage``): 0 minor faults per box for chunks of 1-2 prompts at 1024 px,
7,000 for chunks of 4, 36,000 for 8 and 46,000 for 32, costing 50-70 ms of system time per
box: the whole gap. Below the threshold, freed blocks stay in the heap and are reused.

With one thread (so that a loaded machine's scheduling cannot blur it) the CPU time per box
was 82 ms in a loop, 80 in chunks of 2, 88 in chunks of 4, 130 in chunks of 8 and 159 in one
call of 32: the issue's 2x. With glibc's threshold raised (``MALLOC_MMAP_THRESHOLD_``) the
faults vanish and one call of 32 costs 74 ms per box, which confirms the cause.

So on CPU a chunk holds as many prompts as keep its largest activation under
:data:`CPU_CHUNK_BYTES` (a model says how big one prompt's is,
``ZooModel.decoder_prompt_bytes``: the decoder's image tokens and upscaled features): 1
prompt at 1024 px, 2 at 512, 8 at 256. Measured (1 thread, CPU ms per box, 32 boxes):
at 1024 px 85 for chunks of 1, 78 for 2, 95 for 4, 134 for 8; at 256 px 13, 11, 10, 9
and 11 for chunks of 1, 2, 4, 8 and 16. Chunks of 2 at 1024 px (16 MB activations) were
fault-free in some runs and faulted 7-9k times per box in others (glibc's threshold and
heap trimming depend on what the process allocated before), so the budget stays where no
run faulted. The masks upsampled to the image (8.6 MB each on an 1800x1200 photo) are
made one prompt at a time for the same reason. On a GPU the caching allocator has no
such cost and parallelism wins: :data:`DEVICE_MAX_BATCH`.
``--max-batch N`` (:func:`zoo.options.max_batch_option`, ``zoo.load(..., max_batch=N)``)
overrides both; the
loader takes it off the config and sets :attr:`zoo.model.ZooModel.max_batch`, so a
family's ``create`` never sees it. Results do not depend on the chunk size.

Torch-free: imported by plugin registration code.
"""

from __future__ import annotations

from collections.abc import Iterator

from zoo.errors import InputError

#: Prompts per decoder call when ``--max-batch`` is not given, by device type: the cap.
#: ``cuda``/``mps``: throughput-bound, larger chunks help until memory runs out; 64 keeps a
#: 1024-px decoder's activations around 1 GB. Not measured here (no GPU was available).
#: ``cpu``: the cap for models that declare their per-prompt bytes (the real limit is
#: :data:`CPU_CHUNK_BYTES`), and the chunk for models that do not.
DEVICE_MAX_BATCH: dict[str, int] = {"cpu": 64, "cuda": 64, "mps": 16}
#: CPU chunks for a model that does not declare ``decoder_prompt_bytes``: SAM-sized at 1024.
CPU_UNKNOWN_MAX_BATCH = 2
#: CPU: the largest single activation a chunk may allocate, well under glibc's largest mmap
#: threshold (32 MB), so that freed blocks are reused instead of faulted in again.
CPU_CHUNK_BYTES = 4 << 20


def default_max_batch(device: str, prompt_bytes: int | None = None) -> int:
    """The chunk size for ``device`` (``cpu``, ``cuda:1``, ``mps``...).

    ``prompt_bytes``: the decoder's largest activation for one prompt (CPU only: chunks
    stay under :data:`CPU_CHUNK_BYTES`).
    """
    kind = str(device).split(":", 1)[0].lower()
    cap = DEVICE_MAX_BATCH.get(kind, DEVICE_MAX_BATCH["cpu"])
    if kind not in DEVICE_MAX_BATCH or kind == "cpu":
        if not prompt_bytes:
            return CPU_UNKNOWN_MAX_BATCH
        return max(1, min(cap, CPU_CHUNK_BYTES // int(prompt_bytes)))
    return cap


def sam_decoder_prompt_bytes(
    embed_size: int, *, channels: int = 256, upscaled: tuple[int, ...] = (64, 32), itemsize: int = 4
) -> int:
    """Largest activation of a SAM-style two-way decoder for one prompt, in bytes.

    The image tokens (``channels x g x g``, copied per prompt) and the upscaling stages
    (``c_i x (2^i g)^2``; the last one, 32 channels at 4g, is the largest).
    """
    g = int(embed_size)
    sizes = [channels * g * g] + [c * (g << (i + 1)) ** 2 for i, c in enumerate(upscaled)]
    return max(sizes) * itemsize


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
