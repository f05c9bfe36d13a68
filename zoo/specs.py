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
* :class:`OptionSpec` - one family-specific command-line option with its type, default and
  the commands it applies to. The CLI and :class:`zoo.runners.RunContext` cast and check
  values from this declaration, so no runner re-states a type or a default.
"""

from __future__ import annotations

import importlib
from enum import Enum
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from zoo.errors import PluginError


class Task(str, Enum):
    """The task interfaces a model can implement (see ``docs/architecture.md``)."""

    PROMPTABLE = "promptable"
    AMODAL = "amodal"
    SHADOW = "shadow"
    RGBD = "rgbd"
    VIDEO = "video"
    ADAPT = "adapt"
    CONCEPT = "concept"


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


OptionType = Literal["str", "int", "float", "bool", "path", "choice", "ints", "floats"]
Command = Literal["run", "eval", "train", "batch", "serve", "export"]


class OptionSpec(BaseModel):
    """A family-specific option of ``zoo run/eval/train/batch``: declared once, used everywhere.

    ``type`` drives casting and the error for an ill-typed value; ``bool`` options are
    flags (``--overlay``; ``--overlay false`` also works). ``model=True`` marks a loader
    kwarg: the core passes it to :func:`zoo.load` itself, so ``zoo batch`` and ``zoo serve``
    honour it without the family's runner.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    help: str
    type: OptionType = "str"
    default: Any = None
    commands: tuple[Command, ...] = ("run",)
    choices: tuple[str, ...] | None = None
    aliases: tuple[str, ...] = ()
    model: bool = False
    minimum: float | None = None
    multiple_of: int | None = None  # int options: the value must divide by it (input sides)

    @field_validator("name", "aliases")
    @classmethod
    def _identifiers(cls, v: Any) -> Any:
        for n in [v] if isinstance(v, str) else v:
            if not n.isidentifier() or n != n.lower():
                raise ValueError(f"option name {n!r} must be a lower-case identifier (a_b)")
        return v

    @model_validator(mode="after")
    def _choices(self) -> OptionSpec:
        if self.type == "choice" and not self.choices:
            raise ValueError(f"option {self.name}: type 'choice' needs choices=")
        return self

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    def cast(self, raw: Any) -> Any:
        """Convert a command-line string (or a Python value) to this option's type.

        Raises ``ValueError`` with a short reason; the caller names the flag.
        """
        if raw is None:
            return None
        t = self.type
        if t == "bool":
            if isinstance(raw, bool):
                return raw
            text = str(raw).strip().lower()
            if text in ("1", "true", "yes", "on"):
                return True
            if text in ("0", "false", "no", "off"):
                return False
            raise ValueError("is not true or false")
        if isinstance(raw, bool):
            raise ValueError("needs a value")
        if t == "int":
            try:
                value: Any = int(str(raw).strip())
            except ValueError:
                raise ValueError("is not an integer") from None
        elif t == "float":
            try:
                value = float(str(raw).strip())
            except ValueError:
                raise ValueError("is not a number") from None
        elif t in ("ints", "floats"):
            conv = int if t == "ints" else float
            items = raw if isinstance(raw, (list, tuple)) else str(raw).replace(";", ",").split(",")
            try:
                value = [conv(str(x).strip()) for x in items if str(x).strip()]
            except ValueError:
                kind = "integers" if t == "ints" else "numbers"
                raise ValueError(f"is not a comma list of {kind}") from None
        elif t == "choice":
            value = str(raw).strip()
            assert self.choices is not None
            if value not in self.choices:
                raise ValueError(f"is not one of {', '.join(self.choices)}")
        elif t == "path":
            value = Path(str(raw)).expanduser()
        else:
            value = str(raw)
        if self.minimum is not None and t in ("int", "float") and value < self.minimum:
            raise ValueError(f"is below the minimum {self.minimum:g}")
        if self.multiple_of and t == "int" and value % self.multiple_of:
            raise ValueError(f"is not a multiple of {self.multiple_of}")
        return value


def image_size_option(
    multiple_of: int,
    *,
    commands: tuple[Command, ...] = ("run", "eval", "batch"),
    default: int | None = None,
    note: str = "default 1024; smaller is faster",
) -> OptionSpec:
    """The ``--image-size`` loader option every SAM-style family declares: the encoder's
    input side, at least 64 and a multiple of the encoder's stride (64 for SAM 2's Hiera,
    16 for ViT patches). ``note`` says what the default is for this family.
    """
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


def _options_from(value: Any) -> Any:
    """Accept a list of OptionSpecs, or a ``{name: OptionSpec | dict}`` mapping."""
    if isinstance(value, dict):
        out = []
        for name, spec in value.items():
            if isinstance(spec, OptionSpec):
                out.append(spec if spec.name == name else spec.model_copy(update={"name": name}))
            elif isinstance(spec, dict):
                out.append(OptionSpec(name=name, **spec))
            else:
                raise ValueError(
                    f"option {name!r}: declare it as OptionSpec(name, help, type, default, "
                    "commands), not a bare help string"
                )
        return out
    return value


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
    options: list[OptionSpec] = Field(
        default_factory=list, description="family-specific options of run/eval/train/batch"
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

    @field_validator("loader", "runner", "evaluator", "trainer")
    @classmethod
    def _ref(cls, v: str | None) -> str | None:
        if v is not None and (v.count(":") != 1 or not all(v.split(":"))):
            raise ValueError(f"{v!r} must look like 'package.module:Attribute'")
        return v

    @field_validator("options", mode="before")
    @classmethod
    def _options(cls, v: Any) -> Any:
        return _options_from(v)

    @model_validator(mode="after")
    def _unique_options(self) -> FamilySpec:
        seen: set[str] = set()
        for o in self.options:
            for n in (o.name, *o.aliases):
                if n in seen:
                    raise ValueError(f"option {n!r} is declared twice")
                seen.add(n)
        return self

    def card_path(self) -> Path | None:
        return Path(self.card) if self.card else None

    def options_for(self, command: str) -> list[OptionSpec]:
        """The options that apply to ``zoo <command>``."""
        return [o for o in self.options if command in o.commands]

    def option(self, name: str) -> OptionSpec | None:
        """The declaration behind ``name`` or one of its aliases."""
        for o in self.options:
            if name == o.name or name in o.aliases:
                return o
        return None


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
