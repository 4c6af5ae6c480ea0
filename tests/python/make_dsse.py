#!/usr/bin/env python3
"""Make a DSSE envelope with securesystemslib, as another project's release tooling would.

Used by tests/interop/verify.rs as an independent signer: generates an ECDSA P-256 key with
`cryptography`, writes its public key (PEM SubjectPublicKeyInfo), and signs an in-toto
Statement v1 whose subjects are the given files (file name and sha256) with
`securesystemslib.signer.CryptoSigner` through `securesystemslib.dsse.Envelope.sign`. The
signature's keyid is securesystemslib's own default keyid, not hwsign's. Exit status:
0 = written, 2 = usage error or unusable Python environment.

    make_dsse.py --envelope OUT.json --public-key-pem OUT.pem [--purl PURL] FILE...
"""

import argparse
import hashlib
import json
import os
import sys

STATEMENT_V1 = "https://in-toto.io/Statement/v1"
RELEASE_PREDICATE = "https://in-toto.io/attestation/release/v0.1"
PAYLOAD_TYPE = "application/vnd.in-toto+json"


def sha256_file(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--envelope", required=True, help="where to write the envelope")
    parser.add_argument("--public-key-pem", required=True, help="where to write the public key")
    parser.add_argument("--purl", default="pkg:generic/interop@1.0.0")
    parser.add_argument("files", nargs="+")
    args = parser.parse_args()

    try:
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
        from securesystemslib.dsse import Envelope
        from securesystemslib.signer import CryptoSigner, SSlibKey
    except ImportError as exc:
        print(f"make_dsse.py: cannot import securesystemslib/cryptography: {exc}", file=sys.stderr)
        return 2

    private_key = ec.generate_private_key(ec.SECP256R1())
    public_key = SSlibKey.from_crypto(private_key.public_key(), scheme="ecdsa-sha2-nistp256")
    signer = CryptoSigner(private_key, public_key)

    statement = {
        "_type": STATEMENT_V1,
        "subject": [
            {"name": os.path.basename(path), "digest": {"sha256": sha256_file(path)}}
            for path in args.files
        ],
        "predicateType": RELEASE_PREDICATE,
        "predicate": {"purl": args.purl},
    }
    payload = json.dumps(statement, separators=(",", ":")).encode("utf-8")
    envelope = Envelope(payload, PAYLOAD_TYPE, {})
    envelope.sign(signer)
    # Check our own work before handing it over.
    envelope.verify([public_key], 1)

    pem = private_key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    with open(args.public_key_pem, "wb") as f:
        f.write(pem)
    with open(args.envelope, "w", encoding="utf-8") as f:
        json.dump(envelope.to_dict(), f, indent=2)
        f.write("\n")
    print(f"wrote {args.envelope} (keyid {public_key.keyid}) and {args.public_key_pem}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
