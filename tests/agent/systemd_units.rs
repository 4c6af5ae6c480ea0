//! The systemd user units in `systemd/` and socket activation:
//! the units say what the agent expects (fd names `main` and `extra`, modes, `Type=notify`),
//! `systemd-analyze --user verify` accepts them with the built agent as `ExecStart=`, and an
//! agent started by `systemd-socket-activate` with two named sockets serves both, sends
//! `READY=1` to `$NOTIFY_SOCKET`, prints its ready line, and leaves the sockets it was given
//! in place when it stops.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs::{self, OpenOptions};
use std::io::{BufRead, BufReader};
use std::os::unix::fs::FileTypeExt;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use hwsign_testrig::*;
use serde_json::Value;

const UNIT_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/systemd");
const MAIN_SOCKET_UNIT: &str = "hwsign-agent.socket";
const EXTRA_SOCKET_UNIT: &str = "hwsign-agent-extra.socket";
const SERVICE_UNIT: &str = "hwsign-agent.service";
const UNITS: [&str; 3] = [MAIN_SOCKET_UNIT, EXTRA_SOCKET_UNIT, SERVICE_UNIT];

// ---------------------------------------------------------------- unit files

/// `[Section]` → key → values, in order (comments, blank lines skipped; no continuations).
type Unit = BTreeMap<String, BTreeMap<String, Vec<String>>>;

fn parse_unit(name: &str, text: &str) -> Unit {
    let mut unit = Unit::new();
    let mut section: Option<String> = None;
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        assert!(
            !line.ends_with('\\'),
            "{name}:{}: line continuations are not expected here: {line}",
            n + 1
        );
        if let Some(s) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = Some(s.to_string());
            unit.entry(s.to_string()).or_default();
            continue;
        }
        let (key, value) = line
            .split_once('=')
            .unwrap_or_else(|| panic!("{name}:{}: not KEY=VALUE: {line}", n + 1));
        let current = section
            .clone()
            .unwrap_or_else(|| panic!("{name}:{}: {key}= outside any [section]", n + 1));
        unit.entry(current)
            .or_default()
            .entry(key.trim().to_string())
            .or_default()
            .push(value.trim().to_string());
    }
    unit
}

fn read_unit(name: &str) -> (String, Unit) {
    let path = Path::new(UNIT_DIR).join(name);
    let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let unit = parse_unit(name, &text);
    (text, unit)
}

fn values<'a>(unit: &'a Unit, section: &str, key: &str) -> Vec<&'a str> {
    unit.get(section)
        .and_then(|s| s.get(key))
        .map(|v| v.iter().map(String::as_str).collect())
        .unwrap_or_default()
}

fn assert_value(name: &str, unit: &Unit, section: &str, key: &str, expected: &str) {
    let got = values(unit, section, key);
    assert_eq!(
        got,
        [expected],
        "{name}: [{section}] {key}= should be exactly {expected:?}"
    );
}

/// Space-separated words of every `key=` line (e.g. `Requires=a b`, `Requires=c`).
fn words<'a>(unit: &'a Unit, section: &str, key: &str) -> Vec<&'a str> {
    values(unit, section, key)
        .into_iter()
        .flat_map(str::split_whitespace)
        .collect()
}

/// `ExecStart=` value naming `path` (specifier `%` escaped, quoted when needed).
fn exec_path(path: &str) -> String {
    let escaped = path.replace('%', "%%");
    if escaped
        .chars()
        .any(|c| c.is_whitespace() || c == '"' || c == '\\' || c == '\'')
    {
        format!("\"{}\"", escaped.replace('\\', "\\\\").replace('"', "\\\""))
    } else {
        escaped
    }
}

