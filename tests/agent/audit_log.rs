//! The audit log: one record per signature, chained by hashes (across rotations), on disk
//! before the signature is returned (also when the agent is killed right after), checked by
//! `hwsign audit verify`, which names an altered record; when the log cannot be written the
//! signature is refused and the agent keeps serving. A torn tail (crash, full disk) is moved
//! aside and reported as recovered, never as an alteration; one agent owns a state directory.

use std::fs;
use std::io::Write;

use hwsign_testrig::*;

fn audit_dir(env: &TestEnv) -> std::path::PathBuf {
    env.state.join("hwsign")
}

fn audit_verify(env: &TestEnv) -> std::process::Output {
    run(env.command(client_bin()).args(["audit", "verify"]))
}

fn sign_n(env: &TestEnv, n: usize) {
    for i in 0..n {
        let name = format!("f{i}.txt");
        write_file(&env.work, &name, format!("file {i}\n").as_bytes());
        env.hwsign_ok(&[
            "sign",
            "--key",
            "release-ed25519",
            "--format",
            "sshsig",
            &name,
        ]);
    }
}

#[test]
fn n_signatures_n_records_and_an_altered_byte_is_named() {
    let env = TestEnv::new();
    let _agent = env.start_agent(&[]);
    sign_n(&env, 5);
    let out = audit_verify(&env);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("5 record(s)"),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let path = audit_dir(&env).join("audit.jsonl");
    let content = fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = content.lines().collect();
    assert_eq!(lines.len(), 5);
    let rec: serde_json::Value = serde_json::from_str(lines[2]).unwrap();
    assert_eq!(rec["kind"], "sshsig:file");
    assert_eq!(rec["result"], "signed");
    assert_eq!(rec["client_says"]["names_unverified"][0], "f2.txt");
    // Flip one character of record 3's namespace digest.
    let offset: usize = lines[..2].iter().map(|l| l.len() + 1).sum::<usize>()
        + lines[2].find("message_digest").unwrap()
        + 20;
    let mut bytes = content.into_bytes();
    bytes[offset] = if bytes[offset] == b'a' { b'b' } else { b'a' };
    fs::write(&path, bytes).unwrap();
    let out = audit_verify(&env);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("record 3") && err.contains("altered"),
        "{err}"
    );
}

#[test]
fn record_is_on_disk_when_the_agent_is_killed_right_after() {
    let env = TestEnv::new();
    let agent = env.start_agent(&[]);
    sign_n(&env, 1);
    hwsign::sys::kill(agent.pid() as i32, libc::SIGKILL).unwrap();
    drop(agent);
    let content = fs::read_to_string(audit_dir(&env).join("audit.jsonl")).unwrap();
    assert_eq!(content.lines().count(), 1, "{content}");
    assert!(audit_verify(&env).status.success());
}

#[test]
fn unwritable_audit_log_refuses_the_signature() {
    let env = TestEnv::new();
    let _agent = env.start_agent(&[]);
    sign_n(&env, 1);
    // Tests run as root, which ignores file modes: make the log a directory instead.
    let path = audit_dir(&env).join("audit.jsonl");
    fs::remove_file(&path).unwrap();
    fs::create_dir(&path).unwrap();
    write_file(&env.work, "x.txt", b"x\n");
    let err = env.hwsign_err(&[
        "sign",
        "--key",
        "release-ed25519",
        "--format",
        "sshsig",
        "x.txt",
    ]);
    assert!(
        err.contains("audit log") && err.contains("withheld"),
        "{err}"
    );
    assert!(
        !env.path("x.txt.sig").exists(),
        "a signature was written without its audit record"
    );
    // The agent still serves; once the log is back, signing works again.
    fs::remove_dir(&path).unwrap();
    env.hwsign_ok(&[
        "sign",
        "--key",
        "release-ed25519",
        "--format",
        "sshsig",
        "x.txt",
    ]);
}

#[test]
fn rotation_keeps_the_chain() {
    let env = TestEnv::new();
    let dir = env.config.join("hwsign");
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("config.toml"), "audit_max_bytes = \"2KiB\"\n").unwrap();
    let _agent = env.start_agent(&[]);
    sign_n(&env, 8);
    let rotated = fs::read_dir(audit_dir(&env))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with("audit.jsonl.")
        })
        .count();
    assert!(rotated >= 2, "expected rotated files, found {rotated}");
    let out = audit_verify(&env);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("8 record(s)"),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn sign_file(env: &TestEnv, name: &str) -> std::process::Output {
    write_file(&env.work, name, format!("{name}\n").as_bytes());
    env.hwsign(&[
        "sign",
        "--key",
        "release-ed25519",
        "--format",
        "sshsig",
        name,
    ])
}

fn torn_files(env: &TestEnv) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = fs::read_dir(audit_dir(env))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("audit.jsonl.torn-")
        })
        .collect();
    v.sort();
    v
}

