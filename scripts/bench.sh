#!/usr/bin/env bash
# Benchmarks, side by side with the peers, reported as ratios (never asserted in tests):
#   1. hashing: `hwsign attest` over a large file vs `openssl dgst -sha256` and `sha256sum`
#   2. latency: one `hwsign sign --format raw` through the agent vs one direct
#      `pkcs11-tool --sign` on the same SoftHSM token (medians over N runs)
#   3. the agent beside ssh-agent (scripts/bench-agent.sh: P1, P2, P4, P6, RSS), with the
#      agent's state on disk, then on tmpfs (no real fsync)
#
#   scripts/bench.sh [SIZE_MIB (default 1024)] [RUNS (default 30)]
set -euo pipefail
cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.."

size_mib="${1:-1024}"
runs="${2:-30}"
. scripts/bench-lib.sh   # median, start_release_agent
start_release_agent


echo "== hashing a ${size_mib} MiB file (median of 3; file in page cache)"
head -c "$((size_mib * 1024 * 1024))" /dev/urandom >"$tmp/big.bin"
cat "$tmp/big.bin" >/dev/null
t_openssl="$(median 3 openssl dgst -sha256 "$tmp/big.bin")"
t_sha256sum="$(median 3 sha256sum "$tmp/big.bin")"
t_attest="$(median 3 "$bin/hwsign" attest --key release-p256 --purl pkg:generic/bench@1 --force -o "$tmp/att.json" "$tmp/big.bin")"
python3 - "$size_mib" "$t_openssl" "$t_sha256sum" "$t_attest" <<'PY'
import sys
mib, o, s, a = float(sys.argv[1]), *map(float, sys.argv[2:])
gb = mib * 1024 * 1024 / 1e9
print(f"openssl dgst -sha256   {o:8.3f} s  {gb/o:6.2f} GB/s")
print(f"sha256sum              {s:8.3f} s  {gb/s:6.2f} GB/s")
print(f"hwsign attest (signed) {a:8.3f} s  {gb/a:6.2f} GB/s   throughput ratio vs openssl: {o/a:.2f}x")
PY

echo "== one signature: hwsign sign --format raw (through the agent) vs pkcs11-tool --sign (direct), median of $runs"
echo "release" >"$tmp/small.txt"
conf="$tmp/state/hwsign/softhsm/softhsm2.conf"
pin="$(head -n1 "$tmp/state/hwsign/softhsm/user.pin")"
openssl dgst -sha256 -binary "$tmp/small.txt" >"$tmp/small.sha256"
# pkcs11-tool 0.23 picks the wrong object by --label for ECDSA here: select the key by CKA_ID.
ckaid="$("$bin/hwsign" keys --json | python3 -c 'import json,sys; print([k["object"] for k in json.load(sys.stdin) if k["label"]=="release-p256"][0].removeprefix("id="))')"
t_hw="$(median "$runs" "$bin/hwsign" sign --key release-p256 --format raw --force "$tmp/small.txt")"
t_p11="$(median "$runs" env SOFTHSM2_CONF="$conf" pkcs11-tool --module /usr/lib/softhsm/libsofthsm2.so --token-label hwsign-test --login --pin "$pin" --sign --mechanism ECDSA --id "$ckaid" --input-file "$tmp/small.sha256" --output-file "$tmp/p11.sig")"
python3 - "$t_hw" "$t_p11" <<'PY'
import sys
h, p = map(float, sys.argv[1:])
print(f"hwsign sign --format raw (agent)   {h*1000:8.2f} ms")
print(f"pkcs11-tool --sign (direct)         {p*1000:8.2f} ms")
print(f"ratio hwsign / pkcs11-tool          {h/p:8.2f}")
PY

# The release agent above is stopped first: bench-agent.sh runs its own agents.
kill -TERM "$agent_pid" 2>/dev/null && wait "$agent_pid" 2>/dev/null || true
agent_pid=""
echo "== the agent beside ssh-agent, state on disk"
HWSIGN_BENCH_BIN="$bin" scripts/bench-agent.sh
echo "== the same, agent state on tmpfs"
HWSIGN_BENCH_BIN="$bin" HWSIGN_BENCH_STATE=/dev/shm scripts/bench-agent.sh
