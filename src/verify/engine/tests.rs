//! End-to-end tests of the engine with envelopes and bundles: files on disk, envelopes made in
//! the test, and the rule's verdict for each case the issue lists.

use base64::Engine;

use super::*;
use crate::verify::report::all_verified;
use crate::verify::testutil::{NOW, SDIST, TestKey, WHL, envelope_of, fixture, statement};

fn run(p: &Policy, input: VerifyInput, artifacts: &[PathBuf]) -> Vec<ArtifactVerdict> {
    verify(p, input, artifacts, NOW)
}

#[test]
fn accepted_envelope_and_bundle() {
    let f = fixture();
    let p = f.one_of_alice();
    let env = f.release(&[&f.alice]);
    let vs = run(&p, f.envelope_file(&env), &f.artifacts);
    assert!(all_verified(&vs), "{vs:?}");
    assert_eq!(vs[0].signers, vec!["alice"]);
    assert_eq!(vs[0].rule.as_deref(), Some("release"));
    let bundle = f.write(
        "b.sigstore.json",
        &crate::format::bundle::to_json(&env).unwrap(),
    );
    let vs = run(&p, VerifyInput::Envelope(bundle), &f.artifacts);
    assert!(all_verified(&vs), "{vs:?}");
}

#[test]
fn tampered_artifact_and_renamed_subject() {
    let f = fixture();
    let p = f.one_of_alice();
    let env = f.release(&[&f.alice]);
    std::fs::write(&f.artifacts[0], b"tampered").unwrap();
    let vs = run(&p, f.envelope_file(&env), &f.artifacts);
    assert!(!vs[0].verified && vs[1].verified);
    assert_eq!(
        vs[0].rejected,
        vec!["subject digest mismatch for mypkg-1.0.whl"]
    );
    assert!(vs[0].to_line().starts_with("FAIL "), "{}", vs[0].to_line());

    let renamed = f.dir.path().join("mypkg-1.1.tar.gz");
    std::fs::write(&renamed, SDIST).unwrap();
    let vs = run(&p, f.envelope_file(&env), &[renamed]);
    assert_eq!(
        vs[0].rejected,
        vec!["no subject named mypkg-1.1.tar.gz in the statement"]
    );
}

#[test]
fn tampered_payload_type_and_untrusted_key() {
    let f = fixture();
    let p = f.one_of_alice();
    let mut env = f.release(&[&f.alice]);
    let b64 = base64::engine::general_purpose::STANDARD;
    let payload = String::from_utf8(b64.decode(&env.payload).unwrap()).unwrap();
    env.payload = b64.encode(payload.replace("pkg:generic/mypkg@1.0", "pkg:generic/evil@6.6"));
    let vs = run(&p, f.envelope_file(&env), &f.artifacts);
    assert!(!vs[0].verified);
    assert!(
        vs[0].rejected[0].starts_with("alice: signature does not verify"),
        "{vs:?}"
    );

    let mut env = f.release(&[&f.alice]);
    env.payload_type = "text/plain".into();
    let vs = run(&p, f.envelope_file(&env), &f.artifacts);
    assert_eq!(
        vs[1].rejected,
        vec!["payloadType is text/plain, expected application/vnd.in-toto+json"]
    );

    let m = TestKey::p256("mallory", 9);
    let vs = run(&p, f.envelope_file(&f.release(&[&m])), &f.artifacts);
    assert!(
        vs[0].rejected[0].starts_with("signature by unknown key"),
        "{vs:?}"
    );
    assert_eq!(
        vs[0].to_line(),
        format!(
            "FAIL {}  rule \"release\": 0 of 1 required signers; rejected: {}",
            f.artifacts[0].display(),
            vs[0].rejected[0]
        )
    );
}

