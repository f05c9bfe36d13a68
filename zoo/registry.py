"""The registry: plugins found through the ``zoo.plugins`` entry-point group, models trained
on this machine, and name lookup (``family[:tag]``, aliases, wildcards).

Every family, variant and card ships inside the distribution that registers it (the
built-in ones too), so uninstalling a plugin removes its models from ``zoo list``.

Built-in plugins are discovered exactly like third-party ones (their own distributions with
an entry point), so the path a third party relies on is the one our own tests exercise.
Each plugin is imported inside its own ``try``: a broken plugin is recorded and reported by
``zoo plugins`` / ``zoo doctor``, never allowed to break ``zoo list``.
"""

from __future__ import annotations

import difflib
import fnmatch
import os
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import metadata
from typing import Any

import pluggy

from zoo import hookspecs
from zoo.errors import PluginError, UnknownModelError
from zoo.specs import FamilySpec, Task, VariantSpec

ENTRY_POINT_GROUP = "zoo.plugins"
#: Entry-point names of the plugins that live in this repository; ``ZOO_PLUGINS=`` (empty)
#: loads only these.
BUILTIN_PLUGINS = (
    "sam2",
    "efficientsam",
    "sam2long-video",
    "sameo-amodal",
    "opseg-shadow",
    "depth-sam",
    "wesam-adapt",
    "sam3",
)


@dataclass
class PluginInfo:
    name: str
    distribution: str | None
    version: str | None
    module: str
    hooks: list[str] = field(default_factory=list)
    error: str | None = None
    builtin: bool = False


