"""Per-stage wall/CPU time of video tracking, recorded only while asked for.

Why this exists: SAM2Long's cost over SAM 2 is spread over a few network stages that run
once per *pathway* (memory attention, mask decoder, memory encoder) and one that runs once
per *frame* (image encoder).  Knowing which of them the time goes to is what decides
which optimisation is worth doing, and the numbers must come from the path a user runs
(``zoo.load(...).track(...)``), not from a benchmark that re-implements the loop.

Usage::

    model = zoo.load("sam2long-video:tiny", checkpoint=...)
    with profile_stages(model.model) as prof:
        for _ in model.track(frames, prompts):
            pass
    print(prof.table())

Two probes feed one :class:`StageProfile`:

* forward hooks on the SAM 2 network's sub-modules (:data:`MODULE_STAGES`), installed by
  :func:`profile_stages` and removed on exit, so plain SAM 2 (``init_state`` /
  ``propagate_in_video``) is profiled with exactly the same stage boundaries;
* :func:`stage` blocks in the tracker for work that is not a sub-module call (our
  memory attention walks the module's layers itself, memory-bank assembly, frame
  decoding).

Time is *exclusive*: a stage nested in another (a hooked module called inside a tracker
stage) is charged to the inner stage only, so the stages add up to the profiled wall time
and whatever is in no stage is the caller's own work ("other": tree bookkeeping, pointer
arithmetic, resizing outputs).

Cost when off: the hooks do not exist and :func:`stage` returns one shared no-op context
manager after a single :class:`contextvars.ContextVar` lookup (tens of nanoseconds, a few
dozen times per frame).  The profile is held in a context variable rather than a global so
that concurrent tracking threads (``zoo serve``) do not write into each other's profile;
the module hooks, however, live on the shared network and record into the profile that
installed them.
"""

from __future__ import annotations

import contextlib
import contextvars
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

#: SAM 2 sub-module attribute -> stage name.  The prompt encoder is counted with the mask
#: decoder: together they are the "SAM head" that runs once per pathway.
MODULE_STAGES: dict[str, str] = {
    "image_encoder": "image encoder",
    "memory_attention": "memory attention",
    "sam_prompt_encoder": "mask decoder",
    "sam_mask_decoder": "mask decoder",
    "memory_encoder": "memory encoder",
}

#: Sub-stage of memory attention's cross-attention call (the tracker times it itself
#: when it runs its own copy of the call, see ``memory.rope_cross_attention``).
CROSS_ATTENTION_STAGE = "memory attention: cross-attention (q, RoPE, softmax, out)"

#: With ``detail=True``: sub-modules of every memory-attention layer -> sub-stage.  They
#: split memory attention (most of SAM2Long's extra cost) into the parts an optimisation
#: would target: the K/V projections of memory tokens (what sharing projections between
#: pathways could save), the attention itself, self-attention and the MLP.  What is left
#: under "memory attention" is layer norms, residual adds and key scaling.
LAYER_DETAIL: dict[str, str] = {
    "self_attn": "memory attention: self-attention",
    "cross_attn_image": CROSS_ATTENTION_STAGE,
    "cross_attn_image.k_proj": "memory attention: memory K/V projections",
    "cross_attn_image.v_proj": "memory attention: memory K/V projections",
    "linear1": "memory attention: MLP",
    "linear2": "memory attention: MLP",
}

#: Stage order in tables (stages not listed here follow in first-seen order).
STAGE_ORDER = (
    "frame loading",
    "image encoder",
    "memory bank",
    "memory attention",
    *dict.fromkeys(LAYER_DETAIL.values()),
    "mask decoder",
    "memory encoder",
)


@dataclass
class StageTotals:
    """Accumulated exclusive time of one stage."""

    wall_s: float = 0.0
    cpu_s: float = 0.0
    calls: int = 0


