#!/usr/bin/env bash
# Build the release files of sam-zoo and of every built-in plugin into OUTDIR (default dist/):
# an sdist and a wheel each, the wheel built from the sdist (so it holds only what a clean
# source tree gives: no stale build/ leftovers, and a file the sdist misses fails here).
#
#   bash scripts/build-wheels.sh [OUTDIR]
#   pip install --find-links OUTDIR 'sam-zoo[all]'     # what a user then runs
#
# Builds run in parallel (isolated build environments from uv's cache; hatchling for the
# core, setuptools for the plugins). tests/test_wheels.py builds with this script.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(realpath -m "${1:-dist}")
mkdir -p "$out"
PY=${PYTHON:-python3}
if ! command -v uv >/dev/null 2>&1 && ! "$PY" -m uv --version >/dev/null 2>&1; then
  "$PY" -m pip install --quiet --disable-pip-version-check uv
fi
UV="$(command -v uv || echo "$PY -m uv")"
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
projects=(. plugins/*/)
pids=()
for i in "${!projects[@]}"; do
  $UV build --quiet --out-dir "$out" "${projects[$i]}" >"$logs/$i.log" 2>&1 &
  pids+=($!)
done
failed=0
for i in "${!pids[@]}"; do
  if ! wait "${pids[$i]}"; then
    echo "build-wheels: ${projects[$i]} failed:" >&2
    cat "$logs/$i.log" >&2
    failed=1
  fi
done
[ "$failed" = 0 ] || exit 1
echo "build-wheels: $(ls "$out"/*.whl | wc -l) wheels in $out" >&2
