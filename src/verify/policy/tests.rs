//! Tests of the trust policy: defaults, key forms, and an error for each mistake.

use super::*;
use crate::verify::testutil::{NOW, TestKey, policy};
use crate::verify::time::parse_rfc3339;

fn try_policy(text: &str) -> Result<Policy, PolicyError> {
    Policy::from_toml(text, Path::new("."), "p.toml")
}

fn two_signers() -> String {
    let a = TestKey::ed25519("alice", 1);
    let b = TestKey::p256("bob", 2);
    format!("{}{}", a.signer_toml(), b.signer_toml())
}

#[test]
fn defaults_and_first_matching_rule() {
    let p = policy(&format!(
        "{}\n[[rule]]\nartifacts = [\"*.whl\"]\nsigners = [\"alice\", \"bob\"]\n\n\
         [[rule]]\nname = \"all\"\nartifacts = [\"*\"]\nsigners = [\"bob\"]\nformats = [\"raw\", \"dsse\"]\n",
        two_signers()
    ));
    let r = &p.rules[0];
    assert_eq!(r.name, "rule 1");
    assert_eq!(r.threshold, 1);
    assert_eq!(r.formats, Format::ALL.to_vec());
    assert_eq!(r.sshsig_namespace, "file");
    assert!(r.predicate_types.is_none());
    assert_eq!(p.rule_for("x.whl").unwrap().name, "rule 1");
    assert_eq!(p.rule_for("x.tar.gz").unwrap().name, "all");
    assert_eq!(p.rules[1].formats, vec![Format::Dsse, Format::Raw]);
    assert_eq!(p.signer_index(&p.signers[1].key), Some(1));
}

#[test]
fn pem_keys_key_files_and_times() {
    let dir = tempfile::tempdir().unwrap();
    let a = TestKey::p256("alice", 3);
    let b = TestKey::ed25519("bob", 4);
    std::fs::write(
        dir.path().join("bob.pub"),
        format!("# bob\n{}\n", b.public.ssh_line("b")),
    )
    .unwrap();
    let text = format!(
        "[[signer]]\nname = \"alice\"\nkey = \"\"\"\n{}\"\"\"\nvalid_from = 2026-01-01T00:00:00Z\n\
         valid_until = \"2027-01-01T01:00:00+01:00\"\n\
         [signer.revoked]\nreason = \"key lost\"\ntime = \"2026-06-01T00:00:00Z\"\n\n\
         [[signer]]\nname = \"bob\"\nkey_file = \"bob.pub\"\n\n\
         [[rule]]\nartifacts = [\"*\"]\nsigners = [\"alice\", \"bob\"]\nthreshold = 2\n",
        a.public.to_pem()
    );
    let p = Policy::from_toml(&text, dir.path(), "p.toml").unwrap();
    let alice = &p.signers[0];
    assert_eq!(alice.key, a.public);
    assert_eq!(p.signers[1].key, b.public);
    assert_eq!(
        alice.valid_from,
        Some(parse_rfc3339("2026-01-01T00:00:00Z").unwrap())
    );
    assert_eq!(
        alice.valid_until,
        Some(parse_rfc3339("2027-01-01T00:00:00Z").unwrap())
    );
    assert_eq!(
        alice.unusable_at(NOW).unwrap(),
        "alice: revoked 2026-06-01T00:00:00Z (key lost)"
    );
    assert_eq!(p.rules[0].threshold, 2);
}

#[test]
fn validity_windows() {
    let key = TestKey::ed25519("alice", 1).public;
    let mut s = Signer {
        name: "alice".into(),
        keys: vec![SignerKey {
            key: key.clone(),
            openpgp: None,
        }],
        key,
        valid_from: Some(NOW + 10),
        valid_until: None,
        revoked: None,
        openpgp_cert: None,
        attestation: None,
    };
    assert_eq!(
        s.unusable_at(NOW).unwrap(),
        "alice: not valid until 2026-03-01T00:00:10Z"
    );
    assert!(s.unusable_at(NOW + 10).is_none());
    s.valid_until = Some(NOW + 20);
    assert_eq!(
        s.unusable_at(NOW + 20).unwrap(),
        "alice: expired 2026-03-01T00:00:20Z"
    );
    s.revoked = Some(Revocation {
        reason: "stolen".into(),
        time: None,
    });
    assert_eq!(s.unusable_at(NOW + 15).unwrap(), "alice: revoked (stolen)");
}

fn err(text: &str) -> String {
    try_policy(text).unwrap_err().to_string()
}