#[test]
fn revoked_and_outside_validity_window() {
    let f = fixture();
    let rule = "[[rule]]\nartifacts = [\"*\"]\nsigners = [\"alice\"]\n";
    let env = f.release(&[&f.alice]);
    let revoked = f.policy(
        "[signer.revoked]\nreason = \"key lost\"\ntime = \"2026-02-01T00:00:00Z\"\n",
        rule,
    );
    let vs = run(&revoked, f.envelope_file(&env), &f.artifacts);
    assert!(!vs[0].verified);
    assert_eq!(
        vs[0].rejected,
        vec!["alice: revoked 2026-02-01T00:00:00Z (key lost)"]
    );

    let expired = f.policy("valid_until = \"2026-02-01T00:00:00Z\"\n", rule);
    let vs = run(&expired, f.envelope_file(&env), &f.artifacts);
    assert_eq!(vs[0].rejected, vec!["alice: expired 2026-02-01T00:00:00Z"]);
    let early = f.policy("valid_from = \"2026-04-01T00:00:00Z\"\n", rule);
    let vs = run(&early, f.envelope_file(&env), &f.artifacts);
    assert_eq!(
        vs[0].rejected,
        vec!["alice: not valid until 2026-04-01T00:00:00Z"]
    );
    let inside = f.policy(
        "valid_from = \"2026-01-01T00:00:00Z\"\nvalid_until = \"2027-01-01T00:00:00Z\"\n",
        rule,
    );
    assert!(all_verified(&run(
        &inside,
        f.envelope_file(&env),
        &f.artifacts
    )));
}

#[test]
fn artifact_matching_no_rule() {
    let f = fixture();
    let p = f.policy(
        "",
        "[[rule]]\nartifacts = [\"*.whl\"]\nsigners = [\"alice\"]\n",
    );
    let vs = run(&p, f.envelope_file(&f.release(&[&f.alice])), &f.artifacts);
    assert!(vs[0].verified);
    assert!(!vs[1].verified && vs[1].rule.is_none());
    assert_eq!(vs[1].rejected, vec!["artifact matches no rule"]);
}

#[test]
fn malformed_and_empty_envelopes() {
    let f = fixture();
    let p = f.one_of_alice();
    let broken = VerifyInput::Envelope(f.write("broken.json", "{\"payload\": "));
    let vs = run(&p, broken, &f.artifacts);
    assert!(
        vs.iter()
            .all(|v| !v.verified && v.rejected[0].contains("is malformed")),
        "{vs:?}"
    );
    let mut env = f.release(&[&f.alice]);
    env.signatures.clear();
    let vs = run(&p, f.envelope_file(&env), &f.artifacts);
    assert_eq!(
        vs[0].rejected,
        vec!["the envelope has an empty signature list"]
    );
    let mut env = f.release(&[&f.alice, &f.bob]);
    env.signatures[1].keyid = env.signatures[0].keyid.clone();
    let vs = run(&p, f.envelope_file(&env), &f.artifacts);
    assert!(vs[0].rejected[0].contains("have keyid"), "{vs:?}");
}

#[test]
fn two_of_three_threshold() {
    let f = fixture();
    let p = f.policy(
        "",
        "[[rule]]\nname = \"wheels\"\nartifacts = [\"*\"]\nsigners = [\"alice\", \"bob\", \"carol\"]\nthreshold = 2\n",
    );
    let vs = run(&p, f.envelope_file(&f.release(&[&f.alice])), &f.artifacts);
    assert!(!vs[0].verified);
    assert_eq!(
        vs[0].to_line(),
        format!(
            "FAIL {}  rule \"wheels\": 1 of 2 required signers (alice)",
            f.artifacts[0].display()
        )
    );
    let vs = run(
        &p,
        f.envelope_file(&f.release(&[&f.carol, &f.alice])),
        &f.artifacts,
    );
    assert!(all_verified(&vs), "{vs:?}");
    assert_eq!(
        vs[0].to_line(),
        format!(
            "OK   {}  rule \"wheels\" (2 of 3): alice, carol",
            f.artifacts[0].display()
        )
    );
}

#[test]
fn rule_restricts_formats_predicates_and_signers() {
    let f = fixture();
    let env = f.release(&[&f.alice, &f.bob]);
    let p = f.policy(
        "",
        "[[rule]]\nartifacts = [\"*\"]\nsigners = [\"alice\"]\nformats = [\"sshsig\"]\n",
    );
    let vs = run(&p, f.envelope_file(&env), &f.artifacts);
    assert_eq!(
        vs[0].rejected,
        vec![
            "alice: dsse signatures are not accepted by rule \"rule 1\"",
            "bob: not a signer of rule \"rule 1\""
        ]
    );
    let p = f.policy("", "[[rule]]\nartifacts = [\"*\"]\nsigners = [\"alice\"]\npredicate_types = [\"https://slsa.dev/provenance/v1\"]\n");
    let vs = run(&p, f.envelope_file(&env), &f.artifacts);
    assert!(
        vs[0].rejected[0]
            .contains("predicateType https://in-toto.io/attestation/release/v0.1 is not accepted")
    );
    let other = envelope_of(
        crate::format::statement::PAYLOAD_TYPE,
        &statement(&[("mypkg-1.0.whl", WHL)]),
        &[&f.alice],
    );
    assert!(!run(&p, f.envelope_file(&other), &f.artifacts[..1])[0].verified);
}