#[test]
fn socket_units_hand_the_agent_two_named_sockets() {
    for (name, path, fd_name) in [
        (MAIN_SOCKET_UNIT, "%t/hwsign/agent.sock", "main"),
        (EXTRA_SOCKET_UNIT, "%t/hwsign/agent.extra.sock", "extra"),
    ] {
        let (_, unit) = read_unit(name);
        assert_value(name, &unit, "Socket", "ListenStream", path);
        assert_value(name, &unit, "Socket", "FileDescriptorName", fd_name);
        assert_value(name, &unit, "Socket", "SocketMode", "0600");
        assert_value(name, &unit, "Socket", "DirectoryMode", "0700");
        assert_value(name, &unit, "Socket", "Service", SERVICE_UNIT);
        assert_value(name, &unit, "Install", "WantedBy", "sockets.target");
        assert!(
            values(&unit, "Socket", "Accept").iter().all(|v| *v == "no"),
            "{name}: one agent serves every connection (Accept=no)"
        );
    }

    let (_, service) = read_unit(SERVICE_UNIT);
    let name = SERVICE_UNIT;
    assert_value(name, &service, "Service", "Type", "notify");
    assert_eq!(
        values(&service, "Service", "ExecStart").len(),
        1,
        "{name}: exactly one ExecStart="
    );
    let requires = words(&service, "Unit", "Requires");
    for socket in [MAIN_SOCKET_UNIT, EXTRA_SOCKET_UNIT] {
        assert!(
            requires.contains(&socket),
            "{name}: Requires= lacks {socket}: {requires:?}"
        );
    }
    assert!(
        values(&service, "Service", "RuntimeDirectory").is_empty(),
        "{name}: RuntimeDirectory= would delete the socket units' sockets when the service stops"
    );
    assert!(
        values(&service, "Service", "CapabilityBoundingSet")
            .iter()
            .all(|v| !v.is_empty()),
        "{name}: an empty CapabilityBoundingSet= makes a user service fail with 218/CAPABILITIES"
    );
    assert!(
        words(&service, "Service", "RestrictAddressFamilies").contains(&"AF_UNIX"),
        "{name}: the agent needs AF_UNIX (its sockets, pcscd, sd_notify)"
    );
    assert!(
        !words(&service, "Service", "MemoryDenyWriteExecute").contains(&"yes"),
        "{name}: MemoryDenyWriteExecute=yes breaks some PKCS#11 modules"
    );
}

/// `systemd-analyze --user verify` on copies of the units whose `ExecStart=` is the built agent.
fn analyze_verify(units_dir: &Path) -> (ExitStatus, String) {
    let analyze = require_tool("systemd-analyze", "systemd");
    // Private XDG dirs: no user session is needed, and the user's own units stay out of it.
    let xdg = short_tempdir("hwsign-xdg");
    for d in ["runtime", "config", "data", "state"] {
        fs::create_dir_all(xdg.path().join(d)).unwrap();
    }
    set_mode(&xdg.path().join("runtime"), 0o700);
    let mut cmd = Command::new(analyze);
    isolate(&mut cmd);
    cmd.args(["--user", "--no-pager", "verify"])
        .args(UNITS.iter().map(|u| units_dir.join(u)))
        .env("XDG_RUNTIME_DIR", xdg.path().join("runtime"))
        .env("XDG_CONFIG_HOME", xdg.path().join("config"))
        .env("XDG_DATA_HOME", xdg.path().join("data"))
        .env("XDG_STATE_HOME", xdg.path().join("state"))
        .env_remove("SYSTEMD_LOG_LEVEL")
        .current_dir(units_dir)
        .stdin(Stdio::null());
    let desc = format!("{cmd:?}");
    let out = run(&mut cmd);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("{}", describe(&desc, &out));
    (out.status, text)
}

/// Copies the units into a fresh directory, `ExecStart=` pointing at the built agent; `extra`
/// is appended to the service's `[Service]` section.
fn units_for_test(extra_service_line: Option<&str>) -> tempfile::TempDir {
    let dir = short_tempdir("hwsign-units");
    for name in UNITS {
        let text = fs::read_to_string(Path::new(UNIT_DIR).join(name))
            .unwrap_or_else(|e| panic!("read systemd/{name}: {e}"));
        let text = if name == SERVICE_UNIT {
            let mut out = String::new();
            let mut replaced = 0;
            for line in text.lines() {
                if line.trim_start().starts_with("ExecStart=") {
                    out.push_str(&format!(
                        "ExecStart={}\n",
                        exec_path(agent_bin().to_str().expect("test paths are UTF-8"))
                    ));
                    replaced += 1;
                } else {
                    out.push_str(line);
                    out.push('\n');
                }
                if let Some(extra) = extra_service_line.filter(|_| line.trim() == "[Service]") {
                    out.push_str(extra);
                    out.push('\n');
                }
            }
            assert_eq!(replaced, 1, "systemd/{name}: exactly one ExecStart= line");
            out
        } else {
            text
        };
        fs::write(dir.path().join(name), text).unwrap();
    }
    dir
}

fn problem_lines(output: &str) -> Vec<&str> {
    output
        .lines()
        .filter(|l| {
            let lower = l.to_lowercase();
            lower.contains("hwsign")
                || lower.contains("error")
                || lower.contains("failed")
                || lower.contains("ignoring")
        })
        .collect()
}

#[test]
fn systemd_analyze_verify_accepts_the_units() {
    let units = units_for_test(None);
    let (status, output) = analyze_verify(units.path());
    assert!(
        status.success(),
        "systemd-analyze --user verify failed ({status}):\n{output}"
    );
    let problems = problem_lines(&output);
    assert!(
        problems.is_empty(),
        "systemd-analyze --user verify complained about the units:\n{}",
        problems.join("\n")
    );
}

