"""sam-zoo installs and works as a user installs it (issue 19, item 6; issue 21, item 20).

``scripts/build-wheels.sh`` builds the release files of the core and of every built-in plugin
(an sdist each, and a wheel from it) once per session. The fast tests read the wheels: every
file of each package is inside (the page's static files, the catalogue and its cards, any data
file added later), the versions agree, each plugin needs the core it was released with, and
the core's extras name every family while no user-facing extra carries a test tool.

The slow test (``nox -s wheels``, also in ``nox -s slow``) installs those wheels,
non-editable, into a fresh virtual environment in a temporary folder, with no repository on
the way: every command runs with its working directory in another temporary folder, no
``PYTHONPATH``, and the test checks that ``sys.path`` and every imported package point into
that environment. The user's install is ``pip install --find-links WHEELS 'sam-zoo[all]'``;
then ``zoo list``, ``zoo info``, ``zoo run`` (random weights, a copied photo), ``zoo serve``
start-up (page, health, every static file of the page, then Ctrl-C) and, after installing the
``test`` extra (pytest is not part of a user's install), the conformance kit for one family.

Installing torch (several GB) into a fresh environment takes minutes unless uv's cache is
warm, so the environment is made with uv, pinned to the versions of the environment running
the tests (``scripts/install.sh`` filled the cache with exactly those): nothing is
downloaded twice. ``sam2`` 1.1.0 is an sdist whose build imports torch, so torch goes in
first and sam2 is built without isolation and without its CUDA extension, as
``scripts/install.sh`` and the README say. The final ``sam-zoo[all]`` step is pip's own, with
``--no-index``: pip resolves the extra to the plugin wheels in the folder and nothing else.
"""

from __future__ import annotations

import email.parser
import importlib.metadata
import json
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

REPO = Path(__file__).resolve().parents[1]
CORE = "sam-zoo"
# Development and test tools: never in what a user installs (the `test`/`dev` extras).
TEST_TOOLS = ("pytest", "httpx", "playwright", "mypy", "nox", "ruff")
# Extras that exist for this repository's own tests and tooling, not for users.
TOOL_EXTRAS = ("test", "dev")
PHOTO_BOXES = "60,40,460,590;150,90,360,330"  # the README's quickstart boxes on grace_hopper.jpg


@dataclass
class Wheel:
    """One built wheel: its metadata and the files it holds."""

    path: Path
    name: str  # canonical distribution name
    version: Version
    requires: list[Requirement]
    extras: list[str]
    files: set[str]
    entry_points: str

    @property
    def packages(self) -> set[str]:
        """Top-level package folders (``zoo``, ``zoo_sam2``...)."""
        return {f.split("/", 1)[0] for f in self.files if "/" in f and ".dist-info/" not in f}

    def extra_requires(self, extra: str) -> list[Requirement]:
        return [r for r in self.requires if r.marker and r.marker.evaluate({"extra": extra})]

    def plugin_names(self) -> list[str]:
        """The ``zoo.plugins`` entry-point names (a built-in plugin has one: its family)."""
        names, section = [], ""
        for line in self.entry_points.splitlines():
            line = line.strip()
            if line.startswith("["):
                section = line.strip("[]")
            elif section == "zoo.plugins" and "=" in line:
                names.append(line.split("=", 1)[0].strip())
        return names


@dataclass
class Release:
    folder: Path
    wheels: dict[str, Wheel] = field(default_factory=dict)  # canonical name -> wheel

    @property
    def core(self) -> Wheel:
        return self.wheels[CORE]

    @property
    def plugins(self) -> list[Wheel]:
        return [w for n, w in sorted(self.wheels.items()) if n != CORE]


def _read_wheel(path: Path) -> Wheel:
    with zipfile.ZipFile(path) as zf:
        files = set(zf.namelist())
        info = next(f.split("/", 1)[0] for f in files if f.split("/", 1)[0].endswith(".dist-info"))
        meta = email.parser.Parser().parsestr(zf.read(f"{info}/METADATA").decode())
        entry_points = (
            zf.read(f"{info}/entry_points.txt").decode()
            if f"{info}/entry_points.txt" in files
            else ""
        )
    return Wheel(
        path=path,
        name=canonicalize_name(meta["Name"]),
        version=Version(meta["Version"]),
        requires=[Requirement(r) for r in meta.get_all("Requires-Dist") or []],
        extras=list(meta.get_all("Provides-Extra") or []),
        files=files,
        entry_points=entry_points,
    )


