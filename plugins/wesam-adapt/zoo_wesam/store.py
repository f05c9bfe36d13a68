"""Names and the published form of an adaptation (a core local variant).

An adaptation named ``my-domain`` is the folder ``$ZOO_HOME/local/wesam-adapt/my-domain/``
of :mod:`zoo.registry.local` (the one layout every family shares):

* ``adapter.safetensors``: the LoRA matrices only (a few MB), with the adapter's metadata
  (base size, rank, base fingerprint...) in the safetensors header;
* ``card.md``: the generated model card (base model, data, prompt kind, steps, measured
  before/after mIoU);
* ``variant.json``: a :class:`~zoo.specs.VariantSpec` with two named files, ``sam2`` (the
  base: ``same_as="sam2:<size>"`` or the custom checkpoint it was trained on) and
  ``adapter``, written *last*; the core's scanner registers it as ``wesam-adapt:<name>``;
* ``train/``: the resumable state of a run in progress (removed when it finishes).

A run on a random-weight base records ``config={"test_mode": True, "base_seed": N}`` and no
``sam2`` file: the base is rebuilt from the seed, and every output stays labelled test mode.

This module is imported by :mod:`zoo_wesam.plugin`, so it imports neither torch nor numpy.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from zoo.errors import InputError

FAMILY = "wesam-adapt"
#: The sizes of SAM 2.1 that can be adapted; also the family's built-in (un-adapted) tags.
SIZES = ("tiny", "small", "base-plus", "large")
#: Names of a variant's files: the SAM 2.1 base checkpoint and the LoRA adapter.
BASE_FILE = "sam2"
ADAPTER_FILE_KEY = "adapter"
ADAPTER_FILE = "adapter.safetensors"


def check_name(name: str | None) -> str:
    """A valid adaptation name (a folder, and the tag of ``wesam-adapt:<name>``)."""
    from zoo.registry.local import check_name as core_check

    return core_check(FAMILY, name, SIZES)


def adapter_dir(name: str) -> Path:
    """``$ZOO_HOME/local/wesam-adapt/<name>`` (read at call time: tests move ZOO_HOME)."""
    from zoo.registry.local import variant_dir

    return variant_dir(FAMILY, check_name(name))


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


def variant_spec(
    name: str,
    *,
    size: str,
    image_size: int,
    base: dict[str, Any],
    adapter: Path,
    adapter_sha256: str,
    params: int | None,
    description: str,
) -> Any:
    """The :class:`~zoo.specs.VariantSpec` of a finished adaptation.

    ``base`` is the adapter's base record (:func:`zoo_wesam.train.base_record`): a
    registered base borrows ``sam2:<size>``'s file, a custom checkpoint is named by path
    (its content is checked by the adapter's base fingerprint at load), a random base is
    rebuilt from its seed (test mode).
    """
    from zoo.specs import VariantSpec, WeightsSpec

    files: dict[str, WeightsSpec] = {}
    config: dict[str, Any] = {"size": size, "image_size": int(image_size)}
    if base["kind"] == "random":
        config.update(test_mode=True, base_seed=int(base["seed"]))
    elif base["kind"] == "checkpoint":
        path = Path(base["path"])
        files[BASE_FILE] = WeightsSpec(
            uri=str(path),
            size=path.stat().st_size if path.is_file() else None,
            note="the custom SAM 2.1 checkpoint this adapter was trained on",
        )
    else:
        files[BASE_FILE] = WeightsSpec(same_as=f"sam2:{size}")
    files[ADAPTER_FILE_KEY] = WeightsSpec(
        uri=str(adapter),
        sha256=adapter_sha256,
        size=adapter.stat().st_size,
        note="WeSAM LoRA adapter, merged into the base at load",
    )
    return VariantSpec(
        family=FAMILY,
        tag=name,
        checkpoints=files,
        params=params,
        config=config,
        description=description,
    )
