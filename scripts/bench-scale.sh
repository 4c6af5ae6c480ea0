#!/usr/bin/env bash
# Benchmarks of large releases (issue 14), reported as figures (never asserted in tests):
#   1. `hwsign attest` over N small files (default 20,000 x 4 KiB) vs `sha256sum` over the same
#      files in one process (ratio: goal <= 1.0x)
#   2. `hwsign attest` of M subjects (default 100,000, names of 255 bytes in nested
#      directories): wall time, statement size, and peak RSS of the client (/usr/bin/time -v)
#      and growth of the agent's peak RSS (VmHWM in /proc/PID/status, before and after)
#
#   scripts/bench-scale.sh [N (default 20000)] [M (default 100000)]
set -euo pipefail
cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.."

n_small="${1:-20000}"
n_big="${2:-100000}"
. scripts/bench-lib.sh   # median, start_release_agent
start_release_agent


hwm() { awk '/^VmHWM:/ {print $2}' "/proc/$agent_pid/status"; }   # kB
rss() { awk '/^VmRSS:/ {print $2}' "/proc/$agent_pid/status"; }   # kB

echo "== $(uname -srm), $(nproc) CPUs, $(date -u +%Y-%m-%d)"
echo "== 1. attest ${n_small} x 4 KiB files vs sha256sum (median of 3; files in page cache)"
python3 - "$tmp/small" "$n_small" <<'PY'
import os, sys
root, n = sys.argv[1], int(sys.argv[2])
names = []
for i in range(n):
    d = os.path.join(root, f"d{i % 100:02}")
    if i < 100: os.makedirs(d, exist_ok=True)
    p = os.path.join(d, f"f{i:06}.bin")
    with open(p, "wb") as f: f.write(os.urandom(4096))
    names.append(p)
open(root + ".list", "w").write("\n".join(names) + "\n")
PY
xargs -a "$tmp/small.list" cat >/dev/null
# sha256sum over every file in one process (xargs would split; read the list in one go).
t_sum="$(median 3 sh -c "xargs -a '$tmp/small.list' -s 2000000 sha256sum >/dev/null")"
t_att="$(median 3 "$bin/hwsign" attest --key release-p256 --purl pkg:generic/bench@1 --force -o "$tmp/small.json" --files-from "$tmp/small.list")"
python3 - "$n_small" "$t_sum" "$t_att" <<'PY'
import sys
n, s, a = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
print(f"sha256sum {s:.3f} s, hwsign attest {a:.3f} s: {a / s:.2f}x ({n} files)")
PY

echo "== 2. attest ${n_big} subjects with 255-byte names in nested directories"
python3 - "$tmp/big" "$n_big" <<'PY'
import os, sys
root, n = sys.argv[1], int(sys.argv[2])
names = []
for i in range(n):
    d = os.path.join(root, f"d{i % 1000:03}")
    if i < 1000: os.makedirs(d, exist_ok=True)
    base = f"{i:07}-"
    p = os.path.join(d, base + "n" * (255 - len(base)))
    with open(p, "w") as f: f.write(str(i))
    names.append(p)
open(root + ".list", "w").write("\n".join(names) + "\n")
PY
# The agent's baseline: after one small signature (PIN cached, token session open).
"$bin/hwsign" attest --key release-p256 --purl pkg:generic/bench@1 --force -o "$tmp/one.json" "$tmp/small/d00/f000000.bin" 2>/dev/null
before_hwm="$(hwm)"; before_rss="$(rss)"
/usr/bin/time -v "$bin/hwsign" attest --key release-p256 --purl pkg:generic/bench@1 --force \
    -o "$tmp/big.json" --files-from "$tmp/big.list" 2>"$tmp/time.txt" || { cat "$tmp/time.txt"; exit 1; }
after_hwm="$(hwm)"
/usr/bin/time -v "$bin/hwsign" attest --key release-p256 --purl pkg:generic/bench@1 --force \
    -o "$tmp/one.json" "$tmp/small/d00/f000000.bin" 2>"$tmp/time1.txt"
python3 - "$tmp/big.json" "$tmp/time.txt" "$tmp/time1.txt" "$before_rss" "$before_hwm" "$after_hwm" <<'PY'
import base64, json, re, sys
env, timef, time1f = sys.argv[1:4]
before_rss, before_hwm, after_hwm = map(int, sys.argv[4:7])
payload = len(base64.b64decode(json.load(open(env))["payload"]))
def field(path, name):
    return re.search(name + r".*?: (.*)", open(path).read()).group(1).strip()
wall = field(timef, "Elapsed \\(wall clock\\) time")
client = int(field(timef, "Maximum resident set size"))
client1 = int(field(time1f, "Maximum resident set size"))
mb = lambda kb: kb / 1024
grow_agent = max(after_hwm, before_rss) - before_rss
print(f"statement {payload / 2**20:.1f} MiB; wall {wall}")
print(f"client peak RSS {mb(client):.1f} MiB (one-file run {mb(client1):.1f} MiB): growth {mb(client - client1):.1f} MiB = {(client - client1) * 1024 / payload:.2f}x the statement")
print(f"agent peak RSS {mb(before_hwm):.1f} -> {mb(after_hwm):.1f} MiB (resident before {mb(before_rss):.1f} MiB): growth {mb(grow_agent):.1f} MiB = {grow_agent * 1024 / payload:.2f}x the request")
PY
