"""What is registered: families, variants, tasks, resolvers, and how plugin loading went;
name lookup (``family[:tag]``, aliases, wildcards).

Built by :mod:`zoo.registry.discovery`; read by everything else. Torch-free.
"""

from __future__ import annotations

import difflib
import fnmatch
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from zoo.errors import UnknownModelError
from zoo.specs import FamilySpec, VariantSpec

if TYPE_CHECKING:
    import pluggy

    from zoo.tasks.spec import TaskSpec


@dataclass
class PluginInfo:
    """One entry point of the ``zoo.plugins`` group (or the core's own registrations)."""

    name: str
    distribution: str | None
    version: str | None
    module: str
    hooks: list[str] = field(default_factory=list)
    error: str | None = None
    builtin: bool = False
    #: the plugin API it targets (declared ``ZOO_PLUGIN_API``, else assumed 2)
    api: int | None = None
    api_declared: bool = False
    #: what it uses that its API deprecates (said by ``zoo plugins`` and on first use)
    deprecations: list[str] = field(default_factory=list)

    def owns(self, source: str) -> bool:
        return source in (self.distribution, self.name)


@dataclass
class Registry:
    """Everything registered: families, variants, tasks, resolvers, plugin outcomes."""

    families: dict[str, FamilySpec] = field(default_factory=dict)
    variants: dict[str, VariantSpec] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)
    tasks: dict[str, TaskSpec] = field(default_factory=dict)
    plugins: list[PluginInfo] = field(default_factory=list)
    resolvers: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    pm: pluggy.PluginManager | None = None
    #: families a catalogue lists whose plugin is not installed: name -> (entry, catalogue)
    uninstalled: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    #: every catalogue read, in merge order (``zoo registry``, ``zoo list --wide``)
    catalogues: list[Any] = field(default_factory=list)
    #: ``zoo data make`` kinds: kind -> (``"module:function"``, help, who registered it)
    datasets: dict[str, tuple[str, str, str]] = field(default_factory=dict)
    #: plugins whose deprecation warning was given (once per registry: once per process in
    #: normal use, again after ``reset_registry``, as a fresh CLI invocation would)
    deprecation_noted: set[str] = field(default_factory=set)

    # ------------------------------------------------------------ registration
    def warn(self, msg: str) -> None:
        self.warnings.append(msg)
        warnings.warn(msg, stacklevel=3)

    def add_task(self, spec: TaskSpec) -> None:
        old = self.tasks.get(spec.name)
        if old is not None:
            self.warn(
                f"task {spec.name!r} is registered by both {old.source} and {spec.source}; "
                "keeping the first. Namespace third-party tasks (e.g. 'mypkg-depth')."
            )
            return
        self.tasks[spec.name] = spec

    def add_family(self, spec: FamilySpec) -> None:
        old = self.families.get(spec.name)
        if old is not None:
            self.warn(
                f"model family {spec.name!r} is registered by both {old.source or '?'} and "
                f"{spec.source or '?'}; keeping the first. Namespace third-party families "
                "(e.g. 'mypkg-sam')."
            )
            return
        self.families[spec.name] = spec
        for v in spec.variants:
            self.add_variant(v.model_copy(update={"family": spec.name, "source": spec.source}))

    def add_variant(self, spec: VariantSpec) -> None:
        old = self.variants.get(spec.name)
        if old is not None and old.source != spec.source:
            self.warn(
                f"variant {spec.name!r} is registered by both {old.source or '?'} and "
                f"{spec.source or '?'}; keeping the first"
            )
            return
        self.variants[spec.name] = spec
        for alias in spec.aliases:
            self.aliases.setdefault(alias, spec.name)

    # ------------------------------------------------------------ tasks
    def task(self, name: str) -> TaskSpec:
        """The registered task ``name`` (one line naming the known ones if unknown)."""
        spec = self.tasks.get(str(name))
        if spec is None:
            from zoo.errors import InputError

            raise InputError(
                f"unknown task {name!r}; the tasks are {', '.join(sorted(self.tasks))} "
                "(see `zoo plugins`)"
            )
        return spec

    def tasks_of(self, family: FamilySpec) -> list[TaskSpec]:
        """The tasks a family does: those it declares, then those they imply
        (``everything`` for ``promptable``), in that order."""
        out = [self.tasks[t] for t in family.tasks if t in self.tasks]
        for spec in self.tasks.values():
            if spec.name not in family.tasks and any(t in family.tasks for t in spec.implied_by):
                out.append(spec)
        return out

    # ------------------------------------------------------------ lookup
    def resolve_name(self, name: str) -> tuple[FamilySpec, VariantSpec | None]:
        """``family[:tag]`` or an alias -> (family, variant). Unknown names suggest close ones
        and say when a plugin that failed to load would have provided the family."""
        name = name.strip()
        name = self.aliases.get(name, name)
        family_name, _, tag = name.partition(":")
        fam = self.families.get(family_name)
        if fam is None:
            raise UnknownModelError(self._unknown_message(name, family_name))
        tag = tag or fam.default_tag or ""
        variant = self.variants.get(f"{family_name}:{tag}")
        if variant is None:
            tags = sorted(v.tag for v in self.variants.values() if v.family == family_name)
            if not tags and tag == fam.default_tag:
                return fam, None
            close = difflib.get_close_matches(tag, tags, n=1, cutoff=0.5)
            hint = f"did you mean {family_name}:{close[0]}? " if close else ""
            raise UnknownModelError(
                f"unknown variant {family_name}:{tag}; {hint}{family_name} has "
                f"{', '.join(tags) or 'no variants'} (see `zoo list {family_name}`)"
            )
        return fam, variant

    def failed_provider(self, family_name: str) -> PluginInfo | None:
        """The plugin that failed to load and (by its entry-point or distribution name)
        would have provided ``family_name``."""
        for p in self.plugins:
            if p.error and family_name in (p.name, (p.distribution or "").removeprefix("sam-zoo-")):
                return p
        return None

    def install_hint(self, family_name: str) -> str | None:
        """``"the plugin zoo-sam2, which is not installed: pip install ..."`` for a family a
        catalogue lists but no installed plugin provides."""
        found = self.uninstalled.get(family_name)
        if found is None:
            return None
        entry, _ = found
        plugin = entry.plugin or "its plugin"
        how = entry.install or (f"pip install {entry.plugin}" if entry.plugin else None)
        return f"the plugin {plugin}, which is not installed" + (f": {how}" if how else "")

    def _unknown_message(self, name: str, family_name: str) -> str:
        missing = self.install_hint(family_name)
        if missing is not None:
            return f"{name} needs {missing}"
        failed = self.failed_provider(family_name)
        if failed is not None:
            return (
                f"{family_name} comes from the plugin {failed.name} "
                f"({failed.distribution or '?'}), which failed to load: {failed.error}"
            )
        candidates = list(self.variants) + list(self.families) + list(self.aliases)
        close = difflib.get_close_matches(name, candidates, n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        return f"unknown model {name!r}{hint} (run `zoo list` to see every model)"

    def list_models(self, pattern: str | None = None, task: str | None = None) -> list[VariantSpec]:
        """Variants whose ``family:tag`` (or family) matches a shell-style wildcard."""
        out = []
        for v in sorted(self.variants.values(), key=lambda s: (s.family, s.tag)):
            fam = self.families.get(v.family)
            if fam is None:
                continue
            if task and task not in {t.name for t in self.tasks_of(fam)}:
                continue
            if pattern and not _matches(pattern, v):
                continue
            out.append(v)
        return out

    def reported_results(self, family: str, variant: VariantSpec | None) -> list[dict[str, Any]]:
        """The results the catalogues report: the variant's, then the family-level ones
        (weights that were never released, another backbone), each with its variant label."""
        out = [{"variant": variant.tag, **r} for r in variant.results] if variant else []
        for cat in self.catalogues:
            entry = cat.families.get(family)
            if entry is not None:
                out += [r.model_dump(exclude_none=True) for r in entry.results]
        return out

    def plugin_of(self, source: str) -> PluginInfo | None:
        return next((p for p in self.plugins if p.owns(source)), None)


def _matches(pattern: str, v: VariantSpec) -> bool:
    pat = pattern.lower()
    names = [v.name.lower(), v.family.lower(), *[a.lower() for a in v.aliases]]
    if not any(c in pat for c in "*?["):
        return any(pat == n or pat in n for n in names)
    return any(fnmatch.fnmatchcase(n, pat) for n in names)
