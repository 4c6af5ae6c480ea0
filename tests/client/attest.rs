//! `hwsign attest`: DSSE envelopes carrying in-toto Statement v1 payloads.
//! For each key the envelope is parsed here (payload type, statement type,
//! predicate, subject names and digests cross-checked against coreutils
//! `sha256sum`, key id = SHA-256 of the exported SPKI DER), then verified
//! independently with Python securesystemslib (tests/python/verify_dsse.py);
//! a payload with a modified subject digest must be rejected. Also: `--purl`
//! is required without a custom predicate, and `--predicate-type` /
//! `--predicate` put the given predicate into the statement.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use hwsign_testrig::*;
use serde_json::Value;

const STATEMENT_V1: &str = "https://in-toto.io/Statement/v1";
const RELEASE_PREDICATE: &str = "https://in-toto.io/attestation/release/v0.1";
const PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";

fn read_envelope(path: &Path) -> (Value, Value) {
    let text =
        fs::read_to_string(path).unwrap_or_else(|e| panic!("no envelope {}: {e}", path.display()));
    let envelope: Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("envelope is not JSON ({e}): {text}"));
    assert_eq!(
        envelope["payloadType"], PAYLOAD_TYPE,
        "payloadType in {text}"
    );
    let payload = b64_decode(envelope["payload"].as_str().expect("payload is a string"));
    let statement: Value = serde_json::from_slice(&payload).unwrap_or_else(|e| {
        panic!(
            "payload is not JSON ({e}): {}",
            String::from_utf8_lossy(&payload)
        )
    });
    assert_eq!(statement["_type"], STATEMENT_V1, "statement _type");
    (envelope, statement)
}

fn subjects(statement: &Value) -> BTreeMap<String, String> {
    let list = statement["subject"]
        .as_array()
        .unwrap_or_else(|| panic!("no subject array in {statement}"));
    list.iter()
        .map(|s| {
            let name = s["name"]
                .as_str()
                .unwrap_or_else(|| panic!("subject without name: {s}"))
                .to_string();
            let digest = s["digest"]["sha256"]
                .as_str()
                .unwrap_or_else(|| panic!("subject without sha256: {s}"))
                .to_string();
            (name, digest)
        })
        .collect()
}

fn verify_with_securesystemslib(
    env: &TestEnv,
    envelope: &Path,
    keyid: &str,
    spec: &KeySpec,
    pem: &Path,
) -> std::process::Output {
    let mut cmd = env.command(python());
    cmd.arg(verify_dsse_py())
        .arg("--envelope")
        .arg(envelope)
        .args([
            "--keyid",
            keyid,
            "--keytype",
            spec.sslib_keytype,
            "--scheme",
            spec.sslib_scheme,
        ])
        .arg("--public-key-pem")
        .arg(pem);
    run(&mut cmd)
}

