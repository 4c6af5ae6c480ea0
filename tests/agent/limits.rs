//! No client can make the agent unresponsive to others: idle connections beyond the budget
//! make room for newcomers, a frame trickling in is cut off at its deadline while a large one
//! over a slow link gets through, idle connections are closed and the client reconnects, a
//! half-closed client still gets its reply, malformed standard requests get the protocol's
//! `SSH_AGENT_FAILURE`, and a deleted socket file is bound again. Timeouts are set small in the
//! config and asserted with at least 5× margins.

use std::fs;
use std::io::{Read, Write};
use std::net::Shutdown;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use hwsign_testrig::*;

const SSH_AGENT_FAILURE: u8 = 5;
const SSH_AGENT_SIGN_RESPONSE: u8 = 14;

fn write_config(env: &TestEnv, text: &str) {
    let dir = env.config.join("hwsign");
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("config.toml"), text).unwrap();
}

fn connect(sock: &Path) -> UnixStream {
    let s = UnixStream::connect(sock).expect("connect to the agent");
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    s
}

fn string(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&(b.len() as u32).to_be_bytes());
    out.extend_from_slice(b);
}

fn frame(msg: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    string(&mut out, msg);
    out
}

/// The reply message, or None when the agent closed the connection.
fn read_reply(s: &mut UnixStream) -> Option<Vec<u8>> {
    hwsign_testrig::wire::receive(s)
}

/// Whether the agent closed the connection (EOF) within `within`.
fn closed_within(s: &mut UnixStream, within: Duration) -> bool {
    s.set_read_timeout(Some(within)).unwrap();
    let mut buf = [0u8; 1024];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
    }
}

/// SSH_AGENTC_SIGN_REQUEST for the Ed25519 test key over `data`.
fn ssh_sign_request(env: &TestEnv, data: &[u8]) -> Vec<u8> {
    let line = env.key_by_label("release-ed25519")["ssh_public_key"]
        .as_str()
        .unwrap()
        .to_string();
    let blob = b64_decode(line.split_whitespace().nth(1).unwrap());
    let mut msg = vec![13];
    string(&mut msg, &blob);
    string(&mut msg, data);
    msg.extend_from_slice(&0u32.to_be_bytes());
    msg
}

fn keys_answer_within(env: &TestEnv, limit: Duration) -> Duration {
    let started = Instant::now();
    let mut cmd = env.hwsign_cmd(&["keys"]);
    let out = run_with_timeout(&mut cmd, limit);
    assert!(out.status.success(), "{}", describe("hwsign keys", &out));
    started.elapsed()
}

#[test]
fn idle_connections_beyond_the_budget_cannot_block_anyone() {
    let env = TestEnv::new();
    let agent = env.start_agent(&[]);
    let extra = env.sock_dir().join("agent.extra.sock");
    // Three times the default budgets of idle connections on both sockets.
    let held: Vec<UnixStream> = (0..192)
        .map(|_| connect(&agent.sock))
        .chain((0..48).map(|_| connect(&extra)))
        .collect();
    let took = keys_answer_within(&env, Duration::from_secs(30));
    eprintln!(
        "hwsign keys answered in {took:?} with {} connections held",
        held.len()
    );
    let ssh_add = run_with_timeout(
        env.command("ssh-add")
            .arg("-L")
            .env("SSH_AUTH_SOCK", &agent.sock),
        Duration::from_secs(30),
    );
    assert!(
        ssh_add.status.success(),
        "{}",
        describe("ssh-add -L", &ssh_add)
    );
    // A forwarded host's idle connections cannot starve the local socket, and the extra
    // socket serves as well.
    let mut s = connect(&extra);
    s.write_all(&frame(&[11])).unwrap();
    assert_eq!(
        read_reply(&mut s).unwrap()[0],
        12,
        "IDENTITIES_ANSWER on the extra socket"
    );
    assert!(
        agent
            .log_text()
            .contains("closed the longest-idle connection")
    );
    drop(held);
}

