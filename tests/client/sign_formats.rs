//! `hwsign sign` output formats checked with independent verifiers:
//! `--format sshsig` with `ssh-keygen -Y verify` (default namespace `file`, a
//! custom `--namespace`, a wrong namespace rejected), `--format raw` with
//! `openssl` (ECDSA/RSA via `dgst -sha256`, Ed25519 via `pkeyutl -rawin`),
//! tampered files rejected, several files (empty, 5 MiB, non-ASCII name) in one
//! command, `--force` overwrite protection, the raw-Ed25519 size limit and the
//! error when `--key` is omitted while the agent holds several keys.

use std::fs;
use std::path::{Path, PathBuf};

use hwsign_testrig::*;

/// Decodes `FILE.rawsig` (base64) to `FILE.rawsig.bin` for openssl.
fn decode_rawsig(rawsig: &Path) -> PathBuf {
    let text =
        fs::read_to_string(rawsig).unwrap_or_else(|e| panic!("no {}: {e}", rawsig.display()));
    let bin = rawsig.with_extension("rawsig.bin");
    fs::write(&bin, b64_decode(&text)).unwrap();
    bin
}

fn principal(label: &str) -> String {
    format!("{label}@hwsign.test")
}

#[test]
fn sshsig_default_namespace_verifies_for_each_key() {
    require_tool("ssh-keygen", "openssh-client");
    let env = TestEnv::new();
    let _agent = env.start_agent(&[]);

    for spec in &KEYS {
        let name = format!("data-{}.txt", spec.label);
        let data = write_file(
            &env.work,
            &name,
            format!("signed by {}\n", spec.label).as_bytes(),
        );
        env.hwsign_ok(&[
            "sign",
            "--key",
            spec.label,
            "--format",
            "sshsig",
            name.as_str(),
        ]);

        let sig = env.path(&format!("{name}.sig"));
        let armored =
            fs::read_to_string(&sig).unwrap_or_else(|e| panic!("no {}: {e}", sig.display()));
        assert!(
            armored.starts_with("-----BEGIN SSH SIGNATURE-----"),
            "{}: not armored SSHSIG: {armored}",
            spec.label
        );

        let p = principal(spec.label);
        let allowed = env.allowed_signers_for(spec.label, &p);
        let ok = env.ssh_verify(&allowed, &p, "file", &data, &sig);
        assert!(
            ok.status.success(),
            "{}: sshsig does not verify\n{}",
            spec.label,
            describe("ssh-keygen -Y verify", &ok)
        );

        let wrong_ns = env.ssh_verify(&allowed, &p, "release", &data, &sig);
        assert!(
            !wrong_ns.status.success(),
            "{}: verified under the wrong namespace",
            spec.label
        );

        tamper_file(&data);
        let bad = env.ssh_verify(&allowed, &p, "file", &data, &sig);
        assert!(
            !bad.status.success(),
            "{}: tampered file still verifies",
            spec.label
        );
    }
}

#[test]
fn sshsig_custom_namespace() {
    require_tool("ssh-keygen", "openssh-client");
    let env = TestEnv::new();
    let _agent = env.start_agent(&[]);

    for spec in &KEYS {
        let name = format!("ns-{}.txt", spec.label);
        let data = write_file(&env.work, &name, b"namespaced payload\n");
        env.hwsign_ok(&[
            "sign",
            "--key",
            spec.label,
            "--format",
            "sshsig",
            "--namespace",
            "release",
            name.as_str(),
        ]);
        let sig = env.path(&format!("{name}.sig"));
        let p = principal(spec.label);
        let allowed = env.allowed_signers_for(spec.label, &p);

        let ok = env.ssh_verify(&allowed, &p, "release", &data, &sig);
        assert!(
            ok.status.success(),
            "{}: -n release fails\n{}",
            spec.label,
            describe("ssh-keygen -Y verify", &ok)
        );
        let wrong = env.ssh_verify(&allowed, &p, "file", &data, &sig);
        assert!(
            !wrong.status.success(),
            "{}: a `release` signature verified under namespace `file`",
            spec.label
        );
    }
}

#[test]
fn raw_signatures_verify_with_openssl() {
    require_tool("openssl", "openssl");
    let env = TestEnv::new();
    let _agent = env.start_agent(&[]);

    for spec in &KEYS {
        let name = format!("raw-{}.bin", spec.label);
        let data = write_random(
            &env.work,
            &name,
            64 * 1024 + 3,
            0xfeed_0000 + spec.label.len() as u64,
        );
        env.hwsign_ok(&[
            "sign",
            "--key",
            spec.label,
            "--format",
            "raw",
            name.as_str(),
        ]);

        let sig_bin = decode_rawsig(&env.path(&format!("{name}.rawsig")));
        let pem = env.export_key(spec.label, "pem", &format!("{}.pem", spec.label));
        let pem_text = fs::read_to_string(&pem).unwrap();
        assert!(
            pem_text.starts_with("-----BEGIN PUBLIC KEY-----"),
            "{}: not a PEM SPKI: {pem_text}",
            spec.label
        );

        let ok = env.openssl_verify_raw(spec.algorithm, &pem, &data, &sig_bin);
        assert!(
            ok.status.success(),
            "{}: openssl rejects the raw signature\n{}",
            spec.label,
            describe("openssl verify", &ok)
        );

        tamper_file(&data);
        let bad = env.openssl_verify_raw(spec.algorithm, &pem, &data, &sig_bin);
        assert!(
            !bad.status.success(),
            "{}: openssl accepts a tampered file\n{}",
            spec.label,
            describe("openssl verify", &bad)
        );
    }
}

