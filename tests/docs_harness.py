"""What ``tests/test_docs.py`` needs: find the documented commands, build the stand-in inputs
they name, adjust each command to test mode and run it.

Kept apart from the test module so the slow fresh-clone test and a person debugging a
README line can use the same pieces::

    python -c "from tests.docs_harness import *; print(*doc_items(), sep='\\n')"
"""

from __future__ import annotations

import ast
import contextlib
import io
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tokenize
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
FIXTURES = SHARED / "fixtures"
VENV_BIN = Path(sys.executable).parent

# --------------------------------------------------------------------------- the documents


def doc_files(root: Path = REPO) -> list[Path]:
    """Every document whose shell commands must keep working."""
    files = [root / "README.md", *sorted((root / "docs").glob("*.md"))]
    files += sorted((root / "plugins").glob("*/README.md"))
    files += sorted((root / "cards").glob("*.md"))
    return [f for f in files if f.is_file()]


SHELL_LANGS = {"bash", "sh", "shell", "console"}
PYTHON_LANGS = {"python", "py"}
# An HTML comment right before a fence: ``<!-- docs-test: skip (why) -->``.
SKIP_MARKER = re.compile(r"<!--\s*docs-test:\s*skip\s*\((?P<why>[^)]*)\)\s*-->")
FENCE = re.compile(r"^(?P<indent>\s*)(?P<fence>```+|~~~+)\s*(?P<lang>[\w+-]*)")


@dataclass
class Block:
    path: Path
    line: int  # 1-based line of the first line inside the fence
    lang: str
    text: str
    skip: str | None = None  # the marker's reason


