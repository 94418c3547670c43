#!/usr/bin/env bash
# The page tests render the report in headless Chromium. Install it through apt when it is missing and we run
# as root; otherwise say plainly what to do (the other tests still run; the page tests then fail saying why).
set -euo pipefail
if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "install_chromium: Chromium is missing; installing the Debian package chromium (apt-get)" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq chromium >/dev/null
  exit 0
fi
echo "install_chromium: Chromium is missing and cannot be installed here (needs root and apt-get)." >&2
echo "  Install it yourself, e.g. 'sudo apt-get install chromium' (Debian/Ubuntu), then rerun." >&2
echo "  Without it the page tests (tests/test_pages.py) fail; every other test runs." >&2
