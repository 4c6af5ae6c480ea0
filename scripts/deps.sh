#!/usr/bin/env bash
# Install what hwsign's build, demo and tests need from Debian's packages.
#
#   scripts/deps.sh            system packages only
#   scripts/deps.sh --python   also a Python venv with securesystemslib and cryptography
#                              (the DSSE verifier the tests use); its python's path is
#                              printed on stdout, alone
#   scripts/deps.sh --node     also sigstore-js (@sigstore/verify, the Sigstore bundle
#                              verifier the tests use) installed with npm; its node_modules
#                              directory is printed on stdout, alone (node and npm come from
#                              Debian's nodejs and npm when node is missing)
#
# With both options the python comes first and node_modules last, one line each; scripts
# that need one of them run this once per option and read the last line.
#
# Idempotent: packages already installed are not touched, apt-get update runs at most once
# and only when something is missing, pip runs only when the modules are not importable, npm
# only when the pinned versions are not installed. Every message goes to stderr, so that
# `py="$(scripts/deps.sh --python)"` and `nm="$(scripts/deps.sh --node)"` work.
#
# Environment:
#   HWSIGN_VENV      where the venv lives (default: $HOME/.cache/hwsign/venv)
#   HWSIGN_NODE_DIR  where the npm packages live (default: $HOME/.cache/hwsign/node); the
#                    printed path is its node_modules
set -euo pipefail

readonly PACKAGES=(
    softhsm2        # the test-mode token (hwsign-agent --softhsm)
    opensc          # pkcs11-tool, opensc-tool (APDUs to the virtual cards)
    opensc-pkcs11   # OpenSC's PKCS#11 module: the cards through PKCS#11 (tests/cards/opensc.rs)
    openssh-client  # ssh-add, ssh-keygen -Y (SSHSIG verification)
    openssh-server  # the forwarding tests' sshd
    openssl         # raw signature verification
    sqv             # OpenPGP verification
    gnupg
    libssl-dev      # sequoia-openpgp's crypto backend (crypto-openssl)
    pkg-config      # finds OpenSSL and pcsclite for the -sys crates
    libpcsclite-dev # PC/SC (smart cards)
    pcscd           # the private pcscd of the card tests (crates/hwsign-testrig/src/pcsc.rs)
    vsmartcard-vpcd # its virtual readers (libifdvpcd.so), fed by tools/vcard (hwsign-vcard)
    clang           # littlefs2-sys (trussed's storage, built for hwsign-vcard) runs bindgen
    libclang-dev
    yubico-piv-tool # PIV interop in the card tests
    ykcs11          # the PKCS#11 path to the virtual YubiKey (tests/cards/interop.rs)
    scdaemon        # gpg --card-status against the virtual OpenPGP card
    libccid         # its reader list checks the udev rules (tests/agent/udev_rules.rs)
    systemd         # systemd-socket-activate for the private pcscd
    dbus-daemon     # a private session bus for the desktop-notification tests (tests/prompts/touch_notice.rs)
    python3-venv    # venv for Debian's python3, when the python3 on PATH has none
    coreutils
    git             # hwsign-gpg: commits and tags signed with gpg.program (tests/gpg/frontend.rs)
    rpm             # hwsign-gpg: rpmbuild, rpmsign --addsign, rpmkeys --checksig (4.18)
    devscripts      # hwsign-gpg: debsign (perl; ~60 packages, about 20 s with the others)
    reprepro        # hwsign-gpg: a repository signed through its SignWith: ! hook
    aptly           # hwsign-gpg: a repository signed through a gpg shim first in PATH
    minisign        # hwsign sign --format minisign: minisign -V verifies (0.11)
)

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

want_python=0
want_node=0
for arg in "$@"; do
    case "$arg" in
        --python) want_python=1 ;;
        --node) want_node=1 ;;
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

# apt-get install as root (apt-get update once per run); otherwise print the command and stop.
apt_updated=0
apt_install() {
    if ((EUID != 0)); then
        printf 'Run this, then run %s again:\n\n' "$0" >&2
        printf '    sudo apt-get update && sudo apt-get install -y --no-install-recommends %s\n\n' "$*" >&2
        exit 1
    fi
    if ((!apt_updated)); then
        say "apt-get update"
        DEBIAN_FRONTEND=noninteractive apt-get update -q >&2
        apt_updated=1
    fi
    say "apt-get install $*"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" >&2
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

    apt_install "${missing[@]}"

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

# sigstore-js, pinned: the 2.x line of @sigstore/verify supports node >= 18.17, so Debian
# bookworm's nodejs (18) runs it as well as newer nodes do.
readonly NPM_PACKAGES=(
    @sigstore/verify@2.1.1
    @sigstore/bundle@3.1.0
    @sigstore/core@2.0.0
)

# Whether every pinned package is installed in $1/node_modules at its pinned version.
npm_packages_ok() {
    local dir="$1" spec name version
    for spec in "${NPM_PACKAGES[@]}"; do
        name="${spec%@*}"
        version="${spec##*@}"
        node -e 'const p = require(process.argv[1]); process.exit(p.version === process.argv[2] ? 0 : 1)' \
            "$dir/node_modules/$name/package.json" "$version" >/dev/null 2>&1 || return 1
    done
}

setup_node() {
    local dir="${HWSIGN_NODE_DIR:-$HOME/.cache/hwsign/node}"
    if ! command -v node >/dev/null 2>&1; then
        say "node not found: installing Debian's nodejs and npm"
        apt_install nodejs npm
    elif ! command -v npm >/dev/null 2>&1; then
        say "npm not found: installing Debian's npm"
        apt_install npm
    fi
    command -v node >/dev/null 2>&1 || die "node is still not on PATH"
    command -v npm >/dev/null 2>&1 || die "npm is still not on PATH"
    node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 18 || (a === 18 && b >= 17) ? 0 : 1)' ||
        die "node $(node --version) is too old for sigstore-js: need 18.17 or newer"
    say "node modules: $dir ($(node --version), npm $(npm --version))"
    if npm_packages_ok "$dir"; then
        say "${NPM_PACKAGES[*]} already installed"
    else
        mkdir -p -- "$dir"
        if [[ ! -f "$dir/package.json" ]]; then
            printf '%s\n' '{ "name": "hwsign-test-node", "private": true, "description": "sigstore-js for hwsign tests (scripts/deps.sh --node)" }' \
                >"$dir/package.json"
        fi
        say "npm install ${NPM_PACKAGES[*]}"
        (cd -- "$dir" && npm install --no-audit --no-fund --save-exact --loglevel=error "${NPM_PACKAGES[@]}" >&2)
        npm_packages_ok "$dir" || die "npm did not install ${NPM_PACKAGES[*]} into $dir"
    fi
    say "node_modules: $dir/node_modules"
    printf '%s\n' "$dir/node_modules"
}

install_system_packages
if ((want_python)); then
    setup_python
fi
if ((want_node)); then
    setup_node
fi
