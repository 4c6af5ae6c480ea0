#!/usr/bin/env bash
# hwsign end to end, on the SoftHSM test token: no hardware needed.
#
# Builds the binaries, starts `hwsign-agent --softhsm` in a private temporary directory,
# signs a small sample release every way hwsign can (one DSSE/in-toto attestation for the
# whole release, an SSHSIG and a raw signature), verifies each with the tools a downstream
# user has (ssh-keygen, openssl, and securesystemslib when its venv exists), shows that ssh
# sees the token's keys through the agent, and stops the agent.
# Exits non-zero when any verification fails.
#
# Environment:
#   HWSIGN_BIN_DIR        use the hwsign and hwsign-agent found here; skip deps and build
#   HWSIGN_DEMO_KEEP=1    keep the temporary directory (agent log, token, outputs)
#   HWSIGN_DEMO_TIMEOUT   seconds to wait for the agent to be ready (default 120)
#   HWSIGN_VENV           venv made by `scripts/deps.sh --python` (default
#                         $HOME/.cache/hwsign/venv), used for the securesystemslib check
#   CARGO_TARGET_DIR      respected by the build
set -euo pipefail

root="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)"
readonly root
readonly timeout="${HWSIGN_DEMO_TIMEOUT:-120}"
readonly principal="release@hwsign-demo"
readonly purl="pkg:generic/hwsign-demo@1.0.0"

step_no=0
banner() {
    step_no=$((step_no + 1))
    printf '\n==> %d. %s\n' "$step_no" "$*"
}
note() { printf '    %s\n' "$*"; }
die() { printf 'demo: error: %s\n' "$*" >&2; exit 1; }

# Print a command the way a user would type it, then run it. The echo goes to fd 3 (the
# demo's stdout), so that `run cmd >file` and `$(run cmd)` capture only the command's output.
exec 3>&1
readonly plain_word='^[A-Za-z0-9_./:@=+,%-]+$'
fmt_cmd() {
    local out="$" a
    for a in "$@"; do
        if [[ "$a" =~ $plain_word ]]; then out+=" $a"; else out+=" $(printf '%q' "$a")"; fi
    done
    printf '%s' "$out"
}
show_cmd() { printf '%s\n' "$(fmt_cmd "$@")" >&3; }
run() { show_cmd "$@"; "$@"; }
# run_in FILE CMD...: like run, with FILE on standard input.
run_in() {
    local input="$1"
    shift
    printf '%s < %s\n' "$(fmt_cmd "$@")" "$input" >&3
    "$@" <"$input"
}

# Verification results, for the summary.
results=()
failures=0
check() {
    local name="$1"
    shift
    if "$@"; then
        results+=("PASS  $name")
    else
        results+=("FAIL  $name")
        failures=$((failures + 1))
        printf 'demo: FAILED: %s\n' "$name" >&2
    fi
}
# check_fails NAME CMD...: passes when CMD fails (a tampered file must not verify).
check_fails() {
    local name="$1"
    shift
    if "$@"; then
        results+=("FAIL  $name (it verified)")
        failures=$((failures + 1))
        printf 'demo: FAILED: %s: it verified\n' "$name" >&2
    else
        results+=("PASS  $name")
    fi
}

# --- temporary home, and cleanup ------------------------------------------------------------

tmp=""
agent_pid=""

stop_agent() {
    [[ -n "$agent_pid" ]] || return 0
    local pid="$agent_pid" i rc=0
    agent_pid=""
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        for ((i = 0; i < 100; i++)); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null; then
            printf 'demo: agent %s still running 10 s after SIGTERM; sending SIGKILL\n' "$pid" >&2
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    wait "$pid" 2>/dev/null || rc=$?
    return "$rc"
}

