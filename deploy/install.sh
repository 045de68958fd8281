#!/usr/bin/env bash
# Install or upgrade custobot on Raspberry Pi OS Bookworm (arm64) or Debian 12.
#
#   sudo deploy/install.sh                  # install, or upgrade in place (safe to re-run)
#   sudo deploy/install.sh --supplier       # also the reference supplier service
#
# What it does, each step skipped when already done:
#   - system user `custobot` in the groups gpio and spi (created if missing)
#   - a venv in /opt/custobot/venv with custobot installed from this source tree
#   - /etc/custobot/custobot.toml from an example (only if there is no config; never overwritten)
#   - /etc/custobot/keystore.pass, a random passphrase (0600 root), and the encrypted agent
#     keystore /etc/custobot/agent-keystore.json (0600 custobot)
#   - /var/lib/custobot for the database; `custobot migrate` brings its schema up to date
#   - systemd units in /etc/systemd/system (logs go to journald), enabled: the machine and
#     its owners' dashboard (127.0.0.1:8080; `custobot owner add NAME` makes a login); an upgrade stops
#     the running services first and starts them again at the end (also if it fails);
#     a daily backup timer (/var/lib/custobot/backups)
#   - with --supplier: user custobot-supplier, /etc/custobot-supplier (config, key) and
#     /var/lib/custobot-supplier, for custobot-supplier.service
#
# Trial installs without touching the system (CI does this, unprivileged or not):
#   deploy/install.sh --prefix /tmp/root --no-system-user --skip-systemd --skip-apt
# installs the same tree under /tmp/root, with every path inside the files rewritten to it.
set -euo pipefail
umask 022  # the venv and units must be readable by the service users whatever root's umask is

SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PREFIX=""
PYTHON="python3"
PIP_ARGS=""
REUSE_SITE_PACKAGES=""
EXAMPLE="$SRC/deploy/examples/snack-machine.toml"
SYSTEM_USER=1
SYSTEMD=1
APT=1
SUPPLIER=0
USER_NAME="custobot"
SUPPLIER_USER="custobot-supplier"

usage() {
  cat <<EOF
usage: $0 [options]
  --prefix DIR              install under DIR (a throwaway root) instead of /
  --python PATH             interpreter for the venv (default: python3, needs >= 3.11)
  --pip-args "ARGS"         extra arguments for pip install (e.g. "--no-index --find-links W")
  --reuse-site-packages DIR make DIR's installed packages visible in the venv and install only
                            custobot itself, offline (for CI and trials: DIR = a dev venv's
                            site-packages built with the same Python)
  --example FILE            example config to start from (default: $EXAMPLE)
  --supplier                also install and enable custobot-supplier.service
  --no-system-user          do not create users/groups; files belong to the invoking user
  --skip-systemd            install unit files but do not call systemctl
  --skip-apt                do not apt-get install the system packages
  -h, --help                this text
EOF
}

die() { echo "install.sh: error: $*" >&2; exit 1; }
step() { echo "==> $*"; }

while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) [ $# -ge 2 ] || die "--prefix needs a directory"; PREFIX="$2"; shift 2 ;;
    --python) [ $# -ge 2 ] || die "--python needs a path"; PYTHON="$2"; shift 2 ;;
    --pip-args) [ $# -ge 2 ] || die "--pip-args needs a value"; PIP_ARGS="$2"; shift 2 ;;
    --reuse-site-packages)
      [ $# -ge 2 ] || die "--reuse-site-packages needs a directory"
      REUSE_SITE_PACKAGES="$2"; shift 2 ;;
    --example) [ $# -ge 2 ] || die "--example needs a file"; EXAMPLE="$2"; shift 2 ;;
    --supplier) SUPPLIER=1; shift ;;
    --no-system-user) SYSTEM_USER=0; shift ;;
    --skip-systemd) SYSTEMD=0; shift ;;
    --skip-apt) APT=0; shift ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown option: $1" ;;
  esac
done

if [ "$(id -u)" != 0 ]; then
  [ "$SYSTEM_USER" = 0 ] || die "run as root, or use --no-system-user with --prefix for a trial"
  [ "$APT" = 0 ] || die "run as root, or use --skip-apt"
  [ -n "$PREFIX" ] || die "run as root to install into /, or give --prefix DIR"
fi
if [ -n "$PREFIX" ]; then
  mkdir -p "$PREFIX"
  PREFIX="$(cd "$PREFIX" && pwd)"
  [ "$PREFIX" != "/" ] || PREFIX=""
