# Set-up functions shared by ./bootstrap; sourced, not run.
# Three Python environments (see docs/architecture): .venv for controller tooling,
# .venv-node for the node-side quantum runtime and services (qrmi pins conflict
# with the controller's dependencies), .venv-iqm for IQM's own client, which the
# emulator's and qrmid's tests run as a subprocess (its pins conflict with qrmi[ibm]).

PY=${PYTHON:-python3}
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

ensure_apt_packages() {
  local wanted missing=()
  wanted=$(cat tools/apt/*.txt | grep -v '^\s*#' | awk 'NF {print $1}' | sort -u)
  for pkg in $wanted; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing Debian packages: ${missing[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

# Install pip requirements only when their description changed since the last install.
_pip_sync() {
  local venv=$1 stamp_src=$2; shift 2
  local stamp="$venv/.qpusite-stamp"
  local want
  want=$(cat $stamp_src 2>/dev/null | sha256sum | cut -d' ' -f1)
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then return 0; fi
  "$venv/bin/pip" install -q --disable-pip-version-check "$@"
  echo "$want" > "$stamp"
}

ensure_controller_env() {
  if [ ! -x .venv/bin/python ]; then
    log "creating the controller environment (.venv)"
    $PY -m venv .venv
  fi
  log "controller environment: checking packages"
  local reqs=() f
  for f in tools/requirements/controller-*.txt; do reqs+=(-r "$f"); done
  _pip_sync .venv "pyproject.toml tools/requirements/controller-*.txt" -e ".[dev]" "${reqs[@]}"
}

ensure_node_env() {
  if [ ! -x .venv-node/bin/python ]; then
    log "creating the node runtime environment (.venv-node)"
    $PY -m venv .venv-node
  fi
  log "node environment: checking packages"
  local reqs=() f
  for f in tools/requirements/node-*.txt; do reqs+=(-r "$f"); done
  _pip_sync .venv-node "tools/requirements/node-*.txt services/*/pyproject.toml" "${reqs[@]}"
}

ensure_iqm_client_env() {
  if [ ! -x .venv-iqm/bin/python ]; then
    log "creating IQM's client environment (.venv-iqm)"
    $PY -m venv .venv-iqm
  fi
  log "IQM client environment: checking packages"
  _pip_sync .venv-iqm "tools/requirements/iqm-client.txt" -r tools/requirements/iqm-client.txt
}

setup_all() {
  ensure_apt_packages
  ensure_controller_env
  ensure_node_env
  ensure_iqm_client_env
  export PATH="$PWD/.venv/bin:$PATH"
}