/// The check above has teeth: a key systemd does not know is reported (with exit 0).
#[test]
fn systemd_analyze_verify_reports_an_unknown_key() {
    let units = units_for_test(Some("HwsignBogusKey=1"));
    let (_, output) = analyze_verify(units.path());
    assert!(
        output.contains("HwsignBogusKey"),
        "systemd-analyze --user verify said nothing about an unknown key:\n{output}"
    );
    assert!(
        !problem_lines(&output).is_empty(),
        "the unknown key is not caught by the problem filter:\n{output}"
    );
}

// ---------------------------------------------------------------- socket activation

fn socket_activate_tool() -> PathBuf {
    if let Some(p) = find_on_path("systemd-socket-activate") {
        return p;
    }
    for p in [
        "/usr/bin/systemd-socket-activate",
        "/usr/lib/systemd/systemd-socket-activate",
        "/lib/systemd/systemd-socket-activate",
    ] {
        if Path::new(p).is_file() {
            return PathBuf::from(p);
        }
    }
    panic!(
        "required tool `systemd-socket-activate` not found: install Debian package systemd \
         (apt-get install systemd)"
    )
}

fn is_socket(path: &Path) -> bool {
    fs::symlink_metadata(path)
        .map(|m| m.file_type().is_socket())
        .unwrap_or(false)
}

fn env_assignment(key: impl Into<OsString>, value: impl AsRef<std::ffi::OsStr>) -> OsString {
    let mut s = key.into();
    s.push("=");
    s.push(value);
    s
}

/// `systemd-socket-activate` (replaced by `hwsign-agent` on the first connection: without
/// `--accept` it execs the program in its own process). Killed on drop; the log is printed
/// when the test fails.
struct Activated {
    child: Option<Child>,
    log: PathBuf,
    lines: mpsc::Receiver<String>,
}

impl Activated {
    fn pid(&self) -> libc::pid_t {
        self.child.as_ref().expect("already stopped").id() as libc::pid_t
    }

    fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn assert_running(&mut self, what: &str) {
        let child = self.child.as_mut().expect("already stopped");
        if let Ok(Some(status)) = child.try_wait() {
            panic!("systemd-socket-activate / hwsign-agent exited ({status}) {what}");
        }
    }

    /// The first line on stdout (the agent's ready line).
    fn ready_line(&self, timeout: Duration) -> String {
        self.lines.recv_timeout(timeout).unwrap_or_else(|e| {
            panic!("no ready line on the agent's stdout within {timeout:?} ({e})")
        })
    }

    /// SIGTERM to the process (the agent, after the exec); waits at most STOP_TIMEOUT.
    fn stop(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("already stopped");
        // SAFETY: kill(2) on the pid of a child we have not reaped yet.
        unsafe {
            libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
        }
        let deadline = Instant::now() + STOP_TIMEOUT;
        loop {
            if let Some(status) = child.try_wait().expect("wait for the agent") {
                return status;
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("hwsign-agent did not exit within {STOP_TIMEOUT:?} of SIGTERM; killed it");
            }
            thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Activated {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if thread::panicking() {
            eprintln!(
                "---- systemd-socket-activate / hwsign-agent log {} ----\n{}\n---- end of log ----",
                self.log.display(),
                self.log_text()
            );
        }
    }
}

fn client_json(env: &TestEnv, sock: &Path, args: &[&str]) -> Value {
    let mut cmd = env.command(client_bin());
    cmd.args(args).env("HWSIGN_AUTH_SOCK", sock);
    let out = run_ok(&mut cmd);
    let text = String::from_utf8(out.stdout).expect("client stdout is UTF-8");
    serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("hwsign {args:?} did not print JSON ({e}): {text}"))
}

/// Waits for a datagram holding the line `READY=1` on the notify socket.
fn wait_for_ready(notify: &UnixDatagram, timeout: Duration) -> Vec<String> {
    let deadline = Instant::now() + timeout;
    let mut seen = Vec::new();
    let mut buf = vec![0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            !left.is_zero(),
            "no READY=1 on $NOTIFY_SOCKET within {timeout:?}; got {seen:?}"
        );
        notify.set_read_timeout(Some(left)).unwrap();
        match notify.recv(&mut buf) {
            Ok(n) => {
                let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
                let ready = msg.lines().any(|l| l == "READY=1");
                seen.push(msg);
                if ready {
                    return seen;
                }
            }
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut =>
            {
                panic!("no READY=1 on $NOTIFY_SOCKET within {timeout:?}; got {seen:?}")
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => panic!("recv on the notify socket: {e}"),
        }
    }
}

#[test]
fn socket_activated_agent_serves_main_and_extra() {
    let activate = socket_activate_tool();
    let env = TestEnv::new();
    let sock_dir = env.sock_dir();
    fs::create_dir_all(&sock_dir).unwrap();
    set_mode(&sock_dir, 0o700);
    let main_sock = sock_dir.join("agent.sock");
    let extra_sock = sock_dir.join("agent.extra.sock");

    // What systemd would give the service as $NOTIFY_SOCKET.
    let notify_path = env.dir.path().join("notify.sock");
    let notify = UnixDatagram::bind(&notify_path)
        .unwrap_or_else(|e| panic!("bind {}: {e}", notify_path.display()));

    let log = env.dir.path().join("agent.log");
    let log_file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)
        .expect("open agent log");

