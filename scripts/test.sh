#!/usr/bin/env bash
# The whole test suite, exactly as CI runs it. Installs what it needs first:
# a venv with the test extras, the pinned Solidity toolchain and anvil (npm),
# and Debian's Chromium for the browser tests. Extra args go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
need_apt=()
command -v node >/dev/null || need_apt+=(nodejs npm)
[ -x /usr/bin/chromium ] || need_apt+=(chromium)
command -v systemd-analyze >/dev/null || need_apt+=(systemd)
python3 -c 'import venv, ensurepip' 2>/dev/null || need_apt+=(python3-venv)
if [ ${#need_apt[@]} -gt 0 ]; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}"
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install -q --upgrade pip
.venv/bin/pip install -q -e '.[test]'
# Slither needs web3 < 8 (custobot: >= 8), so it gets a venv of its own (pyproject's
# `slither` dependency group); contracts/slither_gate.py finds it there.
[ -x .venv-slither/bin/python ] || python3 -m venv .venv-slither
.venv-slither/bin/pip install -q --upgrade pip
.venv-slither/bin/pip install -q --group slither
# npm ci refuses this lock: npm 11 leaves the other platforms' optional anvil
# binaries out of it; install resolves to the same pinned versions.
# --no-save: the lock is read, never rewritten (a fresh clone stays clean).
(cd contracts && npm install --no-save --no-audit --no-fund --loglevel=error)

.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
if [ -f contracts/build.js ]; then (cd contracts && node build.js --check); fi
.venv/bin/python -m contracts.slither_gate
exec .venv/bin/python -m pytest -n 2 "$@"
