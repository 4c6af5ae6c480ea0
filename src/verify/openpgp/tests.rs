//! OpenPGP certificates and signatures made in the test with sequoia (keys from fixed seeds, so
//! the same keys also make DSSE, SSHSIG and raw signatures through the shared fixtures): the
//! signature policy, text mode and binary files, the time rule, and a certificate's
//! revocations and expiry reaching every format.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use openpgp::crypto::KeyPair;
use openpgp::packet::key::{Key4, PrimaryRole, SecretParts, SubordinateRole};
use openpgp::packet::signature::SignatureBuilder;
use openpgp::packet::signature::subpacket::{
    NotationDataFlags, Subpacket, SubpacketTag, SubpacketValue,
};
use openpgp::packet::{Key, UserID};
use openpgp::serialize::{Serialize as _, SerializeInto};
use openpgp::types::{HashAlgorithm, KeyFlags, ReasonForRevocation};

use super::*;
use crate::verify::engine::{VerifyInput, verify as run_engine};
use crate::verify::policy::OpenpgpTime;
use crate::verify::report::ArtifactVerdict;
use crate::verify::testutil::{NOW, TestKey, envelope, files, policy_in};

const DAY: u64 = 86_400;
const DATA: &[u8] = b"release bytes\n";

fn at(unix: u64) -> SystemTime {
    system_time(unix)
}

/// A certificate whose primary key is the Ed25519 key of seed `seed` (as [`TestKey::ed25519`]),
/// created at `created`, optionally expiring `expires` seconds later, optionally with a signing
/// subkey from `sub_seed`.
struct TestCert {
    cert: Cert,
    primary: KeyPair,
    sub: Option<KeyPair>,
}

fn test_cert(seed: u8, created: u64, expires: Option<u64>, sub_seed: Option<u8>) -> TestCert {
    let pk: Key<SecretParts, PrimaryRole> = Key4::import_secret_ed25519(&[seed; 32], at(created))
        .unwrap()
        .into();
    let mut primary = pk.clone().into_keypair().unwrap();
    let public = pk.parts_as_public().clone();
    let uid = UserID::from(format!("signer {seed} <s{seed}@example.org>"));
    let binding = SignatureBuilder::new(SignatureType::PositiveCertification)
        .set_signature_creation_time(at(created))
        .unwrap()
        .set_key_flags(KeyFlags::empty().set_certification().set_signing())
        .unwrap()
        .set_key_validity_period(expires.map(Duration::from_secs))
        .unwrap()
        .sign_userid_binding(&mut primary, Some(&public), &uid)
        .unwrap();
    let mut packets: Vec<Packet> = vec![public.clone().into(), uid.into(), binding.into()];
    let mut sub = None;
    if let Some(s) = sub_seed {
        let sk: Key<SecretParts, SubordinateRole> =
            Key4::import_secret_ed25519(&[s; 32], at(created))
                .unwrap()
                .into();
        let mut sub_pair = sk.clone().into_keypair().unwrap();
        let sub_public = sk.parts_as_public().clone();
        let backsig = SignatureBuilder::new(SignatureType::PrimaryKeyBinding)
            .set_signature_creation_time(at(created))
            .unwrap()
            .sign_primary_key_binding(&mut sub_pair, &public, &sub_public)
            .unwrap();
        let sub_binding = SignatureBuilder::new(SignatureType::SubkeyBinding)
            .set_signature_creation_time(at(created))
            .unwrap()
            .set_key_flags(KeyFlags::empty().set_signing())
            .unwrap()
            .set_embedded_signature(backsig)
            .unwrap()
            .sign_subkey_binding(&mut primary, Some(&public), &sub_public)
            .unwrap();
        packets.push(sub_public.into());
        packets.push(sub_binding.into());
        sub = Some(sub_pair);
    }
    TestCert {
        cert: Cert::from_packets(packets.into_iter()).unwrap(),
        primary,
        sub,
    }
}

