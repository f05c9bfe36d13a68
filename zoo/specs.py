"""Cheap, import-free descriptions of families, variants, checkpoints and options.

These are what plugins register and what ``zoo list`` / ``zoo info`` show. They point at
code only through ``"module:attr"`` strings, which :func:`import_string` resolves on first
use, so listing a hundred models never imports torch (nor numpy).

The three declarations a plugin makes, and who consumes them:

* :class:`WeightsSpec` - one checkpoint file (URI + sha256 + size), or ``same_as`` another
  variant's file. Resolved only by :func:`zoo.load` (through the load context), by
  ``zoo pull`` and by the cache commands; a plugin never calls the resolver itself.
* :class:`VariantSpec` - ``family:tag`` with its *named* checkpoints (``{"sam2": ...,
  "clip": ...}``), parameter count and loader kwargs.
* ``FamilySpec.options`` - the family's typed options, a :class:`zoo.options.Options`
  class (the CLI flags, ``zoo info`` rows and checks all come from it).

``Task`` names the built-in tasks; a family may list any *registered* task by name (a
plugin registers new ones through ``zoo_register_tasks``).
"""

from __future__ import annotations

import importlib
from enum import Enum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from zoo.errors import PluginError
from zoo.options.base import Options


class Task(str, Enum):
    """Names of the built-in tasks (:mod:`zoo.tasks`); equal to their strings, so
    ``Task.PROMPTABLE == "promptable"``. Registered tasks of plugins are plain strings."""

    PROMPTABLE = "promptable"
    EVERYTHING = "everything"
    AMODAL = "amodal"
    SHADOW = "shadow"
    RGBD = "rgbd"
    VIDEO = "video"
    ADAPT = "adapt"
    CONCEPT = "concept"
    CONCEPT_VIDEO = "concept-video"

    def __str__(self) -> str:
        return self.value


#: Name of a variant's checkpoint when it declares just one (``weights=`` / ``weights_from=``).
PRIMARY = "model"


class WeightsSpec(BaseModel):
    """Where one checkpoint file lives and how to check it.

    Either ``uri`` (with ``sha256`` and ``size`` where published) or ``same_as``: the same
    file as another variant's checkpoint (``"sam2:tiny"`` for its primary file,
    ``"depth-sam:tiny#clip"`` for a named one). Methods with no weights of their own
    (SAM2Long on SAM 2) borrow that way instead of copying hashes; once every plugin has
    registered, the registry fills in the referenced ``uri``/``sha256``/``size`` and keeps
    ``same_as`` for display.
    """

    model_config = ConfigDict(extra="forbid")

    uri: str | None = None
    sha256: str | None = None
    size: int | None = None
    pattern: str | None = Field(
        default=None, description="glob picking the file inside a repo snapshot (ms:// models)"
    )
    license: str | None = None
    note: str | None = None
    same_as: str | None = Field(
        default=None, description="'family:tag[#file]': the same file as that variant's"
    )
    published: bool = Field(
        default=True,
        description="False: the method needs this file but nobody published one (train it, "
        "or pass it with --checkpoint); `note` says why",
    )
    optional: bool = Field(
        default=False,
        description="resolved only when the model asks for it (e.g. a base encoder that a "
        "fine-tuned checkpoint may already contain); `zoo pull` still fetches it",
    )

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
    def _scheme(cls, v: str | None) -> str | None:
        if v is not None and "://" not in v and not v.startswith("/"):
            raise ValueError(f"weights uri {v!r} needs a scheme (hf://, ms://, https://, file://)")
        return v

    @model_validator(mode="after")
    def _one_source(self) -> WeightsSpec:
        if not self.published:
            if self.uri is not None or self.same_as is not None:
                raise ValueError("an unpublished checkpoint has no uri= or same_as=")
        elif self.uri is None and self.same_as is None:
            raise ValueError(
                "a checkpoint needs uri= (or same_as= another variant's file, or "
                "published=False when none exists)"
            )
        return self

    @property
    def borrowed(self) -> bool:
        """True while this is still an unresolved ``same_as`` reference."""
        return self.published and self.uri is None


