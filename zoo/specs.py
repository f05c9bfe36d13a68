"""Cheap, import-free descriptions of families and variants.

These are what plugins register and what ``zoo list`` / ``zoo info`` show. They point at
code only through ``"module:attr"`` strings, which :func:`import_string` resolves on first
use, so listing a hundred models never imports torch.
"""

from __future__ import annotations

import importlib
from enum import Enum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from zoo.errors import PluginError


class Task(str, Enum):
    """The task interfaces a model can implement (see DESIGN.md, "Tasks")."""

    PROMPTABLE = "promptable"
    AMODAL = "amodal"
    SHADOW = "shadow"
    RGBD = "rgbd"
    VIDEO = "video"
    ADAPT = "adapt"


class WeightsSpec(BaseModel):
    """Where a variant's checkpoint lives and how to check it."""

    model_config = ConfigDict(extra="forbid")

    uri: str
    sha256: str | None = None
    size: int | None = None
    pattern: str | None = Field(
        default=None, description="glob picking the file inside a repo snapshot (ms:// models)"
    )
    license: str | None = None
    note: str | None = None

    @field_validator("sha256")
    @classmethod
    def _hex(cls, v: str | None) -> str | None:
        if v is None:
            return v
        v = v.lower()
        if len(v) != 64 or any(c not in "0123456789abcdef" for c in v):
            raise ValueError(f"sha256 must be 64 hex digits, got {v!r}")
        return v

    @field_validator("uri")
    @classmethod
    def _scheme(cls, v: str) -> str:
        if "://" not in v and not v.startswith("/"):
            raise ValueError(f"weights uri {v!r} needs a scheme (hf://, ms://, https://, file://)")
        return v


class VariantSpec(BaseModel):
    """One named set of weights of a family: ``family:tag``."""

    model_config = ConfigDict(extra="forbid")

    family: str
    tag: str
    weights: WeightsSpec | None = None
    params: int | None = Field(default=None, description="parameter count")
    config: dict[str, Any] = Field(default_factory=dict, description="loader kwargs")
    aliases: list[str] = Field(default_factory=list)
    description: str = ""
    source: str = Field(default="", description="the package or file that registered it")
    card: str | None = Field(default=None, description="card path overriding the family's")
    weights_from: str | None = Field(
        default=None,
        description="reuse another variant's weights, e.g. 'sam2:tiny' (methods with none)",
    )

    @property
    def name(self) -> str:
        return f"{self.family}:{self.tag}"


class FamilySpec(BaseModel):
    """A method: its tasks, card, default tag and the lazy loader of its model class."""

    model_config = ConfigDict(extra="forbid")

    name: str
    tasks: list[Task]
    loader: str = Field(description='"module:Class" implementing the task interfaces')
    card: str | None = Field(default=None, description="path to the model card (.md)")
    default_tag: str
    description: str = ""
    variants: list[VariantSpec] = Field(default_factory=list)
    runner: str | None = Field(default=None, description='"module:function" for `zoo run`')
    evaluator: str | None = Field(default=None, description='"module:function" for `zoo eval`')
    trainer: str | None = Field(default=None, description='"module:function" for `zoo train`')
    options: dict[str, str] = Field(
        default_factory=dict,
        description="family-specific CLI options of run/eval/train: name -> help text",
    )
    weights_note: str | None = Field(
        default=None,
        description="shown when a variant has no weights (e.g. 'the authors published none')",
    )
    requires_weights: bool = Field(
        default=True,
        description="False for methods with no learned parameters (they load without a file)",
    )
    conformance: dict[str, Any] = Field(
        default_factory=dict,
        description="loader kwargs the conformance kit passes to keep CPU runs small",
    )
    license: str | None = None
    source: str = ""

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not v or ":" in v or any(c.isspace() for c in v):
            raise ValueError(f"family name {v!r} must be non-empty with no ':' or spaces")
        return v

    @field_validator("loader", "runner", "evaluator", "trainer")
    @classmethod
    def _ref(cls, v: str | None) -> str | None:
        if v is not None and (v.count(":") != 1 or not all(v.split(":"))):
            raise ValueError(f"{v!r} must look like 'package.module:Attribute'")
        return v

    def card_path(self) -> Path | None:
        return Path(self.card) if self.card else None


def import_string(ref: str) -> Any:
    """Resolve ``"pkg.module:Attr"``; a failure names the reference and the import error."""
    module_name, _, attr = ref.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise PluginError(
            f"cannot import {module_name!r} for {ref!r}: {exc}; is its plugin installed? "
            "(see `zoo plugins`)"
        ) from exc
    obj: Any = module
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError as exc:
            raise PluginError(f"{module_name!r} has no attribute {attr!r} (from {ref!r})") from exc
    return obj
