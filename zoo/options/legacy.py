"""Plugin API 2's option declarations (``OptionSpec`` lists), kept working for one release.

A family registered with ``options=[OptionSpec(...), ...]`` gets an :class:`Options` class
built from that list (same names, types, defaults, bounds, commands and aliases), so the
rest of the core only ever sees typed option sets; the registry warns that the list form
is deprecated and names the replacement. ``OptionSpec`` itself still casts a value the way
it always did, for plugins that call ``spec.cast`` themselves.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, field_validator, model_validator

from .base import COMMANDS, Options, option

__all__ = ["OptionSpec", "OptionType", "options_class"]

OptionType = Literal["str", "int", "float", "bool", "path", "choice", "ints", "floats"]


class OptionSpec(BaseModel):
    """One family option in the plugin-API-2 form (deprecated: declare an :class:`Options`
    class instead). ``model=True`` is today's ``loader=True``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    help: str
    type: OptionType = "str"
    default: Any = None
    commands: tuple[str, ...] = ("run",)
    choices: tuple[str, ...] | None = None
    aliases: tuple[str, ...] = ()
    model: bool = False
    minimum: float | None = None
    multiple_of: int | None = None

    @field_validator("name", "aliases")
    @classmethod
    def _identifiers(cls, v: Any) -> Any:
        for n in [v] if isinstance(v, str) else v:
            if not n.isidentifier() or n != n.lower():
                raise ValueError(f"option name {n!r} must be a lower-case identifier (a_b)")
        return v

    @field_validator("commands")
    @classmethod
    def _commands(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        bad = [c for c in v if c not in COMMANDS]
        if bad:
            raise ValueError(f"unknown command {bad[0]!r}; commands are {', '.join(COMMANDS)}")
        return v

    @model_validator(mode="after")
    def _choices(self) -> OptionSpec:
        if self.type == "choice" and not self.choices:
            raise ValueError(f"option {self.name}: type 'choice' needs choices=")
        return self

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    def annotation(self) -> Any:
        base: Any = {
            "str": str,
            "int": int,
            "float": float,
            "bool": bool,
            "path": Path,
            "ints": list[int],
            "floats": list[float],
        }.get(self.type)
        if self.type == "choice":
            assert self.choices is not None
            base = Literal[tuple(self.choices)]
        return base if self.type == "bool" and self.default is not None else base | None

    def field(self) -> Any:
        commands = tuple(self.commands)
        if "batch" in commands and "serve" not in commands:  # API 2 served what batch took
            commands += ("serve",)
        return option(
            self.default,
            help=self.help,
            commands=commands,
            aliases=self.aliases,
            loader=self.model,
            ge=self.minimum,
            multiple_of=self.multiple_of,
        )

    def cast(self, raw: Any) -> Any:
        """Convert a command-line string (or a Python value) to this option's type.

        Raises ``ValueError`` with a short reason; the caller names the flag.
        """
        from zoo.errors import InputError

        from .parse import validate

        cls = options_class([self], name="OneOption")
        try:
            return getattr(
                validate(cls, {self.name: raw}, command=self.commands[0], where="?"), self.name
            )
        except InputError as exc:
            raise ValueError(str(exc).split(": ", 1)[-1].split(" ", 1)[-1]) from None


def options_class(specs: list[OptionSpec], *, name: str = "LegacyOptions") -> type[Options]:
    """An :class:`Options` class with one field per ``OptionSpec`` (declaration order)."""
    from pydantic import create_model

    fields = {s.name: (s.annotation(), s.field()) for s in specs}
    cls = create_model(name, __base__=Options, **fields)  # type: ignore[call-overload]
    cls.legacy = True
    return cls  # type: ignore[no-any-return]
