"""Locally trained SAMEO variants: where they live and how the registry finds them.

``zoo train sameo-amodal --name NAME`` writes ``$ZOO_HOME/local/sameo-amodal/NAME/
variant.json`` next to (or pointing at) the checkpoint and its generated card. The
plugin's ``zoo_register_variants`` hook reads those small JSON files, so a trained model
is ``zoo run sameo-amodal:NAME`` right away. Reading them must stay cheap - this runs on
every ``zoo list`` - so this module imports json and pathlib only (no torch).
"""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path
from typing import Any

FAMILY = "sameo-amodal"
VARIANT_FILE = "variant.json"
#: Tags of the registered architectures; a local variant may not shadow them.
RESERVED_TAGS = ("vitt", "vits")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def local_root() -> Path:
    """``$ZOO_HOME/local/sameo-amodal`` (``ZOO_HOME`` read now, so tests can move it)."""
    from zoo.weights import cache_dir

    return cache_dir() / "local" / FAMILY


def check_name(name: str) -> str:
    """A variant tag that is safe as a folder name and does not hide a built-in tag."""
    from zoo.errors import InputError

    if not _NAME_RE.match(name):
        raise InputError(
            f"--name {name!r} is not a valid variant name; use letters, digits, '.', '_' or "
            "'-' (at most 64, starting with a letter or digit)"
        )
    if name in RESERVED_TAGS:
        raise InputError(
            f"--name {name} would shadow the built-in sameo-amodal:{name}; pick another name"
        )
    return name


def read_variant_files(root: Path | None = None) -> list[dict[str, Any]]:
    """Every readable ``*/variant.json`` under ``root``; broken files warn and are skipped,
    so one damaged folder never hides the other trained models."""
    root = local_root() if root is None else root
    if not root.is_dir():
        return []
    found = []
    for path in sorted(root.glob(f"*/{VARIANT_FILE}")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(data, dict) or data.get("family") != FAMILY or "tag" not in data:
                raise ValueError("not a sameo-amodal variant file")
            found.append(data)
        except (OSError, ValueError) as exc:
            warnings.warn(f"skipping local SAMEO variant {path}: {exc}", stacklevel=2)
    return found
