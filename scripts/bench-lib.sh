# Shared by the scripts/bench*.sh scripts (sourced, not run).

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

# Build the release binaries and start `hwsign-agent --softhsm` in a private temporary world:
# sets $bin, $tmp, $agent_pid and exports the XDG variables and HWSIGN_AUTH_SOCK; the EXIT trap
# stops the agent and removes $tmp. start_release_agent
start_release_agent() {
    cargo build --release --bins >&2
    local target
    target="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
    bin="$target/release"
    tmp="$(mktemp -d)"
    agent_pid=""
    trap 'if [[ -n "$agent_pid" ]]; then kill -TERM "$agent_pid" 2>/dev/null && wait "$agent_pid" 2>/dev/null; fi; rm -rf -- "$tmp"' EXIT
    mkdir -m 700 "$tmp/run"
    export XDG_RUNTIME_DIR="$tmp/run" XDG_STATE_HOME="$tmp/state" XDG_CONFIG_HOME="$tmp/config"
    unset SSH_AUTH_SOCK HWSIGN_AUTH_SOCK
    "$bin/hwsign-agent" --softhsm >"$tmp/ready" 2>"$tmp/agent.log" &
    agent_pid=$!
    for _ in $(seq 600); do grep -q HWSIGN_AUTH_SOCK "$tmp/ready" && break; sleep 0.2; done
    export HWSIGN_AUTH_SOCK="$tmp/run/hwsign/agent.sock"
}
