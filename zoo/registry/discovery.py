"""Building the registry: the core's own registrations, then every ``zoo.plugins`` entry
point, each inside its own ``try`` (a broken plugin is recorded and reported by ``zoo
plugins`` and in one line when its family is asked for, never allowed to break ``zoo
list``), then models trained on this machine and borrowed files.

Built-in plugins are discovered exactly like third-party ones (their own distributions with
an entry point), so the path a third party relies on is the one our own tests exercise. The
core's tasks and URI schemes are registered through the same hooks, before any plugin.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable, Iterable
from importlib import metadata
from pathlib import Path
from typing import Any

import pluggy

from zoo import hookspecs
from zoo.errors import PluginError
from zoo.specs import FamilySpec, VariantSpec

from .api import PLUGIN_API, check_version, declared_api
from .catalog import PluginInfo, Registry
from .local import scan as scan_local

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
    """Discover plugins and build a fresh :class:`Registry` (uncached; see ``get_registry``)."""
    reg = Registry()
    pm = pluggy.PluginManager("zoo")
    pm.add_hookspecs(hookspecs)
    reg.pm = pm
    _register_core(reg, pm)
    for ep in sorted(_entry_points(), key=lambda e: e.name):
        if _allowed(ep.name):
            _load_plugin(reg, pm, ep)
    _check_hook_names(reg, pm)
    _call_hooks(reg, pm)
    _add_user_catalogues(reg)
    _check_default_tags(reg)
    _add_local_variants(reg)
    _resolve_borrowed(reg)
    return reg


def _register_core(reg: Registry, pm: pluggy.PluginManager) -> None:
    """Core features that are plugins too: the built-in URI schemes and tasks."""
    import zoo.data.builtin as datasets
    import zoo.registry.builtin as catalogue
    import zoo.tasks.builtin as tasks
    import zoo.weights.builtin as schemes
    from zoo import __version__
    from zoo.weights.schemes import BUILTIN_PLUGIN as SCHEMES

    core = (
        (schemes, SCHEMES),
        (tasks, tasks.BUILTIN_PLUGIN),
        (catalogue, catalogue.BUILTIN_PLUGIN),
        (datasets, datasets.BUILTIN_PLUGIN),
    )
    for module, name in core:
        pm.register(module, name=name)
        reg.plugins.append(
            PluginInfo(
                name=name,
                distribution="sam-zoo",
                version=__version__,
                module=module.__name__,
                hooks=sorted(h.name for h in pm.get_hookcallers(module) or []),  # type: ignore[union-attr]
                builtin=True,
                api=PLUGIN_API,
                api_declared=True,
            )
        )


def _shadowed(ep: metadata.EntryPoint) -> str | None:
    """The user's own file that hides a plugin's module (``./zoo_sam2.py`` beside the
    command), found without importing it: the module Python would import first lives in the
    current folder (or the script's) and is not the distribution's own file."""
    import json
    import sys

    top = ep.value.split(":", 1)[0].split(".", 1)[0]
    try:
        spec = importlib.util.find_spec(top)
    except (ImportError, ValueError):
        return None
    origin = getattr(spec, "origin", None) if spec is not None else None
    if not origin or origin in ("built-in", "frozen"):
        return None
    where = Path(origin).resolve()
    folder = where.parent.parent if where.name == "__init__.py" else where.parent
    local_dirs = {Path.cwd().resolve()}
    if sys.path and sys.path[0]:
        local_dirs.add(Path(sys.path[0]).resolve())
    if folder not in local_dirs:
        return None
    dist = getattr(ep, "dist", None)
    if dist is not None:
        for f in dist.files or []:
            try:
                if Path(str(dist.locate_file(f))).resolve() == where:
                    return None
            except Exception:
                continue
        try:  # an editable install's module lives in its source tree
            url = json.loads(dist.read_text("direct_url.json") or "{}").get("url", "")
            src = Path(url.removeprefix("file://")).resolve()
            if url and (src == folder or src in where.parents):
                return None
        except (ValueError, OSError):
            pass
    return str(where)


def _load_plugin(reg: Registry, pm: pluggy.PluginManager, ep: metadata.EntryPoint) -> None:
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
        shadow = _shadowed(ep)
        if shadow is not None:  # refused before importing: the user's file never runs
            raise PluginError(
                f"the file {shadow} shadows its module {ep.value.split(':', 1)[0]}; rename "
                "or move that file"
            )
        module = ep.load()
        info.api, info.api_declared = declared_api(module)
        check_version(f"{ep.name} ({info.distribution or '?'})", info.api)
        if not info.api_declared:
            info.deprecations.append(
                f"declares no ZOO_PLUGIN_API (taken as {info.api}); add "
                f"ZOO_PLUGIN_API = {PLUGIN_API} once it follows the current form"
            )
        pm.register(module, name=ep.name)
        info.hooks = sorted(h.name for h in pm.get_hookcallers(module) or [])  # type: ignore[union-attr]
    except Exception as exc:  # a broken plugin must never break the registry
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        info.error = text if isinstance(exc, PluginError) else f"{type(exc).__name__}: {text}"
        if pm.get_plugin(ep.name) is not None:
            pm.unregister(name=ep.name)


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
    """Models trained on this machine (``$ZOO_HOME/local/<family>/<name>/``)."""
    found, problems = scan_local(set(reg.families))
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
    """Fill in ``same_as`` checkpoints from the variants they name (SAM2Long on SAM 2); a
    variant whose borrowed file cannot be found is marked unavailable, with the reason."""
    for name, v in list(reg.variants.items()):
        if not any(w.borrowed for w in v.checkpoints.values()):
            continue
        files = {}
        params = v.params
        missing: list[str] = []
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
                missing.append(w.same_as)
                files[key] = w
                continue
            files[key] = target.model_copy(update={"same_as": w.same_as, "optional": w.optional})
            if params is None and len(v.checkpoints) == 1 and base is not None:
                params = base.params
        update: dict[str, Any] = {"checkpoints": files, "params": params}
        if missing:
            ref_family = missing[0].partition("#")[0].partition(":")[0]
            failed = reg.failed_provider(ref_family)
            why = (
                f"its file comes from {missing[0]}, whose plugin {failed.name} failed to load"
                if failed is not None
                else f"its file comes from {missing[0]}, which is not registered (install "
                f"the plugin of {ref_family})"
            )
            update["unavailable"] = why
            reg.warnings.append(f"{name} is unavailable: {why}")
        reg.variants[name] = v.model_copy(update=update)


def _plugin_source(pm: pluggy.PluginManager, impl: Any, reg: Registry) -> str:
    name = pm.get_name(impl.plugin) or "?"
    for info in reg.plugins:
        if info.name == name:
            return info.distribution or name
    return name


def _call_hooks(reg: Registry, pm: pluggy.PluginManager) -> None:
    """Call each plugin's hooks one implementation at a time, so one bad plugin is isolated.
    The catalogues (the core's and the plugins') join right after the families, before any
    ``zoo_register_variants``: a Python-registered variant cannot take a catalogued name."""
    catalogues: list[tuple[Path, str]] = []

    def run(hook_name: str, make_cb: Callable[[str, object], Any]) -> None:
        caller = getattr(pm.hook, hook_name)
        for impl in caller.get_hookimpls():
            source = _plugin_source(pm, impl, reg)
            try:
                impl.function(make_cb(source, impl.plugin))
            except Exception as exc:
                msg = f"plugin {source} failed in {hook_name}: {type(exc).__name__}: {exc}"
                reg.warnings.append(msg)
                for info in reg.plugins:
                    if info.owns(source):
                        info.error = info.error or msg

    def task_cb(source: str, _plugin: object) -> hookspecs.RegisterTask:
        def register(spec: Any) -> None:
            from zoo.tasks.spec import TaskSpec

            if not isinstance(spec, TaskSpec) or not spec.name or not spec.method:
                raise PluginError(
                    f"{source} registered {spec!r}; expected a TaskSpec instance with a "
                    "name and a method"
                )
            spec.source = source
            reg.add_task(spec)

        return register

    def fam_cb(source: str, _plugin: object) -> hookspecs.RegisterFamily:
        def register(spec: FamilySpec) -> None:
            if not isinstance(spec, FamilySpec):
                raise PluginError(f"{source} registered {spec!r}, expected a FamilySpec")
            unknown = [t for t in spec.tasks if t not in reg.tasks]
            if unknown:
                raise PluginError(
                    f"family {spec.name} declares the unknown task {unknown[0]!r}; the tasks "
                    f"are {', '.join(sorted(reg.tasks))} (a plugin adds one with "
                    "zoo_register_tasks)"
                )
            info = reg.plugin_of(source)
            if info is not None and spec.options.legacy:
                info.deprecations.append(
                    f"family {spec.name} declares options as an OptionSpec list; declare a "
                    "zoo.options.Options class instead"
                )
            reg.add_family(spec.model_copy(update={"source": source}))

        return register

    def var_cb(source: str, _plugin: object) -> hookspecs.RegisterVariant:
        def register(spec: VariantSpec) -> None:
            if not isinstance(spec, VariantSpec):
                raise PluginError(f"{source} registered {spec!r}, expected a VariantSpec")
            reg.add_variant(spec.model_copy(update={"source": source}))

        return register

    def res_cb(source: str, plugin: object) -> hookspecs.RegisterResolver:
        import zoo.weights.builtin as core
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

    def cat_cb(source: str, plugin: object) -> hookspecs.RegisterCatalogue:
        import zoo.registry.builtin as core

        def register(path: Any) -> None:
            catalogues.append((Path(path), "built-in" if plugin is core else source))

        return register

    def data_cb(source: str, _plugin: object) -> hookspecs.RegisterDataset:
        def register(kind: str, ref: str, help: str) -> None:
            if not kind or kind in reg.datasets:
                where = reg.datasets[kind][2] if kind in reg.datasets else "?"
                raise PluginError(f"dataset kind {kind!r} is empty or taken (by {where})")
            reg.datasets[kind] = (ref, help, source)

        return register

    run("zoo_register_datasets", data_cb)
    run("zoo_register_tasks", task_cb)
    run("zoo_register_catalogs", cat_cb)
    run("zoo_register_families", fam_cb)
    _add_catalogues(reg, catalogues)
    run("zoo_register_variants", var_cb)
    run("zoo_register_resolvers", res_cb)
    # Variants whose family never registered (plugin missing or broken) are dropped from view.
    for name in [n for n, v in reg.variants.items() if v.family not in reg.families]:
        reg.variants.pop(name)


def _add_catalogues(reg: Registry, files: list[tuple[Path, str]]) -> None:
    """The core's and the plugins' catalogues: each variant of an installed family joins the
    registry (a family's description, licence, card and default tag fill what its
    ``FamilySpec`` leaves open); a family whose plugin is not installed is remembered, so
    ``zoo list --all`` and a one-line error can say what to install."""
    from .catalogue import read_catalogue

    for path, origin in files:
        cat = read_catalogue(path, origin)
        reg.catalogues.append(cat)
        reg.warnings.extend(f"catalogue {e}" for e in cat.errors)
        for name, entry in cat.families.items():
            fam = reg.families.get(name)
            if fam is None:
                reg.uninstalled.setdefault(name, (entry, cat))
                continue
            update = {
                key: value
                for key, value in (
                    ("description", entry.description),
                    ("license", entry.license),
                    ("default_tag", entry.default_tag),
                    ("card", cat.card_path(name)),
                    ("weights_note", entry.weights_note),
                )
                if value and not getattr(fam, key)
            }
            if update:
                reg.families[name] = fam = fam.model_copy(update=update)
            for v in cat.variants(name):
                if v.name in reg.variants:
                    reg.warnings.append(
                        f"catalogue {cat.where('families', name, 'variants', v.tag)}: "
                        f"{v.name} is already registered by {reg.variants[v.name].source}; "
                        "keeping that one"
                    )
                    continue
                reg.add_variant(v)


def _add_user_catalogues(reg: Registry) -> None:
    """``$ZOO_HOME/registry.yaml`` and ``ZOO_REGISTRY`` files: new variants of any family, or
    the same files of a registered variant from elsewhere (a mirror with the same sha256).
    A conflicting entry is refused with ``file:line``; the rest still loads."""
    from .catalogue import read_catalogue, user_catalogues

    for path in user_catalogues():
        cat = read_catalogue(path, str(path))
        reg.catalogues.append(cat)
        reg.warnings.extend(f"catalogue {e}" for e in cat.errors)
        for name in cat.families:
            if name not in reg.families:
                hint = reg.install_hint(name)
                reg.warnings.append(
                    f"catalogue {cat.where('families', name)}: family {name} is not registered"
                    + (f" (it needs {hint})" if hint else "; install its plugin")
                )
                continue
            for v in cat.variants(name):
                problem = merge_user_variant(reg, v)
                if problem:
                    where = cat.where("families", name, "variants", v.tag)
                    reg.warnings.append(f"catalogue {where}: {problem}")


def merge_user_variant(reg: Registry, v: VariantSpec) -> str | None:
    """Add a user's variant, or point a registered one's files elsewhere; the reason when
    refused. Overriding keeps the file's identity: the same sha256 (or the same size when
    none is known), so a mirror cannot swap in other weights under a known name."""
    old = reg.variants.get(v.name)
    if old is None:
        if not v.checkpoints:
            return f"{v.name} lists no files; give files: {{model: {{uri: ..., sha256: ...}}}}"
        reg.add_variant(v)
        return None
    files = dict(old.checkpoints)
    for key, new in v.checkpoints.items():
        mine = files.get(key)
        if mine is None:
            return (
                f"{v.name} has no file named {key!r} (it has {', '.join(files) or 'none'}); "
                "add a new tag for other files"
            )
        if mine.sha256 and new.sha256 and mine.sha256 != new.sha256:
            return (
                f"{v.name} {key}: sha256 {new.sha256[:12]}... differs from the registered "
                f"{mine.sha256[:12]}...; a mirror must serve the same file (give other weights "
                "a new tag)"
            )
        if mine.sha256 and not new.sha256:
            return f"{v.name} {key}: give the sha256 of the file ({mine.sha256[:12]}...)"
        files[key] = new.model_copy(update={"size": new.size or mine.size})
    reg.variants[v.name] = old.model_copy(update={"checkpoints": files, "source": v.source})
    return None


def _check_default_tags(reg: Registry) -> None:
    """A family without a default tag (neither its FamilySpec nor a catalogue set one) takes
    its first variant's, with a warning."""
    for name, fam in list(reg.families.items()):
        if fam.default_tag:
            continue
        tags = sorted(v.tag for v in reg.variants.values() if v.family == name)
        if tags:
            reg.warnings.append(f"family {name} sets no default tag; using {tags[0]}")
            reg.families[name] = fam.model_copy(update={"default_tag": tags[0]})
