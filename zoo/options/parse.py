"""Reading options from a command line, a manifest, a request or Python keywords.

Every surface hands raw values (``{"pathways": "3"}``, ``{"image_size": 256}``) to
:func:`validate`, which checks them against the declared option sets and returns typed
instances, or raises one :class:`~zoo.errors.InputError` line naming the flag, the value
and the fix: an unknown or misspelt name (with the closest declared one), a name that
belongs to another command, an ill-typed value or one outside its bounds. The same words
on the CLI, in ``zoo batch`` manifests, in HTTP 4xx answers and in Python.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from pydantic import ValidationError

from zoo.errors import InputError, surface

from .base import Options, is_list
from .base import flag as _flag


def flag(name: str) -> str:
    """How an option is named in a message: ``--image-size`` on the command line,
    ``image_size`` in Python and in HTTP requests (where it is written that way)."""
    return _flag(name) if surface() == "cli" else name


__all__ = ["parse_extras", "validate", "validate_many"]

OptionsT = TypeVar("OptionsT", bound=Options)


def parse_extras(args: Sequence[str]) -> dict[str, Any]:
    """``["--pathways", "3", "--render-only"]`` -> ``{"pathways": "3", "render_only": True}``.

    A flag followed by another flag (or nothing) is ``True``. Repeating a flag is an error
    (``--x 1 --x 2`` would otherwise keep one of them silently).
    """
    out: dict[str, Any] = {}
    i = 0
    while i < len(args):
        tok = args[i]
        if not tok.startswith("--") or tok == "--":
            raise InputError(f"unexpected argument {tok!r}; options look like --name VALUE")
        key, eq, val = tok[2:].partition("=")
        key = key.replace("-", "_")
        if key in out:
            raise InputError(f"--{key.replace('_', '-')} is given twice; give it once")
        if eq:
            out[key] = val
            i += 1
        elif i + 1 < len(args) and not args[i + 1].startswith("--"):
            out[key] = args[i + 1]
            i += 2
        else:
            out[key] = True
            i += 1
    return out


_PHRASES = {
    "int_parsing": "is not an integer",
    "int_from_float": "is not an integer",
    "float_parsing": "is not a number",
    "bool_parsing": "is not true or false",
    "finite_number": "is not a finite number",
}


def _phrase(err: Mapping[str, Any]) -> str:
    kind = str(err.get("type", ""))
    ctx = err.get("ctx") or {}
    if kind in _PHRASES:
        return _PHRASES[kind]
    if kind == "literal_error":
        return f"is not one of {str(ctx.get('expected', '')).replace(' or ', ', ')}".replace(
            "'", ""
        )
    if kind == "greater_than_equal":
        return f"is below the minimum {ctx.get('ge')}"
    if kind == "greater_than":
        return f"must be above {ctx.get('gt')}"
    if kind == "less_than_equal":
        return f"is above the maximum {ctx.get('le')}"
    if kind == "less_than":
        return f"must be below {ctx.get('lt')}"
    if kind == "multiple_of":
        return f"is not a multiple of {ctx.get('multiple_of')}"
    msg = str(err.get("msg", "is invalid"))
    return msg.removeprefix("Value error, ")[:1].lower() + msg.removeprefix("Value error, ")[1:]


def _prepare(cls: type[Options], name: str, value: Any) -> Any:
    """Command-line spellings the declared type understands: ``"1,2"`` for lists, a bare
    flag for booleans. Python values pass through."""
    info = cls.model_fields[name]
    if value is True and info.annotation not in (bool, bool | None):
        raise InputError(f"{flag(name)} needs a value")
    if isinstance(value, str) and is_list(info.annotation):
        return [v.strip() for v in value.replace(";", ",").split(",") if v.strip()]
    if isinstance(value, str) and value.strip().lower() in ("", "none") and not value.strip():
        return value
    return value


def _shown(value: Any) -> str:
    return "(no value)" if value is True else repr(value)


def validate_many(
    sets: Sequence[type[Options]],
    raw: Mapping[str, Any],
    *,
    command: str,
    where: str,
    info_hint: str | None = None,
) -> list[Options]:
    """Check ``raw`` against several option sets (a family's and its task's, say) at once.

    Each key must belong to exactly the first set that declares it for ``command``; the
    result holds one instance per set (defaults filled). ``where`` names the command in
    messages (``"zoo run sam2:tiny"``); ``info_hint`` is where the options are listed.
    """
    per_set: list[dict[str, Any]] = [{} for _ in sets]
    first_flag: dict[str, str] = {}
    for key, value in raw.items():
        target = None
        for i, s in enumerate(sets):
            name = s.lookup(key)
            if name is not None and s.applies(name, command):
                target = (i, name)
                break
        if target is None:
            unknown_option(sets, key, command, where, info_hint)
        assert target is not None
        i, name = target
        if name in per_set[i]:
            raise InputError(f"{flag(key)} repeats {first_flag[name]}; give it once")
        first_flag[name] = flag(key)
        per_set[i][name] = _prepare(sets[i], name, value)
    out: list[Options] = []
    for s, values in zip(sets, per_set, strict=True):
        try:
            out.append(s.model_validate(values))
        except ValidationError as exc:
            err = exc.errors()[0]
            loc = err.get("loc") or ("?",)
            name = str(loc[0])
            given = values.get(name, raw.get(name))
            raise InputError(
                f"bad value for {first_flag.get(name, flag(name))}: {_shown(given)} {_phrase(err)}"
            ) from None
    return out


def validate(
    cls: type[OptionsT],
    raw: Mapping[str, Any],
    *,
    command: str,
    where: str,
    info_hint: str | None = None,
) -> OptionsT:
    """:func:`validate_many` for one option set."""
    (one,) = validate_many([cls], raw, command=command, where=where, info_hint=info_hint)
    return one  # type: ignore[return-value]


def unknown_option(
    sets: Sequence[type[Options]], key: str, command: str, where: str, info_hint: str | None
) -> None:
    """The one-line error for a key no set accepts for ``command``."""
    shown = flag(key)
    for s in sets:
        name = s.lookup(key)
        if name is not None:
            cmds = ", ".join(f"zoo {c}" for c in s.commands_of(name))
            raise InputError(f"{shown} applies to {cmds}, not `{where}`")
    known = [n for s in sets for n in s.names(command)]
    spelled = known + [a for s in sets for n in s.names(command) for a in s.aliases_of(n)]
    close = difflib.get_close_matches(key, spelled, n=1, cutoff=0.6)
    listing = ", ".join(flag(n) for n in known)
    where_listed = f" (see `{info_hint}`)" if info_hint else ""
    if close:
        tail = f"; did you mean {flag(close[0])}?{where_listed}"
    elif listing:
        tail = f"; it accepts {listing}{where_listed}"
    else:
        tail = f"; it takes no extra options{where_listed}"
    raise InputError(f"unknown option {shown} for `{where}`{tail}")
