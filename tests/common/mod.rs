//! Shared rig for the `hwsign` integration tests.
//!
//! * one SoftHSM2 token (three keys, RSA-3072 is slow to generate) is provisioned
//!   once per agent build and shared by every test process through a template
//!   directory under `CARGO_TARGET_TMPDIR`, guarded by an `flock`;
//! * [`TestEnv`] is a private XDG world (`run/`, `state/`, `config/`, `work/`)
//!   holding a copy of that token; child processes never see the user's
//!   `SSH_AUTH_SOCK` / `HWSIGN_AUTH_SOCK`;
//! * [`Agent`] is a running `hwsign-agent --softhsm`, stopped with SIGTERM on drop;
//! * helpers run commands with a timeout and print their output on failure,
//!   write test files, and verify with `ssh-keygen` / `openssl`.
#![allow(dead_code)]

use std::cell::RefCell;
use std::ffi::{OsStr, OsString};
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{OnceLock, mpsc};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, UNIX_EPOCH};

use base64::Engine as _;
use sha2::{Digest, Sha256};

pub const AGENT_BIN: &str = env!("CARGO_BIN_EXE_hwsign-agent");
pub const CLIENT_BIN: &str = env!("CARGO_BIN_EXE_hwsign");
pub const VERIFY_DSSE_PY: &str =
    concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/verify_dsse.py");

pub const READY_TIMEOUT: Duration = Duration::from_secs(120);
pub const STOP_TIMEOUT: Duration = Duration::from_secs(10);
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(300);

pub const NON_ASCII_NAME: &str = "paquet-été-ü.tar.gz";
pub const BIG_SIZE: usize = 5 * 1024 * 1024;
pub const PURL: &str = "pkg:generic/demo@1.0.0";

/// What the provisioned token holds, and how each key is named by other tools.
pub struct KeySpec {
    pub label: &'static str,
    /// `algorithm` in `hwsign keys --json`.
    pub algorithm: &'static str,
    /// OpenSSH key type.
    pub ssh_type: &'static str,
    /// securesystemslib `keytype` / `scheme`.
    pub sslib_keytype: &'static str,
    pub sslib_scheme: &'static str,
}

pub const KEYS: [KeySpec; 3] = [
    KeySpec {
        label: "release-p256",
        algorithm: "ecdsa-p256",
        ssh_type: "ecdsa-sha2-nistp256",
        sslib_keytype: "ecdsa",
        sslib_scheme: "ecdsa-sha2-nistp256",
    },
    KeySpec {
        label: "release-ed25519",
        algorithm: "ed25519",
        ssh_type: "ssh-ed25519",
        sslib_keytype: "ed25519",
        sslib_scheme: "ed25519",
    },
    KeySpec {
        label: "release-rsa3072",
        algorithm: "rsa-3072",
        ssh_type: "ssh-rsa",
        sslib_keytype: "rsa",
        sslib_scheme: "rsa-pkcs1v15-sha256",
    },
];

pub fn bin(name: &str) -> PathBuf {
    match name {
        "hwsign-agent" => PathBuf::from(AGENT_BIN),
        "hwsign" => PathBuf::from(CLIENT_BIN),
        other => panic!("unknown hwsign binary {other:?}"),
    }
}

// ---------------------------------------------------------------- tools

pub fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| {
            fs::metadata(p)
                .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
                .unwrap_or(false)
        })
}

/// Panics (never skips) when `name` is not on PATH.
pub fn require_tool(name: &str, debian_pkg: &str) -> PathBuf {
    find_on_path(name).unwrap_or_else(|| {
        panic!("required tool `{name}` is not on PATH: install Debian package {debian_pkg} (apt-get install {debian_pkg})")
    })
}

pub fn python() -> PathBuf {
    match std::env::var_os("HWSIGN_TEST_PYTHON") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => require_tool("python3", "python3"),
    }
}

pub fn require_python_module(module: &str) {
    let py = python();
    let out = Command::new(&py)
        .args(["-c", &format!("import {module}")])
        .stdin(Stdio::null())
        .output();
    let hint = format!(
        "Python module `{module}` is not importable with {}: run scripts/test.sh (it creates the venv) \
         or set HWSIGN_TEST_PYTHON to a python that has it",
        py.display()
    );
    match out {
        Ok(o) if o.status.success() => {}
        Ok(o) => panic!("{hint}\n{}", String::from_utf8_lossy(&o.stderr)),
        Err(e) => panic!("{hint} (cannot run it: {e})"),
    }
}

