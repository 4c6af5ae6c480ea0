//! `hwsign sign --format minisign` / `minisign-legacy` and `hwsign keys export --format
//! minisign`, checked by Debian's minisign (0.11): prehashed and legacy signatures verify with
//! their trusted comment; an edited trusted comment or file is rejected; exports are stable;
//! non-Ed25519 keys are refused; `hwsign verify` (policy format `minisign`) agrees.

use std::fs;
use std::process::Command;

use hwsign_testrig::*;

#[test]
fn minisign_verifies_prehashed_and_legacy_signatures() {
    let minisign = require_tool("minisign", "minisign");
    let env = TestEnv::new();
    let _agent = env.start_agent(&[]);
    env.hwsign_ok(&[
        "keys",
        "export",
        "release-ed25519",
        "--format",
        "minisign",
        "-o",
        "key.pub",
    ]);
    env.hwsign_ok(&[
        "keys",
        "export",
        "release-ed25519",
        "--format",
        "minisign",
        "-o",
        "again.pub",
    ]);
    assert_eq!(
        fs::read(env.path("key.pub")).unwrap(),
        fs::read(env.path("again.pub")).unwrap()
    );

    write_random(&env.work, "big.tar.gz", 3_000_000, 5);
    write_file(&env.work, "small.txt", b"small file\n");
    env.hwsign_ok(&[
        "sign",
        "--key",
        "release-ed25519",
        "--format",
        "minisign",
        "big.tar.gz",
    ]);
    env.hwsign_ok(&[
        "sign",
        "--key",
        "release-ed25519",
        "--format",
        "minisign-legacy",
        "small.txt",
    ]);

    let verify = |file: &str| {
        let mut c = Command::new(&minisign);
        c.current_dir(&env.work)
            .args(["-V", "-m", file, "-p", "key.pub"]);
        run(&mut c)
    };
    // One request per file: both signatures, one decision, one audit record with the trusted
    // comment.
    let log = fs::read_to_string(env.state.join("hwsign/audit.jsonl")).unwrap();
    let records: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), 2, "{log}");
    for (r, file) in records.iter().zip(["big.tar.gz", "small.txt"]) {
        assert_eq!(r["request"], "minisign@hwsign", "{r}");
        assert_eq!(r["result"], "signed", "{r}");
        let comment = r["signed"]["trusted_comment"].as_str().unwrap();
        assert!(comment.contains(&format!("file:{file}")), "{r}");
    }
    for (file, tag) in [("big.tar.gz", "ED"), ("small.txt", "Ed")] {
        let out = verify(file);
        assert!(out.status.success(), "{file}: {out:?}");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("Trusted comment: timestamp:"), "{text}");
        assert!(text.contains(&format!("file:{file}")), "{text}");
        let sig = fs::read_to_string(env.path(&format!("{file}.minisig"))).unwrap();
        let blob = b64_decode(sig.lines().nth(1).unwrap());
        assert_eq!(&blob[..2], tag.as_bytes());
    }

    // hwsign verify agrees (policy format minisign).
    env.hwsign_ok(&[
        "keys",
        "export",
        "release-ed25519",
        "--format",
        "ssh",
        "-o",
        "ed.pub",
    ]);
    write_file(
        &env.work,
        "policy.toml",
        b"[[signer]]\nname = \"release\"\nkey_file = \"ed.pub\"\n\n[[rule]]\nartifacts = [\"*\"]\nsigners = [\"release\"]\nformats = [\"minisign\"]\n",
    );
    let hw_verify = |file: &str| {
        let sig = format!("{file}.minisig");
        env.hwsign(&[
            "verify",
            "--policy",
            "policy.toml",
            "--signature",
            &sig,
            file,
        ])
    };
    for file in ["big.tar.gz", "small.txt"] {
        let out = hw_verify(file);
        assert!(out.status.success(), "{file}: {out:?}");
    }

    // `hwsign verify dist/*`: the .minisig files among the files are taken as signatures.
    let out = env.hwsign(&[
        "verify",
        "--policy",
        "policy.toml",
        "big.tar.gz",
        "big.tar.gz.minisig",
        "small.txt",
        "small.txt.minisig",
    ]);
    assert!(out.status.success(), "{out:?}");

    // An edited trusted comment: refused.
    let sigfile = env.path("big.tar.gz.minisig");
    let sig = fs::read_to_string(&sigfile).unwrap();
    fs::write(&sigfile, sig.replace("file:big.tar.gz", "file:evil.tar.gz")).unwrap();
    let out = verify("big.tar.gz");
    assert!(!out.status.success(), "{out:?}");
    let out = hw_verify("big.tar.gz");
    assert!(!out.status.success(), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("trusted comment"),
        "{out:?}"
    );
    fs::write(&sigfile, &sig).unwrap();
    // A changed file: refused.
    tamper_file(&env.path("small.txt"));
    assert!(!verify("small.txt").status.success());
    assert!(!hw_verify("small.txt").status.success());

    // Only Ed25519 keys.
    let err = env.hwsign_err(&[
        "sign",
        "--key",
        "release-p256",
        "--format",
        "minisign",
        "--force",
        "big.tar.gz",
    ]);
    assert!(err.contains("Ed25519"), "{err}");

    // --json: each file's SHA-256 from the signing pass, as sha256sum says, both kinds.
    for (format, file) in [("minisign", "big.tar.gz"), ("minisign-legacy", "small.txt")] {
        let out = env.hwsign_ok(&[
            "sign",
            "--key",
            "release-ed25519",
            "--format",
            format,
            "--force",
            "--json",
            file,
        ]);
        let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
        let sum = run_ok(Command::new("sha256sum").arg(env.path(file)));
        let want = String::from_utf8_lossy(&sum.stdout)
            .split_whitespace()
            .next()
            .unwrap()
            .to_string();
        assert_eq!(doc["signed"][0]["sha256"], want.as_str(), "{format}: {doc}");
        assert!(verify(file).status.success(), "{format}");
    }
}
