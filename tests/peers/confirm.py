#!/usr/bin/env python3
"""A scripted confirm command (SSH_ASKPASS-compatible) for the tests.

    confirm.py LOG MODE_FILE PROMPT

The agent appends the prompt as the last argument. MODE_FILE holds `approve` or `deny` (read
on every run; a missing file means `approve`). Each run appends one JSON line to LOG,

    {"prompt": ..., "askpass_prompt": <$SSH_ASKPASS_PROMPT or null>, "mode": ..., "argc": N}

and then creates LOG.marker (an event the tests can wait for). Exit 0 = approve, 1 = deny.
"""

import json
import os
import sys


def main():
    if len(sys.argv) < 4:
        sys.stderr.write("usage: confirm.py LOG MODE_FILE PROMPT\n")
        return 2
    log, mode_file, prompt = sys.argv[1], sys.argv[2], sys.argv[-1]
    mode = "approve"
    if os.path.exists(mode_file):
        with open(mode_file, encoding="utf-8") as f:
            mode = f.read().strip() or "approve"
    record = {
        "prompt": prompt,
        "askpass_prompt": os.environ.get("SSH_ASKPASS_PROMPT"),
        "mode": mode,
        "argc": len(sys.argv) - 1,
    }
    with open(log, "a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")
        f.flush()
        os.fsync(f.fileno())
    with open(log + ".marker", "a", encoding="utf-8"):
        pass
    return 0 if mode == "approve" else 1


if __name__ == "__main__":
    sys.exit(main())