// ---------------------------------------------------------------- running commands

pub fn describe(cmd_desc: &str, out: &Output) -> String {
    format!(
        "command: {cmd_desc}\nstatus: {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Runs `cmd` to completion (killed after [`COMMAND_TIMEOUT`]), capturing stdout and stderr.
/// Stdin is whatever the caller set (the [`TestEnv::command`] default is null).
pub fn run(cmd: &mut Command) -> Output {
    run_with_timeout(cmd, COMMAND_TIMEOUT)
}

pub fn run_with_timeout(cmd: &mut Command, timeout: Duration) -> Output {
    let desc = format!("{cmd:?}");
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot spawn {desc}: {e}"));
    let mut so = child.stdout.take().expect("stdout pipe");
    let mut se = child.stderr.take().expect("stderr pipe");
    let t_out = thread::spawn(move || {
        let mut v = Vec::new();
        let _ = so.read_to_end(&mut v);
        v
    });
    let t_err = thread::spawn(move || {
        let mut v = Vec::new();
        let _ = se.read_to_end(&mut v);
        v
    });
    let deadline = Instant::now() + timeout;
    let mut timed_out = false;
    let status = loop {
        if let Some(st) = child
            .try_wait()
            .unwrap_or_else(|e| panic!("wait for {desc}: {e}"))
        {
            break st;
        }
        if Instant::now() >= deadline {
            timed_out = true;
            let _ = child.kill();
            break child.wait().expect("wait after kill");
        }
        thread::sleep(Duration::from_millis(20));
    };
    let out = Output {
        status,
        stdout: t_out.join().unwrap(),
        stderr: t_err.join().unwrap(),
    };
    if timed_out {
        panic!(
            "timed out after {timeout:?}, killed\n{}",
            describe(&desc, &out)
        );
    }
    out
}

pub fn run_ok(cmd: &mut Command) -> Output {
    let desc = format!("{cmd:?}");
    let out = run(cmd);
    assert!(
        out.status.success(),
        "expected success\n{}",
        describe(&desc, &out)
    );
    out
}

pub fn run_err(cmd: &mut Command) -> Output {
    let desc = format!("{cmd:?}");
    let out = run(cmd);
    assert!(
        !out.status.success(),
        "expected failure\n{}",
        describe(&desc, &out)
    );
    out
}

// ---------------------------------------------------------------- the agent

fn isolate(cmd: &mut Command) {
    cmd.env_remove("SSH_AUTH_SOCK")
        .env_remove("HWSIGN_AUTH_SOCK")
        .env_remove("SOFTHSM2_CONF");
}

pub fn parse_ready_line(line: &str) -> Option<PathBuf> {
    let l = line.trim_end_matches(['\n', '\r']);
    let path = l
        .strip_prefix("HWSIGN_AUTH_SOCK=")?
        .strip_suffix("; export HWSIGN_AUTH_SOCK;")?;
    (!path.is_empty()).then(|| PathBuf::from(path))
}

/// A running `hwsign-agent`. Dropping it sends SIGTERM (SIGKILL after 10 s) and, when the
/// test is panicking, prints the agent's log.
pub struct Agent {
    child: Option<Child>,
    pub sock: PathBuf,
    pub log: PathBuf,
    stdout_rest: Option<JoinHandle<Vec<u8>>>,
}

impl Agent {
    /// Spawns the agent and waits for its ready line.
    pub fn spawn(
        envs: &[(OsString, OsString)],
        args: &[OsString],
        cwd: &Path,
        log: &Path,
    ) -> Agent {
        let log_file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .expect("open agent log");
        let mut cmd = Command::new(AGENT_BIN);
        isolate(&mut cmd);
        cmd.envs(envs.iter().map(|(k, v)| (k, v)))
            .args(args)
            .current_dir(cwd)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log_file));
        let desc = format!("{cmd:?}");
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot spawn {desc}: {e}"));
        let stdout = child.stdout.take().expect("agent stdout pipe");
        let (tx, rx) = mpsc::channel::<Result<String, String>>();
        let reader = thread::spawn(move || {
            let mut r = BufReader::new(stdout);
            let mut line = String::new();
            let first = match r.read_line(&mut line) {
                Ok(0) => Err("stdout closed before the ready line".to_string()),
                Ok(_) => Ok(line),
                Err(e) => Err(format!("reading stdout: {e}")),
            };
            let _ = tx.send(first);
            // Keep draining so the agent can never block on a full pipe.
            let mut rest = Vec::new();
            let _ = r.read_to_end(&mut rest);
            rest
        });
        let mut agent = Agent {
            child: Some(child),
            sock: PathBuf::new(),
            log: log.to_path_buf(),
            stdout_rest: Some(reader),
        };
        let hint = "(the agent needs libsofthsm2.so: install Debian package softhsm2)";
        match rx.recv_timeout(READY_TIMEOUT) {
            Ok(Ok(line)) => {
                agent.sock = parse_ready_line(&line).unwrap_or_else(|| {
                    panic!("bad ready line from {desc}: {line:?}, expected `HWSIGN_AUTH_SOCK=<path>; export HWSIGN_AUTH_SOCK;`")
                });
            }
            Ok(Err(e)) => {
                let st = agent.child.as_mut().map(|c| c.wait());
                panic!("{desc} exited before it was ready ({st:?}): {e} {hint}");
            }
            Err(_) => panic!("{desc} printed no ready line within {READY_TIMEOUT:?} {hint}"),
        }
        agent
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("agent already stopped").id()
    }

    pub fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// SIGTERM, wait (at most 10 s); panics if the agent had to be killed or printed
    /// anything on stdout after the ready line.
    pub fn stop(mut self) -> ExitStatus {
        let mut child = self.child.take().expect("agent already stopped");
        let (status, killed) = terminate(&mut child);
        assert!(
            !killed,
            "hwsign-agent did not exit within {STOP_TIMEOUT:?} of SIGTERM; killed it"
        );
        if let Some(reader) = self.stdout_rest.take() {
            let deadline = Instant::now() + Duration::from_secs(5);
            while !reader.is_finished() && Instant::now() < deadline {
                thread::sleep(Duration::from_millis(20));
            }
            if reader.is_finished() {
                let rest = reader.join().unwrap_or_default();
                assert!(
                    rest.is_empty(),
                    "agent printed more than the ready line on stdout: {:?}",
                    String::from_utf8_lossy(&rest)
                );
            }
        }
        status
    }
}

