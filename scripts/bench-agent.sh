#!/usr/bin/env bash
# Agent benchmarks side by side with ssh-agent on the same SoftHSM token, as ratios (never
# asserted in tests). The same stdlib SSH-agent client (scripts/bench-agent.py) drives both
# agents; runs alternate between them and the medians of the rounds are reported.
#   P1  one signature round trip, one long-lived client (median of N)
#   P2  8 concurrent clients, signatures per second (P-256; and RSA-2048, where the token's
#       own work dominates, also with hwsign's side sessions off: pkcs11_sign_sessions = 0)
#   P4  one file signed (SSHSIG): `hwsign sign` vs `ssh-keygen -Y sign` through ssh-agent;
#       200 files: one `hwsign sign` vs an ssh-keygen loop (median of R rounds, alternating)
#   P6  cold start to a first signature: hwsign-agent started, then one `hwsign sign`, vs
#       ssh-agent started, `ssh-add -s` of the same token, then one `ssh-keygen -Y sign`
#   RSS the agent's resident memory idle after one signature and after the load
#
#   scripts/bench-agent.sh [ROUNDS (default 3)] [N (default 2000)]
#   HWSIGN_BENCH_BIN=target/debug scripts/bench-agent.sh   (default: a release build)
#   HWSIGN_BENCH_STATE=/dev/shm scripts/bench-agent.sh     (agent state on tmpfs: no real fsync)
set -euo pipefail
cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.."

rounds="${1:-3}"
n="${2:-2000}"
if [[ -z "${HWSIGN_BENCH_BIN:-}" ]]; then
    cargo build --release --bins >&2
    target="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
    bin="$target/release"
else
    bin="$HWSIGN_BENCH_BIN"
fi
module=/usr/lib/softhsm/libsofthsm2.so
key_type=ecdsa-sha2-nistp256

tmp="$(mktemp -d "${HWSIGN_BENCH_STATE:-${TMPDIR:-/tmp}}/hwsign-bench.XXXXXX")"
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf -- "$tmp"
}
trap cleanup EXIT
mkdir -m 700 "$tmp/run"
export XDG_RUNTIME_DIR="$tmp/run" XDG_STATE_HOME="$tmp/state" XDG_CONFIG_HOME="$tmp/config"
unset SSH_AUTH_SOCK HWSIGN_AUTH_SOCK

"$bin/hwsign-agent" --softhsm >"$tmp/ready" 2>"$tmp/agent.log" &
hw_pid=$!
pids+=("$hw_pid")
for _ in $(seq 600); do grep -q HWSIGN_AUTH_SOCK "$tmp/ready" && break; sleep 0.1; done
hw_sock="$tmp/run/hwsign/agent.sock"

# ssh-agent with the same token through its PKCS#11 helper.
export SOFTHSM2_CONF="$tmp/state/hwsign/softhsm/softhsm2.conf"
ssh_sock="$tmp/ssh-agent.sock"
ssh-agent -D -a "$ssh_sock" -P "$(readlink -f "$module"),$module" >/dev/null 2>"$tmp/ssh-agent.log" &
ssh_pid=$!
pids+=("$ssh_pid")
for _ in $(seq 100); do [[ -S "$ssh_sock" ]] && break; sleep 0.05; done
printf '#!/bin/sh\nhead -n1 %q\n' "$tmp/state/hwsign/softhsm/user.pin" >"$tmp/askpass"
chmod 700 "$tmp/askpass"
SSH_AUTH_SOCK="$ssh_sock" SSH_ASKPASS="$tmp/askpass" SSH_ASKPASS_REQUIRE=force DISPLAY=:0 \
    ssh-add -s "$module" </dev/null >/dev/null 2>&1

py=scripts/bench-agent.py
rss() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
python3 "$py" latency "$hw_sock" "$key_type" 1 >/dev/null
rss_idle="$(rss "$hw_pid")"

: >"$tmp/results"
for r in $(seq "$rounds"); do
    for who in ssh hw; do
        sock="$ssh_sock"; [[ $who == hw ]] && sock="$hw_sock"
        echo "$who latency $(python3 "$py" latency "$sock" "$key_type" "$n")" >>"$tmp/results"
        echo "$who concurrent $(python3 "$py" concurrent "$sock" "$key_type" 8 3)" >>"$tmp/results"
        echo "$who rsa $(python3 "$py" concurrent "$sock" ssh-rsa 8 3)" >>"$tmp/results"
    done
