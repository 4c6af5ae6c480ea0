//! [`TestEnv`]: one test's private world, and the client and verifier runs made in it.

use std::cell::RefCell;
use std::ffi::{OsStr, OsString};
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Output, Stdio};
use std::time::Duration;

use crate::{
    Agent, agent_bin, client_bin, copy_dir_recursive, describe, isolate, require_tool, run,
    run_err, run_ok, run_with_timeout, set_mode, short_tempdir, softhsm_template,
};

/// A test's private world: XDG runtime, state and config directories, a working directory
/// (the cwd of every command), and a copy of the shared SoftHSM token. Removed on drop.
pub struct TestEnv {
    pub dir: tempfile::TempDir,
    pub run: PathBuf,
    pub state: PathBuf,
    pub config: PathBuf,
    pub work: PathBuf,
    agent_sock: RefCell<Option<PathBuf>>,
}

impl Default for TestEnv {
    fn default() -> Self {
        TestEnv::new()
    }
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

    /// The variables that point a process at this world (XDG directories, info logging).
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
        let mut cmd = self.command(agent_bin());
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
        let mut cmd = self.command(client_bin());
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

/// `s` as a file-name part: ASCII letters, digits and `-` kept, anything else `_`.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitize_keeps_letters_digits_and_dashes() {
        assert_eq!(sanitize("release-p256"), "release-p256");
        assert_eq!(sanitize("piv-2/9a é.x"), "piv-2_9a___x");
    }

    #[test]
    fn allowed_signers_take_the_type_and_key_of_an_openssh_line() {
        let t = tempfile::tempdir().unwrap();
        let path = t.path().join("allowed");
        write_allowed_signers(
            &path,
            "me@hwsign.test",
            "ssh-ed25519 AAAAC3Nz comment here\n",
        );
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            "me@hwsign.test ssh-ed25519 AAAAC3Nz\n"
        );
        let bad = std::panic::catch_unwind(|| write_allowed_signers(&path, "me", "garbage"));
        assert!(bad.is_err());
    }
}
