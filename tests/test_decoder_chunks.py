"""Decoder batching through one core mechanism (:mod:`zoo.batching`, issue 14 item 1).

Speed is measured in ``benchmarks/bench_core.py``, never asserted here; these tests pin the
mechanism: the per-device defaults, the one ``--max-batch`` declaration every batched
family shares, validation, and that chunking never changes a result.
"""

from __future__ import annotations

import numpy as np
import pytest

import zoo
from zoo.decoder_chunks import (
    CPU_CHUNK_BYTES,
    CPU_UNKNOWN_MAX_BATCH,
    DEVICE_MAX_BATCH,
    check_max_batch,
    chunks,
    default_max_batch,
    sam_decoder_prompt_bytes,
)
from zoo.errors import InputError

from .conftest import assert_user_error, run_zoo


def test_chunks_cover_every_prompt_once() -> None:
    for n in (0, 1, 7, 8, 9, 130):
        for size in (1, 2, 8, 64):
            parts = list(chunks(n, size))
            assert [i for s in parts for i in range(n)[s]] == list(range(n))
            assert all(s.stop - s.start <= size for s in parts)


def test_cpu_chunks_keep_one_activation_under_the_budget() -> None:
    """SAM decoders at 1024/512/256 px: 8 MB, 2 MB, 0.5 MB per prompt -> 1, 2, 8."""
    per = {s: sam_decoder_prompt_bytes(s // 16) for s in (1024, 512, 256)}
    assert per[1024] == 8 << 20
    assert [default_max_batch("cpu", per[s]) for s in (1024, 512, 256)] == [1, 2, 8]
    for b in per.values():
        assert default_max_batch("cpu", b) * b <= max(CPU_CHUNK_BYTES, b)
    assert default_max_batch("cpu", 1) == DEVICE_MAX_BATCH["cpu"]  # capped
    assert default_max_batch("cpu", 1 << 30) == 1  # never below one
    assert default_max_batch("cpu") == CPU_UNKNOWN_MAX_BATCH
    assert default_max_batch("cuda:1", per[1024]) == DEVICE_MAX_BATCH["cuda"]


def test_max_batch_is_validated() -> None:
    assert check_max_batch(None) is None and check_max_batch(3) == 3
    for bad in (0, -1, 2.5, True, "4"):
        with pytest.raises(InputError, match="max_batch"):
            check_max_batch(bad)  # type: ignore[arg-type]
    with pytest.raises(InputError, match="max_batch"):
        zoo.load("efficientsam:vitt", weights="random", image_size=64, max_batch=0)


@pytest.mark.parametrize("family", ["sam2", "efficientsam", "sameo-amodal", "opseg-shadow"])
def test_every_batched_family_shares_the_core_option(family: str) -> None:
    from zoo.options import max_batch_option
    from zoo.registry import get_registry

    fam, _ = get_registry().resolve_name(family)
    declared = fam.options.model_fields["max_batch"]
    core = max_batch_option()  # declared once, in core: the same help, bounds and commands
    assert declared.description == core.description
    assert declared.metadata == core.metadata
    assert fam.options.is_loader("max_batch")


def test_cli_refuses_a_bad_max_batch(tmp_path) -> None:  # type: ignore[no-untyped-def]
    proc = run_zoo(
        "run", "sam2:tiny", "--image", "example:grace-hopper", "--boxes", "1,1,50,50",
        "--weights", "random", "--max-batch", "0", "--out", str(tmp_path / "o"),
    )  # fmt: skip
    assert_user_error(proc, "--max-batch", "minimum")
    assert not (tmp_path / "o").exists()


def test_chunking_does_not_change_results() -> None:
    """One call in chunks of 1, 3 or all: the same masks and (to float noise) logits."""
    model = zoo.load("sam2:tiny", weights="random", image_size=256)
    assert model.max_batch is None and model.decoder_batch == 8  # 256 px on CPU
    rng = np.random.default_rng(0)
    x1, y1 = rng.uniform(0, 300, 7), rng.uniform(0, 200, 7)
    boxes = np.stack([x1, y1, x1 + rng.uniform(20, 200, 7), y1 + rng.uniform(20, 200, 7)], 1)
    img = rng.integers(0, 255, (400, 500, 3), dtype=np.uint8)
    results = []
    for mb in (1, 3, None):
        model.max_batch = mb
        results.append(model.segment(img, {"boxes": boxes}))
    for r in results[1:]:
        np.testing.assert_allclose(r.low_res_logits, results[0].low_res_logits, atol=1e-4)
        assert (r.masks != results[0].masks).mean() < 1e-4
    model2 = zoo.load("efficientsam:vitt", weights="random", image_size=64, max_batch=5)
    assert model2.max_batch == 5 and model2.decoder_batch == 5  # a loader kwarg, set by core
