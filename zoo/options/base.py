"""The one way options are declared: a pydantic model per option set.

An option set is a subclass of :class:`Options`; each field is one option, declared with
:func:`option` (its help, the commands it applies to, aliases, whether it is a loader
keyword) and ordinary pydantic constraints (``ge``, ``le``, ``multiple_of``, a ``Literal``
for choices). From that one declaration the core derives the command-line flags
(``--image-size``), the checks and one-line errors (:mod:`zoo.options.parse`), the rows of
``zoo info`` and ``/v1/models`` (:meth:`Options.describe`) and the docs, in the style of
simonw/llm's per-model ``Options``.

Torch- and numpy-free: families declare their options at registration.
"""

from __future__ import annotations

import types
import typing
from pathlib import Path
from typing import Any, ClassVar, Literal, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field
from pydantic.fields import FieldInfo

__all__ = ["COMMANDS", "Command", "Options", "option"]

Command = Literal["run", "eval", "train", "batch", "serve", "export"]
COMMANDS: tuple[str, ...] = get_args(Command)
#: Where an option's zoo metadata sits in ``json_schema_extra``.
_META = "zoo"
#: Commands a loader option applies to when it does not say (everything that builds the
#: model the way ``zoo run`` does).
LOADER_COMMANDS: tuple[str, ...] = ("run", "eval", "batch", "serve", "export")
#: Commands an ordinary (task-call) option applies to when it does not say.
CALL_COMMANDS: tuple[str, ...] = ("run", "batch", "serve")


def option(
    default: Any = None,
    *,
    help: str,
    commands: tuple[str, ...] | None = None,
    aliases: tuple[str, ...] = (),
    loader: bool = False,
    architecture: bool = False,
    ge: float | None = None,
    gt: float | None = None,
    le: float | None = None,
    lt: float | None = None,
    multiple_of: int | None = None,
) -> Any:
    """One option: ``image_size: int | None = option(None, help=..., ge=64, loader=True)``.

    ``loader=True`` marks a keyword of the family's ``create`` (passed by :func:`zoo.load`,
    so ``zoo batch`` and ``zoo serve`` honour it too); other options go to the task method
    (run, batch, serve) or to the family's evaluator or trainer. ``commands`` defaults to
    every command that builds the model for loader options, else run/batch/serve.

    ``architecture=True`` (a loader option) marks one that picks the network itself
    (``--arch tiny``, ``--size large``), not a setting of it: when the value a user gives
    differs from the variant's own, the model's label says so in every output
    (``sam3:base (arch tiny)``), so a result is never credited to the variant's network.
    """
    bad = [c for c in commands or () if c not in COMMANDS]
    if bad:
        raise ValueError(f"unknown command {bad[0]!r}; commands are {', '.join(COMMANDS)}")
    cmds = tuple(commands) if commands else (LOADER_COMMANDS if loader else CALL_COMMANDS)
    meta: dict[str, Any] = {
        "commands": list(cmds),
        "aliases": list(aliases),
        "loader": loader,
        "architecture": architecture and loader,
    }
    bounds: dict[str, Any] = {
        k: v
        for k, v in {"ge": ge, "gt": gt, "le": le, "lt": lt, "multiple_of": multiple_of}.items()
        if v is not None
    }
    extra: Any = {_META: meta}
    return Field(default, description=help, json_schema_extra=extra, **bounds)


def _meta(info: FieldInfo) -> dict[str, Any]:
    extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
    meta = extra.get(_META)
    if isinstance(meta, dict):
        return meta
    return {"commands": list(CALL_COMMANDS), "aliases": [], "loader": False}


def strip_optional(annotation: Any) -> Any:
    if get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


def type_name(annotation: Any) -> str:
    """What ``zoo info`` shows as an option's type: int, float, bool, str, path, ints,
    floats, or the choices ``a|b|c``."""
    ann = strip_optional(annotation)
    if get_origin(ann) is Literal:
        return "|".join(str(a) for a in get_args(ann))
    if get_origin(ann) in (list, tuple):
        inner = get_args(ann)[0] if get_args(ann) else str
        return {int: "ints", float: "floats"}.get(inner, "strs")
    if isinstance(ann, type) and issubclass(ann, Path):
        return "path"
    return {int: "int", float: "float", bool: "bool", str: "str"}.get(ann, "str")