fn attest_roundtrip(spec: &KeySpec) {
    require_python_module("securesystemslib");
    let env = TestEnv::new();
    let _agent = env.start_agent(&[]);
    let names = write_sample_set(&env.work);

    let out_name = format!("att-{}.json", spec.label);
    let mut args = vec![
        "attest",
        "--key",
        spec.label,
        "--purl",
        PURL,
        "-o",
        out_name.as_str(),
    ];
    args.extend(names.iter().map(String::as_str));
    env.hwsign_ok(&args);

    let out_path = env.path(&out_name);
    let (envelope, statement) = read_envelope(&out_path);
    assert_eq!(
        statement["predicateType"], RELEASE_PREDICATE,
        "default predicateType"
    );
    assert_eq!(statement["predicate"]["purl"], PURL, "predicate.purl");

    let subj = subjects(&statement);
    assert_eq!(subj.len(), names.len(), "one subject per file: {statement}");
    for name in &names {
        let digest = subj
            .get(name)
            .unwrap_or_else(|| panic!("no subject named {name:?} in {statement}"));
        assert_eq!(digest, &sha256sum_tool(&env, name), "digest of {name}");
        assert_eq!(
            digest,
            &sha256_hex(&fs::read(env.path(name)).unwrap()),
            "digest of {name}"
        );
    }

    // Key id: SHA-256 of the SPKI DER, identical in `keys --json` and the envelope.
    let pem = env.export_key(spec.label, "pem", &format!("{}.pem", spec.label));
    let der = pem_to_der(&fs::read_to_string(&pem).unwrap(), "PUBLIC KEY");
    let keyid = env.key_id(spec.label);
    assert!(
        is_lower_hex64(&keyid),
        "key id is not 64 lowercase hex: {keyid}"
    );
    assert_eq!(keyid, sha256_hex(&der), "key id is not SHA-256(SPKI DER)");
    let sigs = envelope["signatures"]
        .as_array()
        .unwrap_or_else(|| panic!("no signatures array: {envelope}"));
    assert_eq!(sigs.len(), 1, "one signature expected: {envelope}");
    assert_eq!(sigs[0]["keyid"], keyid.as_str(), "signature keyid");
    assert!(!b64_decode(sigs[0]["sig"].as_str().expect("sig is a string")).is_empty());

    let ok = verify_with_securesystemslib(&env, &out_path, &keyid, spec, &pem);
    assert!(
        ok.status.success(),
        "{}: securesystemslib rejects the envelope\n{}",
        spec.label,
        describe("verify_dsse.py", &ok)
    );

    // Change one subject digest inside the payload and re-encode it.
    let mut tampered_statement = statement.clone();
    tampered_statement["subject"][0]["digest"]["sha256"] =
        Value::from(sha256_hex(b"not the artifact"));
    let mut tampered = envelope.clone();
    tampered["payload"] = Value::from(b64_encode(
        &serde_json::to_vec(&tampered_statement).unwrap(),
    ));
    let tampered_path = env.path(&format!("tampered-{}.json", spec.label));
    fs::write(
        &tampered_path,
        serde_json::to_vec_pretty(&tampered).unwrap(),
    )
    .unwrap();
    let bad = verify_with_securesystemslib(&env, &tampered_path, &keyid, spec, &pem);
    assert_eq!(
        bad.status.code(),
        Some(1),
        "{}: tampered payload should fail verification (exit 1)\n{}",
        spec.label,
        describe("verify_dsse.py", &bad)
    );
}

#[test]
fn attest_p256_verifies_with_securesystemslib() {
    attest_roundtrip(&KEYS[0]);
}

#[test]
fn attest_ed25519_verifies_with_securesystemslib() {
    attest_roundtrip(&KEYS[1]);
}

#[test]
fn attest_rsa3072_verifies_with_securesystemslib() {
    attest_roundtrip(&KEYS[2]);
}

#[test]
fn attest_without_purl_names_the_flag() {
    let env = TestEnv::new();
    let _agent = env.start_agent(&[]);
    write_file(&env.work, "artifact.tar.gz", b"artifact");
    let err = env.hwsign_err(&[
        "attest",
        "--key",
        "release-p256",
        "-o",
        "att.json",
        "artifact.tar.gz",
    ]);
    assert!(err.contains("--purl"), "error should name --purl: {err}");
    assert!(
        !env.path("att.json").exists(),
        "a failed attest wrote its output"
    );
}

#[test]
fn attest_with_custom_predicate() {
    let env = TestEnv::new();
    let _agent = env.start_agent(&[]);
    write_file(
        &env.work,
        "artifact.tar.gz",
        b"artifact with a custom predicate\n",
    );
    let predicate = serde_json::json!({
        "builder": { "id": "https://ci.example.test/runner/7" },
        "reproducible": true,
        "notes": ["été", "ü"],
        "count": 3
    });
    fs::write(
        env.path("predicate.json"),
        serde_json::to_vec_pretty(&predicate).unwrap(),
    )
    .unwrap();
    let uri = "https://example.test/attestations/custom/v1";

    env.hwsign_ok(&[
        "attest",
        "--key",
        "release-ed25519",
        "--predicate-type",
        uri,
        "--predicate",
        "predicate.json",
        "-o",
        "custom.json",
        "artifact.tar.gz",
    ]);
    let (envelope, statement) = read_envelope(&env.path("custom.json"));
    assert_eq!(statement["predicateType"], uri);
    assert_eq!(statement["predicate"], predicate);
    let subj = subjects(&statement);
    assert_eq!(
        subj.get("artifact.tar.gz").map(String::as_str),
        Some(sha256_hex(b"artifact with a custom predicate\n").as_str())
    );
    assert_eq!(
        envelope["signatures"][0]["keyid"],
        env.key_id("release-ed25519").as_str()
    );
}
