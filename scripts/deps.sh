#!/usr/bin/env bash
# Install what hwsign's build, demo and tests need from Debian's packages.
#
#   scripts/deps.sh            system packages only
#   scripts/deps.sh --python   also a Python venv with securesystemslib and cryptography
#                              (the DSSE verifier the tests use); its python's path is
#                              printed on stdout, alone
#
# Idempotent: packages already installed are not touched, apt-get update runs at most once
# and only when something is missing, pip runs only when the modules are not importable.
# Every message goes to stderr, so that `py="$(scripts/deps.sh --python)"` works.
#
# Environment:
#   HWSIGN_VENV   where the venv lives (default: $HOME/.cache/hwsign/venv)
set -euo pipefail

readonly PACKAGES=(
    softhsm2        # the test-mode token (hwsign-agent --softhsm)
    opensc          # pkcs11-tool, for looking at tokens
    openssh-client  # ssh-add, ssh-keygen -Y (SSHSIG verification)
    openssh-server  # the forwarding tests' sshd
    openssl         # raw signature verification
    sqv             # OpenPGP verification
    gnupg
    libssl-dev      # sequoia-openpgp's crypto backend (crypto-openssl)
    pkg-config      # finds OpenSSL and pcsclite for the -sys crates
    libpcsclite-dev # PC/SC (smart cards)
    pcscd
    systemd         # systemd-socket-activate for the private pcscd
    python3-venv    # venv for Debian's python3, when the python3 on PATH has none
    coreutils
)

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

want_python=0
for arg in "$@"; do
    case "$arg" in
        --python) want_python=1 ;;
        -h | --help)
            sed -n '2,/^set -/{/^#/s/^# \{0,1\}//p}' "$0" >&2
            exit 0
            ;;
        *) die "unknown argument: $arg (try --help)" ;;
    esac
done

is_installed() {
    local status
    status="$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" || return 1
    [[ "$status" == "install ok installed" ]]
}

install_system_packages() {
    say "checking system packages (${#PACKAGES[@]})"
    command -v dpkg-query >/dev/null 2>&1 ||
        die "dpkg-query not found: this script knows Debian and Ubuntu; install the equivalents of: ${PACKAGES[*]}"

    local missing=() pkg
    for pkg in "${PACKAGES[@]}"; do
        is_installed "$pkg" || missing+=("$pkg")
    done
    if ((${#missing[@]} == 0)); then
        say "all system packages present"
        return 0
    fi
    say "missing: ${missing[*]}"

    if ((EUID != 0)); then
        printf 'Run this, then run %s again:\n\n' "$0" >&2
        printf '    sudo apt-get update && sudo apt-get install -y --no-install-recommends %s\n\n' \
            "${missing[*]}" >&2
        exit 1
    fi

    say "apt-get update"
    DEBIAN_FRONTEND=noninteractive apt-get update -q >&2
    say "apt-get install ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >&2

    for pkg in "${missing[@]}"; do
        is_installed "$pkg" || die "package $pkg is still not installed"
    done
    say "system packages installed"
}

# A venv is usable when its python starts; a venv whose base python went away is not.
venv_ok() { [[ -x "$1/bin/python" ]] && "$1/bin/python" -c 'import sys' >/dev/null 2>&1; }

# Try the python3 on PATH first (maybe pyenv's, which has venv and ensurepip), then Debian's
# /usr/bin/python3 (whose venv needs the python3-venv package installed above).
make_venv() {
    local venv="$1" py
    for py in "$(command -v python3 || true)" /usr/bin/python3; do
        [[ -n "$py" && -x "$py" ]] || continue
        say "creating venv $venv with $py ($("$py" --version 2>&1))"
        if "$py" -m venv "$venv" >&2 && venv_ok "$venv" &&
            "$venv/bin/python" -m pip --version >/dev/null 2>&1; then
            return 0
        fi
        say "venv with $py did not work; trying the next python"
        remove_venv "$venv"
    done
    die "could not create a venv at $venv: install python3-venv (Debian) or a python with venv"
}

# Remove only what looks like a venv, never an arbitrary directory HWSIGN_VENV points at.
remove_venv() {
    local venv="$1"
    if [[ -f "$venv/pyvenv.cfg" ]]; then
        rm -rf -- "$venv"
    elif [[ -d "$venv" ]]; then
        rmdir -- "$venv" 2>/dev/null ||
            die "$venv exists and is not a venv; set HWSIGN_VENV to another path"
    fi
}

readonly PY_CHECK='
import cryptography
import securesystemslib
from securesystemslib.dsse import Envelope
from securesystemslib.signer import SSlibKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key
'

setup_python() {
    local venv="${HWSIGN_VENV:-$HOME/.cache/hwsign/venv}"
    say "python venv: $venv"
    if ! venv_ok "$venv"; then
        remove_venv "$venv"
        mkdir -p -- "$(dirname -- "$venv")"
        make_venv "$venv"
    fi
    if "$venv/bin/python" -c "$PY_CHECK" >/dev/null 2>&1; then
        say "securesystemslib and cryptography already importable"
    else
        say "pip install securesystemslib[crypto] cryptography"
        "$venv/bin/python" -m pip install --disable-pip-version-check -q \
            'securesystemslib[crypto]' cryptography >&2
        "$venv/bin/python" -c "$PY_CHECK" >&2 ||
            die "securesystemslib still not importable from $venv/bin/python"
    fi
    say "venv python: $venv/bin/python"
    printf '%s\n' "$venv/bin/python"
}

install_system_packages
if ((want_python)); then
    setup_python
fi
