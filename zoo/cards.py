"""Model cards: Markdown with Hugging Face style YAML front matter plus a ``zoo:`` block.

The Hugging Face keys (``license``, ``tags``, ``pipeline_tag``, ``base_model``...) keep the
card readable by the hub's tooling; the ``zoo`` block holds what this project needs to be
honest with users: the paper, the upstream code and commit, notes on what differs. The
reported results live in the catalogue (``registry.yaml``, each with its source), not in
the card, so there is one copy of every number; ``reported_metrics`` stays readable for
cards written before that (``zoo info`` shows it only when no catalogue reports results).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from zoo.errors import InputError


class Paper(BaseModel):
    model_config = ConfigDict(extra="allow")
    title: str
    authors: str | None = None
    venue: str | None = None
    arxiv: str | None = None
    url: str | None = None


class Upstream(BaseModel):
    model_config = ConfigDict(extra="allow")
    repo: str
    commit: str | None = None
    license: str | None = None


class ReportedMetric(BaseModel):
    """One number from the paper. ``source`` says who measured it (default: the authors)."""

    model_config = ConfigDict(extra="allow")
    dataset: str
    metric: str
    value: float
    variant: str | None = None
    baseline: float | None = None
    baseline_name: str | None = None
    setting: str | None = None
    source: str = "reported by the authors"


class ZooCardBlock(BaseModel):
    model_config = ConfigDict(extra="allow")
    family: str
    tasks: list[str] = Field(min_length=1, description="the registered tasks the family does")
    paper: Paper | None = None
    upstream: Upstream | None = None
    reported_metrics: list[ReportedMetric] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)


class ModelCard(BaseModel):
    model_config = ConfigDict(extra="allow")
    license: str
    library_name: str | None = None
    pipeline_tag: str | None = None
    tags: list[str] = Field(default_factory=list)
    base_model: str | list[str] | None = None
    datasets: list[str] = Field(default_factory=list)
    zoo: ZooCardBlock
    body: str = ""
    #: where the card was read from: internal, never serialised (``zoo info --json`` and
    #: ``/v1/models/NAME`` show the card, not the server's file layout)
    path: str | None = Field(default=None, exclude=True)

    @property
    def license_label(self) -> str:
        """The licence as people read it: Hugging Face writes ``license: other`` plus a
        ``license_name`` (and ``license_link``) for licences outside its list."""
        extra = self.model_extra or {}
        name, link = extra.get("license_name"), extra.get("license_link")
        if self.license == "other" and name:
            return f"{name} ({link})" if link else str(name)
        return self.license


def split_front_matter(text: str) -> tuple[dict[str, Any], str]:
    if not text.startswith("---"):
        raise ValueError("a model card must start with a '---' YAML front matter block")
    parts = text.split("\n---", 1)
    if len(parts) != 2:
        raise ValueError("the card's YAML front matter is not closed by a '---' line")
    head = parts[0][3:]
    body = parts[1].lstrip("-").lstrip("\n")
    data = yaml.safe_load(head) or {}
    if not isinstance(data, dict):
        raise ValueError("the card's front matter must be a YAML mapping")
    return data, body


def parse_card(text: str, path: str | None = None) -> ModelCard:
    try:
        data, body = split_front_matter(text)
        return ModelCard(**data, body=body, path=path)
    except (ValueError, yaml.YAMLError, ValidationError) as exc:
        where = path or "model card"
        first = (
            str(exc).splitlines()[0]
            if not isinstance(exc, ValidationError)
            else (f"{'.'.join(str(p) for p in exc.errors()[0]['loc'])}: {exc.errors()[0]['msg']}")
        )
        raise InputError(f"invalid model card {where}: {first}") from None


def load_card(path: str | Path) -> ModelCard:
    p = Path(path)
    if not p.exists():
        raise InputError(f"model card {p} not found; reinstall the plugin that registers it")
    return parse_card(p.read_text(encoding="utf-8"), path=str(p))


def family_card(family: str) -> ModelCard:
    """The card of a registered family, wherever its catalogue keeps it (the core's
    ``cards/`` for the built-in families; a plugin's own package for a third party's)."""
    from zoo.registry import get_registry

    fam = get_registry().families.get(family)
    if fam is None or not fam.card:
        raise InputError(
            f"family {family} has no model card registered; check `zoo plugins` and "
            "reinstall the plugin (or sam-zoo, for a built-in family)"
        )
    return load_card(fam.card)


def render_card(
    card: ModelCard,
    *,
    name: str | None = None,
    tags: list[str] | None = None,
    base_model: str | None = None,
    extra: dict[str, Any] | None = None,
) -> str:
    """Write a card back to text (used for generated cards of trained/adapted variants)."""
    data = card.model_dump(mode="json", exclude={"body", "path"}, exclude_none=True)
    if tags:
        data["tags"] = sorted(set(data.get("tags", [])) | set(tags))
    if base_model:
        data["base_model"] = base_model
    if extra:
        data["zoo"].update(extra)
    head = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    title = f"# {name}\n\n" if name else ""
    return f"---\n{head}---\n\n{title}{card.body}"
