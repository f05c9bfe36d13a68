#!/usr/bin/env bash
# Debian's chromium for the browser test of `zoo serve` (tests/test_serve_browser.py).
#
# Playwright drives it through `executable_path`; Playwright's own browser download
# (`playwright install`) cannot work on machines without general internet access, Debian's
# package can. Idempotent and quick when chromium is already there. Exits non-zero (and the
# browser test skips, saying why) when it cannot install: not root, or no apt-get.
set -uo pipefail
if command -v chromium >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "install-chromium: chromium is missing and cannot be installed here (needs root and apt-get)" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null && apt-get install -y -qq chromium >/dev/null
command -v chromium >/dev/null 2>&1
