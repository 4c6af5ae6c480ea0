#!/usr/bin/env python3
"""Verify a DSSE envelope written by `hwsign attest` with securesystemslib.

Used by the integration tests (tests/client/attest.rs, the card, scale and
verify tests) as an independent verifier. Exit status: 0 = the envelope
verifies with the given key, 1 = it does not (the reason is printed on
stderr), 2 = usage error or unusable Python environment.

    verify_dsse.py --envelope E --keyid ID --keytype ecdsa|ed25519|rsa \
                   --scheme S --public-key-pem PEMFILE
"""

import argparse
import json
import sys


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--envelope", required=True)
    parser.add_argument("--keyid", required=True)
    parser.add_argument("--keytype", required=True, choices=["ecdsa", "ed25519", "rsa"])
    parser.add_argument("--scheme", required=True)
    parser.add_argument("--public-key-pem", required=True)
    args = parser.parse_args()

    try:
        import securesystemslib
        from cryptography.hazmat.primitives.serialization import (
            Encoding,
            PublicFormat,
            load_pem_public_key,
        )
        from securesystemslib.dsse import Envelope
        from securesystemslib.signer import SSlibKey
    except ImportError as exc:
        print(f"verify_dsse.py: cannot import securesystemslib/cryptography: {exc}", file=sys.stderr)
        return 2

    # Before 0.28 securesystemslib kept DSSE signatures hex-encoded instead of base64.
    version = getattr(securesystemslib, "__version__", "0")
    try:
        major, minor = (int(part) for part in version.split(".")[:2])
    except ValueError:
        major, minor = 0, 0
    if (major, minor) < (0, 28):
        print(f"verify_dsse.py: securesystemslib {version} is too old (need >= 0.28)", file=sys.stderr)
        return 2

    with open(args.public_key_pem, "rb") as f:
        pem = f.read()
    try:
        public_key = load_pem_public_key(pem)
    except ValueError as exc:
        print(f"verify_dsse.py: bad public key PEM {args.public_key_pem}: {exc}", file=sys.stderr)
        return 2
    if args.keytype == "ed25519":
        public = public_key.public_bytes(Encoding.Raw, PublicFormat.Raw).hex()
    else:
        public = pem.decode("ascii")

    try:
        key = SSlibKey(args.keyid, args.keytype, args.scheme, {"public": public})
        with open(args.envelope, encoding="utf-8") as f:
            envelope = Envelope.from_dict(json.load(f))
        accepted = envelope.verify([key], 1)
    except Exception as exc:  # noqa: BLE001 - any failure means "does not verify"
        print(f"verification failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    if args.keyid not in accepted:
        print(f"verification failed: key {args.keyid} not among accepted keys {sorted(accepted)}", file=sys.stderr)
        return 1
    print(f"OK: {args.envelope} verified with {args.keytype}/{args.scheme} key {args.keyid}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
