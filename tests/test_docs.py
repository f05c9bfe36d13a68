"""The docs keep working (issue 11, item 13).

Every shell command in README.md, docs/*.md, the plugin READMEs and the model cards (fenced
``bash``/``sh``/``console`` blocks) and every Python block of README.md runs here, one test
per command line, named by its place (``README.md:27``). Each document gets a sandbox: a
temporary folder holding the stand-in inputs the examples name (``docs_harness.SANDBOX_FILES``,
built from ``../shared/fixtures`` and the plugins' synthetic generators), its own
``ZOO_HOME``, ``ZOO_OFFLINE=1``. Commands of one document run in document order, so a variant
trained by one line is there for the next (selecting one test runs the lines before it too).

Test mode is applied by ``docs_harness.adjust_zoo_argv`` (``--weights random`` unless the
command names weights the sandbox holds, and the small sizes of ``docs_harness.SIZES``) and,
for README Python blocks, by wrapping ``zoo.load`` with the same rules. Commands that
download, install, run CI or serve for ever are listed with their reason in
``docs_harness.NOT_RUN`` and reported as skipped. Python blocks that are not meant to run
carry ``<!-- docs-test: skip (why) -->`` right before the fence.

The fresh-clone check of the README's two quickstart commands is ``-m slow`` (``nox -s slow``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.docs_harness import (
    FIXTURES,
    REPO,
    SANDBOX_FILES,
    BoundedServer,
    DocItem,
    DocSession,
    _expect,
    adjust_zoo_argv,
    build_sandbox,
    doc_items,
    extract_blocks,
    instrument_python,
    not_run_reason,
    shell_lines,
    split_chain,
)

ITEMS = doc_items()
BY_FILE: dict[Path, list[DocItem]] = {}
for _item in ITEMS:
    BY_FILE.setdefault(_item.path, []).append(_item)


@pytest.fixture(scope="session")
def docs_inputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not FIXTURES.is_dir():
        pytest.skip(f"{FIXTURES} is absent (the docs' stand-in inputs are built from it)")
    return build_sandbox(tmp_path_factory.mktemp("docs_inputs"))


@pytest.fixture(scope="session")
def doc_session(
    docs_inputs: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[[Path], DocSession]]:
    """``doc_session(path)``: the (one) session of a document, its sandbox made on first use."""
    sessions: dict[Path, DocSession] = {}
    home = tmp_path_factory.mktemp("docs_server_home")
    server = BoundedServer(docs_inputs, {"ZOO_OFFLINE": "1", "ZOO_HOME": str(home)})

    def get(path: Path) -> DocSession:
        if path not in sessions:
            slug = path.relative_to(REPO).as_posix().replace("/", "_")
            sandbox = tmp_path_factory.mktemp(f"docs_{slug}")
            shutil.copytree(docs_inputs, sandbox, dirs_exist_ok=True)
            sessions[path] = DocSession(BY_FILE[path], sandbox, server)
        return sessions[path]

    yield get
    server.stop()


@pytest.mark.parametrize("item", ITEMS, ids=[i.where for i in ITEMS])
def test_documented_command(item: DocItem, doc_session: Callable[[Path], DocSession]) -> None:
    if item.skip:
        pytest.skip(f"marked in the document: {item.skip}")
    session = doc_session(item.path)
    outcome = session.run_through(session.items.index(item))
    if not outcome.ran:
        pytest.skip("not run: " + "; ".join(outcome.skipped))
    assert outcome.ok, outcome.report(item)


def test_readme_names_the_sandbox_inputs() -> None:
    """README.md says once which input names the examples use: the sandbox's exactly."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    start = text.index("**The examples' input names.**")
    paragraph = text[start : text.index("\n\n", start)]
    missing = [name for name in SANDBOX_FILES if f"`{name}`" not in paragraph]
    assert not missing, f"README.md's list of example inputs lacks {missing}"


# --------------------------------------------------------------------------- the harness itself


def _block(tmp_path: Path, markdown: str) -> Path:
    path = tmp_path / "doc.md"
    path.write_text(markdown, encoding="utf-8")
    return path


def test_extraction_joins_continuations_quotes_and_strips_comments(tmp_path: Path) -> None:
    doc = _block(
        tmp_path,
        "intro\n\n```bash\n# a comment line\nzoo run sam2:tiny --image photo.jpg \\\n"
        '    --boxes "1,2,3,4"   # SAD\'s settings\n'
        "curl -d '{\n  \"a\": 1\n}' http://x\n"
        "bash scripts/install.sh && zoo list\n```\n\n"
        "<!-- docs-test: skip (illustration) -->\n```python\nimport acme\n```\n"
        "```text\nzoo not a command\n```\n",
    )
    blocks = extract_blocks(doc)
    assert [b.lang for b in blocks] == ["bash", "python", "text"]
    assert blocks[1].skip == "illustration" and blocks[0].skip is None
    lines = list(shell_lines(blocks[0]))
    assert [ln for ln, _ in lines] == [5, 7, 10]
    parts = split_chain(lines[0][1])
    assert parts[0].argv == [
        "zoo",
        "run",
        "sam2:tiny",
        "--image",
        "photo.jpg",
        "--boxes",
        "1,2,3,4",
    ]
    assert split_chain(lines[1][1])[0].argv[-1] == "http://x"
    install, listing = split_chain(lines[2][1])
    assert not_run_reason(install) and not not_run_reason(listing)
    assert listing.argv == ["zoo", "list"]
    masked = split_chain("IMG=$(curl -s x | jq -r .id)")[0]
    assert masked.shell and masked.env == {"IMG": "SUBST"} and masked.argv == []