impl TestCert {
    /// The certificate with a key revocation made at `when`.
    fn revoked(mut self, reason: ReasonForRevocation, when: u64) -> Self {
        let public = self.cert.primary_key().key().clone();
        let rev = SignatureBuilder::new(SignatureType::KeyRevocation)
            .set_signature_creation_time(at(when))
            .unwrap()
            .set_reason_for_revocation(reason, b"test revocation")
            .unwrap()
            .sign_direct_key(&mut self.primary, Some(&public))
            .unwrap();
        self.cert = self.cert.insert_packets(Some(rev)).unwrap().0;
        self
    }

    fn armored(&self) -> String {
        String::from_utf8(self.cert.armored().to_vec().unwrap()).unwrap()
    }
}

/// A detached signature over `data` by `signer`, from `builder` (creation time and the
/// rest set by the caller), armored.
fn detached(signer: &mut KeyPair, builder: SignatureBuilder, data: &[u8]) -> String {
    let sig = builder
        .set_issuer_fingerprint(signer.public().fingerprint())
        .unwrap()
        .sign_message(signer, data)
        .unwrap();
    let mut w = openpgp::armor::Writer::new(Vec::new(), openpgp::armor::Kind::Signature).unwrap();
    Packet::from(sig).serialize(&mut w).unwrap();
    String::from_utf8(w.finalize().unwrap()).unwrap()
}

fn binary_sig(when: u64) -> SignatureBuilder {
    SignatureBuilder::new(SignatureType::Binary)
        .set_signature_creation_time(at(when))
        .unwrap()
}

/// A release directory with `x.tar.gz` (holding [`DATA`]) and the certificates as files.
struct Rig {
    dir: tempfile::TempDir,
    artifact: PathBuf,
}

fn rig() -> Rig {
    let (dir, paths) = files(&[("x.tar.gz", DATA)]);
    Rig {
        dir,
        artifact: paths[0].clone(),
    }
}

impl Rig {
    fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::write(&p, contents).unwrap();
        p
    }

    /// A policy with signer `bob` given by `cert` (and `extra` lines in its table), a rule
    /// over everything, and `top` lines before the tables.
    fn policy(&self, cert: &TestCert, extra: &str, top: &str) -> Policy {
        self.write("bob.asc", cert.armored());
        policy_in(
            self.dir.path(),
            &format!(
                "{top}\n[[signer]]\nname = \"bob\"\nopenpgp_cert = \"bob.asc\"\n{extra}\n\
                 [[rule]]\nname = \"all\"\nartifacts = [\"*\"]\nsigners = [\"bob\"]\n"
            ),
        )
    }

    fn verify_sig(&self, p: &Policy, name: &str, sig: impl AsRef<[u8]>) -> ArtifactVerdict {
        let s = self.write(name, sig);
        run_engine(
            p,
            VerifyInput::Signatures(vec![s]),
            std::slice::from_ref(&self.artifact),
            NOW,
        )
        .remove(0)
    }
}

fn assert_rejected(v: &ArtifactVerdict, want: &str) {
    assert!(!v.verified, "verified, expected {want:?}: {v:?}");
    assert!(
        v.rejected.iter().any(|r| r.contains(want)),
        "no reason contains {want:?}: {v:?}"
    );
}

