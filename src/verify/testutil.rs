//! Test fixtures shared by the verify tests: keys from fixed seeds, policies, DSSE envelopes
//! and signature files made in the test.

use std::path::{Path, PathBuf};

use base64::Engine;
use p256::ecdsa::signature::Signer;

use super::engine::VerifyInput;
use super::policy::Policy;
use crate::crypto::pubkey::{PublicKey, hex};
use crate::crypto::scheme::HashAlg;
use crate::format::dsse::{Envelope, EnvelopeSignature, pae};
use crate::format::statement::{PAYLOAD_TYPE, Statement, Subject};

/// A fixed time for the tests: 2026-03-01T00:00:00Z.
pub const NOW: u64 = 1_772_323_200;

enum Secret {
    P256(p256::ecdsa::SigningKey),
    Ed25519(ed25519_dalek::SigningKey),
}

/// A key pair made from a fixed seed.
pub struct TestKey {
    /// The policy signer name it is given.
    pub name: String,
    secret: Secret,
    /// Its public half.
    pub public: PublicKey,
}

impl TestKey {
    /// A P-256 key from `[seed; 32]`.
    pub fn p256(name: &str, seed: u8) -> Self {
        let sk = p256::ecdsa::SigningKey::from_slice(&[seed; 32]).unwrap();
        let public = PublicKey::P256(p256::PublicKey::from(sk.verifying_key()));
        TestKey {
            name: name.into(),
            secret: Secret::P256(sk),
            public,
        }
    }

    /// An Ed25519 key from `[seed; 32]`.
    pub fn ed25519(name: &str, seed: u8) -> Self {
        let sk = ed25519_dalek::SigningKey::from_bytes(&[seed; 32]);
        let public = PublicKey::Ed25519(sk.verifying_key());
        TestKey {
            name: name.into(),
            secret: Secret::Ed25519(sk),
            public,
        }
    }

    /// The canonical signature over `msg` (P-256: SHA-256 and DER; Ed25519: PureEdDSA), which
    /// is also the raw signature of a file with these contents.
    pub fn sign(&self, msg: &[u8]) -> Vec<u8> {
        match &self.secret {
            Secret::P256(sk) => {
                let sig: p256::ecdsa::Signature = sk.sign(msg);
                sig.to_der().as_bytes().to_vec()
            }
            Secret::Ed25519(sk) => sk.sign(msg).to_bytes().to_vec(),
        }
    }

    /// An armored SSHSIG over `data` made through hwsign's own format code.
    pub fn sshsig(&self, namespace: &str, data: &[u8]) -> String {
        let blob =
            crate::format::sshsig::signed_data(namespace, &HashAlg::Sha512.digest(data)).unwrap();
        let scheme = crate::format::sshsig::scheme_for(self.public.algorithm());
        crate::format::sshsig::armor(&self.public, namespace, scheme, &self.sign(&blob)).unwrap()
    }

    /// A `[[signer]]` table for this key.
    pub fn signer_toml(&self) -> String {
        format!(
            "[[signer]]\nname = \"{}\"\nkey = \"{}\"\n",
            self.name,
            self.public.ssh_line(&self.name)
        )
    }
}

/// A policy from TOML text (key files relative to `dir`).
pub fn policy_in(dir: &Path, text: &str) -> Policy {
    Policy::from_toml(text, dir, "test-policy.toml").unwrap()
}

/// A policy from TOML text.
pub fn policy(text: &str) -> Policy {
    policy_in(Path::new("."), text)
}

/// Files with these names and contents in a fresh directory.
pub fn files(files: &[(&str, &[u8])]) -> (tempfile::TempDir, Vec<PathBuf>) {
    let dir = tempfile::tempdir().unwrap();
    let paths = files
        .iter()
        .map(|(name, data)| {
            let p = dir.path().join(name);
            std::fs::write(&p, data).unwrap();
            p
        })
        .collect();
    (dir, paths)
}

/// An in-toto release statement over `subjects` (name, contents), as payload bytes.
pub fn statement(subjects: &[(&str, &[u8])]) -> Vec<u8> {
    let subject = subjects
        .iter()
        .map(|(n, d)| Subject::sha256(*n, hex(&HashAlg::Sha256.digest(d))))
        .collect();
    serde_json::to_vec(&Statement::release(subject, "pkg:generic/mypkg@1.0")).unwrap()
}

/// A DSSE envelope over `payload` of `payload_type`, signed by every key in `keys`.
pub fn envelope_of(payload_type: &str, payload: &[u8], keys: &[&TestKey]) -> Envelope {
    let b64 = base64::engine::general_purpose::STANDARD;
    Envelope {
        payload: b64.encode(payload),
        payload_type: payload_type.into(),
        signatures: keys
            .iter()
            .map(|k| EnvelopeSignature {
                keyid: k.public.key_id(),
                sig: b64.encode(k.sign(&pae(payload_type, payload))),
            })
            .collect(),
    }
}

/// A release envelope over `subjects`, signed by `keys`.
pub fn envelope(subjects: &[(&str, &[u8])], keys: &[&TestKey]) -> Envelope {
    envelope_of(PAYLOAD_TYPE, &statement(subjects), keys)
}

/// The wheel of the fixture release.
pub const WHL: &[u8] = b"wheel bytes";
/// The sdist of the fixture release.
pub const SDIST: &[u8] = b"sdist bytes";

/// A release of two files in a temporary directory and three signers' keys.
pub struct Fixture {
    /// The directory.
    pub dir: tempfile::TempDir,
    /// The wheel and the sdist.
    pub artifacts: Vec<PathBuf>,
    /// P-256.
    pub alice: TestKey,
    /// Ed25519.
    pub bob: TestKey,
    /// P-256.
    pub carol: TestKey,
}

/// Three signers' keys and two artifacts in a temporary directory.
pub fn fixture() -> Fixture {
    let (dir, artifacts) = files(&[("mypkg-1.0.whl", WHL), ("mypkg-1.0.tar.gz", SDIST)]);
    Fixture {
        dir,
        artifacts,
        alice: TestKey::p256("alice", 1),
        bob: TestKey::ed25519("bob", 2),
        carol: TestKey::p256("carol", 3),
    }
}

impl Fixture {
    /// A policy with the three signers (plus `alice_extra` in alice's table) and `rules`.
    pub fn policy(&self, alice_extra: &str, rules: &str) -> Policy {
        let text = format!(
            "{}{alice_extra}\n{}{}{rules}",
            self.alice.signer_toml(),
            self.bob.signer_toml(),
            self.carol.signer_toml()
        );
        policy_in(self.dir.path(), &text)
    }

    /// A rule `release` over `mypkg-*` that alice alone satisfies.
    pub fn one_of_alice(&self) -> Policy {
        self.policy(
            "",
            "[[rule]]\nname = \"release\"\nartifacts = [\"mypkg-*\"]\nsigners = [\"alice\"]\n",
        )
    }

    /// Write a file into the directory.
    pub fn write(&self, name: &str, contents: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::write(&p, contents).unwrap();
        p
    }

    /// Write `env` as the envelope to verify with.
    pub fn envelope_file(&self, env: &Envelope) -> VerifyInput {
        VerifyInput::Envelope(self.write("release.intoto.json", &env.to_json().unwrap()))
    }

    /// The release envelope signed by `keys`.
    pub fn release(&self, keys: &[&TestKey]) -> Envelope {
        envelope(&[("mypkg-1.0.whl", WHL), ("mypkg-1.0.tar.gz", SDIST)], keys)
    }
}
