#!/usr/bin/env bash
# The test command (README, CI): install everything, then run the default test suite.
# Slow tests (whole-video golden runs, longer training) are excluded here; run them with
# `nox -s slow` or `.venv/bin/python -m pytest -m slow`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
exec .venv/bin/python -m pytest "$@"
