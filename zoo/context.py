"""What a family's own command code receives: :class:`RunContext`.

Most families need none: ``zoo run`` and ``zoo batch`` are generic over tasks
(:mod:`zoo.running`). A family points ``FamilySpec.evaluator`` (its protocol's ``zoo
eval``), ``trainer`` (plugin API 2; API 3 trainers take their typed config) or, as an
escape hatch, ``runner`` at a function taking this context. The options were checked and
cast before the function runs (``ctx.opt(name)``: the declared default when not given).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zoo.errors import InputError, PluginError
from zoo.options import LoadOptions, Options
from zoo.specs import FamilySpec, VariantSpec

__all__ = ["RunContext", "check_out_dir"]


@dataclass
class RunContext:
    """The command's shared arguments (``get``), typed options (``opt``) and model loading."""

    name: str
    family: FamilySpec
    variant: VariantSpec | None
    command: str
    options: dict[str, Any]
    values: dict[str, Any] = field(default_factory=dict)
    as_json: bool = False
    console: Any = None
    explicit: set[str] = field(default_factory=set)
    load: LoadOptions = field(default_factory=LoadOptions)
    #: the validated option sets (the family's, then the task's), for typed access
    option_sets: list[Options] = field(default_factory=list)

    def get(self, key: str, default: Any = None) -> Any:
        """A shared argument (``image``, ``out``, ``annotations``, ``device``...)."""
        v = self.options.get(key)
        if v is None and key in LoadOptions.model_fields:
            v = getattr(self.load, key)
            if key == "checkpoint":
                v = self.load.checkpoint_files()
        return default if v is None else v

    def opt(self, key: str) -> Any:
        """An option, cast to its declared type (its declared default if not given)."""
        if key not in self.values:
            raise PluginError(
                f"{self.family.name} reads option {key!r} but does not declare it for "
                f"`zoo {self.command}` (FamilySpec.options)"
            )
        return self.values[key]

    def given(self, key: str) -> bool:
        """Whether the user set the option on the command line (even to its default)."""
        return key in self.explicit

    def model_options(self) -> dict[str, Any]:
        """Loader keywords: the ``loader=True`` options the user set (others keep the
        loader's own default, which the conformance kit checks equals the declared one)."""
        loaders = set(self.family.options.loader_names())
        return {k: self.values[k] for k in self.explicit if k in loaders and k in self.values}

    def model_settings(self) -> dict[str, Any]:
        """Every loader option's effective value (what a run records in ``run.json``)."""
        return {k: self.values[k] for k in self.family.options.loader_names() if k in self.values}

    def load_model(self, name: str | None = None, **config: Any) -> Any:
        """Load this command's model (resolved once, by the CLI), or another by ``name``."""
        from zoo.loading import load, load_resolved

        kwargs = {**self.load.load_kwargs(), "progress": not self.as_json}
        if name is not None and name != self.name:  # e.g. --compare: same backend, own file
            return load(name, **{**kwargs, "checkpoint": None}, **config)
        return load_resolved(
            self.family, self.variant, **kwargs, **{**self.model_options(), **config}
        )

    def out_dir(self) -> Path:
        """The ``--out`` folder, checked but *not created*: outputs appear atomically later,
        so a command that fails leaves nothing behind."""
        out = self.get("out")
        if out is None:
            raise InputError(f"`zoo {self.command}` needs --out DIR for its outputs")
        path = Path(out)
        check_out_dir(path)
        return path


def check_out_dir(path: Path) -> None:
    """Fail early (one line) when ``path`` can never hold outputs; create nothing."""
    if path.exists() and not path.is_dir():
        raise InputError(f"--out {path} is an existing file, not a folder; choose a folder")
    parent = path
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise InputError(f"--out {path}: {parent} is a file; choose a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InputError(f"cannot write to --out {path}: {parent} is not writable")
