//! The agent process ([`Agent`]) and the SoftHSM2 token template shared by all
//! test processes (built once per agent binary, under an `flock`).

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{OnceLock, mpsc};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, UNIX_EPOCH};

use sha2::{Digest, Sha256};

use crate::{READY_TIMEOUT, STOP_TIMEOUT, agent_bin, hex, target_tmpdir};

// ---------------------------------------------------------------- the agent

/// Keeps `cmd` away from the user's agents, token configuration and card readers.
pub fn isolate(cmd: &mut Command) {
    cmd.env_remove("SSH_AUTH_SOCK")
        .env_remove("HWSIGN_AUTH_SOCK")
        .env_remove("SOFTHSM2_CONF")
        // Never the machine's pcscd (or real cards): tests that want cards set a private one.
        .env(
            "PCSCLITE_CSOCK_NAME",
            "/nonexistent/hwsign-tests-use-a-private-pcscd",
        );
}

/// The socket path of the agent's one stdout line (`HWSIGN_AUTH_SOCK=…; export …;`).
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
        let mut cmd = Command::new(agent_bin());
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
                let st = match agent.child.as_mut().map(|c| c.wait()) {
                    Some(Ok(st)) => st.to_string(),
                    other => format!("{other:?}"),
                };
                panic!("{desc} exited before it was ready ({st}): {e} {hint}");
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
pub(crate) fn softhsm_template() -> &'static Path {
    static TEMPLATE: OnceLock<PathBuf> = OnceLock::new();
    TEMPLATE.get_or_init(build_or_reuse_template)
}

fn template_complete(dir: &Path) -> bool {
    dir.join("state/hwsign/softhsm").is_dir()
}

fn template_key() -> String {
    let bin = agent_bin();
    let meta = fs::metadata(bin).unwrap_or_else(|e| panic!("stat {}: {e}", bin.display()));
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    let digest = Sha256::digest(format!("{}\0{mtime}\0{}", bin.display(), meta.len()).as_bytes());
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
    let base = target_tmpdir();
    fs::create_dir_all(&base)
        .unwrap_or_else(|e| panic!("create the test tmp dir {}: {e}", base.display()));
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

/// A temporary directory with a short path: AF_UNIX socket paths are limited to ~108 bytes,
/// so a long `$TMPDIR` is replaced by /tmp.
pub fn short_tempdir(prefix: &str) -> tempfile::TempDir {
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;

    #[test]
    fn the_ready_line_names_the_socket() {
        assert_eq!(
            parse_ready_line(
                "HWSIGN_AUTH_SOCK=/run/u/hwsign/agent.sock; export HWSIGN_AUTH_SOCK;\n"
            ),
            Some(PathBuf::from("/run/u/hwsign/agent.sock"))
        );
        assert_eq!(
            parse_ready_line("HWSIGN_AUTH_SOCK=/a b; export HWSIGN_AUTH_SOCK;\r\n"),
            Some(PathBuf::from("/a b"))
        );
        for bad in [
            "HWSIGN_AUTH_SOCK=; export HWSIGN_AUTH_SOCK;",
            "SSH_AUTH_SOCK=/x; export SSH_AUTH_SOCK;",
            "HWSIGN_AUTH_SOCK=/x",
            "",
        ] {
            assert_eq!(parse_ready_line(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn isolate_removes_the_users_agents_and_points_pcsc_nowhere() {
        let mut cmd = Command::new("true");
        isolate(&mut cmd);
        let envs: Vec<_> = cmd.get_envs().collect();
        for var in ["SSH_AUTH_SOCK", "HWSIGN_AUTH_SOCK", "SOFTHSM2_CONF"] {
            assert!(envs.contains(&(OsStr::new(var), None)), "{var} not removed");
        }
        let pcsc = envs
            .iter()
            .find(|(k, _)| *k == OsStr::new("PCSCLITE_CSOCK_NAME"))
            .and_then(|(_, v)| *v)
            .expect("PCSCLITE_CSOCK_NAME set");
        assert!(pcsc.to_string_lossy().starts_with("/nonexistent/"));
    }

    #[test]
    fn short_tempdirs_leave_room_for_socket_paths() {
        let dir = short_tempdir("hws-test");
        let sock = dir.path().join("hwsign/agent.extra.sock");
        assert!(sock.as_os_str().len() < 100, "{}", sock.display());
        assert!(
            dir.path()
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("hws-test"))
        );
    }

    #[test]
    fn flock_is_exclusive_between_open_files() {
        let t = tempfile::tempdir().unwrap();
        let path = t.path().join("lock");
        let held = Flock::exclusive(&path);
        let other = OpenOptions::new().write(true).open(&path).unwrap();
        // SAFETY: flock(2) on a descriptor owned by `other`.
        let r = unsafe { libc::flock(other.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        assert_eq!(r, -1, "a second lock was granted while the first was held");
        drop(held);
        // SAFETY: as above.
        let r = unsafe { libc::flock(other.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        assert_eq!(r, 0, "the lock was not released on drop");
    }
}
