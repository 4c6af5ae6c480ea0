//! A private OpenSSH server ([`Sshd`]) on a loopback port for the forwarding tests: a
//! throwaway ed25519 host key and client key, its own config (never /etc/ssh), stopped on
//! drop. The "remote" host is this machine, logged into as the current user.

use std::fs::{self, File};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::{READY_TIMEOUT, STOP_TIMEOUT, isolate, require_tool, run_ok, set_mode};

const SSHD_BIN: &str = "/usr/sbin/sshd";

/// `s` quoted for a POSIX shell (the remote side runs the command through the user's shell).
pub fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

pub fn sh_path(p: &Path) -> String {
    sh_quote(p.to_str().expect("test paths are UTF-8"))
}

/// A port that was free a moment ago (the listener is dropped; [`Sshd::start`] retries on a race).
fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().unwrap().port()
}

pub struct Sshd {
    child: Option<Child>,
    pub dir: PathBuf,
    pub port: u16,
    pub user: String,
    pub client_key: PathBuf,
    pub known_hosts: PathBuf,
    pub log: PathBuf,
    /// `SHA256:…` of the host key, as `ssh-keygen -lf` prints it.
    pub host_fingerprint: String,
}

fn keygen(path: &Path, comment: &str) {
    let mut cmd = Command::new("ssh-keygen");
    cmd.args(["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f"])
        .arg(path)
        .stdin(Stdio::null());
    run_ok(&mut cmd);
}

