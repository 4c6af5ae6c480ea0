#!/usr/bin/env bash
# Everything CI runs (.ci/run execs this): dependencies, formatting, lints, the test suite.
#
#   scripts/test.sh                 the whole run
#   scripts/test.sh ARGS...         ARGS go to the test runner (a test name filter, say)
#
# The tests use real parts: a SoftHSM2 token, ssh-keygen, openssl and Python securesystemslib
# (from the venv that `scripts/deps.sh --python` makes; its python is HWSIGN_TEST_PYTHON).
set -euo pipefail

cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.."

say() { printf '\n==> %s\n' "$*"; }

say "dependencies (scripts/deps.sh --python)"
venv_python="$(bash scripts/deps.sh --python | tail -n 1)"
[[ -x "$venv_python" ]] || { echo "test.sh: deps.sh gave no usable python: '$venv_python'" >&2; exit 1; }
export HWSIGN_TEST_PYTHON="$venv_python"
echo "HWSIGN_TEST_PYTHON=$HWSIGN_TEST_PYTHON"

say "cargo fmt --all -- --check"
cargo fmt --all -- --check

say "cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets -- -D warnings

if cargo nextest --version >/dev/null 2>&1; then
    say "cargo nextest run --no-fail-fast${*:+ $*}"
    cargo nextest run --no-fail-fast "$@"
else
    say "cargo test --no-fail-fast${*:+ $*} (cargo-nextest not found)"
    cargo test --no-fail-fast "$@"
fi

say "all checks passed"
