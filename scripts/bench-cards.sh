#!/usr/bin/env bash
# Card latency, side by side with the peers, as ratios (never asserted in tests): one raw
# P-256 signature on the virtual YubiKey (tools/vcard behind vpcd, a private pcscd) through
#   1. hwsign: `hwsign sign --format raw` through the agent (PC/SC backend, card kept open)
#   2. pkcs11-tool with ykcs11 (loads the module and finds the card in every run)
#   3. pkcs11-tool with OpenSC's module (the same, plus OpenSC's card detection)
# and a key listing (hwsign keys, which lists afresh: the 24 PIV slots and the SoftHSM token,
# vs pkcs11-tool --list-objects through each module). Medians over N runs. The virtual card
# answers an APDU in well under a millisecond (a YubiKey takes a few): the ratios show what
# each path costs in round trips and start-up, not a YubiKey's absolute speed.
#
#   scripts/bench-cards.sh [RUNS (default 10)]
#   HWSIGN_BENCH_BIN=DIR HWSIGN_BENCH_VCARD=FILE scripts/bench-cards.sh   (prebuilt binaries)
set -euo pipefail
cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.."

runs="${1:-10}"
target="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
if [[ -z "${HWSIGN_BENCH_BIN:-}" ]]; then
    cargo build --release --bins >&2
fi
bin="${HWSIGN_BENCH_BIN:-$target/release}"
if [[ -z "${HWSIGN_BENCH_VCARD:-}" ]]; then
    cargo build -p hwsign-vcard >&2
fi
vcard="${HWSIGN_BENCH_VCARD:-$target/debug/hwsign-vcard}"
ykcs11=/usr/lib/x86_64-linux-gnu/libykcs11.so
opensc=/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so
mgm=010203040506070801020304050607080102030405060708

tmp="$(mktemp -d /tmp/hwsign-bench.XXXXXX)"
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf -- "$tmp"
}
trap cleanup EXIT

# A private pcscd with one vpcd reader (port 36100 + random), USB drivers hidden when possible.
port=$((36100 + RANDOM % 2000))
mkdir -p "$tmp/reader.conf.d" "$tmp/card/touch"
cp /usr/lib/pcsc/drivers/serial/libifdvpcd.so "$tmp/vpcd.so"
printf 'FRIENDLYNAME "Yubico YubiKey bench"\nDEVICENAME   /dev/null:0x%X\nLIBPATH      %s\nCHANNELID    0x%X\n' \
    "$port" "$tmp/vpcd.so" "$port" >"$tmp/reader.conf.d/vpcd"
export PCSCLITE_CSOCK_NAME="$tmp/pcscd.sock"
printf 'app default {\n\tcard_drivers = PIV-II, default;\n}\n' >"$tmp/opensc.conf"
export OPENSC_CONF="$tmp/opensc.conf"
pcscd_cmd=(systemd-socket-activate -l "$PCSCLITE_CSOCK_NAME" /usr/sbin/pcscd --foreground --config "$tmp/reader.conf.d")
if unshare --mount true 2>/dev/null; then
    unshare --mount --propagation private sh -c \
        'mount -t tmpfs -o ro,size=4k hwsign-no-usb-drivers /usr/lib/pcsc/drivers && exec "$@"' sh \
        "${pcscd_cmd[@]}" >"$tmp/pcscd.log" 2>&1 &
else
    "${pcscd_cmd[@]}" >"$tmp/pcscd.log" 2>&1 &
fi
pids+=($!)
for _ in $(seq 50); do [[ -S "$PCSCLITE_CSOCK_NAME" ]] && break; sleep 0.1; done
opensc-tool -l >/dev/null 2>&1 || true   # the first client starts pcscd
"$vcard" --kind piv --port "$port" --serial 31000000 --touch-dir "$tmp/card/touch" \
    --state "$tmp/card/state" >/dev/null 2>"$tmp/card/vcard.log" &
pids+=($!)
reader="Yubico YubiKey bench 00 00"
for _ in $(seq 100); do opensc-tool -l 2>/dev/null | grep -q "Yes .*$reader" && break; sleep 0.2; done

