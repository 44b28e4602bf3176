#!/usr/bin/env bash
# Makes sure target/decoy-venv holds the PyPI clients the decoy tests drive (pinned):
# pymongo for the mongodb decoy and pymodbus for conpot's Modbus/TCP. Prints the venv's
# python. The tests call this script themselves, so a missing client installs (or fails
# the test), never skips it.
set -euo pipefail
cd "$(dirname "$0")/.."
PYMONGO_VERSION=4.10.1
PYMODBUS_VERSION=3.8.3
venv=target/decoy-venv
check="import pymongo, pymodbus, sys; sys.exit(pymongo.version != '$PYMONGO_VERSION' or pymodbus.__version__ != '$PYMODBUS_VERSION')"
if [[ ! -x "$venv/bin/python" ]] || ! "$venv/bin/python" -c "$check" 2>/dev/null; then
  echo "[decoy] installing pymongo $PYMONGO_VERSION and pymodbus $PYMODBUS_VERSION from PyPI into $venv" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "pymongo==$PYMONGO_VERSION" "pymodbus==$PYMODBUS_VERSION"
fi
echo "$PWD/$venv/bin/python"
