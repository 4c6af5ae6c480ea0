//! The client under faults (issue 11, defects 1, 6 and 8): it reports success only when every
//! requested output was written. An agent killed in the middle of a many-file `hwsign sign` is
//! an error naming the socket, how many signatures were written and which files were not
//! signed; a statement is sent without its subject names a second time; raw
//! Ed25519 refuses a FIFO (without hanging), a device and a directory; an output location that
//! cannot be written is found before the token signs (no `signed` audit record). A file changed
//! while hashed is tested in `client::hash` (unit tests).

use std::ffi::OsStr;
use std::fs;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use hwsign_testrig::peers::*;
use hwsign_testrig::*;

/// The `signed` records of the agent's audit log.
fn signed_records(env: &TestEnv) -> usize {
    jsonl(&env.state.join("hwsign/audit.jsonl"))
        .iter()
        .filter(|r| r["result"] == "signed")
        .count()
}

/// A confirm command that approves the first `n - 1` requests and blocks on the `n`-th (it
/// creates `<counter>.blocked` and waits until its parent, the agent, is gone).
fn blocking_confirm(env: &TestEnv, n: usize) -> (String, PathBuf) {
    let script = env.path("confirm-gate.sh");
    fs::write(
        &script,
        "#!/bin/sh\n\
         # confirm-gate.sh COUNTER N PROMPT (the client signs several files at once: the\n\
         # counter is counted under a lock)\n\
         exec 9>\"$1.lock\"\n\
         flock 9\n\
         n=$(cat \"$1\" 2>/dev/null || echo 0)\n\
         n=$((n + 1))\n\
         echo \"$n\" > \"$1\"\n\
         flock -u 9\n\
         if [ \"$n\" -ge \"$2\" ]; then\n\
         \x20 : > \"$1.blocked\"\n\
         \x20 while kill -0 \"$PPID\" 2>/dev/null; do sleep 0.05; done\n\
         \x20 exit 1\n\
         fi\n\
         exit 0\n",
    )
    .unwrap();
    let counter = env.dir.path().join("confirm.count");
    let setting = format!(
        "confirm_command = [\"/bin/sh\", {}, {}, \"{n}\"]\n",
        toml_str(&script),
        toml_str(&counter)
    );
    (setting, counter.with_extension("count.blocked"))
}

#[test]
fn an_agent_killed_mid_sign_is_an_error_that_says_what_was_signed() {
    const FILES: usize = 20;
    const BLOCK_AT: usize = 6;
    let env = TestEnv::new();
    let (confirm, blocked) = blocking_confirm(&env, BLOCK_AT);
    write_config(
        &env,
        &format!("{confirm}[[key]]\nmatch = \"label:release-p256\"\nconfirm = true\n"),
    );
    let agent = env.start_agent(&[]);
    let names: Vec<String> = (0..FILES).map(|i| format!("f{i:02}.txt")).collect();
    for n in &names {
        write_file(&env.work, n, format!("{n}\n").as_bytes());
    }
    let mut args = vec!["sign", "--key", "release-p256", "--format", "sshsig"];
    args.extend(names.iter().map(String::as_str));
    let mut sign = Background::spawn(&env, &env.agent_sock(), &args, "sign");
    wait_until("the confirm command blocking", || blocked.exists());

    // The agent dies while the 6th signature is being confirmed.
    hwsign::sys::kill(agent.pid() as i32, libc::SIGKILL).unwrap();
    agent.stop();
    let out = sign.wait();
    let err = stderr_of(&out);
    assert!(
        !out.status.success(),
        "exit 0 after losing the agent\n{err}"
    );
    let sock = env.agent_sock().display().to_string();
    assert!(err.contains(&format!("lost the agent at {sock}")), "{err}");
    // Several files are signed at once: the files signed before the agent died are the ones
    // with a signature, whichever they are, and the message counts and names exactly those
    // that were not.
    let signed: Vec<&String> = names
        .iter()
        .filter(|n| env.path(&format!("{n}.sig")).exists())
        .collect();
    let not_signed: Vec<&str> = names
        .iter()
        .filter(|n| !env.path(&format!("{n}.sig")).exists())
        .map(String::as_str)
        .collect();
    let done = signed.len();
    // Every confirmation from the BLOCK_AT-th on blocks: the ones before it were signed.
    assert_eq!(done, BLOCK_AT - 1, "{err}");
    assert!(
        err.contains(&format!(
            "wrote {done} of {FILES} signatures; not signed: {}, {}, {} …",
            not_signed[0], not_signed[1], not_signed[2]
        )),
        "{err}"
    );
    // The full list of what was not signed is in the file the message names.
    let list = err
        .split_once(&format!("(the full list of {} is in ", FILES - done))
        .and_then(|(_, rest)| rest.split_once(')'))
        .map(|(path, _)| PathBuf::from(path))
        .unwrap_or_else(|| panic!("no list file named\n{err}"));
    let listed = fs::read_to_string(&list).unwrap();
    let _ = fs::remove_file(&list);
    assert_eq!(listed.lines().collect::<Vec<_>>(), not_signed);
}