@dataclass
class Registry:
    """Everything registered: families, variants, resolvers, and how plugin loading went."""

    families: dict[str, FamilySpec] = field(default_factory=dict)
    variants: dict[str, VariantSpec] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)
    plugins: list[PluginInfo] = field(default_factory=list)
    resolvers: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    pm: pluggy.PluginManager | None = None

    # ------------------------------------------------------------ registration
    def add_family(self, spec: FamilySpec) -> None:
        old = self.families.get(spec.name)
        if old is not None:
            msg = (
                f"model family {spec.name!r} is registered by both {old.source or '?'} and "
                f"{spec.source or '?'}; keeping the first. Namespace third-party families "
                "(e.g. 'mypkg-sam')."
            )
            self.warnings.append(msg)
            warnings.warn(msg, stacklevel=2)
            return
        self.families[spec.name] = spec
        for v in spec.variants:
            self.add_variant(v.model_copy(update={"family": spec.name, "source": spec.source}))

    def add_variant(self, spec: VariantSpec) -> None:
        old = self.variants.get(spec.name)
        if old is not None and old.source != spec.source:
            msg = (
                f"variant {spec.name!r} is registered by both {old.source or '?'} and "
                f"{spec.source or '?'}; keeping the first"
            )
            self.warnings.append(msg)
            warnings.warn(msg, stacklevel=2)
            return
        self.variants[spec.name] = spec
        for alias in spec.aliases:
            self.aliases.setdefault(alias, spec.name)

    # ------------------------------------------------------------ lookup
    def resolve_name(self, name: str) -> tuple[FamilySpec, VariantSpec | None]:
        """``family[:tag]`` or an alias -> (family, variant). Unknown names suggest close ones."""
        name = name.strip()
        name = self.aliases.get(name, name)
        family_name, _, tag = name.partition(":")
        fam = self.families.get(family_name)
        if fam is None:
            raise UnknownModelError(self._unknown_message(name))
        tag = tag or fam.default_tag
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

    def _unknown_message(self, name: str) -> str:
        candidates = list(self.variants) + list(self.families) + list(self.aliases)
        close = difflib.get_close_matches(name, candidates, n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        return f"unknown model {name!r}{hint} (run `zoo list` to see every model)"

    def list_models(
        self, pattern: str | None = None, task: str | Task | None = None
    ) -> list[VariantSpec]:
        """Variants whose ``family:tag`` (or family) matches a shell-style wildcard."""
        out = []
        task_v = Task(task) if task else None
        for v in sorted(self.variants.values(), key=lambda s: (s.family, s.tag)):
            fam = self.families.get(v.family)
            if fam is None:
                continue
            if task_v and task_v not in fam.tasks:
                continue
            if pattern and not _matches(pattern, v):
                continue
            out.append(v)
        return out


def _matches(pattern: str, v: VariantSpec) -> bool:
    pat = pattern.lower()
    names = [v.name.lower(), v.family.lower(), *[a.lower() for a in v.aliases]]
    if not any(c in pat for c in "*?["):
        return any(pat == n or pat in n for n in names)
    return any(fnmatch.fnmatchcase(n, pat) for n in names)


# ---------------------------------------------------------------------------- loading


def _entry_points() -> Iterable[metadata.EntryPoint]:
    return metadata.entry_points(group=ENTRY_POINT_GROUP)


def _allowed(name: str) -> bool:
    sel = os.environ.get("ZOO_PLUGINS")
    if sel is None:
        return True
    wanted = {s.strip() for s in sel.split(",") if s.strip()}
    if not wanted:
        return name in BUILTIN_PLUGINS
    return name in wanted


def build_registry() -> Registry:
    """Discover plugins and build a fresh :class:`Registry` (uncached; see :func:`get_registry`)."""
    reg = Registry()
    pm = pluggy.PluginManager("zoo")
    pm.add_hookspecs(hookspecs)
    reg.pm = pm
    _register_core(reg, pm)
    for ep in sorted(_entry_points(), key=lambda e: e.name):
        if not _allowed(ep.name):
            continue
        dist = getattr(ep, "dist", None)
        info = PluginInfo(
            name=ep.name,
            distribution=dist.metadata["Name"] if dist is not None else None,
            version=dist.version if dist is not None else None,
            module=ep.value,
            builtin=ep.name in BUILTIN_PLUGINS,
        )
        reg.plugins.append(info)
        try:
            module = ep.load()
            pm.register(module, name=ep.name)
            info.hooks = sorted(
                h.name
                for h in pm.get_hookcallers(module) or []  # type: ignore[union-attr]
            )
        except Exception as exc:  # a broken plugin must never break the registry
            info.error = f"{type(exc).__name__}: {exc}"
            if pm.get_plugin(ep.name) is not None:
                pm.unregister(name=ep.name)

    _check_hook_names(reg, pm)
    _call_hooks(reg, pm)
    _add_local_variants(reg)
    _resolve_borrowed(reg)
    return reg


def _register_core(reg: Registry, pm: pluggy.PluginManager) -> None:
    """Core features that are plugins too: the built-in URI schemes (hf, https, ...).

    Registered before the entry-point plugins, so their hooks run first and a plugin can
    neither replace nor precede them.
    """
    from zoo import __version__
    from zoo.weights import builtin
    from zoo.weights.schemes import BUILTIN_PLUGIN

    pm.register(builtin, name=BUILTIN_PLUGIN)
    reg.plugins.append(
        PluginInfo(
            name=BUILTIN_PLUGIN,
            distribution="sam-zoo",
            version=__version__,
            module=builtin.__name__,
            hooks=sorted(h.name for h in pm.get_hookcallers(builtin) or []),  # type: ignore[union-attr]
            builtin=True,
        )
    )


def _check_hook_names(reg: Registry, pm: pluggy.PluginManager) -> None:
    """Report hook implementations no spec knows (``zoo_register_familes``): a typo there
    would otherwise register nothing, silently."""
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        name = pm.get_name(exc.plugin) or "?"
        known = ", ".join(sorted(n for n in dir(hookspecs) if n.startswith("zoo_")))
        msg = f"plugin {name}: {exc}; the hooks are {known}"
        reg.warnings.append(msg)
        for info in reg.plugins:
            if info.name == name:
                info.error = info.error or msg


def _add_local_variants(reg: Registry) -> None:
    """Models trained on this machine (``$ZOO_HOME/local/<family>/<name>/``), one scanner
    for every family (:mod:`zoo.training.store`)."""
    from zoo.training import store

    found, problems = store.scan(set(reg.families))
    reg.warnings.extend(problems)
    for spec in found:
        if spec.name in reg.variants:
            reg.warnings.append(
                f"local model {spec.source} would hide {spec.name} registered by "
                f"{reg.variants[spec.name].source or '?'}; rename its folder"
            )
            continue
        reg.add_variant(spec)


def _resolve_borrowed(reg: Registry) -> None:
    """Fill in ``same_as`` checkpoints from the variants they name (SAM2Long on SAM 2)."""
    for name, v in list(reg.variants.items()):
        if not any(w.borrowed for w in v.checkpoints.values()):
            continue
        files = {}
        params = v.params
        for key, w in v.checkpoints.items():
            if not w.borrowed:
                files[key] = w
                continue
            assert w.same_as is not None
            ref, _, file = w.same_as.partition("#")
            base = reg.variants.get(reg.aliases.get(ref, ref))
            target = None
            if base is not None:
                target = base.checkpoints.get(file) if file else base.weights
            if target is None or target.borrowed:
                reg.warnings.append(f"{name}: checkpoint {key!r} borrows unknown {w.same_as}")
                files[key] = w
                continue
            files[key] = target.model_copy(update={"same_as": w.same_as, "optional": w.optional})
            if params is None and len(v.checkpoints) == 1 and base is not None:
                params = base.params
        reg.variants[name] = v.model_copy(update={"checkpoints": files, "params": params})


def _plugin_source(pm: pluggy.PluginManager, impl: Any, reg: Registry) -> str:
    name = pm.get_name(impl.plugin) or "?"
    for info in reg.plugins:
        if info.name == name:
            return info.distribution or name
    return name


def _call_hooks(reg: Registry, pm: pluggy.PluginManager) -> None:
    """Call each plugin's hooks one implementation at a time, so one bad plugin is isolated."""

    def run(hook_name: str, make_cb: Any) -> None:
        caller = getattr(pm.hook, hook_name)
        for impl in caller.get_hookimpls():
            source = _plugin_source(pm, impl, reg)
            try:
                impl.function(make_cb(source, impl.plugin))
            except Exception as exc:
                msg = f"plugin {source} failed in {hook_name}: {type(exc).__name__}: {exc}"
                reg.warnings.append(msg)
                for info in reg.plugins:
                    if info.distribution == source or info.name == source:
                        info.error = info.error or msg

    def fam_cb(source: str, _plugin: object) -> hookspecs.RegisterFamily:
        def register(spec: FamilySpec) -> None:
            if not isinstance(spec, FamilySpec):
                raise PluginError(f"{source} registered {spec!r}, expected a FamilySpec")
            reg.add_family(spec.model_copy(update={"source": source}))

        return register

    def var_cb(source: str, _plugin: object) -> hookspecs.RegisterVariant:
        def register(spec: VariantSpec) -> None:
            if not isinstance(spec, VariantSpec):
                raise PluginError(f"{source} registered {spec!r}, expected a VariantSpec")
            reg.add_variant(spec.model_copy(update={"source": source}))

        return register

    def res_cb(source: str, plugin: object) -> hookspecs.RegisterResolver:
        from zoo.weights import builtin as core
        from zoo.weights.schemes import add_resolver

        builtin = plugin is core  # only the core may register (and so own) built-in schemes

        def register(scheme: str, fn: Any) -> None:
            try:
                key = add_resolver(scheme, fn, source=source, builtin=builtin)
            except PluginError as exc:  # e.g. a plugin trying to take over https://
                reg.warnings.append(str(exc))
                return
            reg.resolvers[key] = fn

        return register

    run("zoo_register_families", fam_cb)
    run("zoo_register_variants", var_cb)
    run("zoo_register_resolvers", res_cb)
    # Variants whose family never registered (plugin missing or broken) are dropped from view.
    for name in [n for n, v in reg.variants.items() if v.family not in reg.families]:
        reg.variants.pop(name)


@lru_cache(maxsize=1)
def get_registry() -> Registry:
    """The process-wide registry, built on first use."""
    return build_registry()


def reset_registry() -> None:
    """Forget the cached registry (tests, or after installing a plugin at runtime)."""
    get_registry.cache_clear()


def list_models(pattern: str | None = None, task: str | None = None) -> list[str]:
    """Like ``timm.list_models``: names matching a wildcard, e.g. ``list_models("*sam2*")``."""
    return [v.name for v in get_registry().list_models(pattern, task)]
