"""Turning a name into a built model: ``zoo.load("sam2:tiny")`` and its :class:`LoadContext`.

This is the one place where a variant's *named checkpoints* become files on disk: every
file is resolved here (sha256, cache, offline rules) and handed to the plugin as a local
path inside a :class:`LoadContext`. Plugins never call the registry or the resolver, so
offline mode, ``--checkpoint``, ``zoo pull`` and the cache behave the same for every family.

Why a context object rather than keyword arguments: a family may need several files (SAM 2
+ CLIP for depth-sam; a decoder + its EfficientSAM base for SAMEO), some only on demand
(the base when a decoder checkpoint lacks the encoder); the context resolves on demand with
the same rules and remembers what was used, which is what provenance records.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zoo.devices import (
    BACKENDS,
    ONNXRUNTIME,
    TORCH,
    dtype_name,
    normalize_backend,
    resolve_device,
    resolve_dtype,
)
from zoo.errors import InputError, PluginError, WeightsError, hint
from zoo.options import DEFAULT_TEST_SEED, PRETRAINED, RANDOM, CheckpointArg, LoadOptions
from zoo.specs import PRIMARY, FamilySpec, VariantSpec, WeightsSpec, import_string

if TYPE_CHECKING:
    import torch

    from zoo.model import ZooModel

__all__ = [
    "BACKENDS",
    "DEFAULT_TEST_SEED",
    "ONNXRUNTIME",
    "PRETRAINED",
    "RANDOM",
    "TORCH",
    "CheckpointArg",
    "LoadContext",
    "check_backend",
    "checkpoint_overrides",
    "load",
    "load_resolved",
    "normalize_backend",
    "resolve_files",
]


@dataclass
class LoadContext:
    """Everything a plugin's ``create(ctx, **config)`` needs to build its model.

    ``ctx.path()`` is the primary checkpoint, ``ctx.path("clip")`` a named one; both are
    ``None`` in test mode (``ctx.random``), where the plugin keeps its random init.
    """

    name: str
    family: FamilySpec
    variant: VariantSpec | None
    device: str
    #: what outputs credit: the name, plus the architecture options given that differ from
    #: the variant's own (``sam3:base (arch tiny)``; :func:`architecture_label`)
    label: str = ""
    dtype: torch.dtype | None = None
    random: bool = False
    seed: int | None = None
    progress: bool = True
    overrides: dict[str, Path] = field(default_factory=dict)
    _resolved: dict[str, Path] = field(default_factory=dict)

    @property
    def checkpoints(self) -> dict[str, WeightsSpec]:
        return dict(self.variant.checkpoints) if self.variant else {}

    @property
    def primary(self) -> str:
        return (self.variant.primary if self.variant else None) or PRIMARY

    def has(self, name: str | None = None) -> bool:
        """Whether a file of that name is declared or given (in any mode)."""
        key = name or self.primary
        return key in self.overrides or key in self.checkpoints

    def path(self, name: str | None = None) -> Path | None:
        """The local file ``name`` (default: the primary), resolving it now if needed.

        ``None`` in test mode, or when the family has no such file and none was given.
        """
        key = name or self.primary
        if self.random:
            return None
        if key in self.overrides:
            return self.overrides[key]
        if key in self._resolved:
            return self._resolved[key]
        spec = self.checkpoints.get(key)
        if spec is not None and not spec.published:
            raise WeightsError(
                _unpublished_message(
                    self.family, self.name, key, spec.note, primary=key == self.primary
                )
            )
        if spec is None:
            if name is not None and key != self.primary:
                declared = ", ".join(self.checkpoints) or "none"
                raise PluginError(
                    f"{self.family.loader} asked for checkpoint {key!r}, but {self.name} "
                    f"declares {declared}"
                )
            return None
        self._resolved[key] = _resolve_one(spec, self.name, key, self.variant, self.progress)
        return self._resolved[key]

    def files(self) -> dict[str, str]:
        """Every file used so far, by name: the local override path or the registered URI."""
        out = {k: str(p) for k, p in self.overrides.items()}
        for k in self._resolved:
            spec = self.checkpoints[k]
            out.setdefault(k, spec.uri or str(self._resolved[k]))
        return out

    @property
    def weights_label(self) -> str:
        """What provenance calls these weights: ``random``, the primary URI, or a path.

        A variant trained on a random base (``config.test_mode``) stays labelled random: its
        outputs are no more real predictions than the base's.
        """
        if self.random:
            return RANDOM
        p = self.primary
        spec = self.checkpoints.get(p)
        if p in self.overrides:
            label = str(self.overrides[p])
        elif spec is not None and spec.uri:
            label = spec.uri
        else:
            label = "none (this family has no learned weights)"
        if self.variant is not None and self.variant.config.get("test_mode"):
            return f"{RANDOM} (test-mode base) + {label}"
        return label


def _resolve_one(
    spec: WeightsSpec, name: str, key: str, variant: VariantSpec | None, progress: bool
) -> Path:
    """Resolve one file of a model; a failure's message names the model (as commands take
    it), every file it needs and the same weights from another source."""
    from zoo import weights as w
    from zoo.weights.messages import resolving_for

    assert spec.uri is not None, "borrowed checkpoints are filled in by the registry"
    with resolving_for(_model_files(name, key, variant)):
        return w.resolve(
            spec.uri, spec.sha256, spec.size, progress=progress, name=name, pattern=spec.pattern
        )


def _model_files(name: str, key: str, variant: VariantSpec | None) -> Any:
    """The :class:`zoo.weights.messages.ModelFiles` of ``variant`` for failure messages."""
    from zoo.weights.messages import ModelFiles, NeededFile

    if variant is None:
        return ModelFiles(model=name, key=key, primary=PRIMARY)
    files = tuple(
        NeededFile(k, s.uri, s.sha256, s.pattern, cached=k != key and _is_cached(s))
        for k, s in variant.checkpoints.items()
        if s.uri and (not s.optional or k == key)
    )
    return ModelFiles(
        model=name,
        key=key,
        primary=variant.primary or PRIMARY,
        files=files,
        alternatives=_same_weights_elsewhere(variant),
    )


def _is_cached(spec: WeightsSpec) -> bool:
    """Whether a file a message may name is in the cache already (never fails)."""
    from zoo.weights.cache import is_cached

    try:
        return spec.uri is not None and is_cached(spec.uri, spec.sha256, pattern=spec.pattern)
    except Exception:  # a message must never fail on its own
        return False


def _same_weights_elsewhere(variant: VariantSpec) -> tuple[tuple[str, str], ...]:
    """Variants of the same family registered as the same network and weights (same
    parameter count and config) whose primary file comes from another source, e.g.
    ``opseg-shadow:base-plus-gdrive`` for ``opseg-shadow:base-plus`` (ModelScope)."""
    from zoo.weights.uris import scheme_of

    def source(v: VariantSpec) -> str | None:
        spec = v.checkpoints.get(v.primary or PRIMARY)
        return scheme_of(spec.uri) if spec is not None and spec.uri and spec.published else None

    mine = source(variant)
    try:
        from zoo.registry import get_registry

        others = list(get_registry().variants.values())
    except Exception:  # a message must never fail on its own
        return ()
    return tuple(
        (v.name, src)
        for v in others
        if v.family == variant.family
        and v.name != variant.name
        and not v.local
        and v.params == variant.params
        and v.config == variant.config
        and (src := source(v)) is not None
        and src != mine
    )


def checkpoint_overrides(checkpoint: CheckpointArg, variant: VariantSpec | None) -> dict[str, Path]:
    """``--checkpoint PATH`` replaces the primary file; ``{"clip": PATH}`` a named one."""
    if checkpoint is None:
        return {}
    primary = (variant.primary if variant else None) or PRIMARY
    items = checkpoint.items() if isinstance(checkpoint, dict) else [(primary, checkpoint)]
    declared = set(variant.checkpoints) if variant else set()
    out: dict[str, Path] = {}
    for key, value in items:
        if declared and key not in declared:
            raise InputError(
                f"{variant.name if variant else '?'} has no checkpoint named {key!r}; "
                f"its files are {', '.join(sorted(declared))}"
            )
        p = Path(os.path.expanduser(str(value)))
        if not p.exists():
            flag = hint(f"--checkpoint {value}", f"checkpoint={str(value)!r}")
            raise InputError(f"checkpoint {p} does not exist; check {flag}")
        out[key] = p
    return out


def resolve_files(
    variant: VariantSpec | None,
    family: FamilySpec,
    name: str,
    progress: bool = True,
    *,
    include_optional: bool = False,
) -> dict[str, Path]:
    """Resolve (download if allowed, verify) every file of a variant: ``zoo pull``."""
    if variant is None or not variant.checkpoints:
        raise WeightsError(_no_weights_message(family, name))
    for k, w in variant.checkpoints.items():
        if not w.published:
            raise WeightsError(
                _unpublished_message(family, name, k, w.note, primary=k == variant.primary)
            )
    return {
        k: _resolve_one(w, name, k, variant, progress)
        for k, w in variant.checkpoints.items()
        if include_optional or not w.optional
    }


def _unpublished_message(
    family: FamilySpec, name: str, key: str, note: str | None, *, primary: bool = True
) -> str:
    """One line: which file nobody published, why, and how to give one (per surface)."""
    from zoo.weights import no_weights_fix

    why = note or family.weights_note
    what = "weights" if key == PRIMARY else f"{key} file"
    fix = no_weights_fix()
    if not primary:
        fix = fix.replace("--checkpoint PATH", f"--checkpoint {key}=PATH").replace(
            "checkpoint=PATH", f"checkpoint={{{key!r}: PATH}}"
        )
    return f"{name} has no registered {what}" + (f" ({why})" if why else "") + f"; {fix}"


def _no_weights_message(family: FamilySpec, name: str) -> str:
    why = f": {family.weights_note}" if family.weights_note else ""
    fix = hint(
        "pass --checkpoint PATH (or --weights random for a test run)",
        "pass checkpoint=PATH (or weights='random' for a test run)",
    )
    return f"{name} has no registered weights{why}; {fix}"


def load(
    name: str,
    *,
    device: str | None = "auto",
    weights: str | None = None,
    checkpoint: CheckpointArg = None,
    dtype: str | None = None,
    seed: int | None = None,
    progress: bool = True,
    backend: str | None = None,
    **config: Any,
) -> Any:
    """Load a model by ``family[:tag]``.

    ``weights``: ``None``/``"pretrained"`` resolves the registered checkpoints (downloading
    on first use unless ``ZOO_OFFLINE=1``); ``"random"`` builds the architecture at random
    initialisation (seeded, default seed 0) - the documented test mode, never the default.
    ``checkpoint`` loads custom or fine-tuned weights into the family while keeping its
    card: a path replaces the primary file, ``{"clip": path}`` a named one.

    ``backend``: ``"torch"`` (default) or ``"onnxruntime"`` - the model's encoder and decoder
    run as ONNX graphs, exported on first use and cached under ``$ZOO_HOME/onnx`` keyed by
    the weights' sha256 and the export options; ``dtype`` then picks the graphs' precision
    (float32 or float16). Results are the same objects either way. ``max_batch``: prompts per
    decoder call (default per device, :mod:`zoo.decoder_chunks`).
    """
    from zoo.registry import get_registry

    family, variant = get_registry().resolve_name(name)
    return load_resolved(
        family,
        variant,
        device=device,
        weights=weights,
        checkpoint=checkpoint,
        dtype=dtype,
        seed=seed,
        progress=progress,
        backend=backend,
        **config,
    )


def load_resolved(
    family: FamilySpec,
    variant: VariantSpec | None,
    *,
    device: str | None = "auto",
    weights: str | None = None,
    checkpoint: CheckpointArg = None,
    dtype: str | None = None,
    seed: int | None = None,
    progress: bool = True,
    backend: str | None = None,
    **config: Any,
) -> Any:
    """:func:`load` for a name the caller already resolved (the CLI resolves once)."""
    from zoo.decoder_chunks import check_max_batch

    name = variant.name if variant else family.name
    if variant is not None and variant.unavailable:
        raise WeightsError(f"{name} cannot be loaded here: {variant.unavailable}")
    if _plain(device, dtype, seed, backend):  # one-line errors before anything heavy
        from zoo.options import validate

        given = {"device": device, "dtype": dtype, "seed": seed, "backend": backend}
        validate(
            LoadOptions,
            {k: v for k, v in given.items() if v is not None},
            command="run",
            where=f"zoo.load({name!r})",
        )
    backend = check_backend(backend, family)
    config = check_config(family, variant, config)
    max_batch = check_max_batch(config.pop("max_batch", None))
    if weights is not None and weights not in (RANDOM, PRETRAINED):
        if checkpoint is not None:
            raise InputError("give the file as checkpoint= or weights=, not both")
        checkpoint, weights = weights, None
    random = weights == RANDOM
    if random and checkpoint is not None:
        raise InputError(
            "choose either "
            + hint("--weights random or --checkpoint PATH", "weights='random' or a checkpoint")
            + ", not both"
        )
    dev = resolve_device(device)
    wanted = dtype_name(dtype)
    graph_dtype = None
    if backend != TORCH:  # the graphs take the dtype; they are exported from float32 weights
        from zoo.export.backend import check_graph_dtype

        graph_dtype, wanted, dtype = check_graph_dtype(wanted), None, None
    if wanted is not None and wanted not in family.dtypes:
        raise InputError(
            f"{family.name} does not run in {wanted}; it supports {', '.join(family.dtypes)} "
            f"(drop {hint('--dtype', 'dtype=')} for the default)"
        )
    ctx = LoadContext(
        name=name,
        family=family,
        variant=variant,
        device=dev,
        label=architecture_label(name, family, variant, config),
        dtype=resolve_dtype(dtype),
        random=random,
        seed=(DEFAULT_TEST_SEED if seed is None else seed) if random else seed,
        progress=progress,
        overrides=checkpoint_overrides(checkpoint, variant),
    )
    if not random:
        declared = variant.checkpoints if variant else {}
        if family.requires_weights and not declared and not ctx.overrides:
            raise WeightsError(_no_weights_message(family, name))
        for key, spec in declared.items():  # everything the model surely needs, resolved once
            if not spec.optional:
                ctx.path(key)
    if ctx.seed is not None:
        import torch

        torch.manual_seed(ctx.seed)
    cls = import_string(family.loader)
    _check_plugin_api(cls, family)
    merged = {**(variant.config if variant else {}), **config}
    merged.pop("test_mode", None)
    model: ZooModel = cls.create(ctx, **merged)
    model._bind(ctx)
    model.max_batch = max_batch
    if backend != TORCH:
        from zoo.export.backend import attach_runtime

        attach_runtime(model, backend, dtype=graph_dtype or "float32", config=merged)
    return model


def architecture_label(
    name: str, family: FamilySpec, variant: VariantSpec | None, config: dict[str, Any]
) -> str:
    """``name``, or ``name (arch tiny)`` when a given architecture option differs from the
    variant's config (the network built is then not the variant's)."""
    own = variant.config if variant else {}
    changed = [
        f"{key.replace('_', '-')} {config[key]}"
        for key in family.options.architecture_names()
        if config.get(key) is not None
        and config[key] != own.get(key, family.options.default_of(key))
    ]
    return f"{name} ({', '.join(changed)})" if changed else name


def check_backend(backend: str | None, family: FamilySpec) -> str:
    """:func:`normalize_backend`, then refuse a family that cannot run on it."""
    b = normalize_backend(backend)
    if b != TORCH:  # refuse an unsupported family before any file is resolved
        from zoo.export.onnx import check_exportable, require_onnx

        check_exportable(import_string(family.loader), family.name)
        require_onnx(runtime=True)
    return b


def _plain(*values: Any) -> bool:
    """Values a pydantic check can take as they are (not torch objects)."""
    return all(v is None or isinstance(v, (str, int)) for v in values)


def check_config(
    family: FamilySpec, variant: VariantSpec | None, config: dict[str, Any]
) -> dict[str, Any]:
    """The caller's loader keywords, checked against the family's declared loader options
    (cast, bounds: one-line errors) before anything is built. A keyword the family neither
    declares nor takes in ``create`` (nor sets per variant) is refused with the closest name,
    instead of a ``TypeError`` from deep inside the plugin."""
    import inspect

    from zoo.options import validate
    from zoo.options.parse import unknown_option

    if not config:
        return config
    opts = family.options
    declared = {k: v for k, v in config.items() if opts.lookup(k) in opts.loader_names()}
    out = dict(config)
    if declared:
        checked = validate(
            opts, declared, command="run", where=f"zoo.load({family.name!r})"
        ).values()
        for k in declared:
            name = opts.lookup(k)
            out.pop(k)
            out[str(name)] = checked[str(name)]
    rest = [k for k in config if k not in declared]
    if not rest:
        return out
    try:
        params = inspect.signature(import_string(family.loader).create).parameters
    except (PluginError, TypeError, ValueError):
        return out
    known = set(params) | set(variant.config if variant else {}) | {"max_batch"}
    for k in rest:
        if k not in known:
            unknown_option(
                [opts], k, "run", f"zoo.load({family.name!r})", f"zoo info {family.name}"
            )
    return out


def _check_plugin_api(cls: Any, family: FamilySpec) -> None:
    """API 1 model classes get one line instead of a ``TypeError``; API 2 plugins one
    deprecation warning per registry (per process), naming the plugin and what to change."""
    import warnings

    from zoo.errors import ZooDeprecationWarning
    from zoo.registry import api, get_registry

    api.check_create(cls, family.name, family.source or "?")
    registry = get_registry()
    info = registry.plugin_of(family.source)
    if info is not None and info.deprecations and info.name not in registry.deprecation_noted:
        registry.deprecation_noted.add(info.name)
        warnings.warn(
            f"plugin {info.name} ({info.distribution or '?'}) uses the deprecated plugin API "
            f"{info.api}: {'; '.join(info.deprecations)} (works until sam-zoo 0.3; see the "
            "README's 'Writing a plugin')",
            ZooDeprecationWarning,
            stacklevel=4,
        )