/// Item 2: sequoia's standard policy and the clock-skew rule apply to the signature itself.
#[test]
fn signature_policy_hashes_critical_subpackets_expiry_and_future() {
    let r = rig();
    let mut c = test_cert(2, NOW - 30 * DAY, None, None);
    let p = r.policy(&c, "", "");
    let good = detached(&mut c.primary, binary_sig(NOW - DAY), DATA);
    let v = r.verify_sig(&p, "x.tar.gz.asc", &good);
    assert!(v.verified, "{v:?}");

    let sha1 = binary_sig(NOW - DAY).set_hash_algo(HashAlgorithm::SHA1);
    let v = r.verify_sig(&p, "x.tar.gz.asc", detached(&mut c.primary, sha1, DATA));
    assert_rejected(&v, "refused by the OpenPGP policy");
    assert_rejected(&v, "SHA1");

    let notation = binary_sig(NOW - DAY)
        .add_notation(
            "danger@example.org",
            "yes",
            NotationDataFlags::empty().set_human_readable(),
            true,
        )
        .unwrap();
    let v = r.verify_sig(&p, "x.tar.gz.asc", detached(&mut c.primary, notation, DATA));
    assert_rejected(&v, "Critical notation \"danger@example.org\"");

    let unknown = binary_sig(NOW - DAY)
        .modify_hashed_area(|mut a| {
            a.add(Subpacket::new(
                SubpacketValue::Unknown {
                    tag: SubpacketTag::Unknown(100),
                    body: b"?".to_vec(),
                },
                true,
            )?)?;
            Ok(a)
        })
        .unwrap();
    let v = r.verify_sig(&p, "x.tar.gz.asc", detached(&mut c.primary, unknown, DATA));
    assert_rejected(&v, "critical signature subpacket");

    let expired = binary_sig(NOW - 2 * DAY)
        .set_signature_validity_period(Duration::from_secs(DAY))
        .unwrap();
    let v = r.verify_sig(&p, "x.tar.gz.asc", detached(&mut c.primary, expired, DATA));
    assert_rejected(&v, "the signature expired 2026-02-28T00:00:00Z");

    // Within the clock skew: accepted; beyond it: refused.
    let skewed = binary_sig(NOW + CLOCK_SKEW - 1);
    let v = r.verify_sig(&p, "x.tar.gz.asc", detached(&mut c.primary, skewed, DATA));
    assert!(v.verified, "{v:?}");
    let future = binary_sig(NOW + CLOCK_SKEW + 1);
    let v = r.verify_sig(&p, "x.tar.gz.asc", detached(&mut c.primary, future, DATA));
    assert_rejected(&v, "in the future");
}

/// Item 2: text signatures (type 0x01) hash line endings as CRLF, whatever the file has;
/// binary (non-armored) signature files are read.
#[test]
fn text_mode_and_binary_signature_files() {
    let r = rig();
    let mut c = test_cert(2, NOW - 30 * DAY, None, None);
    let p = r.policy(&c, "", "");
    // A text signature over the canonical form, made with sequoia's own hashing of the
    // CRLF text: it verifies over LF, CRLF and CR files of the same lines.
    let canonical = b"line one\r\nline two\r\n";
    let text = SignatureBuilder::new(SignatureType::Text)
        .set_signature_creation_time(at(NOW - DAY))
        .unwrap();
    let armored = detached(&mut c.primary, text, canonical);
    for (content, ok) in [
        (&b"line one\nline two\n"[..], true),
        (b"line one\r\nline two\r\n", true),
        (b"line one\rline two\r", true),
        (b"line one\nline two", false),
        (b"line one\n\nline two\n", false),
    ] {
        std::fs::write(&r.artifact, content).unwrap();
        let v = r.verify_sig(&p, "x.tar.gz.asc", &armored);
        assert_eq!(v.verified, ok, "{content:?}: {v:?}");
    }
    // The same bytes hashed in chunks that split a CRLF give the same hash.
    let sig = parse_signature(armored.as_bytes()).unwrap();
    let mut one = SignatureHasher::new(&sig).unwrap();
    one.update(b"a\r\nb\n");
    let mut split = SignatureHasher::new(&sig).unwrap();
    split.update(b"a\r");
    split.update(b"\nb\n");
    assert_eq!(
        one.finish().into_digest().unwrap(),
        split.finish().into_digest().unwrap()
    );

    // A binary signature file (gpg --detach-sign without --armor), named FILE.sig.
    std::fs::write(&r.artifact, DATA).unwrap();
    let bin = binary_sig(NOW - DAY)
        .set_issuer_fingerprint(c.primary.public().fingerprint())
        .unwrap()
        .sign_message(&mut c.primary, DATA)
        .unwrap();
    let bytes = Packet::from(bin).to_vec().unwrap();
    assert!(is_binary_packet(&bytes));
    let v = r.verify_sig(&p, "x.tar.gz.sig", &bytes);
    assert!(v.verified, "{v:?}");
}