/// Registers a replacement of `path` by `contents` right after the engine's read of it.
fn swap_after_read(path: &Path, contents: &'static [u8]) {
    let p = path.to_path_buf();
    content::hooks::AFTER_READ.lock().unwrap().push((
        p.clone(),
        Box::new(move || std::fs::write(&p, contents).unwrap()),
    ));
}

fn opened(path: &Path) -> usize {
    content::hooks::OPENED
        .lock()
        .unwrap()
        .iter()
        .filter(|p| *p == path)
        .count()
}

/// Item 5: the artifact is read once and every signature is checked against that content. A
/// file replaced right after the read (deterministically, by the test hook) cannot lend the
/// SSHSIG content A and the raw Ed25519 signature content B: 2 of 2 is not met.
#[test]
fn one_read_per_artifact_and_one_content_for_every_signature() {
    const A: &[u8] = b"content A";
    const B: &[u8] = b"content B";
    let f = fixture();
    let p = f.policy(
        "",
        "[[rule]]\nartifacts = [\"*\"]\nsigners = [\"alice\", \"bob\"]\nthreshold = 2\n",
    );
    let artifact = f.dir.path().join("swap.bin");
    std::fs::write(&artifact, A).unwrap();
    let sshsig = f.write("swap.bin.sig", &f.alice.sshsig("file", A));
    let raw_b = f.write(
        "swap.bin.rawsig",
        &crate::format::raw::encode(&f.bob.sign(B)),
    );
    let sigs = VerifyInput::Signatures(vec![sshsig.clone(), raw_b]);
    swap_after_read(&artifact, B);
    let vs = run(&p, sigs, std::slice::from_ref(&artifact));
    assert_eq!(
        opened(&artifact),
        1,
        "the artifact was opened more than once"
    );
    assert!(!vs[0].verified, "{vs:?}");
    assert_eq!(vs[0].signers, vec!["alice"]);
    assert!(
        vs[0].rejected[0].starts_with("swap.bin.rawsig: the raw signature verifies with no key"),
        "{vs:?}"
    );
    // Now the file holds B: the raw signature verifies and the SSHSIG does not.
    let raw_b = f.write(
        "swap.bin.rawsig",
        &crate::format::raw::encode(&f.bob.sign(B)),
    );
    let vs = run(
        &p,
        VerifyInput::Signatures(vec![sshsig, raw_b]),
        &[artifact],
    );
    assert_eq!(vs[0].signers, vec!["bob"], "{vs:?}");
}

/// Item 5: one pass computes every digest, and the whole content only when asked for.
#[test]
fn one_pass_digests() {
    let data = vec![7u8; (1 << 20) + 13];
    let c = content::digest_reader(&data[..], content::Needs::default(), "x").unwrap();
    assert_eq!(
        c.sha256,
        crate::crypto::scheme::HashAlg::Sha256.digest(&data)
    );
    assert_eq!(
        c.sha512,
        crate::crypto::scheme::HashAlg::Sha512.digest(&data)
    );
    assert!(c.whole.is_none());
    let needs = content::Needs {
        whole: true,
        ..Default::default()
    };
    let c = content::digest_reader(&data[..], needs, "x").unwrap();
    assert_eq!(c.whole_ref().unwrap(), &data[..]);
}

/// Item 7: a directory is named as one.
#[test]
fn directories_are_named() {
    let f = fixture();
    let p = f.one_of_alice();
    let dot = f.dir.path().join(".");
    let sub = f.dir.path().join("mypkg-dir");
    std::fs::create_dir(&sub).unwrap();
    let env = f.release(&[&f.alice]);
    let vs = run(&p, f.envelope_file(&env), &[dot, sub]);
    for v in &vs {
        assert_eq!(v.rejected, vec!["is a directory, not a file to verify"]);
        assert_eq!(v.rule, None);
    }
}
