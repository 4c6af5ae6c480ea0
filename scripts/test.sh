#!/usr/bin/env bash
# Everything CI runs (.ci/run execs this): dependencies, formatting, lints, the test suite.
#
#   scripts/test.sh                 the whole run
#   scripts/test.sh ARGS...         ARGS go to the test runner (a test name filter, say)
#
# The tests use real parts: a SoftHSM2 token, ssh-keygen, openssl, gpg, Python securesystemslib
# (from the venv that `scripts/deps.sh --python` makes; its python is HWSIGN_TEST_PYTHON) and
# sigstore-js (the npm packages `scripts/deps.sh --node` installs; their node_modules directory
# is HWSIGN_TEST_NODE_PATH).
set -euo pipefail

cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.."

say() { printf '\n==> %s\n' "$*"; }

say "dependencies (scripts/deps.sh --python)"
venv_python="$(bash scripts/deps.sh --python | tail -n 1)"
[[ -x "$venv_python" ]] || { echo "test.sh: deps.sh gave no usable python: '$venv_python'" >&2; exit 1; }
export HWSIGN_TEST_PYTHON="$venv_python"
echo "HWSIGN_TEST_PYTHON=$HWSIGN_TEST_PYTHON"

say "dependencies (scripts/deps.sh --node)"
node_modules="$(bash scripts/deps.sh --node | tail -n 1)"
[[ -d "$node_modules/@sigstore/verify" ]] || { echo "test.sh: deps.sh gave no usable node_modules: '$node_modules'" >&2; exit 1; }
export HWSIGN_TEST_NODE_PATH="$node_modules"
echo "HWSIGN_TEST_NODE_PATH=$HWSIGN_TEST_NODE_PATH"

say "cargo fmt --all -- --check"
cargo fmt --all -- --check

# --workspace: the virtual-card runner (tools/vcard) too.
say "cargo clippy --workspace --all-targets -- -D warnings"
cargo clippy --workspace --all-targets -- -D warnings

# The virtual-card runner the card tests start (a separate workspace member, LGPL: never a
# dependency of hwsign; the rig's crates/hwsign-testrig/src/pcsc.rs finds it in target/debug).
say "cargo build -p hwsign-vcard"
cargo build -p hwsign-vcard

if cargo nextest --version >/dev/null 2>&1; then
    say "cargo nextest run --workspace --no-fail-fast${*:+ $*}"
    cargo nextest run --workspace --no-fail-fast "$@"
else
    say "cargo test --workspace --no-fail-fast${*:+ $*} (cargo-nextest not found)"
    cargo test --workspace --no-fail-fast "$@"
fi

say "all checks passed"
