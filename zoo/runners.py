"""What ``zoo run`` / ``zoo eval`` / ``zoo train`` hand to a family's runner.

The CLI parses the options every task shares (image, prompts, output, device, weights);
anything else on the command line (``--pathways 3``) is checked and cast against the
:class:`~zoo.specs.OptionSpec` list the family declared, *before* any work starts: an
unknown, misspelt or ill-typed option is a one-line error naming it, and no runner
re-states a type or a default (``ctx.opt("pathways")`` returns the declared default).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zoo.errors import InputError, PluginError
from zoo.specs import FamilySpec, OptionSpec, Task, VariantSpec

#: Options the core's own runners add for every family of a task.
TASK_OPTIONS: dict[Task, list[OptionSpec]] = {
    Task.PROMPTABLE: [
        OptionSpec(
            name="multimask",
            type="bool",
            default=False,
            commands=("run", "batch"),
            help="ask for three candidates per prompt and keep the best (single clicks)",
        ),
        # "segment everything" (zoo.everything): no prompts, a point grid
        OptionSpec(
            name="everything",
            type="bool",
            default=False,
            commands=("run", "batch"),
            help="segment everything: a point grid instead of prompts (model.segment_everything)",
        ),
        OptionSpec(
            name="points_per_side",
            type="int",
            default=None,
            minimum=1,
            commands=("run", "batch"),
            help="--everything grid points per side (default 32; cost grows with its square)",
        ),
        OptionSpec(
            name="points_per_batch",
            type="int",
            default=None,
            minimum=1,
            commands=("run", "batch"),
            help="--everything prompts per decoder call (default 64; memory vs speed)",
        ),
        OptionSpec(
            name="pred_iou_thresh",
            type="float",
            default=None,
            minimum=0.0,
            commands=("run", "batch"),
            help="--everything predicted-IoU threshold (default 0.8; 0 in test mode)",
        ),
        OptionSpec(
            name="stability_score_thresh",
            type="float",
            default=None,
            minimum=0.0,
            aliases=("stability_thresh",),
            commands=("run", "batch"),
            help="--everything stability-score threshold (default 0.95; 0 in test mode)",
        ),
        OptionSpec(
            name="box_nms_thresh",
            type="float",
            default=None,
            minimum=0.0,
            commands=("run", "batch"),
            help="--everything box NMS IoU threshold (default 0.7)",
        ),
        OptionSpec(
            name="min_region_area",
            type="int",
            default=None,
            minimum=0,
            aliases=("min_area",),
            commands=("run", "batch"),
            help="--everything: fill holes, drop islands and masks under this many pixels",
        ),
        # the core evaluator (zoo.evaluation) for promptable families without their own
        OptionSpec(
            name="max_images",
            type="int",
            default=None,
            minimum=1,
            commands=("eval",),
            help="evaluate only the first N annotated images",
        ),
        OptionSpec(
            name="class_aware",
            type="bool",
            default=False,
            commands=("eval",),
            help="score COCO AP per category (default: class-agnostic, as fits box prompts)",
        ),
    ],
}


def parse_extras(args: list[str]) -> dict[str, Any]:
    """``["--pathways", "3", "--render-only"]`` -> ``{"pathways": "3", "render_only": True}``."""
    out: dict[str, Any] = {}
    i = 0
    while i < len(args):
        tok = args[i]
        if not tok.startswith("--") or tok == "--":
            raise InputError(f"unexpected argument {tok!r}; options look like --name VALUE")
        key, eq, val = tok[2:].partition("=")
        key = key.replace("-", "_")
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


def declared_options(family: FamilySpec, command: str, *, core_runner: bool) -> list[OptionSpec]:
    """The family's options for ``command``, plus the core runner's task options.

    ``zoo export`` builds the model ``zoo run`` would, so it takes every loader option
    (``model=True``) whatever commands it lists.
    """
    if command == "export":
        return [o for o in family.options if o.model or command in o.commands]
    opts = list(family.options_for(command))
    if core_runner:
        own = {o.name for o in opts}
        for task in family.tasks:
            opts += [
                o for o in TASK_OPTIONS.get(task, []) if command in o.commands and o.name not in own
            ]
    return opts


def parse_options(
    family: FamilySpec,
    command: str,
    raw: dict[str, Any],
    *,
    core_runner: bool = False,
    given: set[str] | None = None,
) -> dict[str, Any]:
    """Cast ``raw`` (from :func:`parse_extras`) against the declarations; fill defaults.

    ``given`` (when passed) receives the names the user set explicitly, so later code can
    tell "left at its default" from "set to the default's value".
    """
    opts = declared_options(family, command, core_runner=core_runner)
    by_name = {n: o for o in opts for n in (o.name, *o.aliases)}
    values: dict[str, Any] = {o.name: o.default for o in opts}
    seen: dict[str, str] = {}
    for key, value in raw.items():
        opt = by_name.get(key)
        flag = "--" + key.replace("_", "-")
        if opt is None:
            other = family.option(key)
            if other is not None:
                where = ", ".join(f"zoo {c}" for c in other.commands)
                raise InputError(f"{flag} applies to {where}, not `zoo {command} {family.name}`")
            known = ", ".join(o.flag for o in opts)
            raise InputError(
                f"unknown option {flag} for `zoo {command} {family.name}`"
                + (f"; it accepts {known}" if known else "; it takes no extra options")
                + f" (see `zoo info {family.name}`)"
            )
        if opt.name in seen:
            raise InputError(f"{flag} repeats {seen[opt.name]}; give it once")
        seen[opt.name] = flag
        try:
            values[opt.name] = opt.cast(value)
        except ValueError as exc:
            shown = "(no value)" if value is True and opt.type != "bool" else repr(value)
            raise InputError(f"bad value for {flag}: {shown} {exc}") from None
    if given is not None:
        given.update(seen)
    return values


@dataclass
class RunContext:
    """What a runner needs: shared options (``get``), typed family options (``opt``)."""

    name: str
    family: FamilySpec
    variant: VariantSpec | None
    command: str
    options: dict[str, Any]
    values: dict[str, Any] = field(default_factory=dict)
    as_json: bool = False
    console: Any = None
    explicit: set[str] = field(default_factory=set)

    def get(self, key: str, default: Any = None) -> Any:
        """A shared option (``image``, ``out``, ``device``...)."""
        v = self.options.get(key)
        return default if v is None else v

    def opt(self, key: str) -> Any:
        """A family option, cast to its declared type (its declared default if not given)."""
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
        """Loader kwargs: the ``model=True`` options the user set.

        Options left alone are not passed, so the loader applies its own default (which the
        conformance kit checks equals the declared one) and can tell "unset" from "set".
        """
        return {
            o.name: self.values[o.name]
            for o in self.family.options
            if o.model and o.name in self.explicit and o.name in self.values
        }

    def model_settings(self) -> dict[str, Any]:
        """Every ``model=True`` option's effective value (given or declared default): what
        a run records in ``run.json``."""
        return {
            o.name: self.values[o.name]
            for o in self.family.options
            if o.model and o.name in self.values
        }

    def load_model(self, name: str | None = None, **config: Any) -> Any:
        """Load this command's model (resolved once, by the CLI), or another by ``name``."""
        from zoo.loading import load, load_resolved

        kwargs = dict(
            device=self.get("device", "auto"),
            weights=self.get("weights"),
            checkpoint=self.get("checkpoint"),
            dtype=self.get("dtype"),
            seed=self.get("seed"),
            progress=not self.as_json,
            backend=self.get("backend"),
        )
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
    import os

    if not os.access(parent, os.W_OK | os.X_OK):
        raise InputError(f"cannot write to --out {path}: {parent} is not writable")