def extract_blocks(path: Path) -> list[Block]:
    """The fenced code blocks of a Markdown file, with the skip marker before each."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        fence, lang = m.group("fence"), m.group("lang").lower()
        prev = next((ln for ln in reversed(lines[:i]) if ln.strip()), "")
        marker = SKIP_MARKER.search(prev)
        j = i + 1
        while j < len(lines) and not lines[j].strip().startswith(fence):
            j += 1
        blocks.append(
            Block(path, i + 2, lang, "\n".join(lines[i + 1 : j]), marker and marker["why"])
        )
        i = j + 1
    return blocks


def _balanced(text: str) -> bool:
    """Quotes and ``$(...)`` closed: the shell would not ask for another line."""
    try:
        shlex.split(_mask_substitutions(text), comments=True)
    except ValueError:
        return False
    return True


def _mask_substitutions(text: str) -> str:
    """Replace each ``$(...)`` with ``SUBST`` (the parts we classify never look inside)."""
    out, i, n = [], 0, len(text)
    quote = ""
    while i < n:
        c = text[i]
        if quote == "'":
            quote = "" if c == "'" else quote
        elif c == "#" and not quote and (i == 0 or text[i - 1].isspace()):
            end = text.find("\n", i)  # a comment: to the end of the line, quotes and all
            i = n if end < 0 else end
            continue
        elif c == "\\" and quote != "'":
            out.append(text[i : i + 2])
            i += 2
            continue
        elif c == '"':
            quote = "" if quote == '"' else '"'
        elif c == "'" and not quote:
            quote = "'"
        elif text.startswith("$(", i):
            depth, j, inner_q = 1, i + 2, ""
            while j < n and depth:
                d = text[j]
                if inner_q:
                    inner_q = "" if d == inner_q else inner_q
                elif d in "'\"":
                    inner_q = d
                elif d == "(":
                    depth += 1
                elif d == ")":
                    depth -= 1
                j += 1
            if depth:
                raise ValueError("unclosed $(")
            out.append("SUBST")
            i = j
            continue
        out.append(c)
        i += 1
    if quote:
        raise ValueError("unclosed quote")
    return "".join(out)


def shell_lines(block: Block) -> Iterator[tuple[int, str]]:
    """``(line, command text)`` per logical command: ``\\`` continuations joined, quoted
    strings spanning lines kept together, comment-only and blank lines dropped."""
    raw = block.text.splitlines()
    i = 0
    while i < len(raw):
        start, text = i, raw[i]
        while True:
            stripped = text.rstrip()
            if stripped.endswith("\\") and not stripped.lstrip().startswith("#"):
                if i + 1 >= len(raw):
                    break
                text = stripped[:-1] + " " + raw[i + 1].strip()
                i += 1
            elif not _balanced(text) and i + 1 < len(raw):
                text = text + "\n" + raw[i + 1]
                i += 1
            else:
                break
        i += 1
        if block.lang == "console":  # `$ cmd` lines; the rest is output
            if not text.lstrip().startswith("$ "):
                continue
            text = text.lstrip()[2:]
        if shlex.split(_mask_substitutions(text), comments=True):
            yield block.line + start, text


# --------------------------------------------------------------------------- one command


OPERATORS = {"|", "||", ";", ";;", "&", ">", ">>", "<", "<<", "(", ")", "|&"}
ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")


@dataclass
class Part:
    """One command of a ``&&`` chain."""

    text: str  # as written (comment included): what bash runs for a shell part
    words: list[str]  # shlex words, ``$(...)`` masked as SUBST, comments dropped
    shell: bool  # pipes, redirections, substitutions...: run by bash

    @property
    def env(self) -> dict[str, str]:
        out = {}
        for w in self.words:
            if not ASSIGNMENT.match(w):
                break
            k, _, v = w.partition("=")
            out[k] = v
        return out

    @property
    def argv(self) -> list[str]:
        """The words after leading ``NAME=value`` assignments, the program normalised
        (``.venv/bin/zoo`` is ``zoo``)."""
        words = self.words[len(self.env) :]
        if words and words[0].startswith(".venv/bin/"):
            words = [words[0].removeprefix(".venv/bin/"), *words[1:]]
        return words


def split_chain(text: str) -> list[Part]:
    """A command line split at top-level ``&&``, each part classified."""
    masked = _mask_substitutions(text)
    lex = shlex.shlex(masked, posix=True, punctuation_chars=True)
    lex.whitespace_split = True
    lex.commenters = "#"
    tokens = list(lex)
    parts: list[list[str]] = [[]]
    for tok in tokens:
        if tok == "&&":
            parts.append([])
        else:
            parts[-1].append(tok)
    if len(parts) == 1:
        return [Part(text, parts[0], "SUBST" in masked or any(t in OPERATORS for t in tokens))]
    # a chain: the parts are simple commands (anything fancier runs whole in bash)
    if any(t in OPERATORS for t in tokens) or "SUBST" in masked:
        return [Part(text, [t for p in parts for t in p], True)]
    return [Part(shlex.join(p), p, False) for p in parts]


# Commands that are never run, by their first words, and why. Everything else runs.
NOT_RUN: dict[tuple[str, ...], str] = {
    ("zoo", "pull"): "downloads checkpoints (the sandbox is offline)",
    ("zoo", "serve"): "serves until stopped (the curl examples run against a bounded server)",
    ("uv", "pip", "install"): "installs packages",
    ("pip", "install"): "installs packages",
    ("bash", "scripts/install.sh"): "installs the environment (nox -s slow runs it in a clone)",
    ("source", ".venv/bin/activate"): "activates the environment (the sandbox runs the venv's zoo)",
    ("bash", "scripts/test.sh"): "runs the test suite that runs this test (nox -s slow)",
    ("nox",): "runs CI sessions",
    ("pytest",): "runs a test suite",
    ("python", "-m", "pytest"): "runs a test suite",
}


def not_run_reason(part: Part) -> str | None:
    argv = part.argv
    for prefix, why in NOT_RUN.items():
        if tuple(argv[: len(prefix)]) == prefix:
            return why
    return None


# --------------------------------------------------------------------------- test mode

# Size options the test sets on every documented `zoo` command whose family declares them
# for that command (replacing the documented value or adding it). The documented values are
# real-run sizes (1024 px inputs, 64x64 point grids, thousands of steps, base-plus networks)
# that would take hours with random weights on a shared 2-core CPU; these keep each command
# to seconds while still running every stage of it. A choice option is set only where the
# value is one of its choices. Nothing else in a documented command changes, except the
# weights (see adjust_zoo_argv) and the port of the curl examples (DOC_PORT).
SIZES: dict[str, str] = {
    "--image-size": "128",  # encoder input side (a multiple of every family's patch size)
    "--points-per-side": "4",  # depth-sam's automatic mask grid: 16 points, one batch
    "--steps": "2",  # training steps (opseg-shadow, wesam-adapt)
    "--max-steps": "2",  # sameo-amodal's step cap
    "--epochs": "1",
    "--batch-size": "2",
    "--max-images": "2",  # evaluation subsets
    "--eval-images": "2",  # wesam-adapt's before/after check
    "--base": "tiny",  # opseg-shadow trains from SAM 2.1 tiny (not base-plus)...
    "--size": "tiny",  # ...and builds tiny when it runs or evaluates
    "--arch": "tiny",  # sam3's test-size architecture (same layout, 112 px)
    "--embed-cache": "off",  # sameo-amodal: 2 steps need 4 embeddings, not all 400 images'
    # a concept detector (--detector sam3) at its test size: 112 px instead of 860 M at 1008
    "--detector-options": "arch=tiny",
}
# Size options that are text, not numbers or choices: set as they are.
TEXT_SIZES = ("--detector-options",)
# Size options that matter only with another flag, where the family declares that flag: they
# are not added to a command without it.
ONLY_WITH = {"--points-per-side": "--everything", "--detector-options": "--detector"}
# Commands that load weights: each gets `--weights random` unless it names weights the
# sandbox holds (a `--checkpoint` file that exists, a variant trained earlier in the file).
WEIGHTED_COMMANDS = ("run", "eval", "train", "batch", "export")
# The sandbox's fixed server for the curl examples: documented port -> the one it got.
DOC_PORT = "127.0.0.1:8000"


def _declared(family: Any, command: str) -> dict[str, Any]:
    """``{"--flag": row}`` of what ``zoo COMMAND`` takes for this family: the rows of
    ``zoo info`` (its own options, its tasks', its evaluator's, its trainer's config)."""
    from zoo.listing import options_rows
    from zoo.registry import get_registry

    return {
        flag: row
        for row in options_rows(get_registry(), family)
        if command in row["commands"]
        for flag in (row["option"], *row["aliases"])
    }


def _takes(row: dict[str, Any] | None, value: str) -> bool:
    """Whether a declared option can take a SIZES value: one of its choices, or a number
    (wesam-adapt's free-form ``--base sam2:tiny`` is not opseg-shadow's ``--base tiny``)."""
    if row is None:
        return False
    if "|" in row["type"]:
        return value in row["type"].split("|")
    step = (row.get("bounds") or {}).get("multiple_of")
    if row["type"] == "int" and step and int(value) % step:
        return False  # e.g. sam3's 14 px patches: its --arch tiny keeps it small instead
    return row["type"] in ("int", "float")


def _set_option(argv: list[str], flag: str, value: str | None) -> list[str]:
    """``--flag value`` replaced (also ``--flag=value``) or appended; ``None`` removes it."""
    out: list[str] = []
    i = 0
    found = False
    while i < len(argv):
        a = argv[i]
        if a == flag:
            i += 2
            found = True
            if value is not None:
                out += [flag, value]
            continue
        if a.startswith(flag + "="):
            i += 1
            found = True
            if value is not None:
                out += [flag, value]
            continue
        out.append(a)
        i += 1
    if not found and value is not None:
        out += [flag, value]
    return out


def _option_value(argv: list[str], flag: str) -> str | None:
    for i, a in enumerate(argv):
        if a == flag and i + 1 < len(argv):
            return argv[i + 1]
        if a.startswith(flag + "="):
            return a.split("=", 1)[1]
    return None


def _checkpoint_exists(value: str, cwd: Path) -> bool:
    key, eq, path = value.partition("=")
    target = path if eq and key.replace("-", "_").isidentifier() else value
    return (cwd / target).exists()


def adjust_zoo_argv(argv: list[str], cwd: Path) -> tuple[list[str], list[str]]:
    """A documented ``zoo ...`` argv in test mode; returns it and what was changed.

    Run with the sandbox's environment (its ``ZOO_HOME``) set, so variants trained by an
    earlier command of the same file are known.
    """
    from zoo.errors import ZooError
    from zoo.registry import get_registry, reset_registry

    if len(argv) < 3 or argv[1] not in WEIGHTED_COMMANDS or argv[2].startswith("-"):
        return argv, []
    command, name = argv[1], argv[2]
    reset_registry()
    try:
        family, variant = get_registry().resolve_name(name)
    except ZooError:
        return argv, []  # the command itself will say what is wrong
    notes: list[str] = []
    out = list(argv)
    ckpt = _option_value(out, "--checkpoint")
    if ckpt is not None and not _checkpoint_exists(ckpt, cwd):
        out = _set_option(out, "--checkpoint", None)
        notes.append(f"--checkpoint {ckpt} -> --weights random (no such file in the sandbox)")
        ckpt = None
    local = variant is not None and variant.local
    if ckpt is None and _option_value(out, "--weights") is None and not local:
        out = _set_option(out, "--weights", "random")
        notes.append("+ --weights random")
    declared = _declared(family, command)
    for flag, value in SIZES.items():
        if not _takes(declared.get(flag), value) and not (flag in TEXT_SIZES and flag in declared):
            continue
        before = _option_value(out, flag)
        needs = ONLY_WITH.get(flag)
        if before is None and needs in declared and needs not in out:
            continue  # e.g. sam2's grid size matters only with --everything
        if before != value:
            out = _set_option(out, flag, value)
            notes.append(f"{flag} {before} -> {value}" if before else f"+ {flag} {value}")
    return out, notes


def loader_defaults(name: str, kwargs: dict[str, Any], cwd: Path) -> dict[str, Any]:
    """``zoo.load(name, **kwargs)`` in test mode: the same rules as the CLI's, as kwargs."""
    from zoo.registry import get_registry

    family, variant = get_registry().resolve_name(name)
    kw = dict(kwargs)
    ckpt = kw.get("checkpoint")
    if isinstance(ckpt, (str, os.PathLike)) and not _checkpoint_exists(str(ckpt), cwd):
        kw.pop("checkpoint")
    if "checkpoint" not in kw and "weights" not in kw and not (variant and variant.local):
        kw["weights"] = "random"
    rows = {r["name"]: r for r in family.options.describe() if r["loader"]}
    for flag, value in SIZES.items():
        row = rows.get(str(family.options.lookup(flag[2:].replace("-", "_"))))
        if row is None or row["name"] in kw or not _takes(row, value):
            continue
        kw[row["name"]] = int(value) if row["type"] == "int" else value
    return kw


# --------------------------------------------------------------------------- the sandbox

# The stand-in inputs every documented command may name (README.md says so once). A command
# naming any other input file fails, as it would for a user: keep the docs to these names.
SANDBOX_FILES = {
    "photo.jpg": "fixtures/images/groceries.jpg (800x534)",
    "shadow.jpg": "fixtures/shadow/web-shadow0573.jpg (892x768): people and their shadows",
    "color.jpg": "the ScanNet frame's colour image (640x480)",
    "depth.png": "its 16-bit depth in mm, with intrinsic_depth.txt, intrinsic_color.txt, pose.txt",
    "video/": "the first 4 frames of fixtures/video/bedroom (960x540 JPEGs)",
    "coco/": "annotations.json + images/: 2 generated COCO images with 2-3 shapes each",
    "soba/": "annotations.json + images/: 2 synthetic SOBA scenes (zoo_opseg.synthetic)",
    "amodal/": "annotations.json + images/: 2 occluded shape scenes (zoo_sameo.occlusion)",
    "dets.json": "COCO-results detections on photo.jpg (for sameo-amodal --detections)",
    "rgbd/": "one frame folder for depth-sam eval: the ScanNet frame + a coarse label.png",
    "davis/": "DAVIS layout: video/'s frames, first-frame palette mask (sam2long-video eval)",
    "mirror.yaml": "README's user catalogue (its `# mirror.yaml` block): a mirror and a variant",
}


def _readme_block(first_line: str) -> str:
    """The README code block that starts with ``first_line`` (a file the README shows)."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    start = text.index(f"\n{first_line}\n") + 1
    return text[start : text.index("\n```", start) + 1]


def build_sandbox(root: Path) -> Path:
    """Write the stand-in inputs into ``root`` (needs ``../shared/fixtures``)."""
    import numpy as np
    from PIL import Image

    root.mkdir(parents=True, exist_ok=True)
    shutil.copy(FIXTURES / "images" / "groceries.jpg", root / "photo.jpg")
    shutil.copy(FIXTURES / "shadow" / "web-shadow0573.jpg", root / "shadow.jpg")
    scan = FIXTURES / "rgbd" / "scannet_scene0000_00_1660"
    for f in ("color.jpg", "depth.png", "intrinsic_depth.txt", "intrinsic_color.txt", "pose.txt"):
        shutil.copy(scan / f, root / f)
    frames = sorted((FIXTURES / "video" / "bedroom").glob("*.jpg"))[:4]
    (root / "video").mkdir()
    for f in frames:
        shutil.copy(f, root / "video" / f.name)
    _coco(root / "coco")
    from zoo_opseg.synthetic import write_soba_dataset

    write_soba_dataset(root / "soba", n_images=2, height=120, width=160, seed=0)
    from zoo_sameo.occlusion import make_synthetic_amodal_dataset

    make_synthetic_amodal_dataset(root / "amodal", 2, height=96, width=96, seed=0, pairs=False)
    dets = [  # what a detector might say about photo.jpg: two bags and a weak guess
        {"image_id": 1, "bbox": [370, 170, 77, 170], "score": 0.92, "category_id": 1},
        {"image_id": 1, "bbox": [505, 140, 80, 200], "score": 0.81, "category_id": 1},
        {"image_id": 1, "bbox": [130, 20, 560, 380], "score": 0.12, "category_id": 1},
    ]
    (root / "dets.json").write_text(json.dumps(dets, indent=1))
    (root / "mirror.yaml").write_text(_readme_block("# mirror.yaml"), encoding="utf-8")
    # depth-sam eval: a frame folder whose label.png (NYU40 ids) splits the valid depth into
    # thirds, near = 5 chair, middle = 1 wall, far = 2 floor: a stand-in ground truth that
    # exercises the label mapping and the metric, not a real annotation
    frame = root / "rgbd" / "scene0000_00" / "frame_1660"
    frame.mkdir(parents=True)
    for f in ("color.jpg", "depth.png", "intrinsic_depth.txt", "pose.txt"):
        shutil.copy(scan / f, frame / f)
    depth = np.asarray(Image.open(scan / "depth.png")).astype(np.float64)
    valid = depth > 0
    label = np.zeros(depth.shape, np.uint8)
    lo, hi = np.percentile(depth[valid], [33, 66])
    label[valid & (depth <= lo)] = 5
    label[valid & (depth > lo) & (depth <= hi)] = 1
    label[valid & (depth > hi)] = 2
    Image.fromarray(label, mode="L").save(frame / "label.png")
    # sam2long-video eval: DAVIS layout from video/, the first frame's mask a box on the girl
    seq = "bedroom"
    (root / "davis" / "JPEGImages" / seq).mkdir(parents=True)
    (root / "davis" / "Annotations" / seq).mkdir(parents=True)
    from zoo.io.masks import save_palette_png

    for f in frames:
        shutil.copy(f, root / "davis" / "JPEGImages" / seq / f.name)
        w, h = Image.open(f).size
        gt = np.zeros((h, w), np.uint8)
        gt[20:390, 320:480] = 1
        save_palette_png(root / "davis" / "Annotations" / seq / (f.stem + ".png"), gt)
    return root


def _coco(root: Path) -> None:
    """Two small textured images with 2-3 filled shapes each, as COCO instances."""
    import cv2
    import numpy as np
    from PIL import Image

    from zoo.data.coco import build_coco

    rng = np.random.default_rng(0)
    (root / "images").mkdir(parents=True)
    items = []
    for k in range(2):
        h, w = 120, 160
        img = rng.integers(60, 120, (h, w, 3), dtype=np.uint8)
        masks = []
        for s in range(2 + k):
            m = np.zeros((h, w), np.uint8)
            cx, cy = 30 + 45 * s, 40 + 25 * (s % 2)
            if s % 2:
                cv2.rectangle(m, (cx - 18, cy - 15), (cx + 18, cy + 20), 1, -1)
            else:
                cv2.ellipse(m, (cx, cy), (20, 14), 15 * s, 0, 360, 1, -1)
            masks.append(m.astype(bool))
            img[m.astype(bool)] = rng.integers(150, 255, 3, dtype=np.uint8)
        name = f"{k:012d}.jpg"
        Image.fromarray(img).save(root / "images" / name, quality=95)
        items.append({"file_name": name, "masks": np.stack(masks)})
    (root / "annotations.json").write_text(json.dumps(build_coco(items, {1: "shape"})))


# --------------------------------------------------------------------------- items and runs


@dataclass
class DocItem:
    """One thing the docs test runs: a shell command line or a README Python block."""

    path: Path
    line: int
    kind: str  # "shell" | "python"
    text: str
    skip: str | None = None

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(REPO).as_posix()}:{self.line}"


def doc_items(root: Path = REPO) -> list[DocItem]:
    """Every shell command line of every document, and every Python block of README.md."""
    items: list[DocItem] = []
    for path in doc_files(root):
        for block in extract_blocks(path):
            if block.lang in SHELL_LANGS:
                items += [
                    DocItem(path, line, "shell", text, block.skip)
                    for line, text in shell_lines(block)
                ]
            elif block.lang in PYTHON_LANGS and path == root / "README.md":
                items.append(DocItem(path, block.line, "python", block.text, block.skip))
    return items


@dataclass
class Outcome:
    ok: bool
    ran: list[str] = field(default_factory=list)  # what actually ran, adjusted
    skipped: list[str] = field(default_factory=list)  # "command: why not"
    output: str = ""

    def report(self, item: DocItem) -> str:
        lines = [f"{item.where}: documented {item.kind} command stopped working", item.text]
        lines += [f"  ran: {r}" for r in self.ran]
        lines += [f"  not run: {s}" for s in self.skipped]
        return "\n".join(lines) + "\n--- output (tail)\n" + self.output[-4000:]


class DocSession:
    """One document's sandbox: a copy of the stand-in inputs, its own ``ZOO_HOME``, the shell
    variables its commands set, and which of its items already ran (items run in document
    order: a variant trained by one line is used by the next)."""

    def __init__(self, items: list[DocItem], sandbox: Path, server: Callable[[], str]) -> None:
        self.items = items
        self.cwd = sandbox
        self.server = server  # starts (once) and returns "127.0.0.1:PORT" for DOC_PORT
        home = sandbox / ".zoo_home"
        self.env = {
            "ZOO_OFFLINE": "1",
            "HF_HUB_OFFLINE": "1",
            "ZOO_HOME": str(home),
            "HF_HOME": str(home / "hf"),
            "MODELSCOPE_CACHE": str(home / "ms"),
        }
        self.vars: dict[str, str] = {}
        self.outcomes: dict[int, Outcome] = {}

    def run_through(self, index: int) -> Outcome:
        """Run every earlier item not run yet (ignoring their outcomes), then ``index``."""
        for k in range(index + 1):
            if k not in self.outcomes and not self.items[k].skip:
                self.outcomes[k] = self._run(self.items[k])
        return self.outcomes[index]

    @contextlib.contextmanager
    def _inside(self) -> Iterator[None]:
        """The sandbox's cwd and environment, for in-process work."""
        from zoo.registry import reset_registry

        saved_cwd = os.getcwd()
        env = {**self.env, **self.vars}
        saved = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        os.chdir(self.cwd)
        reset_registry()
        try:
            yield
        finally:
            os.chdir(saved_cwd)
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
            reset_registry()

    def _run(self, item: DocItem) -> Outcome:
        if item.kind == "python":
            return self._python(item)
        out = Outcome(ok=True)
        for part in split_chain(item.text):
            why = not_run_reason(part)
            if why:
                out.skipped.append(f"{shlex.join(part.argv[:3])}: {why}")
                continue
            rc, text, ran = self._part(part)
            out.ran.append(ran)
            out.output += text
            if rc != 0:
                out.ok = False
                out.output += f"\n[exit code {rc}]"
                break
        return out

    def _part(self, part: Part) -> tuple[int, str, str]:
        argv = part.argv
        if not part.shell and argv and argv[0] == "zoo":
            with self._inside():
                adjusted, notes = adjust_zoo_argv(argv, self.cwd)
                from zoo.testing.cli import run_cli

                proc = run_cli(*adjusted[1:], env=part.env)
            ran = shlex.join(adjusted) + (f"   [{'; '.join(notes)}]" if notes else "")
            return proc.returncode, proc.stdout + proc.stderr, ran
        env = {**os.environ, **self.env, **self.vars, **part.env}
        env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
        if part.shell:
            text = part.text
            if DOC_PORT in text:
                text = text.replace(DOC_PORT, self.server())
            names = list(part.env) if len(part.env) == len(part.words) else []
            script = text
            if names:  # `NAME=$(...)`: keep the value for the file's later commands
                script = f"{text}\nprintf '\\0%s' \"${names[0]}\""
            proc = subprocess.run(
                ["bash", "-o", "pipefail", "-c", script],
                cwd=self.cwd,
                env=env,
                capture_output=True,
                text=True,
                timeout=600,
            )
            output = proc.stdout + proc.stderr
            if names and proc.returncode == 0:
                value = proc.stdout.rsplit("\0", 1)[-1]
                if not value:
                    return 1, output + f"\n${names[0]} came out empty", text
                self.vars[names[0]] = value
            return proc.returncode, output, text
        cmd = [sys.executable, *argv[1:]] if argv[0] == "python" else argv
        proc = subprocess.run(
            cmd, cwd=self.cwd, env=env, capture_output=True, text=True, timeout=600
        )
        return proc.returncode, proc.stdout + proc.stderr, shlex.join(argv)

    def _python(self, item: DocItem) -> Outcome:
        """Run a README block in this process; ``zoo.load`` defaults to test mode."""
        import traceback

        import zoo
        from zoo.loading import load as real_load

        applied: list[str] = []

        def load(name: str, **kwargs: Any) -> Any:
            kw = loader_defaults(name, kwargs, self.cwd)
            args = ", ".join([repr(name), *(f"{k}={v!r}" for k, v in kw.items())])
            applied.append(f"zoo.load({args})")
            return real_load(name, **kw)

        out = Outcome(ok=True)
        buf = io.StringIO()
        missing = object()
        saved = zoo.__dict__.get("load", missing)
        with self._inside(), contextlib.redirect_stdout(buf), contextlib.redirect_stderr(buf):
            zoo.load = load  # type: ignore[attr-defined]
            try:
                code = instrument_python(item.text, item.path, item.line)
                exec(code, {"__name__": "__docs__", "__docs_expect__": _expect})
            except Exception:
                out.ok = False
                traceback.print_exc(file=buf)
            finally:
                if saved is missing:
                    del zoo.load  # back to the lazy attribute
                else:
                    zoo.load = saved  # type: ignore[attr-defined]
        out.ran = applied
        out.output = buf.getvalue()
        return out


def _expect(value: Any, expected: Any, where: str) -> None:
    if value != expected:
        raise AssertionError(f"{where}: the documented output is {expected!r}, got {value!r}")


def instrument_python(source: str, path: Path, first_line: int) -> Any:
    """Compile a README block with its real line numbers; a one-line expression statement
    followed by a comment that is a Python literal (``zoo.list_models("sam2:*")  # ['sam2:...']``)
    becomes a check that the expression gives that value, so shown outputs stay true."""
    literals: dict[int, str] = {}
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT:
            text = tok.string[1:].strip()
            try:
                ast.literal_eval(text)
            except (ValueError, SyntaxError):
                continue
            literals[tok.start[0]] = text
    tree = ast.parse(source)
    for k, stmt in enumerate(tree.body):
        one_line = stmt.lineno == stmt.end_lineno
        if isinstance(stmt, ast.Expr) and one_line and stmt.lineno in literals:
            where = f"{path.name}:{first_line + stmt.lineno - 1}"
            call = ast.Call(
                func=ast.Name("__docs_expect__", ast.Load()),
                args=[
                    stmt.value,
                    ast.parse(literals[stmt.lineno], mode="eval").body,
                    ast.Constant(where),
                ],
                keywords=[],
            )
            tree.body[k] = ast.copy_location(ast.Expr(call), stmt)
    ast.fix_missing_locations(tree)
    ast.increment_lineno(tree, first_line - 1)
    return compile(tree, str(path), "exec")


class BoundedServer:
    """``zoo serve sam2:tiny`` in test mode on a free port, for the curl examples; stopped
    by :meth:`stop` (the documented ``zoo serve`` runs until Ctrl-C)."""

    ARGS = ("serve", "sam2:tiny", "--weights", "random", "--image-size", "128", "--port", "0")

    def __init__(self, cwd: Path, env: dict[str, str]) -> None:
        self.cwd, self.env = cwd, env
        self.proc: subprocess.Popen[str] | None = None
        self.address = ""

    def __call__(self) -> str:
        if self.proc is None:
            self._start()
        return self.address

    def _start(self) -> None:
        import threading
        import time

        self.proc = subprocess.Popen(
            [str(VENV_BIN / "zoo"), *self.ARGS],
            cwd=self.cwd,
            env={**os.environ, **self.env},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        seen: list[str] = []
        found = threading.Event()

        def read() -> None:
            assert self.proc is not None and self.proc.stdout is not None
            for line in self.proc.stdout:
                seen.append(line)
                m = re.search(r"listening on http://([\d.]+:\d+)", line)
                if m:
                    self.address = m.group(1)
                    found.set()

        threading.Thread(target=read, daemon=True).start()
        deadline = time.monotonic() + 300
        while not found.wait(0.5):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("zoo serve did not start:\n" + "".join(seen))

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