def _uv() -> list[str]:
    """uv as ``scripts/install.sh`` finds it (on PATH, else the interpreter's module)."""
    found = shutil.which("uv")
    if found:
        return [found]
    for py in filter(None, (sys.executable, shutil.which("python3"))):
        if subprocess.run([py, "-m", "uv", "--version"], capture_output=True).returncode == 0:
            return [py, "-m", "uv"]
    pytest.skip("uv is not installed (scripts/install.sh installs it)")


def _tail(proc: subprocess.CompletedProcess[str], n: int = 6000) -> str:
    return f"exit {proc.returncode}\n{(proc.stdout + proc.stderr)[-n:]}"


@pytest.fixture(scope="session")
def release(tmp_path_factory: pytest.TempPathFactory) -> Release:
    """The wheels of the core and every built-in plugin, built by scripts/build-wheels.sh."""
    _uv()  # skips without uv
    folder = tmp_path_factory.mktemp("wheels")
    start = time.perf_counter()
    proc = subprocess.run(
        ["bash", str(REPO / "scripts" / "build-wheels.sh"), str(folder)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, "scripts/build-wheels.sh failed:\n" + _tail(proc)
    print(f"built {len(list(folder.glob('*.whl')))} wheels in {time.perf_counter() - start:.0f} s")
    out = Release(folder)
    for path in sorted(folder.glob("*.whl")):
        wheel = _read_wheel(path)
        out.wheels[wheel.name] = wheel
    return out


def _source_files() -> list[str]:
    """Files of the working tree git knows or would add (tracked, or new and not ignored)."""
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("not a git checkout: the package files are listed with git")
    proc = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    return [f for f in proc.stdout.split("\0") if f and (REPO / f).is_file()]


# --------------------------------------------------------------------------- the wheels


def test_a_wheel_per_distribution_all_at_the_cores_version(release: Release) -> None:
    import zoo

    projects = sorted(p.parent.name for p in REPO.glob("plugins/*/pyproject.toml"))
    assert CORE in release.wheels, sorted(release.wheels)
    assert len(release.plugins) == len(projects), (sorted(release.wheels), projects)
    assert release.core.version == Version(zoo.__version__), "pyproject and zoo.__version__"
    wrong = {w.name: str(w.version) for w in release.plugins if w.version != release.core.version}
    assert not wrong, f"built-in plugins are released with the core ({release.core.version})"
    for wheel in release.plugins:  # a plugin's own __version__, where it has one, agrees
        for pkg in wheel.packages:
            init = next(REPO.glob(f"plugins/*/{pkg}/__init__.py"))
            m = re.search(r'^__version__ = "([^"]+)"', init.read_text(), re.M)
            if m:
                assert Version(m.group(1)) == wheel.version, f"{init}: {m.group(1)}"


def test_wheels_hold_every_file_of_their_packages(release: Release) -> None:
    """Static files, cards and data files included; no module the tree no longer has; the
    licence in every wheel; no tests."""
    sources = _source_files()
    for wheel in release.wheels.values():
        assert wheel.packages, f"{wheel.path.name} holds no package"
        expected = set()
        for pkg in wheel.packages:
            roots = [f"{pkg}/"] if wheel.name == CORE else []
            roots += [str(p.relative_to(REPO)) + "/" for p in REPO.glob(f"plugins/*/{pkg}")]
            for root in roots:
                expected |= {pkg + "/" + f[len(root) :] for f in sources if f.startswith(root)}
        missing = sorted(expected - wheel.files)
        assert not missing, f"{wheel.path.name} lacks {missing}"
        packaged = {f for f in wheel.files if ".dist-info/" not in f}
        stale = sorted(f for f in packaged - expected if f.endswith(".py"))
        assert not stale, f"{wheel.path.name} holds modules the source tree does not: {stale}"
        assert not [f for f in packaged if "/tests/" in f or f.startswith("tests/")]
        assert any(f.endswith(".dist-info/licenses/LICENSE") for f in wheel.files), wheel.path.name
    # what the runtime reads from beside its code
    assert {f"zoo/serve/static/{n}" for n in ("index.html", "app.js", "rle.js", "style.css")} <= (
        release.core.files
    )
    for wheel in release.plugins:
        assert not any(f.endswith("/card.md") for f in wheel.files), f"{wheel.path.name}: a card"
    # the catalogue of the built-in families and their cards: in the core's wheel
    catalogue = {f"zoo/catalogue/cards/{p.name}" for p in (REPO / "cards").glob("*.md")}
    assert catalogue and catalogue | {"zoo/catalogue/registry.yaml"} <= release.core.files


def _older_series(v: Version) -> Version:
    """A version of the release series before ``v``'s (0.2.x -> 0.1, 1.0.x -> 0.999)."""
    return Version(f"{v.major}.{v.minor - 1}" if v.minor else f"{max(v.major - 1, 0)}.999")


def test_plugins_need_the_core_they_were_released_with(release: Release) -> None:
    names = {w.name for w in release.plugins}
    for wheel in release.plugins:
        ours = [r for r in wheel.requires if canonicalize_name(r.name) in names | {CORE}]
        core = [r for r in ours if canonicalize_name(r.name) == CORE]
        assert core, f"{wheel.name} does not require {CORE}"
        for req in ours:
            assert req.specifier, f"{wheel.name}: {req} names no version"
            assert release.core.version in req.specifier, f"{wheel.name}: {req}"
            assert _older_series(release.core.version) not in req.specifier, (
                f"{wheel.name}: {req} accepts a core older than this release series"
            )
        assert wheel.plugin_names(), f"{wheel.name} registers no zoo.plugins entry point"


def test_core_extras_name_every_family_and_no_test_tool(release: Release) -> None:
    core = release.core
    by_family = {name: w.name for w in release.plugins for name in w.plugin_names()}
    for family, dist in by_family.items():  # `pip install 'sam-zoo[sam2]'`
        got = {canonicalize_name(r.name) for r in core.extra_requires(family)}
        assert got == {dist}, f"extra {family!r}: {got}, expected {{{dist}}}"
    everything = {canonicalize_name(r.name) for r in core.extra_requires("all")}
    assert set(by_family.values()) <= everything, f"sam-zoo[all] lacks {set(by_family.values())}"
    serve = {canonicalize_name(r.name) for r in core.extra_requires("serve")}
    assert {"fastapi", "uvicorn"} <= serve and serve <= everything, serve
    for extra in core.extras:
        names = {canonicalize_name(r.name) for r in core.extra_requires(extra)}
        if extra not in TOOL_EXTRAS:
            assert not names & set(TEST_TOOLS), f"user extra {extra!r} carries {names}"
    base = {canonicalize_name(r.name) for r in core.requires if r.marker is None}
    assert not base & set(TEST_TOOLS), base
    for wheel in release.plugins:
        deps = {canonicalize_name(r.name) for r in wheel.requires if r.marker is None}
        assert not deps & set(TEST_TOOLS), f"{wheel.name}: {deps & set(TEST_TOOLS)}"
    test_extra = {canonicalize_name(r.name) for r in core.extra_requires("test")}
    assert {"pytest", "httpx", "playwright"} <= test_extra, test_extra


# --------------------------------------------------------------------------- a user's install


def _pins(release: Release) -> str:
    """``name==version`` of every distribution here except ours and editable installs: the
    fresh environment gets exactly what uv's cache holds (local labels such as ``+cpu``
    dropped: ``==2.5.0`` accepts ``2.5.0+cpu``)."""
    lines = []
    for dist in importlib.metadata.distributions():
        if not dist.metadata["Name"]:
            continue
        name = canonicalize_name(dist.metadata["Name"])
        if name in release.wheels or name == "pip":
            continue
        direct = dist.read_text("direct_url.json")
        if direct and json.loads(direct).get("dir_info", {}).get("editable"):
            continue
        lines.append(f"{name}=={Version(dist.version).public}")
    return "\n".join(sorted(set(lines))) + "\n"


def _clean_env(venv: Path, home: Path) -> dict[str, str]:
    """The environment of a user's shell with the fresh venv activated: nothing of this
    repository or of the test run (no PYTHONPATH, no other venv on PATH, own ZOO_HOME)."""
    drop = ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV", "CONDA_PREFIX")
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in drop and not k.startswith(("PYTEST_", "ZOO_", "PIP_", "COV_"))
    }
    ours = Path(sys.executable).parent
    path = [p for p in env.get("PATH", "").split(os.pathsep) if p and Path(p) != ours]
    env["PATH"] = os.pathsep.join([str(venv / "bin"), *path])
    env["VIRTUAL_ENV"] = str(venv)
    env["ZOO_HOME"] = str(home)
    env["HF_HOME"] = str(home / "hf")
    env["ZOO_OFFLINE"] = "1"  # random weights: nothing of a user's run may need the network
    env["HF_HUB_OFFLINE"] = "1"
    return env


PROBE = r"""
import importlib, importlib.metadata as md, json, re, sys, sysconfig
mods = {n: importlib.import_module(n).__file__ for n in sys.argv[1:]}
dists, requirers = {}, {}
for d in md.distributions():
    dists[re.sub(r"[-_.]+", "-", d.metadata["Name"]).lower()] = d.version
    for r in d.requires or []:
        if "extra ==" not in r:
            name = re.sub(r"[-_.]+", "-", re.match(r"[A-Za-z0-9._-]+", r).group(0)).lower()
            requirers.setdefault(name, []).append(d.metadata["Name"])
print(json.dumps({"sys_path": sys.path, "purelib": sysconfig.get_paths()["purelib"],
                  "prefix": sys.prefix, "base_prefix": sys.base_prefix, "modules": mods,
                  "dists": dists, "requirers": requirers}))
"""


class Server:
    """``zoo serve`` in the fresh environment: started, asked, stopped with Ctrl-C."""

    def __init__(self, argv: list[str], cwd: Path, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.log: list[str] = []
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)

    def wait_for(self, pattern: str, timeout: float) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.5)
            except queue.Empty:
                if self.proc.poll() is not None and self.lines.empty():
                    break
                continue
            self.log.append(line)
            m = re.search(pattern, line)
            if m:
                return m
        raise AssertionError(f"zoo serve never printed {pattern!r}:\n{''.join(self.log)}")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        while not self.lines.empty():
            self.log.append(self.lines.get())
        return self.proc.returncode