done
sleep 2
rss_load="$(rss "$hw_pid")"
# ssh-agent's side for comparison: the agent and its PKCS#11 helper (where the module lives).
ssh_rss=$(( $(rss "$ssh_pid") + $(for p in $(pgrep -P "$ssh_pid"); do rss "$p"; done | awk '{s+=$1} END {print s+0}') ))

# P4: files signed by the command line tools, outputs written and durable.
mkdir -p "$tmp/p4"
SSH_AUTH_SOCK="$ssh_sock" ssh-add -L | grep "$key_type" | head -n1 >"$tmp/p4/key.pub"
for i in $(seq 200); do printf 'file %s\n' "$i" >"$tmp/p4/f$i.txt"; done
hw_label="$(HWSIGN_AUTH_SOCK="$hw_sock" "$bin/hwsign" keys --json | python3 -c 'import json,sys; k=[k for k in json.load(sys.stdin) if k["algorithm"]=="ecdsa-p256"][0]; print(k["label"])')"
one_hw() { HWSIGN_AUTH_SOCK="$hw_sock" "$bin/hwsign" sign --quiet --force --key "$hw_label" --format sshsig "$tmp/p4/f1.txt"; }
one_ssh() { rm -f "$tmp/p4/f1.txt.sig"; SSH_AUTH_SOCK="$ssh_sock" ssh-keygen -q -Y sign -f "$tmp/p4/key.pub" -n file "$tmp/p4/f1.txt" 2>/dev/null; }
many_hw() { HWSIGN_AUTH_SOCK="$hw_sock" "$bin/hwsign" sign --quiet --force --key "$hw_label" --format sshsig "$tmp"/p4/f*.txt; }
many_ssh() { rm -f "$tmp"/p4/*.sig; for f in "$tmp"/p4/f*.txt; do SSH_AUTH_SOCK="$ssh_sock" ssh-keygen -q -Y sign -f "$tmp/p4/key.pub" -n file "$f" 2>/dev/null; done; }
# Seconds a command took; a failed command stops the benchmark (no fast failure is timed).
secs() {
    local t0=$EPOCHREALTIME
    "$@" >/dev/null || { echo "bench-agent.sh: $* failed" >&2; kill -TERM $$; exit 1; }
    awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { print b - a }'
}
# Waits (at most 10 s) until the command succeeds; a process that died or never came up fails.
wait_for() {
    local i
    for i in $(seq 10000); do "$@" 2>/dev/null && return 0; sleep 0.001; done
    echo "bench-agent.sh: timed out waiting for: $*" >&2
    return 1
}
for r in $(seq "$rounds"); do
    for k in $(seq 20); do
        echo "p4one ssh $(secs one_ssh)" >>"$tmp/p4times"
        echo "p4one hw $(secs one_hw)" >>"$tmp/p4times"
    done
    echo "p4many ssh $(secs many_ssh)" >>"$tmp/p4times"
    echo "p4many hw $(secs many_hw)" >>"$tmp/p4times"
done

# RSA again with the agent signing in its token's worker alone.
kill -TERM "$hw_pid" 2>/dev/null || true
wait "$hw_pid" 2>/dev/null || true
mkdir -p "$tmp/config/hwsign"
echo "pkcs11_sign_sessions = 0" >"$tmp/config/hwsign/config.toml"
rm -f "$tmp/ready"
"$bin/hwsign-agent" --softhsm >"$tmp/ready" 2>>"$tmp/agent.log" &
hw_pid=$!
pids+=("$hw_pid")
wait_for grep -q HWSIGN_AUTH_SOCK "$tmp/ready"
for r in $(seq "$rounds"); do
    echo "hw rsa1 $(python3 "$py" concurrent "$hw_sock" ssh-rsa 8 3)" >>"$tmp/results"
done
rm -f "$tmp/config/hwsign/config.toml"

# P6 last: the benchmark's agent holds the state directory (one agent per state dir).
kill -TERM "$hw_pid" "$ssh_pid" 2>/dev/null || true
wait "$hw_pid" "$ssh_pid" 2>/dev/null || true
cold_hw() {
    local run="$tmp/p6hw" p
    rm -rf "$run"; mkdir -m 700 "$run"
    XDG_RUNTIME_DIR="$run" "$bin/hwsign-agent" --softhsm >"$run/ready" 2>/dev/null &
    p=$!
    wait_for grep -q HWSIGN_AUTH_SOCK "$run/ready" || return 1
    HWSIGN_AUTH_SOCK="$run/hwsign/agent.sock" "$bin/hwsign" sign --quiet --force --key "$hw_label" --format sshsig "$tmp/p4/f1.txt"
    kill -TERM "$p"; wait "$p" 2>/dev/null || true
}
cold_ssh() {
    local sock="$tmp/p6ssh.sock" p
    rm -f "$sock" "$tmp/p4/f1.txt.sig"
    ssh-agent -D -a "$sock" -P "$(readlink -f "$module"),$module" >/dev/null 2>&1 &
    p=$!
    wait_for test -S "$sock" || return 1
    SSH_AUTH_SOCK="$sock" SSH_ASKPASS="$tmp/askpass" SSH_ASKPASS_REQUIRE=force DISPLAY=:0 \
        ssh-add -s "$module" </dev/null >/dev/null 2>&1
    SSH_AUTH_SOCK="$sock" ssh-keygen -q -Y sign -f "$tmp/p4/key.pub" -n file "$tmp/p4/f1.txt" 2>/dev/null
    kill -TERM "$p"; wait "$p" 2>/dev/null || true
}
for r in $(seq "$rounds"); do
    for k in $(seq 5); do
        echo "p6 ssh $(secs cold_ssh)" >>"$tmp/p4times"
        echo "p6 hw $(secs cold_hw)" >>"$tmp/p4times"
    done
done

python3 - "$tmp/results" "$rss_idle" "$rss_load" "$rounds" "$n" "$tmp/p4times" "$ssh_rss" <<'PY'
import json, statistics, sys, platform, os, datetime
path, rss_idle, rss_load, rounds, n, p4path, ssh_rss = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5], sys.argv[6], int(sys.argv[7])
res = {}
for line in open(path):
    who, kind, blob = line.split(" ", 2)
    res.setdefault((who, kind), []).append(json.loads(blob))
def med(who, kind, field):
    return statistics.median(r[field] for r in res[(who, kind)])
def spread(who, kind, field):
    v = [r[field] for r in res[(who, kind)]]
    return f"{min(v):.3g}–{max(v):.3g}"
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
print(f"machine: {os.cpu_count()} cores, {cpu}; {datetime.date.today()}; {rounds} rounds, {n} signatures per latency run")
print(f"{'what':<40} {'hwsign':>12} {'ssh-agent':>12} {'ratio':>7}")
h, s = med("hw", "latency", "median_ms"), med("ssh", "latency", "median_ms")
print(f"{'P1 one signature (median ms)':<40} {h:>12.3f} {s:>12.3f} {h/s:>6.2f}x   spread hwsign {spread('hw','latency','median_ms')}, ssh-agent {spread('ssh','latency','median_ms')}")
h, s = med("hw", "concurrent", "sig_per_s"), med("ssh", "concurrent", "sig_per_s")
errs = sum(r["errors"] for r in res[("hw", "concurrent")])
print(f"{'P2 8 concurrent clients (sig/s)':<40} {h:>12.0f} {s:>12.0f} {h/s:>6.2f}x   errors: {errs}")
h, s, h1 = med("hw", "rsa", "sig_per_s"), med("ssh", "rsa", "sig_per_s"), med("hw", "rsa1", "sig_per_s")
errs = sum(r["errors"] for k in ("rsa", "rsa1") for r in res[("hw", k)])
print(f"{'P2 RSA-2048, 8 clients (sig/s)':<40} {h:>12.0f} {s:>12.0f} {h/s:>6.2f}x   errors: {errs}; without side sessions {h1:.0f} sig/s ({h1/s:.2f}x)")
p4 = {}
for line in open(p4path):
    what, who, t = line.split()
    p4.setdefault((what, who), []).append(float(t))
notes = {"p4one": "ssh-keygen -Y sign through ssh-agent", "p4many": "ssh-keygen -Y sign through ssh-agent; a loop", "p6": "ssh-agent + ssh-add -s + ssh-keygen -Y sign"}
for what, label in [("p4one", "P4 one file, SSHSIG (median ms)"), ("p4many", "P4 200 files, SSHSIG (median ms)"), ("p6", "P6 cold start to first signature (ms)")]:
    h, s = statistics.median(p4[(what, "hw")]) * 1000, statistics.median(p4[(what, "ssh")]) * 1000
    print(f"{label:<40} {h:>12.1f} {s:>12.1f} {h/s:>6.2f}x   ({notes[what]})")
print(f"{'agent RSS idle after one signature':<40} {rss_idle/1024:>10.1f} MiB")
print(f"{'agent RSS after the load':<40} {rss_load/1024:>10.1f} MiB {ssh_rss/1024:>10.1f} MiB   (ssh-agent + its PKCS#11 helper after the load)")
PY
