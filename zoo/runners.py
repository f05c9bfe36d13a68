"""What ``zoo run`` / ``zoo eval`` / ``zoo train`` hand to a family's runner.

The CLI parses the options every task shares (image, prompts, output, device, weights);
anything else on the command line (``--pathways 3``) is collected into ``extras`` and
checked against the options the family declared in its ``FamilySpec.options``. That keeps
plugins free to add options without the core knowing them, while an unknown or misspelt
option is still a one-line error instead of being silently ignored.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from zoo.errors import InputError
from zoo.specs import FamilySpec, VariantSpec

T = TypeVar("T")


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


@dataclass
class RunContext:
    """What a runner needs; ``opt()`` reads a family option, ``done()`` rejects leftovers."""

    name: str
    family: FamilySpec
    variant: VariantSpec | None
    command: str
    options: dict[str, Any]
    extras: dict[str, Any] = field(default_factory=dict)
    as_json: bool = False
    console: Any = None
    _used: set[str] = field(default_factory=set)

    def get(self, key: str, default: Any = None) -> Any:
        """A shared option (``image``, ``out``, ``device``...)."""
        v = self.options.get(key)
        return default if v is None else v

    def opt(self, key: str, cast: Callable[[Any], T], default: T) -> T:
        """A family-specific option from ``extras`` converted with ``cast``."""
        self._used.add(key)
        if key not in self.extras:
            return default
        raw = self.extras[key]
        try:
            return cast(raw)
        except (TypeError, ValueError):
            flag = "--" + key.replace("_", "-")
            raise InputError(f"bad value for {flag}: {raw!r}") from None

    def flag(self, key: str) -> bool:
        self._used.add(key)
        v = self.extras.get(key, False)
        return v is True or str(v).lower() in ("1", "true", "yes")

    def done(self) -> None:
        """Fail on options nobody read: a typo must not silently change nothing."""
        unknown = sorted(set(self.extras) - self._used)
        if unknown:
            flag = "--" + unknown[0].replace("_", "-")
            known = ", ".join("--" + k.replace("_", "-") for k in sorted(self.family.options))
            raise InputError(
                f"unknown option {flag} for `zoo {self.command} {self.family.name}`"
                + (f"; it accepts {known}" if known else "; it takes no extra options")
            )

    def load_model(self, name: str | None = None, **config: Any) -> Any:
        from zoo.model import load

        return load(
            name or self.name,
            device=self.get("device", "auto"),
            weights=self.get("weights"),
            checkpoint=self.get("checkpoint"),
            dtype=self.get("dtype"),
            **config,
        )

    def out_dir(self) -> Path:
        out = self.get("out")
        if out is None:
            raise InputError(f"`zoo {self.command}` needs --out DIR for its outputs")
        from zoo.io.atomic import ensure_writable_dir

        path = Path(out)
        ensure_writable_dir(path)
        return path


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
    """Build :class:`zoo.tasks.Prompts` from ``--boxes/--points/--labels/--prompts``."""
    from zoo.tasks import Prompts

    prompts_file = ctx.get("prompts")
    if prompts_file is not None:
        if any(ctx.get(k) for k in ("boxes", "points", "labels")):
            raise InputError("use either --prompts FILE or --boxes/--points, not both")
        path = Path(prompts_file)
        if not path.exists():
            raise InputError(f"prompts file {path} does not exist")
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise InputError(
                f"prompts file {path} is not valid JSON: {exc.msg} (line {exc.lineno})"
            ) from None
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


def run_promptable(ctx: RunContext) -> dict[str, Any]:
    """Default ``zoo run`` for ``promptable`` families: masks PNGs + COCO JSON + overlay."""
    from zoo.io.images import load_image

    image_path = ctx.get("image")
    if image_path is None:
        raise InputError(f"`zoo run {ctx.name}` needs --image PATH")
    fmt = ctx.get("format", "png,coco")
    formats = {f.strip() for f in str(fmt).split(",") if f.strip()}
    bad = formats - {"png", "coco", "json"}
    if bad:
        raise InputError(f"unknown --format {sorted(bad)[0]!r}; use png, coco or json")
    multimask = ctx.flag("multimask")
    ctx.done()
    out = ctx.out_dir()
    image = load_image(image_path)
    prompts = prompts_from_options(ctx)
    prompts.check_inside(image.shape[0], image.shape[1])
    model = ctx.load_model()
    result = model.segment(image, prompts, multimask=multimask)
    files = result.save(out, image=image, formats=sorted(formats), image_id=Path(image_path).stem)
    return {
        "model": model.name,
        "weights": model.weights,
        "masks": len(result),
        "scores": [round(float(s), 4) for s in result.scores],
        "files": [str(f) for f in files],
    }