def _get(url: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=60) as resp:  # loopback only
        return resp.status, resp.read()


@pytest.fixture
def user_venv(tmp_path: Path) -> Iterator[Path]:
    venv = tmp_path / "venv"
    yield venv
    shutil.rmtree(venv, ignore_errors=True)  # a few GB of links: do not keep it around


@pytest.mark.slow
def test_user_install_from_wheels(release: Release, tmp_path: Path, user_venv: Path) -> None:
    uv = _uv()
    work = tmp_path / "work"  # the user's working folder: no repository anywhere near it
    work.mkdir()
    env = _clean_env(user_venv, tmp_path / "zoo_home")
    py = str(user_venv / "bin" / "python")
    pins = tmp_path / "pins.txt"
    pins.write_text(_pins(release))
    times: dict[str, float] = {}
    core_version = release.core.version

    def run(step: str, *argv: str, extra: dict[str, str] | None = None) -> str:
        start = time.perf_counter()
        proc = subprocess.run(
            argv,
            cwd=work,
            env={**env, **(extra or {})},
            capture_output=True,
            text=True,
            timeout=1800,  # a hang, not a slow cache
        )
        times[step] = times.get(step, 0.0) + time.perf_counter() - start
        assert proc.returncode == 0, f"{step}: {' '.join(argv)}\n{_tail(proc)}"
        return proc.stdout + proc.stderr

    # ---- the install: what README "Install" says, from the local wheels
    run("venv", *uv, "venv", "--seed", "--quiet", "--python", sys.executable, str(user_venv))
    uvpip = [*uv, "pip", "install", "--quiet", "--python", py, "--constraint", str(pins)]
    run("torch", *uvpip, "torch", "torchvision", "setuptools", "wheel")
    wheels = ("--find-links", str(release.folder))
    no_isolation = ("--no-build-isolation-package", "sam2")
    run("deps", *uvpip, *wheels, *no_isolation, "sam-zoo[all]", extra={"SAM2_BUILD_CUDA": "0"})
    # pip's own resolution of the extra, from the folder only (the dependencies are there)
    ours = sorted(release.wheels)
    run("deps", *uv, "pip", "uninstall", "--quiet", "--python", py, *ours)
    # a user's pip, not this machine's: no site configuration (constraint files) applies
    user_pip = {"PIP_CONFIG_FILE": os.devnull, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    pip = (py, "-m", "pip")
    run("pip install", *pip, "install", "--no-index", *wheels, "sam-zoo[all]", extra=user_pip)
    run("pip install", *pip, "check", extra=user_pip)

    # ---- where everything comes from
    packages = sorted(p for w in release.wheels.values() for p in w.packages)
    probe = json.loads(run("probe", py, "-c", PROBE, *packages))
    site = Path(probe["purelib"]).resolve()
    assert Path(probe["prefix"]).resolve() == user_venv.resolve(), probe["prefix"]
    for name, file in probe["modules"].items():
        assert Path(file).resolve().is_relative_to(site), f"{name} imported from {file}"
    for entry in probe["sys_path"]:
        where = (work / entry).resolve() if entry else work.resolve()
        assert not where.is_relative_to(REPO), f"sys.path holds the repository: {entry}"
        assert not where.is_relative_to(REPO.parent / "shared"), f"sys.path holds {entry}"
        inside = (user_venv.resolve(), Path(probe["base_prefix"]).resolve(), work.resolve())
        assert any(where.is_relative_to(p) for p in inside), f"sys.path entry {entry}"
    assert not (work.parent / "shared").exists()
    for f in [*site.glob("*.pth"), *site.glob("*.dist-info/direct_url.json")]:
        assert str(REPO) not in f.read_text(errors="replace"), f"{f} points at the repository"
    for name in ours:
        assert probe["dists"].get(name) == str(release.wheels[name].version), name
    tools = {t: probe["requirers"].get(t, []) for t in TEST_TOOLS if t in probe["dists"]}
    assert not tools, f"test tools in a user's install (tool: required by): {tools}"

    # ---- a user's commands
    listing = run("zoo list", "zoo", "list")
    assert "sam2:tiny" in listing, listing
    rows = json.loads(run("zoo list", "zoo", "list", "--json"))
    families = {name for w in release.plugins for name in w.plugin_names()}
    assert families <= {r["family"] for r in rows}, rows
    plugins = json.loads(run("zoo plugins", "zoo", "plugins", "--json"))["plugins"]
    assert not [p for p in plugins if p["error"]], plugins
    info = run("zoo info", "zoo", "info", "sam2:tiny")
    assert "sam2:tiny" in info and "zoo-sam2" in info, info
    card = json.loads(run("zoo info", "zoo", "info", "sam2:tiny", "--json"))["card"]
    assert card and card["zoo"]["family"] == "sam2", card  # cards/sam2.md inside sam-zoo
    assert "path" not in card, card  # the answer shows the card, not the install's layout
    where = run(
        "card path", py, "-c", "from zoo.cards import family_card; print(family_card('sam2').path)"
    )
    assert "/zoo/catalogue/cards/sam2.md" in where, where

    import matplotlib

    photo = work / "photo.jpg"
    shutil.copy(Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg", photo)
    run(
        "zoo run",
        "zoo",
        "run",
        "sam2:tiny",
        "--weights",
        "random",
        "--image",
        "photo.jpg",
        "--boxes",
        PHOTO_BOXES,
        "--out",
        "out",
    )
    out = work / "out"
    results = json.loads((out / "results.json").read_text())
    assert len(results) == 2 and all(r["segmentation"]["counts"] for r in results), results
    provenance = json.loads((out / "run.json").read_text())["provenance"]
    assert provenance["test_mode"] is True and provenance["zoo_version"] == str(core_version)
    assert (out / "overlay.png").stat().st_size > 0
    assert sorted(p.name for p in out.glob("mask_*.png")) == ["mask_000.png", "mask_001.png"]

    # ---- zoo serve: starts from the wheel, serves the page and its files, stops on Ctrl-C
    start = time.perf_counter()
    server = Server(
        [str(user_venv / "bin" / "zoo"), "serve", "--port", "0", "--weights", "random"],
        work,
        env,
    )
    try:
        url = server.wait_for(r"listening on (http://\S+?)/?\s*$", timeout=300).group(1)
        status, page = _get(url + "/")
        assert status == 200 and b"<html" in page
        status, health = _get(url + "/healthz")
        assert status == 200 and isinstance(json.loads(health), dict)
        assets = set(re.findall(rb'(?:href|src)="(/[^"]+)"', page))
        static = sorted(a.decode() for a in assets if a.startswith(b"/static/"))
        assert static, page[:400]
        for path in [*static, "/favicon.ico"]:
            status, body = _get(url + path)
            assert status == 200 and body, path
            if path.startswith("/static/"):  # the wheel's copy is this tree's file
                assert body == (REPO / "zoo/serve" / path.lstrip("/")).read_bytes(), path
        status, bundle = _get(url + "/docs-static/swagger-ui-bundle.js")  # /docs offline
        assert status == 200 and bundle
    finally:
        code = server.stop()
    times["zoo serve"] = time.perf_counter() - start
    assert code == 0, "".join(server.log)
    assert "zoo serve: stopped" in "".join(server.log)

    # ---- the conformance kit, with the test extra (pytest) added to the user's install
    run("test extra", *uvpip, *wheels, "sam-zoo[test]")
    kit = run(
        "conformance",
        py,
        "-m",
        "pytest",
        "--pyargs",
        "zoo.testing.conformance",
        "--zoo-family",
        "efficientsam",
        "--zoo-device",
        "cpu",
        "-p",
        "no:cacheprovider",
    )
    passed = re.search(r"(\d+) passed", kit)
    assert passed and int(passed.group(1)) >= 5 and " failed" not in kit, kit[-3000:]
    assert str(REPO) not in kit, "the kit ran against the repository"
    print("times (s): " + ", ".join(f"{k} {v:.0f}" for k, v in times.items()))