impl Sshd {
    /// Starts `sshd -D -e` with a private config under `dir` and waits until it listens.
    pub fn start(dir: &Path) -> Sshd {
        require_tool("ssh", "openssh-client");
        require_tool("ssh-keygen", "openssh-client");
        assert!(
            Path::new(SSHD_BIN).is_file(),
            "{SSHD_BIN} is missing: install Debian package openssh-server (apt-get install openssh-server)"
        );
        // sshd's privilege-separation directory (Debian creates it in its service unit only).
        let privsep = Path::new("/run/sshd");
        if !privsep.is_dir() {
            if let Err(e) = fs::create_dir_all(privsep) {
                panic!(
                    "sshd needs /run/sshd (mode 0755, owned by root) and it cannot be created: {e}; run the tests as root or create it"
                );
            }
            set_mode(privsep, 0o755);
        }
        fs::create_dir_all(dir).unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.display()));
        set_mode(dir, 0o700);
        let host_key = dir.join("host_ed25519");
        let client_key = dir.join("client_ed25519");
        keygen(&host_key, "hwsign-test-host");
        keygen(&client_key, "hwsign-test-client");
        let authorized = dir.join("authorized_keys");
        fs::copy(client_key.with_extension("pub"), &authorized).unwrap();
        set_mode(&authorized, 0o600);

        let fp_out = run_ok(
            Command::new("ssh-keygen")
                .arg("-lf")
                .arg(host_key.with_extension("pub"))
                .stdin(Stdio::null()),
        );
        let fp_text = String::from_utf8_lossy(&fp_out.stdout).into_owned();
        let host_fingerprint = fp_text
            .split_whitespace()
            .nth(1)
            .filter(|f| f.starts_with("SHA256:"))
            .unwrap_or_else(|| panic!("ssh-keygen -lf printed no SHA256 fingerprint: {fp_text}"))
            .to_string();
        let user_out = run_ok(Command::new("id").arg("-un").stdin(Stdio::null()));
        let user = String::from_utf8_lossy(&user_out.stdout).trim().to_string();

        let log = dir.join("sshd.log");
        let config = dir.join("sshd_config");
        for _attempt in 0..5 {
            let port = free_port();
            fs::write(
                &config,
                format!(
                    "ListenAddress 127.0.0.1\nPort {port}\nHostKey {host}\nPidFile {pid}\n\
                     AuthorizedKeysFile {auth}\nStrictModes no\nUsePAM no\n\
                     PermitRootLogin prohibit-password\nPubkeyAuthentication yes\n\
                     PasswordAuthentication no\nKbdInteractiveAuthentication no\n\
                     AllowAgentForwarding yes\nAllowStreamLocalForwarding yes\n\
                     StreamLocalBindUnlink yes\nPermitUserRC no\nPrintMotd no\nPrintLastLog no\n\
                     LoginGraceTime 300\nLogLevel VERBOSE\n",
                    host = host_key.display(),
                    pid = dir.join("sshd.pid").display(),
                    auth = authorized.display(),
                ),
            )
            .unwrap();
            let log_file = File::create(&log).unwrap();
            // sshd re-executes itself, so it needs absolute paths for itself and its config.
            let mut cmd = Command::new(SSHD_BIN);
            cmd.args(["-D", "-e", "-f"])
                .arg(&config)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::from(log_file));
            let mut child = cmd
                .spawn()
                .unwrap_or_else(|e| panic!("cannot spawn {SSHD_BIN}: {e}"));
            let listening = format!("Server listening on 127.0.0.1 port {port}.");
            let deadline = Instant::now() + READY_TIMEOUT;
            loop {
                let text = fs::read_to_string(&log).unwrap_or_default();
                if let Some(status) = child.try_wait().unwrap() {
                    if text.contains("Address already in use") {
                        break; // lost the port to someone else: try another one
                    }
                    panic!(
                        "sshd exited with {status} before listening\n---- {} ----\n{text}",
                        log.display()
                    );
                }
                if text.contains(&listening) {
                    return Sshd {
                        child: Some(child),
                        dir: dir.to_path_buf(),
                        port,
                        user,
                        client_key,
                        known_hosts: dir.join("known_hosts"),
                        log,
                        host_fingerprint,
                    };
                }
                if Instant::now() >= deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!("sshd did not listen within {READY_TIMEOUT:?}\n{text}");
                }
                thread::sleep(Duration::from_millis(50));
            }
        }
        panic!("sshd could not bind a free loopback port in 5 attempts");
    }

    /// `ssh` to this server with throwaway keys only: no config files, no user agent
    /// (`SSH_AUTH_SOCK` removed), no prompts. `opts` go before the destination.
    pub fn ssh<S: AsRef<std::ffi::OsStr>>(&self, opts: &[S], remote_command: &str) -> Command {
        let mut cmd = Command::new("ssh");
        isolate(&mut cmd);
        cmd.args(["-F", "none", "-T", "-i"])
            .arg(&self.client_key)
            .args(["-o", "IdentitiesOnly=yes", "-o"])
            .arg(format!("UserKnownHostsFile={}", self.known_hosts.display()))
            .args([
                "-o",
                "GlobalKnownHostsFile=/dev/null",
                "-o",
                "StrictHostKeyChecking=no",
                "-o",
                "BatchMode=yes",
                "-o",
                "ConnectTimeout=120",
                "-o",
                "LogLevel=ERROR",
                "-p",
            ])
            .arg(self.port.to_string())
            .args(opts)
            .arg(format!("{}@127.0.0.1", self.user))
            .arg(remote_command)
            .stdin(Stdio::null());
        cmd
    }

    pub fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SAFETY: kill(2) on the pid of our own child, not reaped yet.
            unsafe {
                libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
            }
            let deadline = Instant::now() + STOP_TIMEOUT;
            while Instant::now() < deadline && matches!(child.try_wait(), Ok(None)) {
                thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        if thread::panicking() {
            eprintln!(
                "---- sshd log {} ----\n{}\n---- end of sshd log ----",
                self.log.display(),
                self.log_text()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sh_quote_survives_a_shell() {
        for s in ["plain", "with space", "it's", "$HOME `x` \"q\" \\", ""] {
            let quoted = sh_quote(s);
            let out = run_ok(
                Command::new("sh")
                    .arg("-c")
                    .arg(format!("printf %s {quoted}"))
                    .stdin(Stdio::null()),
            );
            assert_eq!(String::from_utf8(out.stdout).unwrap(), s, "{quoted}");
        }
        assert_eq!(sh_path(Path::new("/a b")), "'/a b'");
    }
}
