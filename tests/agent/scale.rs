//! Releases of any size (issue 14): a 100,000-subject attestation signed through the agent and
//! verified by securesystemslib and `hwsign verify`, with what the agent logs kept short; a
//! request too large for the socket refused before anything is hashed, with a hint on how to
//! split; the forwarded socket's smaller default limit, advertised in its status.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use hwsign_testrig::*;

/// `n` tiny files under `dir` (nested: `dir/dNN/…`), named `name(i)`; returns the paths
/// relative to the work directory, and writes them one per line to `list`.
fn tiny_files(work: &Path, n: usize, name: impl Fn(usize) -> String, list: &str) -> Vec<String> {
    let mut rel = Vec::with_capacity(n);
    for i in 0..n {
        let sub = format!("dist/d{:02}", i % 100);
        if i < 100 {
            fs::create_dir_all(work.join(&sub)).unwrap();
        }
        let path = format!("{sub}/{}", name(i));
        fs::write(work.join(&path), i.to_string()).unwrap();
        rel.push(path);
    }
    let mut text = rel.join("\n");
    text.push('\n');
    fs::write(work.join(list), text).unwrap();
    rel
}

fn p256_policy(env: &TestEnv, pem: &Path) -> PathBuf {
    let text = format!(
        "[[signer]]\nname = \"release\"\nkey_file = \"{}\"\n\n[[rule]]\nname = \"all\"\nartifacts = [\"*\"]\nsigners = [\"release\"]\n",
        pem.display()
    );
    let policy = env.path("trust.toml");
    fs::write(&policy, text).unwrap();
    policy
}