/// Items 1 and 3: a certificate's revocations and expiry reach DSSE, bundles, SSHSIG and raw
/// signatures (judged at the verification time) as well as OpenPGP signatures (judged at
/// their time).
#[test]
fn certificate_revocation_and_expiry_reach_every_format() {
    let r = rig();
    let bob = TestKey::ed25519("bob", 2);
    let env = envelope(&[("x.tar.gz", DATA)], &[&bob]);
    let dsse = r.write("x.intoto.json", env.to_json().unwrap());
    let bundle = r.write(
        "x.sigstore.json",
        crate::format::bundle::to_json(&env).unwrap(),
    );
    let sshsig = bob.sshsig("file", DATA);
    let raw = crate::format::raw::encode(&bob.sign(DATA));
    let check = |p: &Policy, want: Option<&str>| {
        for input in [
            VerifyInput::Envelope(dsse.clone()),
            VerifyInput::Envelope(bundle.clone()),
            VerifyInput::Signatures(vec![r.write("x.tar.gz.sig", &sshsig)]),
            VerifyInput::Signatures(vec![r.write("x.tar.gz.rawsig", &raw)]),
        ] {
            let shown = format!("{input:?}");
            let v = run_engine(p, input, std::slice::from_ref(&r.artifact), NOW).remove(0);
            match want {
                None => assert!(v.verified, "{shown}: {v:?}"),
                Some(w) => {
                    assert!(!v.verified, "{shown} verified, expected {w:?}");
                    assert!(v.rejected.iter().any(|x| x.contains(w)), "{shown}: {v:?}");
                }
            }
        }
    };
    let fresh = test_cert(2, NOW - 30 * DAY, None, None);
    check(&r.policy(&fresh, "", ""), None);
    // Compromised: every format, every time.
    let compromised = test_cert(2, NOW - 30 * DAY, None, None)
        .revoked(ReasonForRevocation::KeyCompromised, NOW - DAY);
    check(&r.policy(&compromised, "", ""), Some("bob: certificate"));
    check(
        &r.policy(&compromised, "", ""),
        Some("is revoked (reason: Key material has been compromised: test revocation)"),
    );
    // Retired yesterday: in force at the verification time, so the timeless formats fail.
    let retired = test_cert(2, NOW - 30 * DAY, None, None)
        .revoked(ReasonForRevocation::KeyRetired, NOW - DAY);
    check(&r.policy(&retired, "", ""), Some("is revoked"));
    // Expired: created 30 days ago, valid for 10.
    let expired = test_cert(2, NOW - 30 * DAY, Some(10 * DAY), None);
    check(&r.policy(&expired, "", ""), Some("has expired"));

    // OpenPGP signatures are judged at their time: a signature made while the key was not
    // yet retired stands (as with gpg and sqv), unless the policy judges at verification
    // time too; a signature made after the retirement does not.
    let mut retired = retired;
    let before = detached(&mut retired.primary, binary_sig(NOW - 2 * DAY), DATA);
    let after = detached(&mut retired.primary, binary_sig(NOW - DAY / 2), DATA);
    let p = r.policy(&retired, "", "");
    assert!(r.verify_sig(&p, "x.tar.gz.asc", &before).verified);
    assert_rejected(&r.verify_sig(&p, "x.tar.gz.asc", &after), "is revoked");
    let strict = r.policy(&retired, "", "openpgp_time = \"verification\"");
    assert_rejected(
        &r.verify_sig(&strict, "x.tar.gz.asc", &before),
        "is revoked",
    );
    // Compromised: also the signature from before.
    let mut compromised = compromised;
    let before = detached(&mut compromised.primary, binary_sig(NOW - 2 * DAY), DATA);
    let p = r.policy(&compromised, "", "");
    assert_rejected(&r.verify_sig(&p, "x.tar.gz.asc", &before), "is revoked");
    // Expired certificate: a signature from its lifetime stands, one from after does not.
    let mut expired = test_cert(2, NOW - 30 * DAY, Some(10 * DAY), None);
    let p = r.policy(&expired, "", "");
    let old = detached(&mut expired.primary, binary_sig(NOW - 25 * DAY), DATA);
    assert!(r.verify_sig(&p, "x.tar.gz.asc", &old).verified);
    let late = detached(&mut expired.primary, binary_sig(NOW - DAY), DATA);
    assert_rejected(&r.verify_sig(&p, "x.tar.gz.asc", &late), "has expired");
}

