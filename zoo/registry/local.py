"""Locally trained variants: one folder layout, one writer, one scanner for every family.

A model trained on this machine is a folder ``$ZOO_HOME/local/<family>/<name>/``::

    variant.json   what the registry needs to list and load it (written last)
    card.md        the generated model card (base, data, steps, measured metrics)
    <files>        its checkpoint files, named in variant.json's "checkpoints"
    train/         resumable state (kept after a run, so ``--resume --steps N`` can extend it)

``variant.json`` is a :class:`zoo.specs.VariantSpec` in JSON; checkpoint URIs may be
relative to the folder (``"decoder.safetensors"``), so a folder can be moved or copied to
another machine as a whole. Because ``variant.json`` is written last and atomically, a
folder without it is an unfinished run and is never registered.

The registry calls :func:`scan` on every ``zoo list``: this module imports only the
standard library and pydantic specs, never torch. Publishing a variant bumps
:data:`GENERATION`, which tells the process-wide registry to rebuild (the new variant
loads in this process right away), without this module knowing the registry.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from zoo.errors import InputError
from zoo.specs import VariantSpec

VARIANT_FILE = "variant.json"
CARD_FILE = "card.md"
TRAIN_DIR = "train"
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
#: Bumped whenever a variant is published here; :func:`zoo.registry.get_registry` rebuilds
#: when it changed.
GENERATION = [0]


def local_root(family: str | None = None) -> Path:
    """``$ZOO_HOME/local[/<family>]``, read now (tests and users move ``ZOO_HOME``)."""
    home = os.environ.get("ZOO_HOME")
    root = (Path(home) if home else Path("~/.cache/zoo")).expanduser() / "local"
    return root / family if family else root


def check_name(family: str, name: str | None, reserved: tuple[str, ...] | set[str] = ()) -> str:
    """A variant name that is a safe folder name and hides no registered tag."""
    if not name:
        raise InputError(f"--name is required: the trained model becomes {family}:<name>")
    if not _NAME_RE.match(name):
        raise InputError(
            f"--name {name!r} must be 1-64 characters of a-z, 0-9, '.', '_' or '-' "
            "(lower case, starting with a letter or digit)"
        )
    if name in reserved:
        raise InputError(
            f"--name {name} would hide the built-in {family}:{name}; choose another name"
        )
    return name


def variant_dir(family: str, name: str) -> Path:
    return local_root(family) / name


def _atomic_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_variant(
    folder: Path, spec: VariantSpec, *, card: str | None = None, extra: dict[str, Any] | None = None
) -> Path:
    """Publish a trained variant: the card first, ``variant.json`` last (atomically).

    Checkpoint URIs that point inside ``folder`` are stored relative to it. ``extra`` is
    kept beside the spec (``"zoo_train"``: base, data, metrics) for people and tools; the
    registry ignores it.
    """
    folder.mkdir(parents=True, exist_ok=True)
    if card is not None:
        _atomic_text(folder / CARD_FILE, card)
    data = spec.model_dump(mode="json", exclude={"source", "local"})
    if (folder / CARD_FILE).exists():
        data["card"] = CARD_FILE
    for w in data["checkpoints"].values():
        uri = w.get("uri")
        if uri:
            p = Path(uri.removeprefix("file://"))
            if p.is_absolute() and p.parent.resolve() == folder.resolve():
                w["uri"] = p.name
    if extra:
        data["zoo_train"] = extra
    _atomic_text(folder / VARIANT_FILE, json.dumps(data, indent=2) + "\n")
    GENERATION[0] += 1  # the new variant loads in this process too (zoo.load right after)
    return folder / VARIANT_FILE


def read_variant(folder: Path) -> VariantSpec:
    """The :class:`VariantSpec` of a finished folder (``InputError`` when unusable)."""
    path = folder / VARIANT_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{folder} holds no finished model ({VARIANT_FILE} missing)") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(
            f"{path} is unreadable ({exc}); delete the folder and train again"
        ) from None
    if not isinstance(data, dict):
        raise InputError(f"{path} is not a variant file")
    data.pop("zoo_train", None)
    for w in (data.get("checkpoints") or {}).values():
        uri = w.get("uri") if isinstance(w, dict) else None
        if uri and "://" not in uri and not uri.startswith("/"):
            target = folder / uri
            if not target.is_file():
                raise InputError(f"{target} is missing; the folder {folder} is incomplete")
            w["uri"] = str(target.resolve())
    card = data.get("card")
    if card and not Path(card).is_absolute():
        data["card"] = str((folder / card).resolve())
    try:
        spec = VariantSpec(**data)
    except Exception as exc:
        raise InputError(f"{path} is not a valid variant file: {exc}") from None
    if spec.family != folder.parent.name or spec.tag != folder.name:
        raise InputError(
            f"{path} says {spec.name} but lives in {folder.parent.name}/{folder.name}; "
            "move the folder back or edit the file"
        )
    return spec.model_copy(update={"local": True, "source": str(folder)})


def extra_of(folder: Path) -> dict[str, Any]:
    """The ``zoo_train`` record of a finished folder (metrics, base, data), or ``{}``."""
    try:
        data = json.loads((folder / VARIANT_FILE).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}
    return dict(data.get("zoo_train") or {}) if isinstance(data, dict) else {}


def scan(families: set[str] | None = None) -> tuple[list[VariantSpec], list[str]]:
    """Every finished local variant (of ``families`` when given), and a warning per bad folder.

    One damaged folder is reported and skipped; it never hides the others or breaks
    ``zoo list``.
    """
    root = local_root()
    found: list[VariantSpec] = []
    problems: list[str] = []
    if not root.is_dir():
        return found, problems
    for vfile in sorted(root.glob(f"*/*/{VARIANT_FILE}")):
        folder = vfile.parent
        if families is not None and folder.parent.name not in families:
            continue
        try:
            found.append(read_variant(folder))
        except InputError as exc:
            problems.append(f"skipping local model {folder}: {exc}")
    return found, problems