def parse_boxes(text: str) -> list[list[float]]:
    """``"x1,y1,x2,y2;x1,y1,x2,y2"`` -> list of 4-number lists (ids like ``"3:..."`` refused)."""
    boxes = []
    for part in [p for p in text.replace(" ", "").split(";") if p]:
        try:
            vals = [float(v) for v in part.split(",")]
        except ValueError:
            raise InputError(
                f'malformed box {part!r}; write boxes as "x1,y1,x2,y2;x1,y1,x2,y2"'
            ) from None
        if len(vals) != 4:
            raise InputError(f"box {part!r} has {len(vals)} numbers; a box is x1,y1,x2,y2")
        boxes.append(vals)
    if not boxes:
        raise InputError('--boxes is empty; write boxes as "x1,y1,x2,y2;..."')
    return boxes


def parse_points(text: str) -> list[list[float]]:
    pts = []
    for part in [p for p in text.replace(" ", "").split(";") if p]:
        try:
            vals = [float(v) for v in part.split(",")]
        except ValueError:
            raise InputError(f'malformed point {part!r}; write points as "x,y;x,y"') from None
        if len(vals) != 2:
            raise InputError(f"point {part!r} has {len(vals)} numbers; a point is x,y")
        pts.append(vals)
    if not pts:
        raise InputError('--points is empty; write points as "x,y;x,y"')
    return pts