/// Item 3: the policy's windows with signer-chosen times. A future `valid_from` is not met by
/// a signature dated after it (future-dated signatures are refused); a past `valid_until` is
/// met by a backdated signature only when the policy trusts signature times.
#[test]
fn validity_windows_and_signature_times() {
    let r = rig();
    let mut c = test_cert(2, NOW - 60 * DAY, None, None);
    let from = "valid_from = \"2026-06-01T00:00:00Z\"";
    let p = r.policy(&c, from, "");
    let dated_after = detached(&mut c.primary, binary_sig(NOW + 100 * DAY), DATA);
    assert_rejected(
        &r.verify_sig(&p, "x.tar.gz.asc", &dated_after),
        "in the future",
    );
    let now_sig = detached(&mut c.primary, binary_sig(NOW - 60), DATA);
    assert_rejected(
        &r.verify_sig(&p, "x.tar.gz.asc", &now_sig),
        "bob: not valid until 2026-06-01T00:00:00Z",
    );

    let until = "valid_until = \"2026-02-01T00:00:00Z\"";
    let backdated = detached(&mut c.primary, binary_sig(NOW - 40 * DAY), DATA);
    let p = r.policy(&c, until, "");
    assert!(r.verify_sig(&p, "x.tar.gz.asc", &backdated).verified);
    let strict = r.policy(&c, until, "openpgp_time = \"verification\"");
    assert_eq!(strict.openpgp_time, OpenpgpTime::Verification);
    assert_rejected(
        &r.verify_sig(&strict, "x.tar.gz.asc", &backdated),
        "bob: expired 2026-02-01T00:00:00Z",
    );
    let bad = Policy::from_toml("openpgp_time = \"whenever\"\n", r.dir.path(), "p.toml")
        .unwrap_err()
        .to_string();
    assert!(bad.contains("unknown variant `whenever`"), "{bad}");
}

