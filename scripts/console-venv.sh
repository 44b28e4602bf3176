#!/usr/bin/env bash
# Makes sure target/console-venv holds selenium (from PyPI, pinned) for the console's
# browser tests and benchmark, and prints the venv's python. Selenium drives Debian's
# chromium through Debian's chromedriver (scripts/test-deps.sh installs both).
set -euo pipefail
cd "$(dirname "$0")/.."
SELENIUM_VERSION=4.27.1
venv=target/console-venv
if [[ ! -x "$venv/bin/python" ]] || ! "$venv/bin/python" -c "import selenium, sys; sys.exit(selenium.__version__ != '$SELENIUM_VERSION')" 2>/dev/null; then
  echo "[console] installing selenium $SELENIUM_VERSION from PyPI into $venv" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "selenium==$SELENIUM_VERSION"
fi
echo "$PWD/$venv/bin/python"
