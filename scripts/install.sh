#!/usr/bin/env bash
# The README's first command: a venv in .venv with custobot installed from this clone.
# Works as root without sudo (a container, a fresh Pi image) and as a user with sudo;
# apt is asked only for what is missing (python3-venv), so a re-run installs nothing new.
# Extra args go to pip (e.g. --no-index). Then: .venv/bin/custobot demo
set -euo pipefail
cd "$(dirname "$0")/.."

if ! python3 -c 'import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    SUDO=()
  elif command -v sudo >/dev/null; then
    SUDO=(sudo)
  else
    echo "install.sh: python3 (>= 3.11) with venv is missing; as root run:" \
      "apt-get install -y python3-venv" >&2
    exit 1
  fi
  "${SUDO[@]}" apt-get update -qq
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 python3-venv
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install -q --disable-pip-version-check -e . "$@"
echo "installed: $(.venv/bin/custobot --version) in $(pwd)/.venv; now run: .venv/bin/custobot demo"
