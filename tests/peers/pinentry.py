#!/usr/bin/env python3
"""A scripted pinentry for the tests: speaks the Assuan protocol on stdin/stdout.

What it answers to GETPIN is read from the file named by FAKE_PINENTRY_MODE_FILE on every run
(so a test switches modes without restarting the agent); a missing file means `pin`:

    pin      answer with the first line of the file named by FAKE_PINENTRY_PIN_FILE
    cancel   answer `ERR 83886179 Operation cancelled`
    wrong    answer `000000`

Each run appends one JSON line to FAKE_PINENTRY_LOG (when set), written before GETPIN is
answered, so the line is there before the agent goes on:

    {"mode": ..., "title": ..., "desc": ..., "prompt": ..., "error": ..., "commands": [...]}

`desc`, `error`, `title` and `prompt` are unescaped (%0A is a newline); `error` is null when no
SETERROR came. `commands` lists the command names in the order received. The PIN is never
written to the log.
"""

import json
import os
import sys

CANCELLED = "ERR 83886179 Operation cancelled"


def unescape(s):
    out = bytearray()
    b = s.encode("utf-8")
    i = 0
    while i < len(b):
        if b[i] == 0x25 and i + 2 < len(b) and all(
            c in b"0123456789abcdefABCDEF" for c in b[i + 1 : i + 3]
        ):
            out.append(int(b[i + 1 : i + 3], 16))
            i += 3
            continue
        out.append(b[i])
        i += 1
    return out.decode("utf-8", "replace")


def escape(s):
    return s.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def mode():
    path = os.environ.get("FAKE_PINENTRY_MODE_FILE")
    if not path or not os.path.exists(path):
        return "pin"
    with open(path, encoding="utf-8") as f:
        return f.read().strip() or "pin"


def send(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def log(record):
    path = os.environ.get("FAKE_PINENTRY_LOG")
    if not path:
        return
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")
        f.flush()
        os.fsync(f.fileno())


def main():
    record = {
        "mode": mode(),
        "title": None,
        "desc": None,
        "prompt": None,
        "error": None,
        "commands": [],
    }
    send("OK Pleased to meet you")
    for raw in sys.stdin:
        line = raw.rstrip("\r\n")
        cmd, _, arg = line.partition(" ")
        cmd = cmd.upper()
        record["commands"].append(cmd)
        if cmd in ("SETTITLE", "SETDESC", "SETPROMPT", "SETERROR"):
            record[cmd[3:].lower()] = unescape(arg)
            send("OK")
        elif cmd == "GETPIN":
            log(record)
            m = record["mode"]
            if m == "cancel":
                send(CANCELLED)
            elif m == "wrong":
                send("D 000000")
                send("OK")
            elif m == "pin":
                with open(os.environ["FAKE_PINENTRY_PIN_FILE"], encoding="utf-8") as f:
                    pin = f.read().splitlines()[0]
                send("D " + escape(pin))
                send("OK")
            else:
                send("ERR 83886078 unknown FAKE_PINENTRY mode " + m)
        elif cmd == "BYE":
            send("OK closing connection")
            return 0
        else:
            # OPTION, GETINFO, SETOK, SETCANCEL, SETKEYINFO, ...: accept and ignore.
            send("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
