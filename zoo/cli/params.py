"""Command-line flags made from option declarations, so each option is declared once.

:func:`flags` turns the fields of an :class:`~zoo.options.Options` class (``LoadOptions``:
``--device``, ``--dtype``, ``--weights``...) into typer parameters; :func:`command` gives a
command function ``fn(**kwargs)`` the signature typer reads (its own parameters plus
those), so ``zoo run``, ``eval``, ``batch``, ``serve`` and ``export`` all offer the same
flags with the same help, and the values are validated by the same class afterwards.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

import typer

from zoo.options import Options
from zoo.options.base import strip_optional

__all__ = ["command", "flags"]


def _cli_type(annotation: Any) -> Any:
    """What typer should parse: choices, lists and unions are read as text and checked by
    the option class (one-line errors), plain scalars keep their type."""
    ann = strip_optional(annotation)
    if ann in (int, float, bool, str) or (isinstance(ann, type) and issubclass(ann, Path)):
        return ann | None if ann is not bool else bool
    if get_origin(ann) is Literal and all(isinstance(a, str) for a in get_args(ann)):
        return str | None
    return str | None


def flags(
    cls: type[Options], command: str, *, only: Sequence[str] | None = None, panel: str | None = None
) -> list[inspect.Parameter]:
    """One typer option per field of ``cls`` that applies to ``command`` (or in ``only``).

    Defaults are ``None`` (bools: their default), so the command can tell what was given;
    the class supplies the real defaults when it validates."""
    out = []
    for name in cls.names(command):
        if only is not None and name not in only:
            continue
        info = cls.model_fields[name]
        ann = _cli_type(info.annotation)
        default = cls.default_of(name) if ann is bool else None
        shown = cls.default_of(name)
        help_text = info.description or ""
        if shown not in (None, False) and ann is not bool:
            help_text += f" [default: {shown}]"
        opt = typer.Option(
            default,
            "--" + name.replace("_", "-"),
            help=help_text,
            show_default=False,
            rich_help_panel=panel,
        )
        out.append(
            inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=opt, annotation=ann)
        )
    return out


def command(fn: Callable[..., Any], *groups: list[inspect.Parameter]) -> Callable[..., Any]:
    """A wrapper of ``fn`` whose signature, as typer reads it, is ``fn``'s own parameters
    (all but ``**kwargs``) plus ``groups``; the generated ones arrive in ``**kwargs``."""
    import functools
    import typing

    sig = inspect.signature(fn)
    hints = typing.get_type_hints(fn, include_extras=True)
    own = [
        p.replace(annotation=hints.get(p.name, p.annotation))
        for p in sig.parameters.values()
        if p.kind is not inspect.Parameter.VAR_KEYWORD
    ]
    names = {p.name for p in own}
    extra = [p for g in groups for p in g if p.name not in names]
    params = [
        *[p for p in own if p.default is inspect.Parameter.empty],
        *[p for p in own if p.default is not inspect.Parameter.empty],
        *extra,
    ]

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return fn(*args, **kwargs)

    wrapper.__signature__ = sig.replace(parameters=params, return_annotation=None)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in params}
    return wrapper
