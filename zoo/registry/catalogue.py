"""Which weights exist and what they scored, as data: ``registry.yaml`` files.

A catalogue file lists families and their variants (tags, aliases, the family's default
tag, description, licence, the files of each variant — URI, sha256, size or ``same_as`` —
the loader config a variant sets, and the results reported for it with their source), in
the spirit of OpenMMLab's model-index and timm's pretrained configs. Code stays in plugins
(the ``FamilySpec``: tasks, loader, options); the catalogue says which weights that code can
load. Sources, merged in this order by :mod:`zoo.registry.discovery`:

1. the core's ``registry.yaml`` (shipped in the core's wheel, every built-in family) and any
   plugin's own catalogue, all registered through the same ``zoo_register_catalogs`` hook;
2. a user's: ``$ZOO_HOME/registry.yaml`` and ``ZOO_REGISTRY=FILE[:FILE...]`` add variants or
   point a built-in's files at a mirror (the same sha256), with no code.

A bad entry is refused with one line naming the file, the line and the field; the rest of
the catalogue still loads. Reading a catalogue imports yaml and pydantic, never torch.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from zoo.specs import VariantSpec, WeightsSpec

__all__ = [
    "CATALOGUE_VERSION",
    "Catalogue",
    "CatalogueError",
    "FamilyEntry",
    "LoadedCatalogue",
    "ResultEntry",
    "VariantEntry",
    "builtin_catalogue",
    "read_catalogue",
    "user_catalogues",
]

CATALOGUE_VERSION = 1


class ResultEntry(BaseModel):
    """One reported number: what was measured, on what, and who says so."""

    model_config = ConfigDict(extra="forbid")

    dataset: str
    split: str | None = None
    metric: str
    value: float
    source: str = Field(description="where the number comes from: a paper table, a README")
    setting: str | None = None
    baseline: float | None = None
    baseline_name: str | None = None
    variant: str | None = Field(
        default=None,
        description="family-level results only: what was measured (e.g. weights not released)",
    )
    note: str | None = None


class VariantEntry(BaseModel):
    """One variant: its files and what it was reported to score."""

    model_config = ConfigDict(extra="forbid")

    aliases: list[str] = Field(default_factory=list)
    description: str = ""
    params: int | None = Field(default=None, ge=0)
    config: dict[str, Any] = Field(default_factory=dict, description="loader kwargs it sets")
    files: dict[str, WeightsSpec] = Field(default_factory=dict)
    results: list[ResultEntry] = Field(default_factory=list)


class FamilyEntry(BaseModel):
    """One family as the catalogue knows it (the code comes from its plugin)."""

    model_config = ConfigDict(extra="forbid")

    plugin: str | None = Field(default=None, description="the distribution with its code")
    install: str | None = Field(default=None, description="what to pip install for it")
    description: str | None = None
    license: str | None = None
    default_tag: str | None = None
    card: str | None = Field(default=None, description="its card, relative to the file")
    tasks: list[str] = Field(default_factory=list)
    weights_note: str | None = None
    variants: dict[str, VariantEntry] = Field(default_factory=dict)
    results: list[ResultEntry] = Field(
        default_factory=list,
        description="reported results of weights not registered here (e.g. never released)",
    )

    @field_validator("variants")
    @classmethod
    def _tags(cls, v: dict[str, VariantEntry]) -> dict[str, VariantEntry]:
        for tag in v:
            if not tag or ":" in tag or any(c.isspace() for c in tag):
                raise ValueError(f"tag {tag!r} must be non-empty with no ':' or spaces")
        return v


class Catalogue(BaseModel):
    """A whole catalogue file."""

    model_config = ConfigDict(extra="forbid")

    schema_version: int = Field(default=CATALOGUE_VERSION, alias="schema")
    families: dict[str, FamilyEntry] = Field(default_factory=dict)

    @field_validator("schema_version")
    @classmethod
    def _version(cls, v: int) -> int:
        if v != CATALOGUE_VERSION:
            raise ValueError(f"schema {v} is not {CATALOGUE_VERSION}, the one this sam-zoo reads")
        return v


class CatalogueError(ValueError):
    """A catalogue entry that cannot be used: ``file:line: field: problem``."""


@dataclass
class LoadedCatalogue:
    """A catalogue file as read: its valid families and one message per refused entry."""

    path: Path
    origin: str
    families: dict[str, FamilyEntry] = field(default_factory=dict)
    lines: dict[tuple[str, ...], int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    def line(self, *keys: str) -> int:
        """The line of the deepest known key on that path (1-based)."""
        for n in range(len(keys), 0, -1):
            if keys[:n] in self.lines:
                return self.lines[keys[:n]]
        return 1

    def where(self, *keys: str) -> str:
        return f"{self.path}:{self.line(*keys)}"

    def card_path(self, family: str) -> str | None:
        entry = self.families.get(family)
        if entry is None or entry.card is None:
            return None
        p = Path(entry.card)
        return str(p if p.is_absolute() else (self.path.parent / p).resolve())

    def variants(self, family: str) -> Iterator[VariantSpec]:
        entry = self.families[family]
        for tag, v in entry.variants.items():
            yield VariantSpec(
                family=family,
                tag=tag,
                checkpoints=dict(v.files),
                params=v.params,
                config=dict(v.config),
                aliases=list(v.aliases),
                description=v.description,
                source=self.origin,
                results=[r.model_dump(exclude_none=True) for r in v.results],
            )


def _line_map(node: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], int]]:
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            k = (*path, str(key.value))
            yield k, key.start_mark.line + 1
            yield from _line_map(value, k)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            k = (*path, str(i))
            yield k, item.start_mark.line + 1
            yield from _line_map(item, k)


def read_catalogue(path: str | os.PathLike[str], origin: str) -> LoadedCatalogue:
    """Read and check one catalogue file; invalid families are left out, each with a
    ``file:line: ...`` message in ``errors`` (an unreadable file: one message, no family)."""
    p = Path(path)
    cat = LoadedCatalogue(path=p, origin=origin)
    try:
        text = p.read_text(encoding="utf-8")
        node = yaml.compose(text)
        data = yaml.safe_load(text)
    except FileNotFoundError:
        cat.errors.append(f"{p}: no such catalogue file")
        return cat
    except (OSError, UnicodeDecodeError) as exc:
        cat.errors.append(f"{p}: unreadable ({exc})")
        return cat
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        cat.errors.append(f"{p}{line}: not valid YAML ({getattr(exc, 'problem', exc)})")
        return cat
    cat.lines = dict(_line_map(node)) if node is not None else {}
    if data is None:
        return cat
    if not isinstance(data, dict):
        cat.errors.append(f"{p}:1: a catalogue is a mapping with 'schema' and 'families'")
        return cat
    families = data.get("families") or {}
    head = {k: v for k, v in data.items() if k != "families"}
    try:
        Catalogue.model_validate({**head, "families": {}})
    except ValidationError as exc:
        cat.errors.append(_message(cat, (), exc))
        return cat
    if not isinstance(families, dict):
        cat.errors.append(f"{cat.where('families')}: families: must be a mapping of family names")
        return cat
    for name, raw in families.items():
        try:
            cat.families[str(name)] = FamilyEntry.model_validate(raw or {})
        except ValidationError as exc:
            cat.errors.append(_message(cat, ("families", str(name)), exc))
    return cat


def _message(cat: LoadedCatalogue, prefix: tuple[str, ...], exc: ValidationError) -> str:
    err = exc.errors()[0]
    loc = tuple(str(x) for x in err.get("loc", ()))
    keys = (*prefix, *loc)
    shown = ".".join(k for k in keys if k != "families") or "(top)"
    msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
    return f"{cat.where(*keys)}: {shown}: {msg}"


def builtin_catalogue() -> Path:
    """The core's ``registry.yaml``: in the installed wheel (``zoo/catalogue/``), or at the
    top of the repository in a development install."""
    here = Path(__file__).resolve().parent.parent  # zoo/
    for candidate in (here / "catalogue" / "registry.yaml", here.parent / "registry.yaml"):
        if candidate.is_file():
            return candidate
    return here / "catalogue" / "registry.yaml"


def user_catalogues() -> list[Path]:
    """``$ZOO_HOME/registry.yaml`` (when it exists), then every ``ZOO_REGISTRY`` file."""
    home = os.environ.get("ZOO_HOME")
    root = (Path(home) if home else Path("~/.cache/zoo")).expanduser()
    out = [root / "registry.yaml"] if (root / "registry.yaml").is_file() else []
    for part in os.environ.get("ZOO_REGISTRY", "").split(os.pathsep):
        if part.strip():
            out.append(Path(part.strip()).expanduser())
    return out