    let mut cmd = env.command(&activate);
    // The extra socket comes first (fd 3) on purpose: the agent must pick its sockets by
    // LISTEN_FDNAMES, not by position.
    cmd.arg("-l")
        .arg(&extra_sock)
        .arg("-l")
        .arg(&main_sock)
        .arg("--fdname=extra:main");
    // systemd-socket-activate passes the program only PATH, HOME, TERM, LISTEN_* and -E.
    let mut child_env = env.env();
    child_env.push((OsString::from("NOTIFY_SOCKET"), notify_path.clone().into()));
    for name in ["HWSIGN_SOFTHSM_MODULE", "RUST_BACKTRACE"] {
        if let Some(v) = std::env::var_os(name) {
            child_env.push((OsString::from(name), v));
        }
    }
    for (k, v) in child_env {
        cmd.arg("-E").arg(env_assignment(k, v));
    }
    cmd.arg(agent_bin())
        .arg("--softhsm")
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log_file));
    let desc = format!("{cmd:?}");
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot spawn {desc}: {e}"));
    let stdout = child.stdout.take().expect("stdout pipe");
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            match line {
                Ok(l) => {
                    if tx.send(l).is_err() {
                        break;
                    }
                }
                Err(_) => break,
            }
        }
    });
    let mut agent = Activated {
        child: Some(child),
        log,
        lines: rx,
    };

    // The activator listens on both paths before it starts anything.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !(is_socket(&main_sock) && is_socket(&extra_sock)) {
        agent.assert_running("before listening on both sockets");
        assert!(
            Instant::now() < deadline,
            "systemd-socket-activate did not create {} and {} within 30 s",
            main_sock.display(),
            extra_sock.display()
        );
        thread::sleep(Duration::from_millis(20));
    }
    // systemd-socket-activate makes them 0644 whatever the umask; the units say
    // SocketMode=0600, so give the agent what systemd would.
    set_mode(&main_sock, 0o600);
    set_mode(&extra_sock, 0o600);

    // The first connection starts the agent, which must then answer it. The client's
    // COMMAND_TIMEOUT leaves room for the agent to load the token.
    let keys = client_json(&env, &main_sock, &["keys", "--json"]);
    let keys = keys
        .as_array()
        .unwrap_or_else(|| panic!("keys --json is not an array: {keys}"));
    assert_eq!(keys.len(), 3, "three provisioned keys expected: {keys:?}");
    for spec in &KEYS {
        assert!(
            keys.iter().any(|k| k["label"] == spec.label),
            "{} not listed through the activated main socket: {keys:?}",
            spec.label
        );
    }
    agent.assert_running("after serving the first connection");

    // The ready line still comes, naming the main socket.
    let line = agent.ready_line(READY_TIMEOUT);
    let printed = parse_ready_line(&line).unwrap_or_else(|| {
        panic!(
            "bad ready line {line:?}, expected `HWSIGN_AUTH_SOCK=<path>; export HWSIGN_AUTH_SOCK;`"
        )
    });
    assert_eq!(
        fs::canonicalize(&printed)
            .unwrap_or_else(|e| panic!("ready line names {}: {e}", printed.display())),
        fs::canonicalize(&main_sock).unwrap(),
        "the ready line does not name the main (activated) socket"
    );

    // READY=1 for Type=notify (sent by now: the agent has served a request).
    wait_for_ready(&notify, Duration::from_secs(30));

    // Each socket is served as what its name says.
    let status = client_json(&env, &main_sock, &["status", "--json"]);
    assert_eq!(
        status["socket"], "main",
        "status through agent.sock: {status}"
    );
    let status = client_json(&env, &extra_sock, &["status", "--json"]);
    assert_eq!(
        status["socket"], "extra",
        "status through agent.extra.sock: {status}"
    );

    let pid = agent.pid();
    let status = agent.stop();
    assert!(
        status.success(),
        "socket-activated agent (pid {pid}) exit status after SIGTERM: {status}"
    );
    // The sockets belong to whoever made them (systemd): the agent leaves them.
    for sock in [&main_sock, &extra_sock] {
        assert!(
            is_socket(sock),
            "the agent removed {}, which it was given and did not create",
            sock.display()
        );
    }
    let rest: Vec<String> = agent.lines.try_iter().collect();
    assert!(
        rest.is_empty(),
        "the agent printed more than the ready line on stdout: {rest:?}"
    );
}