def is_list(annotation: Any) -> bool:
    return get_origin(strip_optional(annotation)) in (list, tuple)


def flag(name: str) -> str:
    """``image_size`` -> ``--image-size``."""
    return "--" + name.replace("_", "-")


class Options(BaseModel):
    """Base of every option set (a family's, a task's, a trainer's config, the loader's).

    Unknown fields are refused, values are validated and cast (``"3"`` -> ``3`` on the
    command line), instances are frozen. Subclass it and declare fields with
    :func:`option`.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, protected_namespaces=())

    #: Set on option sets made from an old ``OptionSpec`` list (plugin API 2).
    legacy: ClassVar[bool] = False

    # ------------------------------------------------------------ introspection
    @classmethod
    def names(cls, command: str | None = None) -> list[str]:
        """Field names (for ``command`` only, when given), in declaration order."""
        return [n for n, info in cls.model_fields.items() if cls.applies(n, command)]

    @classmethod
    def applies(cls, name: str, command: str | None) -> bool:
        info = cls.model_fields.get(name)
        if info is None:
            return False
        return command is None or command in _meta(info)["commands"]

    @classmethod
    def commands_of(cls, name: str) -> list[str]:
        return list(_meta(cls.model_fields[name])["commands"])

    @classmethod
    def aliases_of(cls, name: str) -> list[str]:
        return list(_meta(cls.model_fields[name])["aliases"])

    @classmethod
    def is_loader(cls, name: str) -> bool:
        info = cls.model_fields.get(name)
        return bool(info is not None and _meta(info)["loader"])

    @classmethod
    def loader_names(cls) -> list[str]:
        return [n for n in cls.model_fields if cls.is_loader(n)]

    @classmethod
    def architecture_names(cls) -> list[str]:
        """Loader options that pick the network built (``option(architecture=True)``)."""
        return [n for n, info in cls.model_fields.items() if _meta(info).get("architecture", False)]

    @classmethod
    def lookup(cls, key: str) -> str | None:
        """The field behind ``key`` (its name or an alias)."""
        if key in cls.model_fields:
            return key
        for n in cls.model_fields:
            if key in cls.aliases_of(n):
                return n
        return None

    @classmethod
    def default_of(cls, name: str) -> Any:
        return cls.model_fields[name].get_default(call_default_factory=True)

    @classmethod
    def describe(cls, command: str | None = None) -> list[dict[str, Any]]:
        """One row per option, as ``zoo info`` and ``/v1/models`` show them."""
        rows = []
        for n in cls.names(command):
            info = cls.model_fields[n]
            bounds = {
                k: getattr(m, k)
                for m in info.metadata
                for k in ("ge", "gt", "le", "lt", "multiple_of")
                if getattr(m, k, None) is not None
            }
            default = cls.default_of(n)
            rows.append(
                {
                    "option": flag(n),
                    "name": n,
                    "type": type_name(info.annotation),
                    "default": str(default) if isinstance(default, Path) else default,
                    "commands": cls.commands_of(n),
                    "help": info.description or "",
                    "aliases": [flag(a) for a in cls.aliases_of(n)],
                    "loader": cls.is_loader(n),
                    **({"bounds": bounds} if bounds else {}),
                }
            )
        return rows

    def values(self) -> dict[str, Any]:
        """Every field's value (set or default), by name."""
        return {n: getattr(self, n) for n in type(self).model_fields}

    def given(self) -> dict[str, Any]:
        """Only the fields that were set explicitly."""
        return {n: getattr(self, n) for n in self.model_fields_set}


def merge(*sets: type[Options], name: str = "MergedOptions") -> type[Options]:
    """One option set holding the fields of several (the first declaration of a name wins)."""
    from pydantic import create_model

    fields: dict[str, Any] = {}
    for s in sets:
        for n, info in s.model_fields.items():
            fields.setdefault(n, (info.annotation, info))
    return create_model(name, __base__=Options, **fields)  # type: ignore[call-overload,no-any-return]