@dataclass
class StageProfile:
    """Exclusive wall and process-CPU seconds per stage, plus the enclosing total.

    Process CPU time (all threads) is recorded next to wall time because on a shared
    machine wall time includes waiting for a core, while CPU time mostly does not; ratios
    of either are meaningful only within one process run.
    """

    stages: dict[str, StageTotals] = field(default_factory=dict)
    detail: bool = False
    wall_s: float = 0.0
    cpu_s: float = 0.0
    _stack: list[list[float]] = field(default_factory=list, repr=False)
    _names: list[str] = field(default_factory=list, repr=False)

    # ------------------------------------------------------------------ recording

    def push(self, name: str) -> None:
        """Start ``name`` (nested inside the current stage, if any)."""
        self._names.append(name)
        # [wall start, cpu start, wall spent in children, cpu spent in children]
        self._stack.append([time.perf_counter(), time.process_time(), 0.0, 0.0])

    def pop(self) -> None:
        """End the innermost stage and charge its exclusive time."""
        wall0, cpu0, child_wall, child_cpu = self._stack.pop()
        name = self._names.pop()
        wall = time.perf_counter() - wall0
        cpu = time.process_time() - cpu0
        tot = self.stages.setdefault(name, StageTotals())
        tot.wall_s += wall - child_wall
        tot.cpu_s += cpu - child_cpu
        tot.calls += 1
        if self._stack:
            self._stack[-1][2] += wall
            self._stack[-1][3] += cpu

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        self.push(name)
        try:
            yield
        finally:
            self.pop()

    # ------------------------------------------------------------------ reading

    def rows(self) -> list[dict[str, Any]]:
        """One row per stage (table order) plus ``other`` = total - stages."""
        names = [n for n in STAGE_ORDER if n in self.stages]
        names += [n for n in self.stages if n not in names]
        out: list[dict[str, Any]] = []
        for n in names:
            s = self.stages[n]
            out.append({"stage": n, "wall_s": s.wall_s, "cpu_s": s.cpu_s, "calls": s.calls})
        staged_wall = sum(s.wall_s for s in self.stages.values())
        staged_cpu = sum(s.cpu_s for s in self.stages.values())
        out.append(
            {
                "stage": "other",
                "wall_s": self.wall_s - staged_wall,
                "cpu_s": self.cpu_s - staged_cpu,
                "calls": 0,
            }
        )
        out.append({"stage": "total", "wall_s": self.wall_s, "cpu_s": self.cpu_s, "calls": 0})
        return out

    def seconds(self, name: str, cpu: bool = False) -> float:
        s = self.stages.get(name)
        if s is None:
            return 0.0
        return s.cpu_s if cpu else s.wall_s


_ACTIVE: contextvars.ContextVar[StageProfile | None] = contextvars.ContextVar(
    "zoo_sam2long_stage_profile", default=None
)
_OFF = contextlib.nullcontext()


def stage(name: str) -> contextlib.AbstractContextManager[Any]:
    """Time the enclosed block as ``name`` if a profile is active, else do nothing."""
    prof = _ACTIVE.get()
    if prof is None:
        return _OFF
    return prof.stage(name)


def detail_stage(name: str) -> contextlib.AbstractContextManager[Any]:
    """Like :func:`stage`, for sub-stages recorded only by ``profile_stages(detail=True)``."""
    prof = _ACTIVE.get()
    if prof is None or not prof.detail:
        return _OFF
    return prof.stage(name)


def active() -> StageProfile | None:
    """The profile being recorded in this context, if any."""
    return _ACTIVE.get()


@contextlib.contextmanager
def profile_stages(model: Any | None = None, detail: bool = False) -> Iterator[StageProfile]:
    """Record a :class:`StageProfile` of everything run inside the block.

    Args:
        model: a SAM 2 network (``zoo.load("sam2long-video:...").model``); its sub-modules
            named in :data:`MODULE_STAGES` are timed through forward hooks while the block
            runs.  ``None`` records only the tracker's own :func:`stage` blocks.
        detail: also split memory attention per :data:`LAYER_DETAIL`.
    """
    prof = StageProfile(detail=detail)
    targets: list[tuple[Any, str]] = []
    if model is not None:
        targets += [(getattr(model, a, None), n) for a, n in MODULE_STAGES.items()]
        layers = getattr(getattr(model, "memory_attention", None), "layers", None)
        if detail and layers is not None:
            for layer in layers:
                for path, name in LAYER_DETAIL.items():
                    targets.append((_submodule(layer, path), name))
    handles: list[Any] = []
    for module, name in targets:
        if module is None:
            continue
        handles.append(module.register_forward_pre_hook(lambda *_a, _n=name: prof.push(_n)))
        handles.append(module.register_forward_hook(lambda *_a: prof.pop(), always_call=True))
    token = _ACTIVE.set(prof)
    wall0, cpu0 = time.perf_counter(), time.process_time()
    try:
        yield prof
    finally:
        prof.wall_s = time.perf_counter() - wall0
        prof.cpu_s = time.process_time() - cpu0
        _ACTIVE.reset(token)
        for h in handles:
            h.remove()


def _submodule(root: Any, path: str) -> Any:
    for part in path.split("."):
        root = getattr(root, part, None)
        if root is None:
            return None
    return root