#[test]
fn mistakes_are_named_with_their_line() {
    let signers = two_signers();
    let rule = |body: &str| format!("{signers}\n[[rule]]\n{body}\n");
    // Line numbers count from the start of the text; the rule starts after the signers.
    let rule_line = signers.lines().count() + 2;

    let e = err(&rule(
        "artifacts = [\"*\"]\nsigners = [\"alice\", \"carol\"]",
    ));
    assert!(e.contains(&format!("p.toml:{}: ", rule_line + 2)), "{e}");
    assert!(e.contains("\"carol\", which no [[signer]] defines"), "{e}");
    assert!(e.contains("hint: the signers are: alice, bob"), "{e}");

    let e = err(&rule(
        "artifacts = [\"*\"]\nsigners = [\"alice\"]\nthreshold = 2",
    ));
    assert!(e.contains(&format!("p.toml:{}: ", rule_line + 3)), "{e}");
    assert!(
        e.contains("threshold 2 is not between 1 and its 1 signer(s)"),
        "{e}"
    );
    assert!(
        err(&rule(
            "artifacts = [\"*\"]\nsigners = [\"alice\"]\nthreshold = 0"
        ))
        .contains("threshold 0")
    );

    let e = err(&rule(
        "artifacts = [\"*\"]\nsigners = [\"alice\"]\nformat = [\"raw\"]",
    ));
    assert!(e.contains("unknown field `format`"), "{e}");
    assert!(e.contains("line"), "{e}");
    let e = err(&rule(
        "artifacts = [\"*\"]\nsigners = [\"alice\"]\nformats = [\"pgp\"]",
    ));
    assert!(e.contains("unknown variant `pgp`"), "{e}");
    let e = err(&rule("artifacts = [\"dist/*.whl\"]\nsigners = [\"alice\"]"));
    assert!(e.contains("path separator"), "{e}");
    let e = err(&rule(
        "artifacts = [\"*\"]\nsigners = [\"alice\", \"alice\"]",
    ));
    assert!(e.contains("lists signer \"alice\" twice"), "{e}");
    let e = err(&rule("artifacts = [\"*\"]\nsigners = []"));
    assert!(e.contains("has no signers"), "{e}");
    let e = err(&rule(
        "artifacts = [\"*\"]\nsigners = [\"alice\"]\nsshsig_namespace = \"\"",
    ));
    assert!(e.contains("empty sshsig_namespace"), "{e}");
}

#[test]
fn bad_signers_are_refused() {
    let a = TestKey::ed25519("alice", 1);
    let rule = "\n[[rule]]\nartifacts = [\"*\"]\nsigners = [\"alice\"]\n";
    let twice = format!("{}{}{rule}", a.signer_toml(), a.signer_toml());
    assert!(err(&twice).contains("signer name \"alice\" is used twice"));
    let same_key = twice.replacen("name = \"alice\"", "name = \"alias\"", 1);
    let e = err(&same_key);
    assert!(e.contains("has the same key as signer"), "{e}");
    assert!(e.contains("p.toml:5:"), "{e}");

    let e = err(&format!(
        "[[signer]]\nname = \"alice\"\nkey = \"ssh-ed25519 AAAAnope\"\n{rule}"
    ));
    assert!(
        e.contains("p.toml:3: signer \"alice\": key: invalid OpenSSH public key"),
        "{e}"
    );
    let e = err(&format!("[[signer]]\nname = \"alice\"\n{rule}"));
    assert!(e.contains("signer \"alice\" has no key"), "{e}");
    let e = err(&format!(
        "{}valid_from = \"2026-01-01\"\n{rule}",
        a.signer_toml()
    ));
    assert!(
        e.contains("valid_from: \"2026-01-01\" is not an RFC 3339 time"),
        "{e}"
    );
    let e = err(&format!(
        "{}valid_from = \"2026-01-01T00:00:00Z\"\nvalid_until = \"2025-01-01T00:00:00Z\"\n{rule}",
        a.signer_toml()
    ));
    assert!(e.contains("valid_until is not after valid_from"), "{e}");
    let e = err(&format!(
        "{}key_file = \"nope.pub\"\n{rule}",
        a.signer_toml()
    ));
    assert!(e.contains("has both key and key_file"), "{e}");
    let e = err(&format!(
        "[[signer]]\nname = \"alice\"\nkey_file = \"/nonexistent/k.pub\"\n{rule}"
    ));
    assert!(e.contains("cannot read key_file /nonexistent/k.pub"), "{e}");
    assert!(err("").contains("at least one [[signer]] and one [[rule]]"));
    assert!(err("[[signer]\n").contains("p.toml: TOML parse error at line 1"));
}