/// SIGTERM, then up to [`STOP_TIMEOUT`], then SIGKILL. Returns (status, had to SIGKILL).
fn terminate(child: &mut Child) -> (ExitStatus, bool) {
    if let Ok(Some(st)) = child.try_wait() {
        return (st, false);
    }
    // SAFETY: plain kill(2) on the pid of a child we have not reaped yet.
    unsafe {
        libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
    }
    let deadline = Instant::now() + STOP_TIMEOUT;
    while Instant::now() < deadline {
        match child.try_wait() {
            Ok(Some(st)) => return (st, false),
            Ok(None) => thread::sleep(Duration::from_millis(20)),
            Err(_) => break,
        }
    }
    let _ = child.kill();
    (child.wait().expect("wait for killed agent"), true)
}

impl Drop for Agent {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            terminate(&mut child);
        }
        if thread::panicking() {
            eprintln!(
                "---- hwsign-agent log {} ----\n{}\n---- end of agent log ----",
                self.log.display(),
                self.log_text()
            );
        }
    }
}

// ---------------------------------------------------------------- shared SoftHSM template

/// Directory whose `state/hwsign/softhsm` is a provisioned token (made once per agent build).
pub fn softhsm_template() -> &'static Path {
    static TEMPLATE: OnceLock<PathBuf> = OnceLock::new();
    TEMPLATE.get_or_init(build_or_reuse_template)
}

fn template_complete(dir: &Path) -> bool {
    dir.join("state/hwsign/softhsm").is_dir()
}

fn template_key() -> String {
    let meta = fs::metadata(AGENT_BIN).unwrap_or_else(|e| panic!("stat {AGENT_BIN}: {e}"));
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    let digest = Sha256::digest(format!("{AGENT_BIN}\0{mtime}\0{}", meta.len()).as_bytes());
    hex(&digest[..8])
}