/// Item 4: every signing key of a certificate counts: a subkey of alice's certificate given
/// as bob's key is refused at load, naming both; the subkey verifies as alice in every format
/// and follows the certificate's status.
#[test]
fn certificate_subkeys_belong_to_their_signer_only() {
    let r = rig();
    let alice = test_cert(1, NOW - 30 * DAY, None, Some(7));
    r.write("alice.asc", alice.armored());
    let sub = TestKey::ed25519("sub", 7);
    let e = Policy::from_toml(
        &format!(
            "[[signer]]\nname = \"alice\"\nopenpgp_cert = \"alice.asc\"\n\n\
             [[signer]]\nname = \"bob\"\nkey = \"{}\"\n\n\
             [[rule]]\nartifacts = [\"*\"]\nsigners = [\"alice\", \"bob\"]\nthreshold = 2\n",
            sub.public.ssh_line("bob")
        ),
        r.dir.path(),
        "p.toml",
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("signer \"bob\" has the same key as signer \"alice\"")
            && e.contains("signing subkey"),
        "{e}"
    );
    // The same with bob first.
    let e = Policy::from_toml(
        &format!(
            "[[signer]]\nname = \"bob\"\nkey = \"{}\"\n\n\
             [[signer]]\nname = \"alice\"\nopenpgp_cert = \"alice.asc\"\n\n\
             [[rule]]\nartifacts = [\"*\"]\nsigners = [\"alice\", \"bob\"]\nthreshold = 2\n",
            sub.public.ssh_line("bob")
        ),
        r.dir.path(),
        "p.toml",
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("signer \"alice\" has the same key as signer \"bob\""),
        "{e}"
    );
    // Two certificates holding the same signing subkey.
    let other = test_cert(3, NOW - 20 * DAY, None, Some(7));
    r.write("other.asc", other.armored());
    let e = Policy::from_toml(
        "[[signer]]\nname = \"alice\"\nopenpgp_cert = \"alice.asc\"\n\n\
         [[signer]]\nname = \"carol\"\nopenpgp_cert = \"other.asc\"\n\n\
         [[rule]]\nartifacts = [\"*\"]\nsigners = [\"alice\", \"carol\"]\n",
        r.dir.path(),
        "p.toml",
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("\"carol\" has the same key as signer \"alice\""),
        "{e}"
    );

    // Alone, alice's subkey signs for alice (SSHSIG here), and an OpenPGP signature by it too.
    let p = policy_in(
        r.dir.path(),
        "[[signer]]\nname = \"alice\"\nopenpgp_cert = \"alice.asc\"\n\n\
         [[rule]]\nartifacts = [\"*\"]\nsigners = [\"alice\"]\n",
    );
    assert_eq!(p.signers[0].keys.len(), 2);
    let v = r.verify_sig(&p, "x.tar.gz.sig", sub.sshsig("file", DATA));
    assert_eq!(v.signers, vec!["alice"], "{v:?}");
    let mut alice = alice;
    let sig = detached(alice.sub.as_mut().unwrap(), binary_sig(NOW - DAY), DATA);
    let v = r.verify_sig(&p, "x.tar.gz.asc", sig);
    assert_eq!(v.signers, vec!["alice"], "{v:?}");
}

/// Item 5, the issue's race: an SSHSIG over content A and an OpenPGP signature over content B
/// must not meet 2 of 2 when the file is replaced right after it is read (the test hook does it
/// deterministically): the OpenPGP hash comes from the same single read.
#[test]
fn openpgp_signature_is_checked_against_the_one_read() {
    let r = rig();
    let alice = TestKey::p256("alice", 1);
    let mut c = test_cert(2, NOW - 30 * DAY, None, None);
    r.write("bob.asc", c.armored());
    let p = policy_in(
        r.dir.path(),
        &format!(
            "{}\n[[signer]]\nname = \"bob\"\nopenpgp_cert = \"bob.asc\"\n\n\
             [[rule]]\nartifacts = [\"*\"]\nsigners = [\"alice\", \"bob\"]\nthreshold = 2\n",
            alice.signer_toml()
        ),
    );
    let ssh = r.write("x.tar.gz.sig", alice.sshsig("file", DATA));
    let pgp = r.write(
        "x.tar.gz.asc",
        detached(&mut c.primary, binary_sig(NOW - DAY), b"content B"),
    );
    let path = r.artifact.clone();
    crate::verify::engine::content::hooks::AFTER_READ
        .lock()
        .unwrap()
        .push((
            path.clone(),
            Box::new(move || std::fs::write(&path, b"content B").unwrap()),
        ));
    let v = run_engine(
        &p,
        VerifyInput::Signatures(vec![ssh, pgp]),
        std::slice::from_ref(&r.artifact),
        NOW,
    )
    .remove(0);
    assert!(!v.verified, "{v:?}");
    assert_eq!(v.signers, vec!["alice"]);
    assert_rejected(&v, "bob: signature does not verify");
}
