# Shared by scripts/bench.sh and scripts/bench-cards.sh (sourced, not run).

# Seconds (float) a command takes, the median of N runs: median N COMMAND [ARGS...]
median() {
    local n="$1"; shift
    python3 - "$n" "$@" <<'PY'
import subprocess, sys, time, statistics
n = int(sys.argv[1]); cmd = sys.argv[2:]
t = []
for _ in range(n):
    s = time.perf_counter(); subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL); t.append(time.perf_counter() - s)
print(f"{statistics.median(t):.6f}")
PY
}
