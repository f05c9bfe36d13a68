"""Models the server holds: loaded on first use (or at start when named), one lock each.

Why one lock per model: a zoo model keeps the current image's embedding as state
(``set_image`` then ``segment(None, ...)``), so two requests must not interleave on one
model. Requests on different models run in parallel. Loading has its own lock per name
so that ten first clicks at once load the model once.

Names are resolved through the registry once, so ``sam2``, ``sam2:tiny`` and the alias
``sam2.1-hiera-tiny`` share one loaded model.
"""

from __future__ import annotations

import functools
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from zoo.errors import InputError, UnknownModelError
from zoo.serve.config import ServeConfig
from zoo.specs import FamilySpec, VariantSpec


@dataclass
class Slot:
    """One loaded model and what the server tracks about it."""

    key: str
    model: Any
    family: FamilySpec | None
    #: the task names the model does (declared and implied)
    tasks: tuple[str, ...]
    lock: threading.Lock = field(default_factory=threading.Lock)
    load_seconds: float = 0.0
    #: the image_id whose embedding is set in the model right now (guarded by ``lock``)
    current_image: str | None = None

    @property
    def weights(self) -> str:
        return str(getattr(self.model, "weights", "unknown"))

    @property
    def test_mode(self) -> bool:
        return self.weights.startswith("random")

    def supports(self, method: str) -> bool:
        return callable(getattr(self.model, method, None))

    def task_names(self) -> list[str]:
        return [str(t) for t in self.tasks]

    def does(self, spec: Any) -> bool:
        """Whether this model does the task (declared or implied) and has its method."""
        return spec.name in self.task_names() and self.supports(spec.method)


def _task_names(family: FamilySpec | None, model: Any = None) -> tuple[str, ...]:
    """Declared and implied tasks (implied ones only where the model class has the method)."""
    from zoo.registry import get_registry

    reg = get_registry()
    if family is None:
        declared = [str(t) for t in getattr(model, "tasks", ()) or ()]
        fake = FamilySpec.model_construct(tasks=declared)
    else:
        fake = family
    names = []
    for spec in reg.tasks_of(fake):
        if spec.name in fake.tasks or model is None or spec.supported_by(model):
            names.append(spec.name)
    return tuple(names)


def model_options(family: FamilySpec, raw: dict[str, Any]) -> dict[str, Any]:
    """The loader options (``loader=True``) among ``raw`` that this family declares, cast by
    its option class, so ``--image-size 256`` reaches ``zoo.load`` exactly as ``zoo run``
    would pass it. Options other families declare are skipped here
    (:meth:`ModelPool.check_options` rejects ones nobody declares)."""
    from zoo.options import validate

    opts = family.options
    mine = {k: v for k, v in raw.items() if opts.lookup(k) in opts.loader_names()}
    if not mine:
        return {}
    checked = validate(opts, mine, command="serve", where="zoo serve")
    return {str(opts.lookup(k)): getattr(checked, str(opts.lookup(k))) for k in mine}