fi
[ -f "$EXAMPLE" ] || die "example config not found: $EXAMPLE"
if [ -n "$REUSE_SITE_PACKAGES" ]; then
  [ -d "$REUSE_SITE_PACKAGES" ] || die "not a directory: $REUSE_SITE_PACKAGES"
  REUSE_SITE_PACKAGES="$(cd "$REUSE_SITE_PACKAGES" && pwd)"
fi

OPT="$PREFIX/opt/custobot"
VENV="$OPT/venv"
ETC="$PREFIX/etc/custobot"
DATA="$PREFIX/var/lib/custobot"
UNITS="$PREFIX/etc/systemd/system"
CONF="$ETC/custobot.toml"
PASSFILE="$ETC/keystore.pass"
KEYSTORE="$ETC/agent-keystore.json"
CUSTOBOT="$VENV/bin/custobot"
SUPPLIER_ETC="$PREFIX/etc/custobot-supplier"
SUPPLIER_DATA="$PREFIX/var/lib/custobot-supplier"
SUPPLIER_CONF="$SUPPLIER_ETC/supplier.toml"

if [ "$SYSTEM_USER" = 1 ]; then
  OWNER="$USER_NAME"; GROUP="$USER_NAME"; ROOT_OWNER="root"
else
  OWNER="$(id -un)"; GROUP="$(id -gn)"; ROOT_OWNER="$OWNER"
fi

# Run a command as the service user, so files it creates (the database) belong to it.
as_service_user() {
  if [ "$SYSTEM_USER" = 1 ]; then runuser -u "$USER_NAME" -- "$@"; else "$@"; fi
}

# --- system packages ------------------------------------------------------------------
if [ "$APT" = 1 ]; then
  step "system packages"
  apt-get update -q
  packages=(python3 python3-venv python3-pip git)
  # Raspberry Pi OS ships the lgpio bindings gpiozero uses on a Pi 4/5.
  if apt-cache show python3-lgpio >/dev/null 2>&1; then packages+=(python3-lgpio); fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${packages[@]}"
fi
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
  || die "$PYTHON is older than Python 3.11"
"$PYTHON" -c 'import venv, ensurepip' 2>/dev/null \
  || die "$PYTHON has no venv/ensurepip (apt-get install python3-venv)"

# --- users and groups -----------------------------------------------------------------
if [ "$SYSTEM_USER" = 1 ]; then
  step "users and groups"
  for group in gpio spi; do
    getent group "$group" >/dev/null || groupadd --system "$group"
  done
  if id -u "$USER_NAME" >/dev/null 2>&1; then
    usermod --append --groups gpio,spi "$USER_NAME"
  else
    useradd --system --user-group --groups gpio,spi --home-dir /var/lib/custobot \
      --no-create-home --shell /usr/sbin/nologin --comment "custobot machine agent" "$USER_NAME"
  fi
  if [ "$SUPPLIER" = 1 ] && ! id -u "$SUPPLIER_USER" >/dev/null 2>&1; then
    useradd --system --user-group --home-dir /var/lib/custobot-supplier --no-create-home \
      --shell /usr/sbin/nologin --comment "custobot reference supplier" "$SUPPLIER_USER"
  fi
fi

# --- directories ----------------------------------------------------------------------
step "directories under ${PREFIX:-/}"
install -d -m 0755 "$OPT" "$OPT/share" "$UNITS"
install -d -m 0750 -o "$ROOT_OWNER" -g "$GROUP" "$ETC"
install -d -m 0750 -o "$OWNER" -g "$GROUP" "$DATA" "$DATA/backups"