def test_adjustment_adds_test_mode_and_small_sizes(tmp_path: Path) -> None:
    (tmp_path / "mine.pt").write_bytes(b"")
    argv, notes = adjust_zoo_argv(
        ["zoo", "run", "sam2:tiny", "--image", "p.jpg", "--image-size", "1024"], tmp_path
    )
    assert argv == [
        *["zoo", "run", "sam2:tiny", "--image", "p.jpg", "--image-size", "128"],
        *["--weights", "random"],
    ]
    assert notes == ["+ --weights random", "--image-size 1024 -> 128"]
    kept, _ = adjust_zoo_argv(["zoo", "run", "sam2:tiny", "--checkpoint", "mine.pt"], tmp_path)
    assert "--weights" not in kept and "mine.pt" in kept
    gone, _ = adjust_zoo_argv(["zoo", "train", "sameo-amodal", "--checkpoint", "x.pt"], tmp_path)
    assert "--checkpoint" not in gone and gone[gone.index("--weights") + 1] == "random"
    assert gone[gone.index("--max-steps") + 1] == "2"
    wesam, _ = adjust_zoo_argv(["zoo", "train", "wesam-adapt", "--base", "sam2:tiny"], tmp_path)
    assert wesam[wesam.index("--base") + 1] == "sam2:tiny"  # free-form, not opseg's choice
    opseg, _ = adjust_zoo_argv(["zoo", "train", "opseg-shadow", "--name", "x"], tmp_path)
    assert opseg[opseg.index("--base") + 1] == "tiny"
    assert adjust_zoo_argv(["zoo", "list", "--json"], tmp_path)[0] == ["zoo", "list", "--json"]


def test_shown_outputs_are_checked(tmp_path: Path) -> None:
    """``expr  # LITERAL`` in a README block is checked; other comments are prose."""
    ok = instrument_python("x = [1, 2]\nlen(x)  # 2\nx  # a list\n", tmp_path / "R.md", 10)
    exec(ok, {"__docs_expect__": _expect})
    bad = instrument_python("x = 1\nlen([x])  # 2\n", tmp_path / "R.md", 10)
    with pytest.raises(AssertionError, match=r"R.md:11: the documented output is 2, got 1"):
        exec(bad, {"__docs_expect__": _expect})


def test_a_broken_command_fails_and_names_its_place(tmp_path: Path) -> None:
    """The test can fail: a misspelt option in a document is reported with file and line."""
    doc = _block(
        tmp_path,
        "```bash\nzoo list\nzoo run sam2:tiny --image photo.jpg --boxez 1,2,30,40 --out o/\n```\n",
    )
    items = [
        DocItem(doc, line, "shell", text) for line, text in shell_lines(extract_blocks(doc)[0])
    ]
    sandbox = tmp_path / "sandbox"
    sandbox.mkdir()
    session = DocSession(items, sandbox, lambda: "unused")
    outcome = session.run_through(1)
    assert session.outcomes[0].ok
    assert not outcome.ok
    assert "--boxez" in outcome.output
    items[1].path = REPO / "README.md"  # `where` is relative to the repository
    assert outcome.report(items[1]).startswith("README.md:3: documented shell command")


# --------------------------------------------------------------------------- slow: fresh clone


@pytest.mark.slow
def test_quickstart_from_a_fresh_clone(tmp_path: Path) -> None:
    """The README's two quickstart commands, as written (plus ``--weights random`` on the
    run), in a fresh ``git clone`` of this repository: install + run, then the test command.
    The clone is of the committed HEAD; ``../shared`` is linked beside it when present."""
    quick = [i for i in BY_FILE[REPO / "README.md"] if i.kind == "shell"][:2]
    assert "scripts/install.sh" in quick[0].text and "scripts/test.sh" in quick[1].text, quick
    clone = tmp_path / "sam-zoo"
    subprocess.run(["git", "clone", "--quiet", str(REPO), str(clone)], check=True)
    if (REPO.parent / "shared").is_dir():
        (tmp_path / "shared").symlink_to(REPO.parent / "shared")
    run = quick[0].text + " --weights random"
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PYTEST_", "ZOO_"))
    }
    env["ZOO_HOME"] = str(tmp_path / "zoo_home")
    env["PATH"] = os.pathsep.join(
        p for p in env.get("PATH", "").split(os.pathsep) if Path(p) != Path(sys.executable).parent
    )
    for command in (run, quick[1].text):
        proc = subprocess.run(
            ["bash", "-c", command], cwd=clone, env=env, capture_output=True, text=True
        )
        assert proc.returncode == 0, (
            f"{quick[0].where if command == run else quick[1].where}: {command}\n"
            f"{(proc.stdout + proc.stderr)[-6000:]}"
        )
    assert (clone / "quickstart" / "results.json").is_file()