# A P-256 key in 9a, PIN policy once, with a certificate (ykcs11 and OpenSC want one).
yubico-piv-tool -r "$reader" --key="$mgm" -a generate -s 9a -A ECCP256 --pin-policy=once -o "$tmp/9a.pem" >&2
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$tmp/ca.key" 2>/dev/null
openssl x509 -new -subj "/CN=hwsign bench/" -days 30 -key "$tmp/ca.key" -force_pubkey "$tmp/9a.pem" -out "$tmp/9a.crt"
yubico-piv-tool -r "$reader" --key="$mgm" -a import-certificate -s 9a -i "$tmp/9a.crt" >&2

# The agent (PC/SC on, the card's PIN from a file).
mkdir -m 700 "$tmp/run"
export XDG_RUNTIME_DIR="$tmp/run" XDG_STATE_HOME="$tmp/state" XDG_CONFIG_HOME="$tmp/config"
unset SSH_AUTH_SOCK HWSIGN_AUTH_SOCK
mkdir -p "$tmp/config/hwsign"
echo 123456 >"$tmp/pin" && chmod 600 "$tmp/pin"
printf 'pcsc = true\n[[card]]\nserial = 31000000\npin_file = "%s"\n' "$tmp/pin" >"$tmp/config/hwsign/config.toml"
"$bin/hwsign-agent" --softhsm >"$tmp/ready" 2>"$tmp/agent.log" &
pids+=($!)
for _ in $(seq 600); do grep -q HWSIGN_AUTH_SOCK "$tmp/ready" && break; sleep 0.2; done
export HWSIGN_AUTH_SOCK="$tmp/run/hwsign/agent.sock"
for _ in $(seq 300); do "$bin/hwsign" keys 2>/dev/null | grep -q piv-31000000-9a && break; sleep 0.2; done

. scripts/bench-lib.sh   # median

echo "release" >"$tmp/small.txt"
openssl dgst -sha256 -binary "$tmp/small.txt" >"$tmp/small.sha256"
echo "== one P-256 signature on the virtual YubiKey, median of $runs"
t_hw="$(median "$runs" "$bin/hwsign" sign --key piv-31000000-9a --format raw --force "$tmp/small.txt")"
t_yk="$(median "$runs" pkcs11-tool --module "$ykcs11" --login --pin 123456 --sign --mechanism ECDSA --id 01 --input-file "$tmp/small.sha256" --output-file "$tmp/yk.sig")"
t_sc="$(median "$runs" pkcs11-tool --module "$opensc" --login --pin 123456 --sign --mechanism ECDSA --id 01 --input-file "$tmp/small.sha256" --output-file "$tmp/sc.sig")"
l_hw="$(median "$runs" "$bin/hwsign" keys)"
l_yk="$(median "$runs" pkcs11-tool --module "$ykcs11" --list-objects)"
l_sc="$(median "$runs" pkcs11-tool --module "$opensc" --list-objects)"
python3 - "$t_hw" "$t_yk" "$t_sc" "$l_hw" "$l_yk" "$l_sc" <<'PY'
import sys
h, y, s, lh, ly, ls = map(float, sys.argv[1:])
print(f"hwsign sign --format raw (agent, PC/SC)    {h*1000:9.1f} ms")
print(f"pkcs11-tool --sign, ykcs11                 {y*1000:9.1f} ms   ratio hwsign / ykcs11: {h/y:.2f}")
print(f"pkcs11-tool --sign, OpenSC                 {s*1000:9.1f} ms   ratio hwsign / OpenSC: {h/s:.2f}")
print(f"hwsign keys (fresh listing, 24 PIV slots)  {lh*1000:9.1f} ms")
print(f"pkcs11-tool --list-objects, ykcs11         {ly*1000:9.1f} ms   ratio hwsign / ykcs11: {lh/ly:.2f}")
print(f"pkcs11-tool --list-objects, OpenSC         {ls*1000:9.1f} ms   ratio hwsign / OpenSC: {lh/ls:.2f}")
PY