struct Flock(File);

impl Flock {
    fn exclusive(path: &Path) -> Flock {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
        loop {
            // SAFETY: flock(2) on a descriptor we own for the lifetime of `file`.
            if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } == 0 {
                return Flock(file);
            }
            let err = io::Error::last_os_error();
            if err.kind() != io::ErrorKind::Interrupted {
                panic!("flock {}: {err}", path.display());
            }
        }
    }
}

impl Drop for Flock {
    fn drop(&mut self) {
        // SAFETY: as above; closing the file would release it too.
        unsafe {
            libc::flock(self.0.as_raw_fd(), libc::LOCK_UN);
        }
    }
}

fn build_or_reuse_template() -> PathBuf {
    let base = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    fs::create_dir_all(&base).expect("create CARGO_TARGET_TMPDIR");
    let final_dir = base.join(format!("softhsm-template-{}", template_key()));
    if template_complete(&final_dir) {
        return final_dir;
    }
    let _lock = Flock::exclusive(&base.join("softhsm-template.lock"));
    if template_complete(&final_dir) {
        return final_dir;
    }
    let tmp = tempfile::Builder::new()
        .prefix(".softhsm-template-tmp-")
        .tempdir_in(&base)
        .expect("template temp dir");
    provision_token(tmp.path());
    let tmp_path = tmp.keep();
    match fs::rename(&tmp_path, &final_dir) {
        Ok(()) => final_dir,
        Err(_) if template_complete(&final_dir) => {
            // Another process won the race: use theirs.
            let _ = fs::remove_dir_all(&tmp_path);
            final_dir
        }
        Err(e) => panic!(
            "rename {} -> {}: {e}",
            tmp_path.display(),
            final_dir.display()
        ),
    }
}

fn provision_token(dir: &Path) {
    let state = dir.join("state");
    let config = dir.join("config");
    fs::create_dir_all(&state).unwrap();
    fs::create_dir_all(&config).unwrap();
    // AF_UNIX paths are limited to ~108 bytes: keep the runtime dir short, outside target/.
    let run = short_tempdir("hws-tpl");
    let envs = vec![
        (
            OsString::from("XDG_RUNTIME_DIR"),
            run.path().as_os_str().to_owned(),
        ),
        (
            OsString::from("XDG_STATE_HOME"),
            state.clone().into_os_string(),
        ),
        (OsString::from("XDG_CONFIG_HOME"), config.into_os_string()),
        (OsString::from("HWSIGN_LOG"), OsString::from("info")),
    ];
    let args = [
        OsString::from("--softhsm"),
        OsString::from("--socket-dir"),
        run.path().join("hwsign").into_os_string(),
    ];
    let agent = Agent::spawn(&envs, &args, dir, &dir.join("agent.log"));
    let log = agent.log.clone();
    let status = agent.stop();
    let log_text = fs::read_to_string(&log).unwrap_or_default();
    assert!(
        status.success(),
        "provisioning agent exited with {status}\n{log_text}"
    );
    assert!(
        template_complete(dir),
        "agent did not create state/hwsign/softhsm\n{log_text}"
    );
}

fn short_tempdir(prefix: &str) -> tempfile::TempDir {
    let tmp = std::env::temp_dir();
    let parent = if tmp.as_os_str().len() > 40 {
        PathBuf::from("/tmp")
    } else {
        tmp
    };
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in(parent)
        .expect("create temp dir")
}

// ---------------------------------------------------------------- per-test environment

pub struct TestEnv {
    pub dir: tempfile::TempDir,
    pub run: PathBuf,
    pub state: PathBuf,
    pub config: PathBuf,
    pub work: PathBuf,
    agent_sock: RefCell<Option<PathBuf>>,
}

