#!/usr/bin/env bash
# The test command (README, CI): install everything, run the default test suite, then the
# conformance kit over every registered family on CPU.
# Slow tests (whole-video golden runs, longer training) are excluded here; run them with
# `nox -s slow` or `.venv/bin/python -m pytest -m slow`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
.venv/bin/python -m pytest "$@"
.venv/bin/python -m pytest --pyargs zoo.testing.conformance --zoo-device cpu -p no:cacheprovider