fn audit_records(env: &TestEnv) -> Vec<serde_json::Value> {
    fs::read_to_string(env.state.join("hwsign/audit.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// 100,000 files, one envelope, one signature: verified by securesystemslib and by
/// `hwsign verify`; the audit record holds the count, ten names and the statement's digest.
#[test]
fn a_100000_subject_attestation_verifies() {
    require_python_module("securesystemslib");
    let env = TestEnv::new();
    let _agent = env.start_agent(&[]);
    let started = Instant::now();
    let n = 100_000;
    let files = tiny_files(
        &env.work,
        n,
        |i| format!("artifact-{i:06}.bin"),
        "files.txt",
    );
    let made = started.elapsed();

    let t = Instant::now();
    env.hwsign_ok(&[
        "attest",
        "--key",
        "release-p256",
        "--purl",
        PURL,
        "-o",
        "big.intoto.json",
        "--files-from",
        "files.txt",
    ]);
    let attested = t.elapsed();

    let envelope: serde_json::Value =
        serde_json::from_slice(&fs::read(env.path("big.intoto.json")).unwrap()).unwrap();
    assert_eq!(envelope["signatures"].as_array().unwrap().len(), 1);
    let payload = b64_decode(envelope["payload"].as_str().unwrap());
    let statement: serde_json::Value = serde_json::from_slice(&payload).unwrap();
    let subjects = statement["subject"].as_array().unwrap();
    assert_eq!(subjects.len(), n);
    assert_eq!(subjects[12_345]["name"], "artifact-012345.bin");
    assert_eq!(
        subjects[12_345]["digest"]["sha256"],
        sha256_hex(b"12345").as_str()
    );

    // securesystemslib.
    let t = Instant::now();
    let pem = env.export_key("release-p256", "pem", "p256.pem");
    let keyid = env.key_id("release-p256");
    let mut cmd = env.command(python());
    cmd.arg(verify_dsse_py())
        .args(["--envelope", "big.intoto.json", "--keyid", &keyid])
        .args(["--keytype", "ecdsa", "--scheme", "ecdsa-sha2-nistp256"])
        .arg("--public-key-pem")
        .arg(&pem);
    let out = run(&mut cmd);
    assert!(out.status.success(), "{}", describe("verify_dsse.py", &out));
    let sslib = t.elapsed();

    // hwsign verify, every artifact matched to its subject.
    let t = Instant::now();
    let policy = p256_policy(&env, &pem);
    let out = env.hwsign(&[
        "verify",
        "--policy",
        policy.to_str().unwrap(),
        "--envelope",
        "big.intoto.json",
        "--files-from",
        "files.txt",
    ]);
    assert!(
        out.status.success(),
        "{}",
        describe("hwsign verify", &out)
            .chars()
            .take(3000)
            .collect::<String>()
    );
    let verified = t.elapsed();

    // What the log keeps is bounded: count, first names, the statement's digest.
    let records = audit_records(&env);
    let rec = records.last().unwrap();
    let line = serde_json::to_string(rec).unwrap();
    assert!(line.len() < 8 * 1024, "{} bytes: {line}", line.len());
    assert_eq!(rec["signed"]["subject_count"], n);
    assert_eq!(rec["signed"]["subjects"].as_array().unwrap().len(), 10);
    assert_eq!(rec["signed"]["subjects"][0]["name"], "artifact-000000.bin");
    assert_eq!(
        rec["signed"]["statement_sha256"],
        sha256_hex(&payload).as_str()
    );
    // The client no longer sends the names beside the statement.
    assert_eq!(
        rec["client_says"]["names_unverified"],
        serde_json::json!([])
    );
    eprintln!(
        "100,000 subjects: files made in {made:?}, attest {attested:?}, securesystemslib {sslib:?}, hwsign verify {verified:?}"
    );
    drop(files);
}

/// A request over the socket's limit is refused before any file is hashed (a 1 TiB sparse
/// file among the inputs would take minutes), with a hint on how to split; nothing written,
/// nothing signed.
#[test]
fn an_oversize_attestation_is_refused_before_hashing() {
    let env = TestEnv::new();
    let dir = env.config.join("hwsign");
    fs::create_dir_all(&dir).unwrap();
    fs::write(
        dir.join("config.toml"),
        "[sockets.main]\nmax_request = \"64KiB\"\n",
    )
    .unwrap();
    let _agent = env.start_agent(&[]);
    let status = env.hwsign_ok(&["status", "--json"]);
    let status: serde_json::Value = serde_json::from_str(&status).unwrap();
    assert_eq!(status["max_request"], 64 * 1024);

    tiny_files(
        &env.work,
        1_000,
        |i| format!("a-fairly-long-artifact-name-{i:06}.tar.gz"),
        "files.txt",
    );
    let huge = env.path("dist/huge.img");
    fs::File::create(&huge).unwrap().set_len(1 << 40).unwrap();
    let mut list = fs::read_to_string(env.path("files.txt")).unwrap();
    list.push_str("dist/huge.img\n");
    fs::write(env.path("files.txt"), list).unwrap();

    let t = Instant::now();
    let err = env.hwsign_err(&[
        "attest",
        "--key",
        "release-p256",
        "--purl",
        PURL,
        "--files-from",
        "files.txt",
    ]);
    assert!(t.elapsed() < Duration::from_secs(20), "{:?}", t.elapsed());
    assert!(
        err.contains("an attestation of 1,001 files needs a request of"),
        "{err}"
    );
    assert!(err.contains("main socket takes at most 64 KiB"), "{err}");
    assert!(err.contains("nothing was hashed or signed"), "{err}");
    assert!(err.contains("split the release into"), "{err}");
    assert!(err.contains("--files-from"), "{err}");
    assert!(!env.path("release.intoto.json").exists());
    assert!(audit_records(&env).is_empty(), "something was signed");
}

/// The forwarded socket takes less than the main one by default and says so in its status: a
/// release that fits the main socket is refused through the extra one, before hashing.
#[test]
fn the_extra_socket_has_a_smaller_default_limit() {
    let env = TestEnv::new();
    let dir = env.config.join("hwsign");
    fs::create_dir_all(&dir).unwrap();
    fs::write(
        dir.join("config.toml"),
        "[[key]]\nmatch = \"label:release-p256\"\nremote = true\nremote_kinds = [\"dsse\"]\n",
    )
    .unwrap();
    let _agent = env.start_agent(&[]);
    let extra = env.sock_dir().join("agent.extra.sock");
    let status = |sock: &Path| -> serde_json::Value {
        let out = run_ok(
            env.command(client_bin())
                .env("HWSIGN_AUTH_SOCK", sock)
                .args(["status", "--json"]),
        );
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let main_limit = status(&env.default_sock())["max_request"].as_u64().unwrap();
    let extra_limit = status(&extra)["max_request"].as_u64().unwrap();
    assert_eq!(main_limit, 64 << 20);
    assert_eq!(extra_limit, 8 << 20);

    // 30,000 subjects with 240-byte names: about 10 MB of statement.
    tiny_files(
        &env.work,
        30_000,
        |i| format!("{i:06}-{}", "n".repeat(233)),
        "files.txt",
    );
    let args = [
        "attest",
        "--key",
        "release-p256",
        "--purl",
        PURL,
        "--files-from",
        "files.txt",
    ];
    let out = run(env
        .command(client_bin())
        .env("HWSIGN_AUTH_SOCK", &extra)
        .args(args));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("extra socket takes at most 8 MiB"), "{err}");
    assert!(err.contains("[sockets.extra] max_request"), "{err}");
    assert!(!env.path("release.intoto.json").exists());
    // The same release through the main socket is signed.
    env.hwsign_ok(&args);
    assert!(env.path("release.intoto.json").exists());
}