impl TestEnv {
    pub fn new() -> TestEnv {
        let template = softhsm_template();
        let dir = short_tempdir("hwsign-t");
        let root = dir.path().to_path_buf();
        let (run, state, config, work) = (
            root.join("run"),
            root.join("state"),
            root.join("config"),
            root.join("work"),
        );
        for d in [&run, &state, &config, &work] {
            fs::create_dir_all(d).unwrap();
        }
        set_mode(&run, 0o700);
        fs::create_dir_all(state.join("hwsign")).unwrap();
        set_mode(&state.join("hwsign"), 0o700);
        copy_dir_recursive(
            &template.join("state/hwsign/softhsm"),
            &state.join("hwsign/softhsm"),
        );
        TestEnv {
            dir,
            run,
            state,
            config,
            work,
            agent_sock: RefCell::new(None),
        }
    }

    pub fn env(&self) -> Vec<(OsString, OsString)> {
        vec![
            (
                OsString::from("XDG_RUNTIME_DIR"),
                self.run.clone().into_os_string(),
            ),
            (
                OsString::from("XDG_STATE_HOME"),
                self.state.clone().into_os_string(),
            ),
            (
                OsString::from("XDG_CONFIG_HOME"),
                self.config.clone().into_os_string(),
            ),
            (OsString::from("HWSIGN_LOG"), OsString::from("info")),
        ]
    }