def parse_labels(text: str) -> list[int]:
    try:
        return [int(v) for v in text.replace(" ", "").replace(";", ",").split(",") if v]
    except ValueError:
        raise InputError(f'malformed --labels {text!r}; write labels as "1,0,1"') from None


def prompts_from_options(ctx: RunContext) -> Any:
    """Build :class:`zoo.prompts.Prompts` from ``--boxes/--points/--labels/--prompts``."""
    from zoo.prompts import Prompts

    prompts_file = ctx.get("prompts")
    if prompts_file is not None:
        if any(ctx.get(k) for k in ("boxes", "points", "labels")):
            raise InputError("use either --prompts FILE or --boxes/--points, not both")
        from zoo.io.jsonfiles import read_json

        data = read_json(prompts_file, "prompts file", "--prompts")
        return Prompts.from_json(data)
    boxes = parse_boxes(ctx.get("boxes")) if ctx.get("boxes") else None
    points = parse_points(ctx.get("points")) if ctx.get("points") else None
    labels = parse_labels(ctx.get("labels")) if ctx.get("labels") else None
    if points is not None and labels is None:
        raise InputError(f'{len(points)} --points given without --labels; add --labels "1,..."')
    if boxes is None and points is None:
        if labels is not None:
            raise InputError('--labels given without --points; add --points "x,y;..."')
        raise InputError(
            'no prompt given; add --boxes "x1,y1,x2,y2", --points/--labels or --prompts FILE'
        )
    return Prompts.build(boxes=boxes, points=points, labels=labels)


def everything_settings(values: dict[str, Any]) -> dict[str, Any]:
    """The ``segment_everything`` keywords the user gave (``--points-per-side``...)."""
    from zoo.everything import EVERYTHING_OPTION_NAMES

    return {
        k: values[k]
        for k in EVERYTHING_OPTION_NAMES
        if k != "multimask" and values.get(k) is not None
    }


def run_promptable(ctx: RunContext) -> dict[str, Any]:
    """Default ``zoo run`` for ``promptable`` families: mask PNGs, COCO JSON, overlay.

    Everything the user typed is checked before the model loads and before ``--out``
    exists: a bad prompt costs a second and leaves no folder behind.
    """
    from zoo.io.images import load_image
    from zoo.results import check_formats

    image_path = ctx.get("image")
    if image_path is None:
        raise InputError(f"`zoo run {ctx.name}` needs --image PATH")
    formats = check_formats(ctx.get("format", "png,coco,overlay"))
    out = ctx.out_dir()
    image = load_image(image_path)
    if ctx.opt("everything"):
        if any(ctx.get(k) for k in ("boxes", "points", "labels", "prompts")):
            raise InputError("--everything takes no prompts; drop --boxes/--points/--prompts")
        model = ctx.load_model()
        from zoo.progress import showing_progress

        with showing_progress(ctx.console, enabled=not ctx.as_json):
            result = model.segment_everything(image, **everything_settings(ctx.values))
    else:
        prompts = prompts_from_options(ctx)
        prompts.check_inside(image.shape[0], image.shape[1])
        model = ctx.load_model()
        result = model.segment(image, prompts, multimask=ctx.opt("multimask"))
    files = result.save(out, image=image, formats=formats, file_name=Path(str(image_path)).name)
    return {
        "model": model.name,
        "weights": model.weights,
        "masks": len(result),
        "scores": [round(float(s), 4) for s in result.scores],
        "files": [str(f) for f in files],
    }