# --- venv and the package -------------------------------------------------------------
# An upgrade stops the running services first (no code swapped or schema migrated under a
# running agent) and starts them again at the end.
USE_SYSTEMCTL=0
if [ "$SYSTEMD" = 1 ] && [ -z "$PREFIX" ] && [ -d /run/systemd/system ]; then USE_SYSTEMCTL=1; fi
was_running=()
restarted=0
# On any failure, bring back what was running rather than leave the machine dark.
cleanup() {
  [ -z "${stage:-}" ] || rm -rf "$stage"
  if [ "$restarted" = 0 ] && [ ${#was_running[@]} -gt 0 ]; then
    echo "install.sh: failed; starting ${was_running[*]} again" >&2
    systemctl start "${was_running[@]}" || true
  fi
}
trap cleanup EXIT
if [ "$USE_SYSTEMCTL" = 1 ]; then
  for unit in custobot.service custobot-dashboard.service custobot-supplier.service; do
    if systemctl is-active --quiet "$unit"; then was_running+=("$unit"); fi
  done
  if [ ${#was_running[@]} -gt 0 ]; then
    step "stopping ${was_running[*]} for the upgrade"
    systemctl stop "${was_running[@]}"
  fi
fi

step "venv $VENV"
if [ ! -x "$VENV/bin/python" ]; then
  venv_args=()
  # The apt lgpio bindings live in the system site-packages; let the venv see them.
  if "$PYTHON" -c 'import lgpio' 2>/dev/null; then venv_args+=(--system-site-packages); fi
  # Reusing packages includes pip and setuptools: the venv's own copies would shadow them.
  [ -z "$REUSE_SITE_PACKAGES" ] || venv_args+=(--without-pip)
  "$PYTHON" -m venv "${venv_args[@]}" "$VENV"
fi
pip_args=(--disable-pip-version-check --upgrade)
if [ -n "$REUSE_SITE_PACKAGES" ]; then
  purelib="$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
  echo "$REUSE_SITE_PACKAGES" > "$purelib/custobot-reuse-site-packages.pth"
  pip_args+=(--no-deps)
  # Build offline with the reused setuptools when it is new enough (pyproject: >= 69);
  # otherwise pip fetches the build backend into an isolated build environment.
  if "$VENV/bin/python" -c '
import sys, setuptools
major = int(setuptools.__version__.split(".")[0])
try:
    import wheel  # noqa: F401  (bdist_wheel before setuptools 70.1)
except ImportError:
    sys.exit(major < 71)
sys.exit(major < 69)' 2>/dev/null; then
    pip_args+=(--no-build-isolation --no-index)
  fi
fi
# shellcheck disable=SC2206  # --pip-args is a list of words on purpose
pip_args+=($PIP_ARGS)

# Build from a clean copy of the tracked sources: no dev venv, node_modules or databases,
# and no build/ or egg-info left behind in the source tree.
stage="$(mktemp -d)"
if git -c safe.directory="$SRC" -C "$SRC" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  git -c safe.directory="$SRC" -C "$SRC" ls-files -z --cached --others --exclude-standard \
    | while IFS= read -r -d '' f; do [ -f "$SRC/$f" ] && printf '%s\0' "$f"; done \
    | tar -C "$SRC" --null -T - -cf - | tar -C "$stage" -xf -
else
  tar -C "$SRC" --exclude=.git --exclude=.venv --exclude=node_modules \
    --exclude=__pycache__ --exclude='*.db' -cf - . | tar -C "$stage" -xf -
fi
"$VENV/bin/python" -m pip install "${pip_args[@]}" "$stage"
version="$("$CUSTOBOT" --version)"
echo "$version"

install -m 0644 "$SRC/deploy/README.md" "$OPT/share/README.md"
install -d -m 0755 "$OPT/share/examples"
install -m 0644 "$SRC"/deploy/examples/*.toml "$OPT/share/examples/"

# --- configuration and secrets --------------------------------------------------------
step "configuration $ETC"
if [ -e "$CONF" ]; then
  echo "keeping existing $CONF"
else
  rendered="$stage/custobot.toml"
  sed -e "s#/var/lib/custobot#$DATA#g" "$EXAMPLE" > "$rendered"
  if ! grep -Eq '^[[:space:]]*keystore[[:space:]]*=' "$rendered"; then
    if grep -Eq '^\[chain\][[:space:]]*$' "$rendered"; then
      sed -i -e "/^\[chain\][[:space:]]*\$/a keystore = \"$KEYSTORE\"" "$rendered"
    else
      printf '\n[chain]\nkeystore = "%s"\n' "$KEYSTORE" >> "$rendered"
    fi
  fi
  install -m 0640 -o "$ROOT_OWNER" -g "$GROUP" "$rendered" "$CONF"
  echo "wrote $CONF from $(basename "$EXAMPLE"): edit device_id, slots and pins"
fi

# Create an encrypted key (and its random passphrase, root-only) unless one exists.
# An existing key keeps its passphrase: a new one would lock the service out of its key.
ensure_key() {
  local keystore="$1" passfile="$2" owner="$3" group="$4"
  if [ -e "$keystore" ]; then
    "$CUSTOBOT" keys show --keystore "$keystore"
    [ -e "$passfile" ] || echo "note: no $passfile; the service needs it, or a" \
      "LoadCredentialEncrypted= drop-in (deploy/README.md, keystore passphrase)"
    return
  fi
  if [ ! -e "$passfile" ]; then
    (umask 077 && "$VENV/bin/python" -c 'import secrets; print(secrets.token_urlsafe(32))' \
      > "$passfile.tmp")
    chown "$ROOT_OWNER:$group" "$passfile.tmp"
    chmod 0600 "$passfile.tmp"
    mv "$passfile.tmp" "$passfile"
    echo "generated keystore passphrase $passfile (systemd hands it to the service)"
  fi
  "$CUSTOBOT" keys new --keystore "$keystore" --passphrase-file "$passfile"
  chown "$owner:$group" "$keystore"
  chmod 0600 "$keystore"
}
ensure_key "$KEYSTORE" "$PASSFILE" "$OWNER" "$GROUP"

# --- reference supplier (--supplier) ---------------------------------------------------
if [ "$SUPPLIER" = 1 ]; then
  step "supplier $SUPPLIER_ETC"
  if [ "$SYSTEM_USER" = 1 ]; then s_owner="$SUPPLIER_USER"; else s_owner="$OWNER"; fi
  s_group="$(id -gn "$s_owner")"
  install -d -m 0750 -o "$ROOT_OWNER" -g "$s_group" "$SUPPLIER_ETC"
  install -d -m 0750 -o "$s_owner" -g "$s_group" "$SUPPLIER_DATA"
  if [ -e "$SUPPLIER_CONF" ]; then
    echo "keeping existing $SUPPLIER_CONF"
  else
    sed -e "s#/etc/custobot-supplier#$SUPPLIER_ETC#g" \
      -e "s#/var/lib/custobot-supplier#$SUPPLIER_DATA#g" \
      "$SRC/deploy/examples/supplier.toml" > "$stage/supplier.toml"
    install -m 0640 -o "$ROOT_OWNER" -g "$s_group" "$stage/supplier.toml" "$SUPPLIER_CONF"
    echo "wrote $SUPPLIER_CONF: edit name, tokens, chain and items"
  fi
  ensure_key "$SUPPLIER_ETC/supplier-keystore.json" "$SUPPLIER_ETC/keystore.pass" \
    "$s_owner" "$s_group"
fi

# --- database -------------------------------------------------------------------------
# This also validates the config: a wrong one stops the install here, with the key named,
# before a running service is restarted into it.
step "database migrations"
(cd / && umask 027 && as_service_user "$CUSTOBOT" migrate --config "$CONF")

# --- systemd --------------------------------------------------------------------------
step "systemd units $UNITS"
units=(custobot.service custobot-dashboard.service custobot-supplier.service
  custobot-backup.service custobot-backup.timer)
for unit in "${units[@]}"; do
  sed -e "s#/opt/custobot#$OPT#g" -e "s#/etc/custobot#$ETC#g" \
    -e "s#/var/lib/custobot#$DATA#g" "$SRC/deploy/systemd/$unit" > "$stage/$unit"
  install -m 0644 "$stage/$unit" "$UNITS/$unit"
done
# Exponential restart backoff needs systemd >= 254 (Debian 13); Bookworm has 252.
systemd_version="$(systemctl --version 2>/dev/null | awk 'NR == 1 { print $2 }' || true)"
for unit in custobot.service custobot-dashboard.service custobot-supplier.service; do
  dropin="$UNITS/$unit.d/10-restart-backoff.conf"
  if [ "${systemd_version:-0}" -ge 254 ] 2>/dev/null; then
    install -d -m 0755 "$UNITS/$unit.d"
    printf '[Service]\nRestartSteps=8\nRestartMaxDelaySec=5min\n' > "$dropin"
    chmod 0644 "$dropin"
  fi
done

enabled=(custobot.service custobot-dashboard.service)
[ "$SUPPLIER" = 0 ] || enabled+=(custobot-supplier.service)
if [ "$USE_SYSTEMCTL" = 1 ]; then
  systemctl daemon-reload
  systemctl enable --now custobot-backup.timer
  systemctl enable "${enabled[@]}"
  if [ ${#was_running[@]} -gt 0 ]; then
    step "starting ${was_running[*]} again"
    restarted=1
    systemctl start "${was_running[@]}"
  else
    echo "start it with: systemctl start custobot custobot-dashboard" \
      "  (first: deploy/README.md, first boot)"
  fi
else
  echo "systemctl not used (--skip-systemd, --prefix or no running systemd): units installed only"
fi

step "$version installed under ${PREFIX:-/}"
