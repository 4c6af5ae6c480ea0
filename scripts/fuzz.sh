#!/usr/bin/env bash
# Build and run every cargo-fuzz target in fuzz/ (one decoder of untrusted bytes each), one
# target at a time, each over its committed seed corpus (fuzz/corpus/<target>/).
#
#   scripts/fuzz.sh [--smoke] [SECONDS_PER_TARGET]
#
#   --smoke              CI's run: every target for a short time (default 5 s each)
#   SECONDS_PER_TARGET   how long each target runs (default 300 s without --smoke)
#
# Needs the nightly toolchain (`rustup toolchain install nightly`); installs cargo-fuzz at the
# pinned version below when it is missing. Builds into $CARGO_TARGET_DIR/fuzz (or fuzz/target),
# never into the main build's target directory. New inputs go to <target dir>/corpus/<target>
# (the checkout's seed corpora are only read); a crash is saved under fuzz/artifacts/<target>/
# and makes the script fail after the other targets ran. Per target it prints the time, the
# executions and the result. Run it niced on a shared machine: `nice -n 19 scripts/fuzz.sh`.
#
# Build options (one build for all targets, about 9 CPU-minutes from an empty cache):
#   --sanitizer none      the code under test is safe Rust (ASan finds nothing panics and
#                         overflow checks do not) and the C parts (OpenSSL) are not
#                         instrumented anyway; ASan builds are slower and run ~2x slower.
#   --codegen-units 16    a cold build within CI's budget (cargo-fuzz's default is 1).
#   debug assertions and overflow checks stay on (cargo-fuzz's default), like the tests.
set -euo pipefail

cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.."

CARGO_FUZZ_VERSION=0.13.1
TOOLCHAIN="${HWSIGN_FUZZ_TOOLCHAIN:-nightly}"

smoke=false
if [[ "${1:-}" == "--smoke" ]]; then
    smoke=true
    shift
fi
if [[ $# -gt 1 || ( $# -eq 1 && ! "$1" =~ ^[0-9]+$ ) ]]; then
    echo "usage: scripts/fuzz.sh [--smoke] [SECONDS_PER_TARGET]" >&2
    exit 2
fi
if [[ $# -eq 1 ]]; then
    seconds="$1"
elif $smoke; then
    seconds=5
else
    seconds=300
fi

say() { printf '\n==> %s\n' "$*"; }

if ! cargo "+$TOOLCHAIN" --version >/dev/null 2>&1; then
    echo "fuzz.sh: no $TOOLCHAIN toolchain: rustup toolchain install $TOOLCHAIN" >&2
    exit 1
fi
if [[ "$(cargo "+$TOOLCHAIN" fuzz --version 2>/dev/null)" != "cargo-fuzz $CARGO_FUZZ_VERSION" ]]; then
    say "cargo install --locked cargo-fuzz --version $CARGO_FUZZ_VERSION"
    cargo install --locked cargo-fuzz --version "$CARGO_FUZZ_VERSION"
fi

if [[ -n "${CARGO_TARGET_DIR:-}" ]]; then
    target_dir="$CARGO_TARGET_DIR/fuzz"
else
    target_dir="$PWD/fuzz/target"
fi
flags=(--sanitizer none --codegen-units 16 --target-dir "$target_dir")

say "cargo +$TOOLCHAIN fuzz build ${flags[*]}"
build_start=$SECONDS
cargo "+$TOOLCHAIN" fuzz build "${flags[@]}"
echo "built in $((SECONDS - build_start)) s"

mapfile -t targets < <(cargo "+$TOOLCHAIN" fuzz list)
summary=()
failed=()
for t in "${targets[@]}"; do
    say "$t: ${seconds} s"
    work="$target_dir/corpus/$t"
    mkdir -p -- "$work" "fuzz/corpus/$t"
    log="$target_dir/logs/$t.log"
    mkdir -p -- "$(dirname -- "$log")"
    start=$SECONDS
    # New inputs go to the first corpus directory only: the committed seeds stay as they are.
    if cargo "+$TOOLCHAIN" fuzz run "${flags[@]}" "$t" "$work" "fuzz/corpus/$t" -- \
        -max_total_time="$seconds" -max_len=16384 -timeout=25 -rss_limit_mb=2048 \
        -print_final_stats=1 >"$log" 2>&1; then
        result=ok
    else
        result="FAILED (see $log and fuzz/artifacts/$t/)"
        failed+=("$t")
        tail -n 40 -- "$log" >&2
    fi
    runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)"
    summary+=("$(printf '%-20s %6d s %12s execs  %s' "$t" "$((SECONDS - start))" "${runs:-?}" "$result")")
    echo "${summary[-1]}"
done

say "summary (${seconds} s per target)"
printf '%s\n' "${summary[@]}"
if [[ ${#failed[@]} -gt 0 ]]; then
    echo "fuzz.sh: ${#failed[@]} target(s) failed: ${failed[*]}" >&2
    exit 1
fi