#[test]
fn a_trickling_frame_is_cut_off_and_a_slow_large_one_gets_through() {
    let env = TestEnv::new();
    write_config(
        &env,
        "[sockets.main]\nframe_timeout = \"1s\"\nmin_frame_rate = \"1KiB\"\nmax_connections = 2\n",
    );
    let agent = env.start_agent(&[]);
    // 100 bytes announced (1.1 s allowed), one byte every 200 ms.
    let mut slow = connect(&agent.sock);
    let started = Instant::now();
    slow.write_all(&100u32.to_be_bytes()).unwrap();
    let writer = {
        let mut w = slow.try_clone().unwrap();
        std::thread::spawn(move || {
            for _ in 0..100 {
                if w.write_all(&[11]).is_err() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(200));
            }
        })
    };
    let reply = read_reply(&mut slow).expect("an error reply before the close");
    let dropped_after = started.elapsed();
    assert!(
        String::from_utf8_lossy(&reply).contains("not complete within 1.1 s"),
        "{:?}",
        String::from_utf8_lossy(&reply)
    );
    assert!(closed_within(&mut slow, Duration::from_secs(5)));
    eprintln!("a client sending 1 byte per 200 ms was dropped after {dropped_after:?}");
    assert!(
        dropped_after >= Duration::from_millis(1000) && dropped_after < Duration::from_secs(6),
        "{dropped_after:?}"
    );
    writer.join().unwrap();

    // 8 KiB over a link of ~4 KiB/s: past the 1 s base, within the time its length allows
    // (1 s + 8 s). An unknown request type: the answer is the standard failure, not a
    // timeout.
    let mut large = connect(&agent.sock);
    let mut msg = vec![200u8];
    msg.resize(8 * 1024, 0);
    let bytes = frame(&msg);
    let started = Instant::now();
    for chunk in bytes.chunks(512) {
        large.write_all(chunk).unwrap();
        std::thread::sleep(Duration::from_millis(125));
    }
    assert_eq!(read_reply(&mut large), Some(vec![SSH_AGENT_FAILURE]));
    assert!(started.elapsed() > Duration::from_millis(1500));
    keys_answer_within(&env, Duration::from_secs(30));
}

#[test]
fn idle_connections_are_closed_and_a_long_hash_still_signs() {
    let env = TestEnv::new();
    write_config(&env, "[sockets.main]\nidle_timeout = \"50ms\"\n");
    let agent = env.start_agent(&[]);
    let mut idle = connect(&agent.sock);
    assert!(
        closed_within(&mut idle, Duration::from_secs(5)),
        "an idle connection is closed after its idle timeout"
    );
    // Hashing 1 GiB (sparse: no disk) takes far longer than 50 ms: the connection the client
    // picked its key on is closed meanwhile, and the client signs over a new one.
    let big = env.path("big.img");
    fs::File::create(&big).unwrap().set_len(1 << 30).unwrap();
    let started = Instant::now();
    env.hwsign_ok(&[
        "attest",
        "--key",
        "release-p256",
        "--purl",
        PURL,
        "-o",
        "big.intoto.json",
        "big.img",
    ]);
    eprintln!("attest of 1 GiB took {:?}", started.elapsed());
    assert!(env.path("big.intoto.json").is_file());
    assert!(agent.log_text().contains("idle timeout"));
}

#[test]
fn a_half_closed_client_gets_its_reply() {
    let env = TestEnv::new();
    // The confirm command takes a while, so the request is still in progress when the
    // client shuts its writing side.
    let script = env.dir.path().join("slow-yes.sh");
    fs::write(&script, "#!/bin/sh\nsleep 1\nexit 0\n").unwrap();
    set_mode(&script, 0o755);
    write_config(
        &env,
        &format!(
            "confirm_command = [{:?}]\n[[key]]\nmatch = \"label:release-ed25519\"\nconfirm = true\n",
            script.display().to_string()
        ),
    );
    let agent = env.start_agent(&[]);
    let mut s = connect(&agent.sock);
    s.write_all(&frame(&ssh_sign_request(&env, b"half-closed")))
        .unwrap();
    s.shutdown(Shutdown::Write).unwrap();
    let reply = read_reply(&mut s)
        .unwrap_or_else(|| panic!("no reply after the half-close\n{}", agent.log_text()));
    assert_eq!(reply[0], SSH_AGENT_SIGN_RESPONSE);
}

#[test]
fn malformed_standard_requests_get_the_standard_failure() {
    let env = TestEnv::new();
    let agent = env.start_agent(&[]);
    let mut s = connect(&agent.sock);
    for kind in [13u8, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26] {
        s.write_all(&frame(&[kind, 0, 0, 0, 9, 1])).unwrap();
        assert_eq!(
            read_reply(&mut s),
            Some(vec![SSH_AGENT_FAILURE]),
            "malformed request type {kind}"
        );
    }
    // A complete sign request followed by a stray byte is malformed: nothing is signed.
    let mut msg = ssh_sign_request(&env, b"data");
    msg.push(0);
    s.write_all(&frame(&msg)).unwrap();
    assert_eq!(read_reply(&mut s), Some(vec![SSH_AGENT_FAILURE]));
    // Without the stray byte it signs, on the same connection.
    s.write_all(&frame(&ssh_sign_request(&env, b"data")))
        .unwrap();
    assert_eq!(read_reply(&mut s).unwrap()[0], SSH_AGENT_SIGN_RESPONSE);
    let audit = fs::read_to_string(env.state.join("hwsign/audit.jsonl")).unwrap();
    assert_eq!(
        audit.lines().filter(|l| l.contains("\"signed\"")).count(),
        1,
        "{audit}"
    );
}