    /// A command with this env, no agent sockets inherited, cwd = work/, stdin = null.
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        let mut cmd = Command::new(program);
        isolate(&mut cmd);
        cmd.envs(self.env())
            .current_dir(&self.work)
            .stdin(Stdio::null());
        cmd
    }

    pub fn sock_dir(&self) -> PathBuf {
        self.run.join("hwsign")
    }

    pub fn default_sock(&self) -> PathBuf {
        self.sock_dir().join("agent.sock")
    }

    /// Socket of the last agent started here (else the default path).
    pub fn agent_sock(&self) -> PathBuf {
        self.agent_sock
            .borrow()
            .clone()
            .unwrap_or_else(|| self.default_sock())
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.work.join(name)
    }

    fn agent_args(extra_args: &[&str]) -> Vec<OsString> {
        std::iter::once("--softhsm")
            .chain(extra_args.iter().copied())
            .map(OsString::from)
            .collect()
    }

    pub fn start_agent(&self, extra_args: &[&str]) -> Agent {
        let agent = Agent::spawn(
            &self.env(),
            &Self::agent_args(extra_args),
            &self.work,
            &self.dir.path().join("agent.log"),
        );
        if !extra_args.contains(&"--socket-dir") {
            let printed = fs::canonicalize(&agent.sock)
                .unwrap_or_else(|e| panic!("ready line names {}: {e}", agent.sock.display()));
            let expected = fs::canonicalize(self.default_sock()).expect("default socket path");
            assert_eq!(
                printed, expected,
                "agent socket is not $XDG_RUNTIME_DIR/hwsign/agent.sock"
            );
        }
        *self.agent_sock.borrow_mut() = Some(agent.sock.clone());
        agent
    }

    /// Starts an agent that must fail to start; returns its status and stderr.
    pub fn start_agent_expect_failure(&self, extra_args: &[&str]) -> (ExitStatus, String) {
        let mut cmd = self.command(AGENT_BIN);
        cmd.args(Self::agent_args(extra_args));
        let desc = format!("{cmd:?}");
        let out = run_with_timeout(&mut cmd, Duration::from_secs(60));
        assert!(
            !out.status.success(),
            "agent was expected to refuse to start\n{}",
            describe(&desc, &out)
        );
        assert!(
            !String::from_utf8_lossy(&out.stdout).contains("HWSIGN_AUTH_SOCK="),
            "agent printed a ready line although it failed\n{}",
            describe(&desc, &out)
        );
        (
            out.status,
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    pub fn hwsign_cmd<S: AsRef<OsStr>>(&self, args: &[S]) -> Command {
        let mut cmd = self.command(CLIENT_BIN);
        cmd.args(args).env("HWSIGN_AUTH_SOCK", self.agent_sock());
        cmd
    }

    pub fn hwsign<S: AsRef<OsStr>>(&self, args: &[S]) -> Output {
        run(&mut self.hwsign_cmd(args))
    }

    /// Runs the client, asserts exit 0, returns stdout.
    pub fn hwsign_ok<S: AsRef<OsStr>>(&self, args: &[S]) -> String {
        String::from_utf8(run_ok(&mut self.hwsign_cmd(args)).stdout)
            .expect("client stdout is UTF-8")
    }

    /// Runs the client, asserts a non-zero exit with a message on stderr, returns stderr.
    pub fn hwsign_err<S: AsRef<OsStr>>(&self, args: &[S]) -> String {
        let mut cmd = self.hwsign_cmd(args);
        let desc = format!("{cmd:?}");
        let out = run_err(&mut cmd);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(
            !stderr.trim().is_empty(),
            "failure without a message on stderr\n{}",
            describe(&desc, &out)
        );
        stderr
    }

    pub fn keys_json(&self) -> Vec<serde_json::Value> {
        let out = self.hwsign_ok(&["keys", "--json"]);
        let v: serde_json::Value = serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("keys --json is not JSON ({e}): {out}"));
        v.as_array()
            .unwrap_or_else(|| panic!("keys --json is not an array: {out}"))
            .clone()
    }

    pub fn key_by_label(&self, label: &str) -> serde_json::Value {
        let keys = self.keys_json();
        keys.iter()
            .find(|k| k["label"] == label)
            .cloned()
            .unwrap_or_else(|| panic!("no key labelled {label} in {keys:?}"))
    }

    pub fn key_id(&self, label: &str) -> String {
        self.key_by_label(label)["id"]
            .as_str()
            .expect("id is a string")
            .to_string()
    }

    /// `hwsign keys export KEY --format FORMAT -o work/FILE_NAME`; returns the path.
    pub fn export_key(&self, key: &str, format: &str, file_name: &str) -> PathBuf {
        self.hwsign_ok(&["keys", "export", key, "--format", format, "-o", file_name]);
        let path = self.path(file_name);
        assert!(
            path.is_file(),
            "keys export -o did not write {}",
            path.display()
        );
        path
    }

    /// Exports KEY as an OpenSSH line and writes `allowed_signers` for `principal`.
    pub fn allowed_signers_for(&self, key: &str, principal: &str) -> PathBuf {
        let line = self.hwsign_ok(&["keys", "export", key, "--format", "ssh"]);
        let path = self.path(&format!("allowed_signers-{}", sanitize(key)));
        write_allowed_signers(&path, principal, &line);
        path
    }

    /// `ssh-keygen -Y verify` (not asserted).
    pub fn ssh_verify(
        &self,
        allowed: &Path,
        principal: &str,
        namespace: &str,
        file: &Path,
        sig: &Path,
    ) -> Output {
        require_tool("ssh-keygen", "openssh-client");
        let mut cmd = self.command("ssh-keygen");
        cmd.args(["-Y", "verify", "-f"])
            .arg(allowed)
            .args(["-I", principal, "-n", namespace, "-s"])
            .arg(sig);
        cmd.stdin(File::open(file).unwrap_or_else(|e| panic!("open {}: {e}", file.display())));
        run(&mut cmd)
    }

    /// Verifies a raw signature (already decoded to `sig_bin`) with openssl (not asserted).
    pub fn openssl_verify_raw(
        &self,
        algorithm: &str,
        pem: &Path,
        file: &Path,
        sig_bin: &Path,
    ) -> Output {
        require_tool("openssl", "openssl");
        let mut cmd = self.command("openssl");
        if algorithm == "ed25519" {
            cmd.args(["pkeyutl", "-verify", "-pubin", "-inkey"])
                .arg(pem)
                .args(["-rawin", "-in"])
                .arg(file)
                .arg("-sigfile")
                .arg(sig_bin);
        } else {
            cmd.args(["dgst", "-sha256", "-verify"])
                .arg(pem)
                .arg("-signature")
                .arg(sig_bin)
                .arg(file);
        }
        run(&mut cmd)
    }
}

pub fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// `<principal> <keytype> <base64>` from an OpenSSH public key line.
pub fn write_allowed_signers(path: &Path, principal: &str, ssh_pub_line: &str) {
    let mut parts = ssh_pub_line.split_whitespace();
    let (Some(kt), Some(b64)) = (parts.next(), parts.next()) else {
        panic!("not an OpenSSH public key line: {ssh_pub_line:?}");
    };
    fs::write(path, format!("{principal} {kt} {b64}\n")).unwrap();
}

// ---------------------------------------------------------------- files and encodings

pub fn set_mode(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {}: {e}", path.display()));
}

