"""Where adapted variants live on disk, and how they become registry variants.

An adaptation named ``my-domain`` is a folder ``$ZOO_HOME/local/wesam-adapt/my-domain/``:

* ``adapter.safetensors``: the LoRA matrices only (a few MB), with the adapter's metadata
  (base size, rank, base fingerprint...) in the safetensors header;
* ``card.md``: a generated model card (base model, data, prompt kind, steps, measured
  before/after mIoU);
* ``variant.json``: what the registry needs to list and load it, written *last*, so a
  folder without it is an unfinished run and is never registered;
* ``train/``: the resumable checkpoint of a run in progress (removed when it finishes).

This module imports only the standard library and zoo's cheap modules: the registry calls
:func:`registered_variants` on every ``zoo list``, so scanning must not import torch.
"""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path
from typing import Any

from zoo.errors import InputError

FAMILY = "wesam-adapt"
#: The sizes of SAM 2.1 that can be adapted; also the family's built-in (un-adapted) tags.
SIZES = ("tiny", "small", "base-plus", "large")
PROMPT_KINDS = ("box", "point", "coarse")
ADAPTER_FILE = "adapter.safetensors"
VARIANT_FILE = "variant.json"
CARD_FILE = "card.md"
TRAIN_DIR = "train"

_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


def local_root() -> Path:
    """``$ZOO_HOME/local/wesam-adapt`` (resolved at call time: tests move ZOO_HOME)."""
    from zoo.weights import cache_dir

    return cache_dir() / "local" / FAMILY


def check_name(name: str | None) -> str:
    """Validate an adaptation name: it becomes a folder and the tag of ``wesam-adapt:<name>``."""
    if not name:
        raise InputError("--name is required: the adapted model becomes wesam-adapt:<name>")
    if not _NAME_RE.match(name):
        raise InputError(
            f"--name {name!r} must be 1-64 characters of a-z, 0-9, '.', '_' or '-' "
            "(lower case, starting with a letter or digit)"
        )
    if name in SIZES:
        raise InputError(
            f"--name {name!r} is taken by the un-adapted wesam-adapt:{name}; choose another name"
        )
    return name


def adapter_dir(name: str) -> Path:
    return local_root() / check_name(name)


def parse_base(base: str | None, default_size: str = "tiny") -> str:
    """``--base sam2:tiny`` / ``tiny`` / ``sam2.1-hiera-tiny`` -> the SAM 2.1 size tag."""
    if base is None or base == "":
        return default_size
    text = base.strip().lower()
    family, _, tag = text.partition(":")
    if not tag:
        family, tag = "sam2", family
    aliases = {"b+": "base-plus", "base_plus": "base-plus", "t": "tiny", "s": "small", "l": "large"}
    for size in SIZES:
        aliases[f"sam2.1-hiera-{size}"] = size
        aliases[f"sam2.1_hiera_{size.replace('-', '_')}"] = size
    tag = aliases.get(tag, tag)
    if family not in ("sam2", FAMILY) or tag not in SIZES:
        raise InputError(
            f"--base {base!r} is not a SAM 2.1 model; WeSAM here adapts "
            + ", ".join(f"sam2:{s}" for s in SIZES)
        )
    return tag


def read_variant(folder: Path) -> dict[str, Any]:
    """The parsed ``variant.json`` of an adaptation folder (``InputError`` if unusable)."""
    path = folder / VARIANT_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(
            f"{folder} holds no finished adaptation ({VARIANT_FILE} missing)"
        ) from None
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(
            f"{path} is unreadable ({exc}); delete the folder and adapt again"
        ) from None
    if not isinstance(data, dict) or data.get("family") != FAMILY or "size" not in data:
        raise InputError(f"{path} is not a wesam-adapt variant file")
    return data


def variant_spec_from(folder: Path, data: dict[str, Any]) -> Any:
    """The :class:`zoo.specs.VariantSpec` of one finished adaptation."""
    from zoo.specs import VariantSpec, WeightsSpec

    size = data["size"]
    config: dict[str, Any] = {"size": size, "adapter": str(folder / ADAPTER_FILE)}
    if data.get("image_size"):
        config["image_size"] = int(data["image_size"])
    base = data.get("base_weights") or {}
    kind = base.get("kind")
    weights = None
    weights_from = None
    if kind == "random":
        config["base_seed"] = int(base.get("seed", 0))
    elif kind == "checkpoint":
        weights = WeightsSpec(
            uri=str(Path(base["path"]).resolve()),
            note="the custom SAM 2.1 checkpoint this adapter was trained on",
        )
    else:
        weights_from = f"sam2:{size}"
    metrics = data.get("metrics") or {}
    before, after = metrics.get("miou_before"), metrics.get("miou_after")
    prompt, steps = data.get("prompt", "?"), data.get("steps", "?")
    desc = f"WeSAM adapter on sam2:{size} ({prompt} prompts, {steps} steps)"
    if isinstance(before, (int, float)) and isinstance(after, (int, float)):
        desc += f"; mIoU {before:.4f} -> {after:.4f}"
    card = folder / CARD_FILE
    return VariantSpec(
        family=FAMILY,
        tag=folder.name,
        weights=weights,
        weights_from=weights_from,
        params=data.get("params"),
        config=config,
        description=desc,
        card=str(card) if card.exists() else None,
    )


def scan_variants() -> list[Any]:
    """VariantSpecs of every finished adaptation under :func:`local_root` (cheap: JSON only).

    A damaged folder is skipped with a warning rather than breaking ``zoo list``.
    """
    root = local_root()
    if not root.is_dir():
        return []
    out = []
    for vfile in sorted(root.glob(f"*/{VARIANT_FILE}")):
        folder = vfile.parent
        if not _NAME_RE.match(folder.name) or folder.name in SIZES:
            continue
        try:
            data = read_variant(folder)
            if not (folder / ADAPTER_FILE).is_file():
                raise InputError(f"{folder / ADAPTER_FILE} is missing")
            out.append(variant_spec_from(folder, data))
        except Exception as exc:  # one bad folder must not hide the others
            warnings.warn(f"skipping adapted model {folder}: {exc}", stacklevel=2)
    return out
