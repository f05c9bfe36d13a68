"""nox sessions for sam-zoo.

All sessions share the project's ``.venv`` (built by ``scripts/install.sh``) instead of making
one virtualenv each: torch + CUDA wheels are ~5 GB and ``sam2`` builds from source, so one
environment per session would multiply minutes of install for no isolation we need.

    nox -s lint typecheck tests            # what a PR needs
    nox -s "conformance(device='cpu')"     # the conformance kit over every family
    nox -s "conformance(device='cuda')"    # same on a GPU (skips cleanly without one)
    nox -s slow                            # long golden runs and training tests
    nox -s wheels                          # build every wheel, install them as a user does
    nox -s bench                           # benchmarks/ -> tables + benchmarks/results/*.json
"""

from __future__ import annotations

import glob
from pathlib import Path

import nox

nox.options.default_venv_backend = "none"
nox.options.sessions = ["lint", "typecheck", "tests", "conformance(device='cpu')"]

VENV = ".venv/bin/"


def _install(session: nox.Session) -> None:
    session.run("bash", "scripts/install.sh", external=True)


@nox.session
def lint(session: nox.Session) -> None:
    _install(session)
    session.run(
        VENV + "ruff", "check", "zoo", "plugins", "tests", "benchmarks", "noxfile.py", external=True
    )


@nox.session
def typecheck(session: nox.Session) -> None:
    _install(session)
    session.run(VENV + "mypy", "zoo", external=True)
    # the built-in plugins' packages (their folders are on mypy_path in pyproject.toml)
    plugins = [f"-p{p.parent.name}" for p in sorted(Path("plugins").glob("*/zoo_*/__init__.py"))]
    session.run(VENV + "mypy", *plugins, external=True)


@nox.session
def tests(session: nox.Session) -> None:
    _install(session)
    session.run(VENV + "python", "-m", "pytest", *session.posargs, external=True)


@nox.session
def slow(session: nox.Session) -> None:
    _install(session)
    session.run(VENV + "python", "-m", "pytest", "-m", "slow", *session.posargs, external=True)


@nox.session
def wheels(session: nox.Session) -> None:
    """Build every wheel and install them as a user does (tests/test_wheels.py, minutes).

    scripts/build-wheels.sh, then the wheels' contents and metadata, and a fresh virtual
    environment installed from them (non-editable, torch from uv's cache) running zoo list,
    info, run, serve and the conformance kit."""
    _install(session)
    session.run(
        VENV + "python",
        "-m",
        "pytest",
        "tests/test_wheels.py",
        "-m",
        "slow or not slow",
        "-s",
        *session.posargs,
        external=True,
    )


@nox.session
@nox.parametrize("device", ["cpu", "cuda"])
def conformance(session: nox.Session, device: str) -> None:
    _install(session)
    session.run(
        VENV + "python",
        "-m",
        "pytest",
        "--pyargs",
        "zoo.testing.conformance",
        f"--zoo-device={device}",
        "-p",
        "no:cacheprovider",
        *session.posargs,
        external=True,
    )


@nox.session
def bench(session: nox.Session) -> None:
    _install(session)
    device = session.posargs[0] if session.posargs else "cpu"
    for script in sorted(glob.glob("benchmarks/bench_*.py")):
        session.run(VENV + "python", script, env={"ZOO_BENCH_DEVICE": device}, external=True)
