#!/usr/bin/env python3
"""SSH-agent signing benchmark: the same stdlib client against any agent socket.

    bench-agent.py latency SOCK KEY_TYPE N        median / p10 / p90 of one sign round trip (ms)
    bench-agent.py concurrent SOCK KEY_TYPE CLIENTS SECONDS   signatures per second, errors

KEY_TYPE picks the identity by its SSH type (e.g. ecdsa-sha2-nistp256). One long-lived
connection per client; every request is a standard SSH_AGENTC_SIGN_REQUEST over 32 bytes.
Prints one JSON object.
"""
import json
import socket
import statistics
import struct
import sys
import threading
import time


def frame(msg):
    return struct.pack(">I", len(msg)) + msg


def string(b):
    return struct.pack(">I", len(b)) + b


def read_exact(s, n):
    out = b""
    while len(out) < n:
        chunk = s.recv(n - len(out))
        if not chunk:
            raise EOFError("agent closed the connection")
        out += chunk
    return out


def call(s, msg):
    s.sendall(frame(msg))
    (n,) = struct.unpack(">I", read_exact(s, 4))
    return read_exact(s, n)


def key_blob(sock, key_type):
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(sock)
        reply = call(s, b"\x0b")
        assert reply[0] == 12, reply[:1]
        (count,) = struct.unpack(">I", reply[1:5])
        off = 5
        for _ in range(count):
            (n,) = struct.unpack(">I", reply[off : off + 4])
            blob = reply[off + 4 : off + 4 + n]
            off += 4 + n
            (c,) = struct.unpack(">I", reply[off : off + 4])
            off += 4 + c
            (t,) = struct.unpack(">I", blob[:4])
            if blob[4 : 4 + t].decode() == key_type:
                return blob
    raise SystemExit(f"no {key_type} key on {sock}")


def sign_request(blob, i):
    data = struct.pack(">Q", i) * 4
    # RSA keys: rsa-sha2-256 (flag 2); SHA-1 signatures are refused.
    flags = 2 if blob[4:11] == b"ssh-rsa" else 0
    return b"\x0d" + string(blob) + string(data) + struct.pack(">I", flags)


def latency(sock, key_type, n):
    blob = key_blob(sock, key_type)
    times = []
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(sock)
        for i in range(n + 5):
            t = time.perf_counter()
            reply = call(s, sign_request(blob, i))
            dt = time.perf_counter() - t
            assert reply[0] == 14, f"sign failed: {reply[:1]}"
            if i >= 5:
                times.append(dt * 1000)
    times.sort()
    return {
        "median_ms": statistics.median(times),
        "p10_ms": times[len(times) // 10],
        "p90_ms": times[len(times) * 9 // 10],
        "n": n,
    }


def concurrent(sock, key_type, clients, seconds):
    blob = key_blob(sock, key_type)
    counts = [0] * clients
    errors = [0] * clients
    stop = time.monotonic() + seconds
    barrier = threading.Barrier(clients)

    def run(k):
        with socket.socket(socket.AF_UNIX) as s:
            s.connect(sock)
            barrier.wait()
            i = 0
            while time.monotonic() < stop:
                try:
                    reply = call(s, sign_request(blob, i))
                except (OSError, EOFError):
                    errors[k] += 1
                    return
                if reply[0] == 14:
                    counts[k] += 1
                else:
                    errors[k] += 1
                i += 1

    threads = [threading.Thread(target=run, args=(k,)) for k in range(clients)]
    t = time.monotonic()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    elapsed = time.monotonic() - t
    return {"sig_per_s": sum(counts) / elapsed, "errors": sum(errors), "clients": clients}


if __name__ == "__main__":
    mode, sock, key_type = sys.argv[1:4]
    if mode == "latency":
        print(json.dumps(latency(sock, key_type, int(sys.argv[4]))))
    else:
        print(json.dumps(concurrent(sock, key_type, int(sys.argv[4]), float(sys.argv[5]))))