cleanup() {
    local rc=$?
    stop_agent || true
    if [[ -n "$tmp" && -d "$tmp" ]]; then
        if [[ "${HWSIGN_DEMO_KEEP:-0}" == 1 ]]; then
            printf 'demo: kept %s\n' "$tmp" >&2
        else
            rm -rf -- "$tmp"
        fi
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- build ----------------------------------------------------------------------------------

banner "Dependencies and build"
if [[ -n "${HWSIGN_BIN_DIR:-}" ]]; then
    bindir="$(cd -- "$HWSIGN_BIN_DIR" && pwd)"
    note "HWSIGN_BIN_DIR set: using $bindir, skipping deps and build"
else
    run bash "$root/scripts/deps.sh"
    (cd -- "$root" && run cargo build --release --bins)
    target_dir="$(cd -- "$root" && cargo metadata --format-version 1 --no-deps 2>/dev/null |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])' \
            2>/dev/null)" || target_dir=""
    if [[ -z "$target_dir" ]]; then
        target_dir="${CARGO_TARGET_DIR:-target}"
        [[ "$target_dir" == /* ]] || target_dir="$root/$target_dir"
    fi
    bindir="$target_dir/release"
fi
for bin in hwsign hwsign-agent; do
    [[ -x "$bindir/$bin" ]] || die "$bindir/$bin not found or not executable"
done
export PATH="$bindir:$PATH"
note "binaries: $bindir"

# A private home for the agent: its socket, its SoftHSM token and its config live here.
tmp="$(mktemp -d "${TMPDIR:-/tmp}/hwsign-demo.XXXXXX")"
chmod 0700 "$tmp"
export XDG_RUNTIME_DIR="$tmp/run"
export XDG_STATE_HOME="$tmp/state"
export XDG_CONFIG_HOME="$tmp/config"
mkdir -m 0700 -- "$XDG_RUNTIME_DIR" "$XDG_STATE_HOME" "$XDG_CONFIG_HOME"
# Never talk to the user's own agents by accident.
unset SSH_AUTH_SOCK SSH_AGENT_PID HWSIGN_AUTH_SOCK
work="$tmp/work"
mkdir -p -- "$work/dist" "$work/keys" "$work/check"
cd -- "$work"

# --- agent ----------------------------------------------------------------------------------

banner "Start the agent on a SoftHSM test token"
agent_out="$tmp/agent.stdout"
agent_log="$tmp/agent.log"
show_cmd hwsign-agent --softhsm
hwsign-agent --softhsm >"$agent_out" 2>"$agent_log" </dev/null &
agent_pid=$!
note "pid $agent_pid, log $agent_log; waiting up to ${timeout}s for it to be ready"

ready=""
deadline=$((SECONDS + timeout))
while ((SECONDS < deadline)); do
    ready="$(grep -m1 '^HWSIGN_AUTH_SOCK=' "$agent_out" 2>/dev/null || true)"
    [[ -n "$ready" ]] && break
    if ! kill -0 "$agent_pid" 2>/dev/null; then
        rc=0
        wait "$agent_pid" 2>/dev/null || rc=$?
        agent_pid=""
        printf 'demo: the agent exited (status %d) before it was ready; its log:\n' "$rc" >&2
        sed 's/^/    /' "$agent_log" >&2
        exit 1
    fi
    sleep 0.2
done
if [[ -z "$ready" ]]; then
    printf 'demo: the agent was not ready after %ds; its log:\n' "$timeout" >&2
    sed 's/^/    /' "$agent_log" >&2
    exit 1
fi
printf '%s\n' "$ready"
# HWSIGN_AUTH_SOCK=<path>; export HWSIGN_AUTH_SOCK;
sock="${ready#HWSIGN_AUTH_SOCK=}"
sock="${sock%%;*}"
sock="${sock#[\'\"]}"
sock="${sock%[\'\"]}"
[[ -S "$sock" ]] || die "the agent announced $sock, which is not a socket"
export HWSIGN_AUTH_SOCK="$sock"
note "socket: $sock ($(stat -c '%a' -- "$(dirname -- "$sock")") dir, $(stat -c '%a' -- "$sock") socket)"

banner "What the agent has"
run hwsign status

banner "The keys on the token"
run hwsign keys

# --- a release ------------------------------------------------------------------------------

banner "Make a sample release in dist/"
tarball="dist/hwsign-demo-1.0.0.tar.gz"
wheel="dist/hwsign_demo-1.0.0-py3-none-any.whl"
blob="dist/hwsign-demo-1.0.0-linux-x86_64.bin"
sums="dist/SHA256SUMS"
mkdir -p src/hwsign-demo-1.0.0/hwsign_demo
printf 'hwsign-demo 1.0.0\n\nA release signed by a key that never left its token.\n' \
    >src/hwsign-demo-1.0.0/README
printf '#!/bin/sh\necho "hello from hwsign-demo"\n' >src/hwsign-demo-1.0.0/hello.sh
printf '__version__ = "1.0.0"\n' >src/hwsign-demo-1.0.0/hwsign_demo/__init__.py
tar -C src --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 \
    -czf "$tarball" hwsign-demo-1.0.0
(cd src/hwsign-demo-1.0.0 && python3 -m zipfile -c "$work/$wheel" hwsign_demo)
head -c 4194304 /dev/urandom >"$blob"
(cd dist && sha256sum -- "$(basename -- "$tarball")" "$(basename -- "$wheel")" \
    "$(basename -- "$blob")" >"$(basename -- "$sums")")
release_files=(dist/*)
ls -l -- "${release_files[@]}"

banner "Attest the whole release: one DSSE envelope, one signature"
run hwsign attest --key release-p256 --purl "$purl" -o dist/release.intoto.json \
    "${release_files[@]}"
envelope="dist/release.intoto.json"
note "the envelope's payloadType and keyid, then its in-toto statement:"
json_field() { # json_field FILE EXPR (python expression on `e`)
    python3 -c 'import json, sys; e = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' \
        "$1" "$2"
}
json_field "$envelope" 'e["payloadType"]' | sed 's/^/    payloadType: /'
json_field "$envelope" '" ".join(s.get("keyid", "") for s in e["signatures"])' |
    sed 's/^/    keyid:       /'
json_field "$envelope" 'e["payload"]' | base64 -d >check/statement.json
if command -v jq >/dev/null 2>&1; then
    jq . check/statement.json
else
    python3 -m json.tool check/statement.json
fi

# Each file is a subject, by name and by the SHA-256 that sha256sum computes here.
subjects_match() {
    python3 - check/statement.json "${release_files[@]}" <<'PY'
import hashlib, json, os, sys
st = json.load(open(sys.argv[1]))
want = {}
for path in sys.argv[2:]:
    with open(path, "rb") as f:
        want[os.path.basename(path)] = hashlib.sha256(f.read()).hexdigest()
got = {os.path.basename(s["name"]): s["digest"].get("sha256") for s in st["subject"]}
ok = st.get("_type") == "https://in-toto.io/Statement/v1" and got == want
for name in sorted(set(want) | set(got)):
    mark = "ok" if want.get(name) == got.get(name) else "MISMATCH"
    print(f"    {mark:8} {name} {got.get(name)}")
sys.exit(0 if ok else 1)
PY
}
check "in-toto statement: one subject per file, SHA-256 digests match" subjects_match

banner "Sign the tarball with SSHSIG (Ed25519)"
run hwsign sign --key release-ed25519 --format sshsig "$tarball"

banner "Sign the tarball with a raw signature (ECDSA P-256)"
run hwsign sign --key release-p256 --format raw "$tarball"
note "$tarball.rawsig: $(head -c 60 -- "$tarball.rawsig")..."

banner "Export the public keys for verifiers"
run hwsign keys export release-ed25519 --format ssh -o keys/release-ed25519.pub
run hwsign keys export label:release-p256 --format pem -o keys/release-p256.pem
cat keys/release-ed25519.pub keys/release-p256.pem
printf '%s %s\n' "$principal" "$(cut -d' ' -f1,2 keys/release-ed25519.pub)" >keys/allowed_signers
note "keys/allowed_signers: $(cat keys/allowed_signers)"

# --- verification, as a downstream user does it (no hwsign involved) ------------------------

banner "Verify the SSHSIG with ssh-keygen"
check "SSHSIG verified by ssh-keygen -Y verify" \
    run_in "$tarball" ssh-keygen -Y verify -f keys/allowed_signers -I "$principal" -n file \
    -s "$tarball.sig"
cp -- "$tarball" check/tampered.tar.gz
printf 'x' >>check/tampered.tar.gz
note "the same signature on a tampered copy must fail:"
check_fails "SSHSIG rejected for a tampered file" \
    run_in check/tampered.tar.gz ssh-keygen -Y verify -f keys/allowed_signers -I "$principal" \
    -n file -s "$tarball.sig"

banner "Verify the raw signature with openssl"
printf '%s > check/sig.bin\n' "$(fmt_cmd base64 -d "$tarball.rawsig")" >&3
base64 -d "$tarball.rawsig" >check/sig.bin
check "raw ECDSA P-256 signature verified by openssl dgst" \
    run openssl dgst -sha256 -verify keys/release-p256.pem -signature check/sig.bin "$tarball"

banner "Verify the DSSE envelope"
note "openssl over the DSSE pre-authentication encoding (PAE):"
python3 - "$envelope" check/pae.bin check/dsse.sig <<'PY'
import base64, json, sys
e = json.load(open(sys.argv[1]))
body = base64.b64decode(e["payload"])
ptype = e["payloadType"].encode()
pae = b"DSSEv1 %d %s %d %s" % (len(ptype), ptype, len(body), body)
open(sys.argv[2], "wb").write(pae)
open(sys.argv[3], "wb").write(base64.b64decode(e["signatures"][0]["sig"]))
PY
check "DSSE signature verified by openssl over the PAE" \
    run openssl dgst -sha256 -verify keys/release-p256.pem -signature check/dsse.sig check/pae.bin

venv_python="${HWSIGN_VENV:-$HOME/.cache/hwsign/venv}/bin/python"
if [[ -x "$venv_python" ]] &&
    "$venv_python" -c 'import securesystemslib.dsse, securesystemslib.signer' 2>/dev/null; then
    note "securesystemslib ($venv_python):"
    sslib_verify() {
        "$venv_python" - "$envelope" keys/release-p256.pem <<'PY'
import json, sys
from securesystemslib.dsse import Envelope
from securesystemslib.signer import SSlibKey
raw = json.load(open(sys.argv[1]))
keyid = raw["signatures"][0]["keyid"]
envelope = Envelope.from_dict(raw)
key = SSlibKey(keyid, "ecdsa", "ecdsa-sha2-nistp256", {"public": open(sys.argv[2]).read()})
envelope.verify([key], 1)
print(f"    verified: keyid {keyid}")
PY
    }
    check "DSSE envelope verified by securesystemslib" sslib_verify
else
    note "securesystemslib: skipped (run scripts/deps.sh --python to make its venv)"
fi

banner "ssh sees the token's keys through the agent"
agent_keys="$(run env SSH_AUTH_SOCK="$sock" ssh-add -L)" || true
printf '%s\n' "$agent_keys"
ed25519_blob="$(cut -d' ' -f2 keys/release-ed25519.pub)"
check "ssh-add -L lists the exported Ed25519 key" grep -qF -- "$ed25519_blob" <<<"$agent_keys"

banner "Stop the agent (SIGTERM)"
show_cmd kill -TERM "$agent_pid"
agent_status=0
stop_agent || agent_status=$?
note "agent exited with status $agent_status"
if [[ -e "$sock" ]]; then
    note "warning: the socket $sock is still there"
else
    note "socket removed"
fi

# --- summary --------------------------------------------------------------------------------

printf '\n==> Summary\n'
note "release:     ${release_files[*]}"
note "attestation: $envelope (in-toto Statement v1, predicate Release v0.1, purl $purl)"
note "signatures:  $tarball.sig (SSHSIG, namespace file), $tarball.rawsig (raw, base64)"
note "public keys: keys/release-ed25519.pub, keys/release-p256.pem, keys/allowed_signers"
for r in "${results[@]}"; do
    note "$r"
done
if [[ "${HWSIGN_DEMO_KEEP:-0}" != 1 ]]; then
    note "(the temporary directory is removed now; HWSIGN_DEMO_KEEP=1 keeps it)"
fi
if ((failures > 0)); then
    printf '\ndemo: %d verification(s) FAILED\n' "$failures" >&2
    exit 1
fi
printf '\nAll %d checks passed.\n' "${#results[@]}"