class ModelPool:
    """Name -> :class:`Slot`, loading through :func:`zoo.loading.load_resolved` on demand.

    ``models`` adds ready-made model objects under fixed names (a notebook serving the
    model it just fine-tuned; tests serving fakes); they are never unloaded.
    """

    def __init__(self, config: ServeConfig, models: dict[str, Any] | None = None) -> None:
        self.config = config
        self._slots: dict[str, Slot] = {}
        self._loading: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()
        self._allowed: set[str] | None = None
        for name, model in (models or {}).items():
            fam = getattr(model, "family", None)
            fam = fam if isinstance(fam, FamilySpec) else None
            self._slots[name] = Slot(
                key=name, model=model, family=fam, tasks=_task_names(fam, model)
            )
        if config.only_named:
            self._allowed = {self.resolve(n)[0] for n in config.models} | set(models or {})

    # ------------------------------------------------------------------ names
    @staticmethod
    def _registry() -> Any:
        from zoo.registry import get_registry

        return get_registry()

    def resolve(self, name: str) -> tuple[str, FamilySpec | None, VariantSpec | None]:
        """``name`` -> (slot key, family, variant); unknown or not served: 404."""
        name = str(name).strip()
        if name in self._slots:
            slot = self._slots[name]
            return name, slot.family, None
        family, variant = self._registry().resolve_name(name)
        key = variant.name if variant is not None else family.name
        if self._allowed is not None and key not in self._allowed:
            served = ", ".join(sorted(self._allowed))
            raise UnknownModelError(f"{key} is not served here; this server serves {served}")
        return key, family, variant

    def check_options(self) -> None:
        """Every ``--option`` given must be a loader option of some family being served."""
        if not self.config.model_options:
            return
        reg = self._registry()
        fams = (
            [self.resolve(n)[1] for n in self.config.models]
            if self.config.models
            else list(reg.families.values())
        )
        for key in self.config.model_options:
            if not any(f.options.lookup(key) in f.options.loader_names() for f in fams if f):
                flag = "--" + key.replace("_", "-")
                raise InputError(
                    f"unknown option {flag} for `zoo serve`: no served model takes it "
                    "(loader options are listed by `zoo info NAME`)"
                )

    # ------------------------------------------------------------------ loading
    def get(self, name: str) -> Slot:
        """The loaded model for ``name``, loading it now if needed (blocking: call in a thread)."""
        key, family, variant = self.resolve(name)
        slot = self._slots.get(key)
        if slot is not None:
            return slot
        with self._lock:
            load_lock = self._loading.setdefault(key, threading.Lock())
        with load_lock:
            slot = self._slots.get(key)
            if slot is not None:
                return slot
            assert family is not None
            slot = self._load(key, family, variant)
            self._slots[key] = slot
            return slot

    def _load(self, key: str, family: FamilySpec, variant: VariantSpec | None) -> Slot:
        from zoo.loading import load_resolved

        cfg = self.config
        start = time.perf_counter()
        model = load_resolved(
            family,
            variant,
            device=cfg.device,
            weights=cfg.weights,
            dtype=cfg.dtype,
            seed=cfg.seed,
            backend=cfg.backend,
            progress=False,
            **model_options(family, cfg.model_options),
        )
        return Slot(
            key=key,
            model=model,
            family=family,
            tasks=_task_names(family, model),
            load_seconds=time.perf_counter() - start,
        )

    def loaded(self) -> dict[str, Slot]:
        return dict(self._slots)

    # ------------------------------------------------------------------ describing
    def _capabilities(self, key: str, family: FamilySpec | None) -> dict[str, Any]:
        """What a client may ask of this model, without loading weights when avoidable."""
        from zoo.registry import get_registry

        reg = get_registry()
        slot = self._slots.get(key)
        if slot is not None:
            names = slot.task_names()
        else:
            names = [
                s.name
                for s in (reg.tasks_of(family) if family is not None else [])
                if s.name in family.tasks or _class_has(family, s.method)  # type: ignore[union-attr]
            ]
        endpoints = [p for n in names if n in reg.tasks and (p := reg.tasks[n].path()) is not None]
        return {
            "loaded": slot is not None,
            "weights": slot.weights if slot else None,
            "test_mode": slot.test_mode if slot else cfg_random(self.config),
            "tasks": names,
            "endpoints": endpoints,
            "everything": "everything" in names,
            "embedding_cache": bool(
                slot is not None and getattr(slot.model, "image_state_attrs", ())
            ),
        }

    def rows(self) -> list[dict[str, Any]]:
        """``zoo list --json`` rows of every model served, each with a ``serve`` block."""
        from zoo.listing import variant_row

        reg = self._registry()
        rows: list[dict[str, Any]] = []
        for v in reg.list_models():
            if self._allowed is not None and v.name not in self._allowed:
                continue
            row = variant_row(reg, v)
            row["serve"] = self._capabilities(v.name, reg.families.get(v.family))
            rows.append(row)
        for key, slot in self._slots.items():
            if key in reg.variants or (slot.family is not None and key == slot.family.name):
                continue
            rows.append(
                {
                    "name": key,
                    "family": slot.family.name if slot.family else None,
                    "tasks": slot.task_names(),
                    "serve": self._capabilities(key, slot.family),
                }
            )
        return rows

    def card(self, name: str) -> dict[str, Any]:
        """``zoo info --json`` for one model, plus the ``serve`` block."""
        from zoo.cards import load_card
        from zoo.listing import options_rows, variant_row

        key, family, variant = self.resolve(name)
        if family is None:  # a model object given to create_app
            slot = self._slots[key]
            return {
                "name": key,
                "tasks": slot.task_names(),
                "serve": self._capabilities(key, None),
            }
        card_path = (variant.card if variant and variant.card else None) or family.card
        card = load_card(card_path) if card_path else None
        row = variant_row(self._registry(), variant) if variant else {"name": family.name}
        return {
            **row,
            "options": options_rows(self._registry(), family),
            "card": card.model_dump(mode="json") if card else None,
            "serve": self._capabilities(key, family),
        }


def cfg_random(config: ServeConfig) -> bool:
    return config.weights == "random"


@functools.lru_cache(maxsize=256)
def _loader_has(loader: str, method: str) -> bool | None:
    from zoo.specs import import_string

    try:
        cls = import_string(loader)
    except Exception:  # a plugin mid-migration must not break the model list
        return None
    return callable(getattr(cls, method, None))


def _class_has(family: FamilySpec | None, method: str) -> bool | None:
    """Whether the family's model class defines ``method``; None when it cannot be imported.

    Importing the class imports torch and the plugin (once per process, cached), but loads
    no weights: the page can grey out "segment everything" before the first click.
    """
    return None if family is None else _loader_has(family.loader, method)