#[test]
fn several_files_in_one_command() {
    require_tool("ssh-keygen", "openssh-client");
    require_tool("openssl", "openssl");
    let env = TestEnv::new();
    let _agent = env.start_agent(&[]);
    let names = write_sample_set(&env.work);

    // SSHSIG with Ed25519 (no size limit: SSHSIG signs a SHA-512 digest).
    let mut args = vec!["sign", "--key", "release-ed25519", "--format", "sshsig"];
    args.extend(names.iter().map(String::as_str));
    env.hwsign_ok(&args);
    let p = principal("release-ed25519");
    let allowed = env.allowed_signers_for("release-ed25519", &p);
    for name in &names {
        let sig = env.path(&format!("{name}.sig"));
        assert!(sig.is_file(), "no sshsig for {name}");
        let ok = env.ssh_verify(&allowed, &p, "file", &env.path(name), &sig);
        assert!(
            ok.status.success(),
            "sshsig of {name} does not verify\n{}",
            describe("ssh-keygen -Y verify", &ok)
        );
    }

    // Raw with ECDSA P-256 and RSA-3072.
    for label in ["release-p256", "release-rsa3072"] {
        let dir = env.work.join(label);
        fs::create_dir_all(&dir).unwrap();
        let names = write_sample_set(&dir);
        let paths: Vec<String> = names.iter().map(|n| format!("{label}/{n}")).collect();
        let mut args = vec!["sign", "--key", label, "--format", "raw"];
        args.extend(paths.iter().map(String::as_str));
        env.hwsign_ok(&args);
        let pem = env.export_key(label, "pem", &format!("{label}.pem"));
        let algorithm = if label == "release-p256" {
            "ecdsa-p256"
        } else {
            "rsa-3072"
        };
        for path in &paths {
            let sig_bin = decode_rawsig(&env.path(&format!("{path}.rawsig")));
            let ok = env.openssl_verify_raw(algorithm, &pem, &env.path(path), &sig_bin);
            assert!(
                ok.status.success(),
                "raw {label} signature of {path} does not verify\n{}",
                describe("openssl", &ok)
            );
        }
    }
}

#[test]
fn existing_output_needs_force() {
    require_tool("ssh-keygen", "openssh-client");
    let env = TestEnv::new();
    let _agent = env.start_agent(&[]);
    let data = write_file(&env.work, "twice.txt", b"first version\n");

    env.hwsign_ok(&[
        "sign",
        "--key",
        "release-p256",
        "--format",
        "sshsig",
        "twice.txt",
    ]);
    let sig = env.path("twice.txt.sig");
    let first = fs::read(&sig).unwrap();

    fs::write(&data, b"second version\n").unwrap();
    let err = env.hwsign_err(&[
        "sign",
        "--key",
        "release-p256",
        "--format",
        "sshsig",
        "twice.txt",
    ]);
    assert!(
        err.contains("--force"),
        "refusal should mention --force: {err}"
    );
    assert_eq!(
        fs::read(&sig).unwrap(),
        first,
        "existing signature was modified without --force"
    );

    env.hwsign_ok(&[
        "sign",
        "--key",
        "release-p256",
        "--format",
        "sshsig",
        "--force",
        "twice.txt",
    ]);
    let p = principal("release-p256");
    let allowed = env.allowed_signers_for("release-p256", &p);
    let ok = env.ssh_verify(&allowed, &p, "file", &data, &sig);
    assert!(
        ok.status.success(),
        "--force signature does not verify\n{}",
        describe("ssh-keygen -Y verify", &ok)
    );

    // Same protection for raw signatures.
    env.hwsign_ok(&[
        "sign",
        "--key",
        "release-p256",
        "--format",
        "raw",
        "twice.txt",
    ]);
    let err = env.hwsign_err(&[
        "sign",
        "--key",
        "release-p256",
        "--format",
        "raw",
        "twice.txt",
    ]);
    assert!(
        err.contains("--force"),
        "raw refusal should mention --force: {err}"
    );
    env.hwsign_ok(&[
        "sign",
        "--key",
        "release-p256",
        "--format",
        "raw",
        "--force",
        "twice.txt",
    ]);
}

#[test]
fn raw_ed25519_of_large_file_points_to_sshsig() {
    let env = TestEnv::new();
    let _agent = env.start_agent(&[]);
    write_random(&env.work, "one-mib.bin", 1024 * 1024, 42);
    let err = env.hwsign_err(&[
        "sign",
        "--key",
        "release-ed25519",
        "--format",
        "raw",
        "one-mib.bin",
    ]);
    assert!(err.contains("sshsig"), "error should suggest sshsig: {err}");
    assert!(
        !env.path("one-mib.bin.rawsig").exists(),
        "a failed raw signature left a .rawsig behind"
    );
}

#[test]
fn omitting_key_with_several_keys_lists_them() {
    let env = TestEnv::new();
    let _agent = env.start_agent(&[]);
    write_file(&env.work, "which-key.txt", b"?\n");
    let err = env.hwsign_err(&["sign", "--format", "sshsig", "which-key.txt"]);
    for spec in &KEYS {
        assert!(
            err.contains(spec.label),
            "error should list key {}: {err}",
            spec.label
        );
    }
    assert!(!env.path("which-key.txt.sig").exists());
}