pub fn mode_of(path: &Path) -> u32 {
    fs::symlink_metadata(path)
        .unwrap_or_else(|e| panic!("stat {}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o7777
}

pub fn copy_dir_recursive(src: &Path, dst: &Path) {
    fs::create_dir_all(dst).unwrap_or_else(|e| panic!("mkdir {}: {e}", dst.display()));
    for entry in fs::read_dir(src).unwrap_or_else(|e| panic!("read_dir {}: {e}", src.display())) {
        let entry = entry.unwrap();
        let (from, to) = (entry.path(), dst.join(entry.file_name()));
        let ft = entry.file_type().unwrap();
        if ft.is_dir() {
            copy_dir_recursive(&from, &to);
        } else if ft.is_symlink() {
            std::os::unix::fs::symlink(fs::read_link(&from).unwrap(), &to).unwrap();
        } else if ft.is_file() {
            fs::copy(&from, &to)
                .unwrap_or_else(|e| panic!("copy {} -> {}: {e}", from.display(), to.display()));
        } // sockets, fifos: not part of a token
    }
    set_mode(dst, mode_of(src));
}

/// Deterministic xorshift64* bytes.
pub fn pseudo_random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        out.extend_from_slice(&x.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    out.truncate(len);
    out
}

pub fn write_file(dir: &Path, name: &str, contents: &[u8]) -> PathBuf {
    let p = dir.join(name);
    fs::write(&p, contents).unwrap_or_else(|e| panic!("write {}: {e}", p.display()));
    p
}

pub fn write_empty(dir: &Path, name: &str) -> PathBuf {
    write_file(dir, name, b"")
}

pub fn write_random(dir: &Path, name: &str, len: usize, seed: u64) -> PathBuf {
    write_file(dir, name, &pseudo_random_bytes(len, seed))
}

pub fn write_non_ascii(dir: &Path) -> PathBuf {
    write_file(dir, NON_ASCII_NAME, "contenu: été, ü, ß, 日本\n".as_bytes())
}

/// Writes `empty.bin` (0 bytes), `big.bin` (5 MiB) and [`NON_ASCII_NAME`]; returns the names.
pub fn write_sample_set(dir: &Path) -> Vec<String> {
    write_empty(dir, "empty.bin");
    write_random(dir, "big.bin", BIG_SIZE, 0x5eed_1234_abcd_0001);
    write_non_ascii(dir);
    vec![
        "empty.bin".to_string(),
        "big.bin".to_string(),
        NON_ASCII_NAME.to_string(),
    ]
}

/// Changes the file's content (flips the first byte; an empty file gets one byte).
pub fn tamper_file(path: &Path) {
    let mut data = fs::read(path).unwrap();
    match data.first_mut() {
        Some(b) => *b ^= 0x01,
        None => data.push(b'x'),
    }
    fs::write(path, data).unwrap();
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn sha256_hex(data: &[u8]) -> String {
    hex(&Sha256::digest(data))
}

pub fn is_lower_hex64(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Standard padded base64, surrounding/embedded whitespace ignored.
pub fn b64_decode(text: &str) -> Vec<u8> {
    let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    base64::engine::general_purpose::STANDARD
        .decode(compact.as_bytes())
        .unwrap_or_else(|e| panic!("bad base64 ({e}): {text:?}"))
}

pub fn b64_encode(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(data)
}

/// DER bytes of the first PEM block labelled `label`.
pub fn pem_to_der(pem: &str, label: &str) -> Vec<u8> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = pem
        .find(&begin)
        .unwrap_or_else(|| panic!("no {begin} in {pem:?}"))
        + begin.len();
    let stop = pem[start..]
        .find(&end)
        .unwrap_or_else(|| panic!("no {end} in {pem:?}"))
        + start;
    b64_decode(&pem[start..stop])
}

/// `sha256sum FILE` from coreutils, first field.
pub fn sha256sum_tool(env: &TestEnv, file: &str) -> String {
    require_tool("sha256sum", "coreutils");
    let out = run_ok(env.command("sha256sum").arg(file));
    let text = String::from_utf8(out.stdout).unwrap();
    text.split_whitespace()
        .next()
        .unwrap_or_else(|| panic!("empty sha256sum output"))
        .trim_start_matches('\\')
        .to_string()
}