/// Item 7: a rule that an earlier rule shadows entirely (the first match decides) is refused,
/// naming both; a more general rule after a stricter one is fine.
#[test]
fn shadowed_rules_are_refused() {
    let e = err(&format!(
        "{}\n[[rule]]\nname = \"any\"\nartifacts = [\"*\"]\nsigners = [\"alice\"]\n\n\
         [[rule]]\nname = \"wheels\"\nartifacts = [\"*.whl\"]\nsigners = [\"alice\", \"bob\"]\nthreshold = 2\n",
        two_signers()
    ));
    assert!(
        e.contains("rule \"wheels\" never decides: rule \"any\" comes first"),
        "{e}"
    );
    let e = err(&format!(
        "{}\n[[rule]]\nname = \"a\"\nartifacts = [\"*.whl\", \"*.gz\"]\nsigners = [\"alice\"]\n\n\
         [[rule]]\nname = \"b\"\nartifacts = [\"mypkg-?.whl\", \"x.tar.gz\"]\nsigners = [\"bob\"]\n",
        two_signers()
    ));
    assert!(e.contains("rule \"b\" never decides: rule \"a\""), "{e}");
    // Partly overlapping, or stricter first: accepted.
    policy(&format!(
        "{}\n[[rule]]\nartifacts = [\"*.whl\"]\nsigners = [\"alice\"]\n\n\
         [[rule]]\nartifacts = [\"*.whl\", \"*.gz\"]\nsigners = [\"bob\"]\n",
        two_signers()
    ));
}

/// A real YubiKey attestation (see `verify::attestation`'s tests) next to its key.
fn attested_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let sample = include_str!("../attestation/samples/yubikey-5.4.3-25515137-9c.attestation.pem");
    std::fs::write(dir.path().join("yk.attestation.pem"), sample).unwrap();
    std::fs::write(
        dir.path().join("yk.pem"),
        "-----BEGIN PUBLIC KEY-----\n\
         MHYwEAYHKoZIzj0CAQYFK4EEACIDYgAEl7Uv9j5PVw4nO0MMFBgey+4Mg+LWv7Ks\n\
         EQrMMJM6i15C7tXttOLpiNUPlKorCYDbzfQAfvZhieSifneiil7m9ZX5lsQSfPiy\n\
         +l3c+vw2FBTJYILrfRCX9i5NiLMxSc1m\n\
         -----END PUBLIC KEY-----\n",
    )
    .unwrap();
    dir
}

fn attested_policy(dir: &Path, extra: &str) -> Result<Policy, PolicyError> {
    let text = format!(
        "[[signer]]\nname = \"yk\"\nkey_file = \"yk.pem\"\nattestation = \"yubico-piv\"\n{extra}\n\
         [[rule]]\nartifacts = [\"*\"]\nsigners = [\"yk\"]\n"
    );
    Policy::from_toml(&text, dir, "p.toml")
}

#[test]
fn attestation_is_verified_when_the_policy_loads() {
    let dir = attested_dir();
    // The attestation file defaults to the key file's name with .attestation.pem.
    let p = attested_policy(dir.path(), "pin_policy = [\"once\", \"always\"]").unwrap();
    let a = p.signers[0].attestation.as_ref().unwrap();
    assert_eq!(a.device.serial, Some(25_515_137));
    let e = attested_policy(dir.path(), "touch_policy = \"always\"")
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("p.toml:4: signer \"yk\": attestation ")
            && e.contains("the key's touch policy is never; the trust policy requires always"),
        "{e}"
    );
    let e = attested_policy(dir.path(), "touch_policy = \"sometimes\"")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("touch_policy \"sometimes\" is not a policy"),
        "{e}"
    );
    let e = attested_policy(dir.path(), "attestation_file = \"missing.pem\"")
        .unwrap_err()
        .to_string();
    assert!(e.contains("cannot read attestation_file"), "{e}");
}

#[test]
fn attestation_requirements_need_an_attestation() {
    let rule = "[[rule]]\nartifacts = [\"*\"]\nsigners = [\"alice\"]\n";
    let alice = TestKey::p256("alice", 3).signer_toml();
    let e = err(&format!("{alice}touch_policy = \"always\"\n{rule}"));
    assert!(
        e.contains("touch_policy is a requirement on the key's attestation"),
        "{e}"
    );
    let e = err(&format!("{alice}attestation = \"tpm\"\n{rule}"));
    assert!(e.contains("unknown attestation \"tpm\""), "{e}");
    let e = err(&format!("{alice}attestation = \"yubico-piv\"\n{rule}"));
    assert!(e.contains("where is the attestation?"), "{e}");
}

#[test]
fn an_attestation_of_another_key_is_refused() {
    let dir = attested_dir();
    let other = TestKey::p256("other", 5);
    std::fs::write(dir.path().join("yk.pem"), other.public.to_pem()).unwrap();
    let e = attested_policy(dir.path(), "").unwrap_err().to_string();
    assert!(e.contains("the attestation is for key "), "{e}");
}
