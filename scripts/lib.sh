# Shared set-up for scripts/demo and scripts/test. Sourced, not run.
# Installs what the project needs on a fresh Debian machine with Python 3.11:
# Debian packages (when missing and we are root), a virtual environment in
# .venv, and the project with its Python dependencies.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
PY="${PYTHON:-python3}"

log() { printf '[branchlive] %s\n' "$*" >&2; }

apt_ensure() {
    local missing=()
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" -ne 0 ]; then
        log "missing Debian packages: ${missing[*]}; run as root or: sudo apt-get install ${missing[*]}"
        return 1
    fi
    log "installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

venv_ensure() {
    if [ ! -x "$VENV/bin/python" ]; then
        log "creating virtual environment in .venv"
        if ! "$PY" -m venv "$VENV" 2>/dev/null; then
            apt_ensure python3-venv
            "$PY" -m venv "$VENV"
        fi
    fi
    # The media plane's receive path is C (hub/media/_rx.c): a compiler and
    # Python's headers build it when the project is installed.
    apt_ensure gcc libc6-dev
    if ! "$VENV/bin/python" -c 'import os, sysconfig, sys; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))'; then
        apt_ensure python3-dev
    fi
    # Reinstall only when the dependency list, the lock or the C source changed.
    local stamp="$VENV/.branchlive-installed"
    local want
    want="$(cat "$ROOT/pyproject.toml" "$ROOT/requirements.lock" "$ROOT/hub/media/_rx.c" | sha256sum | cut -d' ' -f1)"
    if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
        log "installing Python packages (first run takes a minute)"
        "$VENV/bin/python" -m pip install -q --upgrade pip >/dev/null
        # requirements.lock pins every package of every extra: the versions CI
        # tested are the versions installed (the Dockerfiles use it the same way).
        "$VENV/bin/python" -m pip install -q -c "$ROOT/requirements.lock" -e "$ROOT[test]"
        echo "$want" > "$stamp"
    fi
}