#[test]
fn a_deleted_socket_file_is_bound_again() {
    let env = TestEnv::new();
    let agent = env.start_agent(&[]);
    fs::remove_file(&agent.sock).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !agent.sock.exists() {
        assert!(Instant::now() < deadline, "the socket was not bound again");
        std::thread::sleep(Duration::from_millis(100));
    }
    keys_answer_within(&env, Duration::from_secs(30));
    assert!(agent.log_text().contains("bound it again"));
}

#[test]
fn a_confirm_dialog_nobody_answers_is_denied_after_confirm_timeout() {
    let env = TestEnv::new();
    let script = env.dir.path().join("never.sh");
    let pid_file = env.dir.path().join("confirm.pid");
    fs::write(
        &script,
        format!(
            "#!/bin/sh\necho $$ > {}\nexec sleep 300\n",
            pid_file.display()
        ),
    )
    .unwrap();
    set_mode(&script, 0o755);
    write_config(
        &env,
        &format!(
            "confirm_timeout = \"1s\"\nconfirm_command = [{:?}]\n[[key]]\nmatch = \"label:release-ed25519\"\nconfirm = true\n",
            script.display().to_string()
        ),
    );
    let agent = env.start_agent(&[]);
    let mut s = connect(&agent.sock);
    let started = Instant::now();
    s.write_all(&frame(&ssh_sign_request(&env, b"nobody answers")))
        .unwrap();
    assert_eq!(read_reply(&mut s), Some(vec![SSH_AGENT_FAILURE]));
    let took = started.elapsed();
    assert!(took < Duration::from_secs(10), "{took:?}");
    let pid = fs::read_to_string(&pid_file).unwrap();
    let proc_dir = Path::new("/proc").join(pid.trim());
    let deadline = Instant::now() + Duration::from_secs(10);
    while proc_dir.exists() {
        assert!(
            Instant::now() < deadline,
            "the confirm command was not killed"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(agent.log_text().contains("did not answer in time"));
}

/// SoftHSM token files moved away and restored while the agent runs (a backup restore): the
/// module is initialised again as after a re-plug, by itself within a few seconds or at once
/// with `hwsign lock`; no restart.
#[test]
fn restored_token_files_are_picked_up_without_a_restart() {
    let env = TestEnv::new();
    let _agent = env.start_agent(&[]);
    write_file(&env.work, "a.txt", b"alpha\n");
    let sign = || {
        env.hwsign(&[
            "sign",
            "--key",
            "release-p256",
            "--format",
            "raw",
            "--force",
            "a.txt",
        ])
    };
    assert!(sign().status.success());
    let tokens = env.state.join("hwsign/softhsm/tokens");
    let away = env.dir.path().join("tokens.away");
    for recover_by_lock in [true, false] {
        fs::rename(&tokens, &away).unwrap();
        let out = sign();
        assert!(!out.status.success(), "signed without token files");
        fs::rename(&away, &tokens).unwrap();
        if recover_by_lock {
            env.hwsign_ok(&["lock"]);
        } else {
            std::thread::sleep(Duration::from_secs(3));
        }
        let out = sign();
        assert!(
            out.status.success(),
            "recover by lock: {recover_by_lock}\n{}",
            describe("hwsign sign", &out)
        );
    }
}

/// Another user is refused by the peer-credential check even where the file modes would let
/// it connect (the directory is 0700 and the socket 0600 otherwise: root can open them
/// anyway, and a misconfigured mode must not be enough).
#[test]
fn another_user_is_refused_by_its_peer_credentials() {
    if !is_root() {
        eprintln!("skipped: needs root to run a client as another user");
        return;
    }
    let env = TestEnv::new();
    let agent = env.start_agent(&[]);
    for p in [env.dir.path(), env.run.as_path(), env.sock_dir().as_path()] {
        set_mode(p, 0o755);
    }
    set_mode(&agent.sock, 0o777);
    // Prints the reply's length: 0 when the agent closed without answering.
    let client = "import socket,struct,sys\ns=socket.socket(socket.AF_UNIX)\ns.connect(sys.argv[1])\ntry:\n    s.sendall(struct.pack('>I',1)+b'\\x0b')\n    s.settimeout(20)\n    print(len(s.recv(100)))\nexcept (BrokenPipeError, ConnectionResetError):\n    print(0)\n";
    let out = run_with_timeout(
        Command::new("setpriv")
            .args([
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                "/usr/bin/python3",
                "-c",
                client,
            ])
            .arg(&agent.sock),
        Duration::from_secs(30),
    );
    assert!(
        out.status.success(),
        "{}",
        describe("client as nobody", &out)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "0",
        "the agent answered another user"
    );
    assert!(agent.log_text().contains("refusing connection"));
}

fn is_root() -> bool {
    fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
}
