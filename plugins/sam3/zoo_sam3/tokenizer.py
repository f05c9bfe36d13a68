"""SAM 3's text tokenizer: CLIP's byte-level BPE, 49408 tokens, 32 per text.

Built from ``vocab.json`` + ``merges.txt`` when the published files are at hand, otherwise
from the BPE merge list that ``open_clip_torch`` ships (``bpe_simple_vocab_16e6.txt.gz``,
the very vocabulary CLIP, Meta's ``sam3`` and ``facebook/sam3`` use), so random weights and
local checkpoints need no download. No hub is contacted either way.
"""

from __future__ import annotations

import gzip
import importlib.util
import json
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zoo.errors import PluginError, WeightsError

if TYPE_CHECKING:
    from transformers import CLIPTokenizer

#: Tokens per text, start and end included (SAM 3's text encoder has 32 positions).
CONTEXT_LENGTH = 32
START, END = "<|startoftext|>", "<|endoftext|>"
#: Merges CLIP uses from the BPE file (the rest of the file is never used by CLIP).
_N_MERGES = 49152 - 256 - 2


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2/CLIP's reversible map from bytes to printable characters."""
    bs = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs], strict=True))


def open_clip_bpe() -> Path:
    """The BPE file inside the installed open_clip package (located without importing it)."""
    spec = importlib.util.find_spec("open_clip")
    locations = list(spec.submodule_search_locations or []) if spec else []
    for loc in locations:
        path = Path(loc) / "bpe_simple_vocab_16e6.txt.gz"
        if path.is_file():
            return path
    raise PluginError(
        "the CLIP BPE vocabulary was not found: sam3 builds its tokenizer from open_clip_torch's "
        "bpe_simple_vocab_16e6.txt.gz; reinstall the plugin (pip install zoo-sam3)"
    )


def vocab_from_bpe(path: Path) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """CLIP's vocabulary and merges from the gzipped merge list (CLIP's own construction:
    256 byte symbols, the same with ``</w>``, one token per merge, then start/end)."""
    with gzip.open(path) as fh:
        lines = fh.read().decode("utf-8").split("\n")[1 : _N_MERGES + 1]
    merges = [(a, b) for a, b in (line.split() for line in lines)]
    symbols = list(bytes_to_unicode().values())
    tokens = symbols + [s + "</w>" for s in symbols] + ["".join(m) for m in merges] + [START, END]
    return {t: i for i, t in enumerate(tokens)}, merges


def vocab_from_files(vocab: Path, merges: Path) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """The published ``vocab.json`` + ``merges.txt`` (header line ``#version`` skipped)."""
    try:
        table = json.loads(Path(vocab).read_text(encoding="utf-8"))
        pairs = []
        for line in Path(merges).read_text(encoding="utf-8").splitlines():
            if line.startswith("#version") or not line.strip():
                continue
            a, b = line.split()
            pairs.append((a, b))
    except (OSError, ValueError) as exc:
        raise WeightsError(f"cannot read the tokenizer files {vocab}, {merges}: {exc}") from None
    if not isinstance(table, dict) or START not in table or END not in table:
        raise WeightsError(f"{vocab} is not a CLIP vocabulary (no {START}/{END} tokens)")
    return {str(k): int(v) for k, v in table.items()}, pairs


@lru_cache(maxsize=4)
def clip_tokenizer(vocab: Path | None = None, merges: Path | None = None) -> CLIPTokenizer:
    """A transformers ``CLIPTokenizer`` (fast) for SAM 3: from the files, or from open_clip."""
    from transformers import CLIPTokenizer

    if (vocab is None) != (merges is None):
        raise WeightsError("the tokenizer needs both vocab.json and merges.txt, or neither")
    table, pairs = (
        vocab_from_files(vocab, merges) if vocab and merges else vocab_from_bpe(open_clip_bpe())
    )
    merges_arg: Any = pairs  # the tokenizers backend takes (a, b) pairs; the stub says strings
    return CLIPTokenizer(vocab=table, merges=merges_arg, model_max_length=CONTEXT_LENGTH)