/// A crash cut the last record: `verify` says so (not an alteration); the next agent moves the
/// torn tail aside, logs it, notes it in the chain and continues from the last complete record.
#[test]
fn a_torn_tail_is_moved_aside_at_start_and_verify_reports_it_recovered() {
    let env = TestEnv::new();
    let agent = env.start_agent(&[]);
    sign_n(&env, 1);
    assert!(agent.stop().success());
    let path = audit_dir(&env).join("audit.jsonl");
    // Half a record without its newline (and a control character, never to be shown).
    let half = b"{\"time\":\"2026-01-01T00:00:00Z\",\"socket\":\"main\",\"peer\":{\"x\":\"\x1b[2J";
    fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap()
        .write_all(half)
        .unwrap();

    let out = audit_verify(&env);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success()
            && text.contains("1 record(s)")
            && text.contains("not yet recovered")
            && text.contains(&format!("{} bytes", half.len()))
            && !text.contains('\x1b'),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let agent = env.start_agent(&[]);
    let torn = torn_files(&env);
    assert_eq!(torn.len(), 1, "{torn:?}");
    assert_eq!(fs::read(&torn[0]).unwrap(), half);
    assert!(
        agent.log_text().contains("torn"),
        "no warning in the agent log:\n{}",
        agent.log_text()
    );
    let out = sign_file(&env, "after.txt");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let out = audit_verify(&env);
    let text = String::from_utf8_lossy(&out.stdout);
    let torn_name = torn[0].file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        out.status.success()
            && text.contains("chain intact")
            && text.contains("3 record(s)")
            && text.contains("; 1 torn tail recovered")
            && text.contains("torn tail recovered at ")
            && text.contains(&format!("kept in {torn_name}, {} bytes", half.len()))
            && !text.contains("not yet recovered"),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let content = fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = content.lines().collect();
    let note: serde_json::Value = serde_json::from_str(lines[1]).unwrap();
    assert_eq!(note["event"], "torn-tail-recovered");
    assert_eq!(note["torn_file"], torn_name.as_str());
    let signed: serde_json::Value = serde_json::from_str(lines[2]).unwrap();
    assert_eq!(signed["result"], "signed");
}

/// One agent per state directory: a second one, even on another socket, refuses to start and
/// names the first one's pid; the first one serves on and its chain stays intact.
#[test]
fn a_second_agent_on_the_same_state_dir_refuses_to_start_and_names_the_pid() {
    let env = TestEnv::new();
    let mut first = env.start_agent(&[]);
    let other = short_tempdir("hws-2nd");
    let other_sock_dir = other.path().join("hwsign");
    let (status, stderr) =
        env.start_agent_expect_failure(&["--socket-dir", other_sock_dir.to_str().unwrap()]);
    assert!(!status.success());
    assert!(
        stderr.contains(&format!("pid {}", first.pid()))
            && stderr.contains(&audit_dir(&env).display().to_string()),
        "{stderr}"
    );
    assert!(
        !other_sock_dir.join("agent.sock").exists(),
        "the second agent bound a socket"
    );
    assert!(first.is_running());
    assert_eq!(
        fs::read_to_string(audit_dir(&env).join("agent.lock"))
            .unwrap()
            .trim(),
        first.pid().to_string()
    );
    sign_n(&env, 2);
    assert!(audit_verify(&env).status.success());
}

/// A tmpfs mounted for one test (root only), unmounted on drop.
struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    fn mount(at: &std::path::Path, size: &str) -> Result<Tmpfs, String> {
        let out = std::process::Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(at)
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if out.status.success() {
            Ok(Tmpfs(at.to_path_buf()))
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let ok = std::process::Command::new("umount")
            .arg(&self.0)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            let _ = std::process::Command::new("umount")
                .arg("-l")
                .arg(&self.0)
                .status();
        }
    }
}

/// A real full disk (a small tmpfs under the state directory; needs root): the signature whose
/// record does not fit is refused and nothing is returned, the half-written record is cut back,
/// and once there is space again the next signature's record continues an intact chain.
#[test]
fn a_full_disk_refuses_the_signature_and_the_chain_survives() {
    if hwsign::sys::current_uid() != 0 {
        eprintln!("skipped: mounting a tmpfs needs root");
        return;
    }
    let env = TestEnv::new();
    let hw = audit_dir(&env);
    let token = env.dir.path().join("softhsm-copy");
    fs::rename(hw.join("softhsm"), &token).unwrap();
    let _tmpfs = match Tmpfs::mount(&env.state, "2m") {
        Ok(t) => t,
        Err(e) => {
            eprintln!("skipped: cannot mount a tmpfs: {e}");
            return;
        }
    };
    fs::create_dir_all(&hw).unwrap();
    set_mode(&hw, 0o700);
    copy_dir_recursive(&token, &hw.join("softhsm"));
    let _agent = env.start_agent(&[]);
    let path = hw.join("audit.jsonl");

    // Sign until the file's last page has room for part of a record but not all of it, so
    // the next write is torn (tmpfs allocates whole pages).
    let mut signed = 0;
    loop {
        let out = sign_file(&env, &format!("s{signed}.txt"));
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        signed += 1;
        let content = fs::read(&path).unwrap();
        let last = content[..content.len() - 1]
            .rsplit(|&b| b == b'\n')
            .next()
            .unwrap()
            .len()
            + 1;
        let room = (4096 - content.len() % 4096) % 4096;
        if room > 16 && room + 64 < last {
            break;
        }
        assert!(signed < 60, "the records never left a partly filled page");
    }
    let before = fs::read(&path).unwrap();

    // Fill the disk.
    let filler_path = hw.join("filler");
    let mut filler = fs::File::create(&filler_path).unwrap();
    for chunk in [65536, 4096, 1] {
        let buf = vec![0u8; chunk];
        while filler.write_all(&buf).is_ok() {}
    }
    drop(filler);

    let out = sign_file(&env, "full.txt");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "signed on a full disk");
    assert!(err.contains("audit log"), "{err}");
    assert!(
        !env.path("full.txt.sig").exists(),
        "a signature without its record"
    );
    let after = fs::read(&path).unwrap();
    assert!(
        after == before,
        "the torn record was not cut back: {} bytes before, {} after",
        before.len(),
        after.len()
    );

    fs::remove_file(&filler_path).unwrap();
    let out = sign_file(&env, "after.txt");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = audit_verify(&env);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success()
            && text.contains(&format!("{} record(s)", signed + 1))
            && !text.contains("torn"),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