class VariantSpec(BaseModel):
    """One named set of weights of a family: ``family:tag``.

    ``checkpoints`` maps a file name the loader understands (``"model"``, ``"sam2"``,
    ``"clip"``, ``"adapter"``...) to its :class:`WeightsSpec`; the first entry is the
    *primary* file, the one ``--checkpoint PATH`` replaces. For the common one-file case
    ``weights=WeightsSpec(...)`` and ``weights_from="sam2:tiny"`` are accepted as
    shorthands for ``checkpoints={"model": ...}``.
    """

    model_config = ConfigDict(extra="forbid")

    family: str
    tag: str
    checkpoints: dict[str, WeightsSpec] = Field(default_factory=dict)
    params: int | None = Field(default=None, description="parameter count")
    config: dict[str, Any] = Field(default_factory=dict, description="loader kwargs")
    aliases: list[str] = Field(default_factory=list)
    description: str = ""
    source: str = Field(default="", description="the package or file that registered it")
    card: str | None = Field(default=None, description="card path overriding the family's")
    local: bool = Field(
        default=False, description="trained on this machine (found under $ZOO_HOME/local)"
    )
    results: list[dict[str, Any]] = Field(
        default_factory=list,
        description="reported results (dataset, split, metric, value, source), from a catalogue",
    )
    unavailable: str | None = Field(
        default=None,
        description="why this variant cannot be loaded here (a borrowed file whose plugin is "
        "missing or broken); set by the registry",
    )

    @model_validator(mode="before")
    @classmethod
    def _shorthands(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        weights = data.pop("weights", None)
        borrowed = data.pop("weights_from", None)
        if weights is not None or borrowed is not None:
            if data.get("checkpoints"):
                raise ValueError("give checkpoints= or weights=/weights_from=, not both")
            if weights is not None and borrowed is not None:
                raise ValueError("give weights= or weights_from=, not both")
            data["checkpoints"] = {
                PRIMARY: weights if weights is not None else {"same_as": borrowed}
            }
        return data

    @field_validator("checkpoints")
    @classmethod
    def _names(cls, v: dict[str, WeightsSpec]) -> dict[str, WeightsSpec]:
        for name in v:
            if not name or not name.replace("-", "_").isidentifier():
                raise ValueError(f"checkpoint name {name!r} must be a short identifier")
        return v

    @property
    def name(self) -> str:
        return f"{self.family}:{self.tag}"

    @property
    def primary(self) -> str | None:
        """The name of the file ``--checkpoint PATH`` replaces (the first one declared)."""
        return next(iter(self.checkpoints), None)

    @property
    def weights(self) -> WeightsSpec | None:
        """The primary checkpoint's spec (``None`` when the variant registers no file)."""
        return self.checkpoints[self.primary] if self.primary else None

    @property
    def unpublished(self) -> list[str]:
        """Names of the files the method needs that nobody published."""
        return [k for k, w in self.checkpoints.items() if not w.published]

    @property
    def total_size(self) -> int | None:
        """Bytes of every file (``None`` when any size is unknown), shared files once."""
        seen: dict[str, int | None] = {}
        for key, w in self.checkpoints.items():
            seen[w.uri or w.same_as or key] = w.size
        if not seen or any(s is None for s in seen.values()):
            return None
        return sum(s or 0 for s in seen.values())


def _options_from(value: Any) -> Any:
    """An :class:`Options` class, or (plugin API 2) a list / ``{name: spec}`` of
    ``OptionSpec`` turned into one."""
    if value is None:
        return Options
    if isinstance(value, type) and issubclass(value, Options):
        return value
    from zoo.options.legacy import OptionSpec, options_class

    if isinstance(value, dict):
        specs = []
        for name, spec in value.items():
            if isinstance(spec, OptionSpec):
                specs.append(spec if spec.name == name else spec.model_copy(update={"name": name}))
            elif isinstance(spec, dict):
                specs.append(OptionSpec(name=name, **spec))
            else:
                raise ValueError(f"option {name!r}: declare options as a zoo.options.Options class")
        value = specs
    if isinstance(value, (list, tuple)):
        for o in value:
            if not isinstance(o, OptionSpec):
                raise ValueError(f"{o!r} is not an OptionSpec; declare a zoo.options.Options class")
        names = [n for o in value for n in (o.name, *o.aliases)]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"option {dup[0]!r} is declared twice")
        return options_class(list(value))
    raise ValueError("options must be a zoo.options.Options class")