/// Issue 14: a statement is sent once, not again as the list of subject names beside it. The
/// release that used to exceed the old 256 KiB limit (statement plus names) is signed by an
/// agent with that limit. (A request over the advertised limit is refused by the client before
/// hashing: tests/agent/scale.rs.)
#[test]
fn a_statement_is_sent_without_its_names() {
    const NAME_LEN: usize = 70;
    let per_subject = NAME_LEN + 99; // {"name":"…","digest":{"sha256":"…"}},
    let count = (hwsign::proto::MAX_FRAME - 4096) / per_subject;
    assert!(count * (per_subject + NAME_LEN + 4) > hwsign::proto::MAX_FRAME + 4096);
    let env = TestEnv::new();
    let dir = env.config.join("hwsign");
    fs::create_dir_all(&dir).unwrap();
    fs::write(
        dir.join("config.toml"),
        "[sockets.main]\nmax_request = \"256KiB\"\n",
    )
    .unwrap();
    let _agent = env.start_agent(&[]);
    let dist = env.work.join("dist");
    fs::create_dir(&dist).unwrap();
    let mut args: Vec<String> = ["attest", "--key", "release-p256", "--purl", PURL]
        .map(String::from)
        .to_vec();
    for i in 0..count {
        let name = format!("{i:05}-{}", "x".repeat(NAME_LEN - 6));
        fs::write(dist.join(&name), b"artifact").unwrap();
        args.push(format!("dist/{name}"));
    }
    env.hwsign_ok(&args[..]);
    assert!(env.path("release.intoto.json").exists());
    assert_eq!(signed_records(&env), 1);
}

/// Runs `hwsign sign --format raw` with the Ed25519 key on `input`: it must fail within a few
/// seconds, naming `input` and what it is.
fn raw_ed25519_refuses(env: &TestEnv, input: &str, kind: &str) {
    let started = Instant::now();
    let mut cmd = env.hwsign_cmd(&["sign", "--key", "release-ed25519", "--format", "raw", input]);
    let out = run_with_timeout(&mut cmd, Duration::from_secs(30));
    let err = stderr_of(&out);
    assert!(!out.status.success(), "{input}: signed?\n{err}");
    assert!(
        err.contains(&format!("{input} is a {kind}, not a regular file")),
        "{input}: {err}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{input}: took {:?}",
        started.elapsed()
    );
    assert!(!env.path(&format!("{input}.rawsig")).exists());
}

#[test]
fn raw_ed25519_refuses_fifos_devices_and_directories_promptly() {
    let env = TestEnv::new();
    let _agent = env.start_agent(&[]);
    let made = env.command("mkfifo").arg("pipe").status().unwrap();
    assert!(made.success());
    std::os::unix::fs::symlink("/dev/zero", env.path("zero")).unwrap();
    fs::create_dir(env.path("dir")).unwrap();
    raw_ed25519_refuses(&env, "pipe", "FIFO (named pipe)");
    raw_ed25519_refuses(&env, "zero", "character device");
    raw_ed25519_refuses(&env, "dir", "directory");
    assert_eq!(signed_records(&env), 0);
}

/// The command fails, saying why, and the token signed nothing.
fn refused_before_signing<S: AsRef<OsStr> + std::fmt::Debug>(env: &TestEnv, args: &[S], why: &str) {
    let err = env.hwsign_err(args);
    assert!(err.contains(why), "{args:?}: {err}");
    assert_eq!(signed_records(env), 0, "{args:?} signed\n{err}");
}

#[test]
fn unwritable_output_locations_are_found_before_the_token_signs() {
    let env = TestEnv::new();
    let _agent = env.start_agent(&[]);
    write_file(&env.work, "a.txt", b"a\n");
    write_file(&env.work, "not-a-dir", b"a file\n");
    let attest = |out: &str| -> Vec<String> {
        [
            "attest",
            "--key",
            "release-p256",
            "--purl",
            PURL,
            "-o",
            out,
            "a.txt",
        ]
        .map(String::from)
        .to_vec()
    };
    // A missing directory, and a "directory" that is a regular file (both fail for root too).
    refused_before_signing(
        &env,
        &attest("missing/release.intoto.json"),
        "cannot write to missing",
    );
    refused_before_signing(
        &env,
        &attest("not-a-dir/release.intoto.json"),
        "cannot write to not-a-dir",
    );
    // --force over an output that is a directory: nothing can replace it.
    fs::create_dir(env.path("a.txt.sig")).unwrap();
    refused_before_signing(
        &env,
        &[
            "sign",
            "--key",
            "release-p256",
            "--format",
            "sshsig",
            "--force",
            "a.txt",
        ],
        "a.txt.sig",
    );
    // --emit-verifier-material: its files are checked too.
    fs::create_dir(env.path("hwsign-release-p256.pem")).unwrap();
    refused_before_signing(
        &env,
        &[
            "sign",
            "--key",
            "release-p256",
            "--format",
            "raw",
            "--emit-verifier-material",
            "a.txt",
        ],
        "hwsign-release-p256.pem",
    );
    assert!(!env.path("a.txt.rawsig").exists());
    let mut with_material = attest("release.intoto.json");
    with_material.push("--emit-verifier-material".into());
    refused_before_signing(&env, &with_material, "hwsign-release-p256.pem");
    assert!(!env.path("release.intoto.json").exists());

    // And once the locations are fine, it signs.
    fs::remove_dir(env.path("hwsign-release-p256.pem")).unwrap();
    env.hwsign_ok(&with_material[..]);
    assert_eq!(signed_records(&env), 1);
}
