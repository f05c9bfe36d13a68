#!/usr/bin/env bash
# Install sam-zoo and every built-in plugin into ./.venv (idempotent; fast when caches are warm).
#
# Plugins are installed as their own distributions, exactly as a third-party plugin would be,
# so the `zoo.plugins` entry-point path is what runs. `sam2` 1.1.0 is an sdist whose build
# imports torch: torch goes in first and sam2 builds without isolation and without its
# optional CUDA extension (SAM2_BUILD_CUDA=0).
#
# This is the test install: besides the user-facing extras it adds `test` (pytest, httpx for
# FastAPI's TestClient, playwright) and `dev` (ruff, mypy, nox), which a user's install
# (`pip install 'sam-zoo[all]'`, README "Install") does not carry.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if ! command -v uv >/dev/null 2>&1; then
  "$PY" -m pip install --quiet --disable-pip-version-check uv
fi
UV="$(command -v uv || echo "$PY -m uv")"
[ -x .venv/bin/python ] || $UV venv --quiet .venv --python "$PY"
export SAM2_BUILD_CUDA=0
$UV pip install --quiet --python .venv/bin/python "torch>=2.3" "torchvision>=0.18" setuptools wheel
plugins=()
for p in plugins/*/pyproject.toml; do plugins+=(-e "$(dirname "$p")"); done
$UV pip install --quiet --python .venv/bin/python --no-build-isolation-package sam2 \
  -e ".[dev,test,video,serve,ray,http,onnx]" "${plugins[@]}"
echo "installed: $(.venv/bin/zoo --version) with $(ls -d plugins/*/ | wc -l) built-in plugins in .venv" >&2