class FamilySpec(BaseModel):
    """A method: its tasks, card, default tag and the lazy loader of its model class."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    name: str
    tasks: list[str]
    loader: str = Field(description='"module:Class" implementing the task interfaces')
    card: str | None = Field(default=None, description="path to the model card (.md)")
    default_tag: str | None = Field(
        default=None, description="the tag `family` alone means (else the catalogue's)"
    )
    description: str = ""
    variants: list[VariantSpec] = Field(default_factory=list)
    runner: str | None = Field(default=None, description='"module:function" for `zoo run`')
    evaluator: str | None = Field(default=None, description='"module:function" for `zoo eval`')
    trainer: str | None = Field(default=None, description='"module:function" for `zoo train`')
    options: type[Options] = Field(
        default=Options,
        description="the family's typed options (an Options class): loader keywords and "
        "options of run/eval/batch/serve/export",
    )
    train_config: str | None = Field(
        default=None,
        description='"module:Class" of the trainer\'s typed config (a zoo.training.TrainConfig)',
    )
    weights_note: str | None = Field(
        default=None,
        description="shown when a variant has no weights (e.g. 'the authors published none')",
    )
    dtypes: list[str] = Field(
        default_factory=lambda: ["float32"],
        description="what --dtype accepts (float32, bfloat16, float16); others are refused",
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
        if not v or ":" in v or "#" in v or any(c.isspace() for c in v):
            raise ValueError(f"family name {v!r} must be non-empty with no ':', '#' or spaces")
        return v

    @field_validator("tasks", mode="before")
    @classmethod
    def _task_names(cls, v: Any) -> Any:
        if not isinstance(v, (list, tuple)) or not v:
            raise ValueError("tasks must be a non-empty list of task names")
        return [t.value if isinstance(t, Enum) else str(t) for t in v]

    @field_validator("loader", "runner", "evaluator", "trainer", "train_config")
    @classmethod
    def _ref(cls, v: str | None) -> str | None:
        if v is not None and (v.count(":") != 1 or not all(v.split(":"))):
            raise ValueError(f"{v!r} must look like 'package.module:Attribute'")
        return v

    @field_validator("options", mode="before")
    @classmethod
    def _options(cls, v: Any) -> Any:
        return _options_from(v)

    def card_path(self) -> Path | None:
        return Path(self.card) if self.card else None

    def options_for(self, command: str) -> list[str]:
        """Names of the options that apply to ``zoo <command>``."""
        return self.options.names(command)


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


def __getattr__(name: str) -> Any:
    """Plugin API 2 imported ``OptionSpec`` and ``image_size_option`` from here."""
    if name in ("OptionSpec", "OptionType", "Command"):
        from zoo.options import legacy

        return getattr(legacy, name) if name != "Command" else legacy.__dict__.get("Command")
    if name == "image_size_option":
        return _legacy_image_size_option
    raise AttributeError(f"module 'zoo.specs' has no attribute {name!r}")


def _legacy_image_size_option(
    multiple_of: int,
    *,
    commands: tuple[str, ...] = ("run", "eval", "batch"),
    default: int | None = None,
    note: str = "default 1024; smaller is faster",
) -> Any:
    """Plugin API 2's ``image_size_option``: an ``OptionSpec`` (for ``options=[...]`` lists);
    API 3 declares ``image_size: int | None = zoo.options.image_size_option(64)``."""
    from zoo.options.legacy import OptionSpec

    return OptionSpec(
        name="image_size",
        type="int",
        default=default,
        minimum=64,
        multiple_of=multiple_of,
        model=True,
        commands=commands,
        help=f"encoder input side, a multiple of {multiple_of} ({note})",
    )
