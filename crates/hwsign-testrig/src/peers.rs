//! The tests of touch notices, confirm dialogs and PIN entry: the scripted peers of
//! `tests/peers/` (pinentry.py, confirm.py, notify.sh), clients run in the background, waiting
//! on events (never on fixed sleeps), the agent's status, and masking of what differs between
//! runs (pid, host).

use std::ffi::OsStr;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Child, Output};
use std::thread;
use std::time::{Duration, Instant};

use crate::*;

/// Upper bound for any event a test waits for: generous, for a busy 2-core CI machine.
pub const EVENT_TIMEOUT: Duration = Duration::from_secs(90);

/// A scripted peer of the repository's `tests/peers/`.
pub fn peer(name: &str) -> PathBuf {
    repo_path("tests/peers").join(name)
}

/// The interpreter the Python peers run with (they need nothing but the standard library).
/// Peers are started through their interpreter, so they work without the executable bit too.
pub fn python3() -> PathBuf {
    require_tool("python3", "python3")
}

/// A `pinentry` program for the config (a program without arguments): a wrapper in the env's
/// directory that runs the scripted pinentry.py (its answers: see that file).
pub fn pinentry_wrapper(env: &TestEnv) -> PathBuf {
    let wrapper = env.path("pinentry.sh");
    fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nexec {} {} \"$@\"\n",
            sh_path(&python3()),
            sh_path(&peer("pinentry.py"))
        ),
    )
    .unwrap();
    set_mode(&wrapper, 0o755);
    wrapper
}

/// `s` as a TOML basic string.
pub fn toml_str(s: impl AsRef<OsStr>) -> String {
    let s = s.as_ref().to_str().expect("test paths are UTF-8");
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// Writes `$XDG_CONFIG_HOME/hwsign/config.toml` (read by the agent and by the client).
pub fn write_config(env: &TestEnv, text: &str) {
    let dir = env.config.join("hwsign");
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("config.toml"), text).unwrap();
}

/// The host name the agent reports (it reads the same file).
pub fn host() -> String {
    fs::read_to_string("/proc/sys/kernel/hostname")
        .expect("read /proc/sys/kernel/hostname")
        .trim()
        .to_string()
}

/// Masks what differs between runs: ` on <host> ` and `(pid <pid>)`.
pub fn mask(text: &str) -> String {
    let text = text.replace(&format!(" on {} ", host()), " on <host> ");
    let mut out = String::with_capacity(text.len());
    let mut rest = text.as_str();
    while let Some(i) = rest.find("(pid ") {
        out.push_str(&rest[..i + 5]);
        let after = &rest[i + 5..];
        let digits = after.len() - after.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        if digits > 0 && after[digits..].starts_with(')') {
            out.push_str("<pid>");
        } else {
            out.push_str(&after[..digits]);
        }
        rest = &after[digits..];
    }
    out.push_str(rest);
    out
}

/// Polls `ok` every 50 ms; panics after [`EVENT_TIMEOUT`].
pub fn wait_until(what: &str, mut ok: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ok() {
        assert!(
            start.elapsed() < EVENT_TIMEOUT,
            "timed out after {EVENT_TIMEOUT:?} waiting for {what}"
        );
        thread::sleep(Duration::from_millis(50));
    }
}

/// The client on socket `sock` (not asserted).
pub fn client(env: &TestEnv, sock: &Path, args: &[&str]) -> Output {
    run(env
        .command(client_bin())
        .env("HWSIGN_AUTH_SOCK", sock)
        .args(args))
}

#[track_caller]
pub fn assert_ok(out: &Output) {
    assert!(
        out.status.success(),
        "expected success ({})\n--- stdout ---\n{}\n--- stderr ---\n{}",
        out.status,
        stdout_of(out),
        stderr_of(out)
    );
}

/// Asserts a failure and returns stderr.
#[track_caller]
pub fn assert_err(out: &Output) -> String {
    assert!(
        !out.status.success(),
        "expected failure\n--- stdout ---\n{}\n--- stderr ---\n{}",
        stdout_of(out),
        stderr_of(out)
    );
    stderr_of(out)
}

/// `hwsign status --json` on `sock`.
pub fn status(env: &TestEnv, sock: &Path) -> serde_json::Value {
    let out = client(env, sock, &["status", "--json"]);
    assert_ok(&out);
    serde_json::from_slice(&out.stdout).expect("status --json is JSON")
}

/// The pending touches of the agent on the main socket.
pub fn pending_touches(env: &TestEnv) -> Vec<serde_json::Value> {
    status(env, &env.default_sock())["pending_touches"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// Waits until a touch is pending and returns it.
pub fn wait_for_pending_touch(env: &TestEnv) -> serde_json::Value {
    let mut found = None;
    wait_until("a pending touch in hwsign status --json", || {
        found = pending_touches(env).into_iter().next();
        found.is_some()
    });
    found.unwrap()
}

/// The records of a JSON-lines log (none when the file does not exist yet).
pub fn jsonl(path: &Path) -> Vec<serde_json::Value> {
    fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{}: {e}: {l}", path.display())))
        .collect()
}

/// A client running in the background, its output going to files; killed on drop.
pub struct Background {
    child: Child,
    stdout: PathBuf,
    stderr: PathBuf,
    desc: String,
}

impl Background {
    pub fn spawn(env: &TestEnv, sock: &Path, args: &[&str], name: &str) -> Background {
        let stdout = env.dir.path().join(format!("{name}.stdout"));
        let stderr = env.dir.path().join(format!("{name}.stderr"));
        let mut cmd = env.command(client_bin());
        cmd.env("HWSIGN_AUTH_SOCK", sock)
            .args(args)
            .stdout(File::create(&stdout).unwrap())
            .stderr(File::create(&stderr).unwrap());
        let desc = format!("{cmd:?}");
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot spawn {desc}: {e}"));
        Background {
            child,
            stdout,
            stderr,
            desc,
        }
    }

    /// Waits for the exit (at most [`EVENT_TIMEOUT`]) and returns what it printed.
    pub fn wait(&mut self) -> Output {
        let start = Instant::now();
        let status = loop {
            if let Some(st) = self.child.try_wait().expect("try_wait") {
                break st;
            }
            if start.elapsed() >= EVENT_TIMEOUT {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "{} did not exit within {EVENT_TIMEOUT:?}; killed\n--- stderr ---\n{}",
                    self.desc,
                    fs::read_to_string(&self.stderr).unwrap_or_default()
                );
            }
            thread::sleep(Duration::from_millis(20));
        };
        Output {
            status,
            stdout: fs::read(&self.stdout).unwrap_or_default(),
            stderr: fs::read(&self.stderr).unwrap_or_default(),
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Runs the client on `sock` with `hwsign touch --wait 60s` already waiting on the main
/// socket, so the touch comes as soon as the agent asks for it; asserts that the client
/// succeeded and that the touch was given.
pub fn with_touch(env: &TestEnv, sock: &Path, args: &[&str]) -> Output {
    let mut touch = Background::spawn(
        env,
        &env.default_sock(),
        &["touch", "--wait", "60s"],
        "touch",
    );
    let out = client(env, sock, args);
    assert_ok(&out);
    let touched = touch.wait();
    assert_ok(&touched);
    assert!(
        stdout_of(&touched).starts_with("touched token hwsign-test for key "),
        "{}",
        stdout_of(&touched)
    );
    out
}

/// The lines of `text` that start with `Touch the token`.
pub fn touch_lines(text: &str) -> String {
    let mut out = String::new();
    for l in text.lines().filter(|l| l.starts_with("Touch the token")) {
        out.push_str(l);
        out.push('\n');
    }
    out
}

/// The text of `path`, empty when it does not exist (yet).
pub fn read_text(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_default()
}

/// `notify_command` running notify.sh, which appends each message to work/notify.log.
pub fn notify_setting(env: &TestEnv) -> String {
    format!(
        "notify_command = [\"/bin/sh\", {}, {}]\n",
        toml_str(peer("notify.sh")),
        toml_str(env.path("notify.log"))
    )
}

/// `confirm_command` running confirm.py: log work/confirm.log (JSON lines, plus
/// confirm.log.marker), answer from work/confirm.mode (`approve`, the default, or `deny`).
pub fn confirm_setting(env: &TestEnv) -> String {
    format!(
        "confirm_command = [{}, {}, {}, {}]\n",
        toml_str(python3()),
        toml_str(peer("confirm.py")),
        toml_str(env.path("confirm.log")),
        toml_str(env.path("confirm.mode"))
    )
}

/// The forwarded socket of the agent started in `env`.
pub fn extra_sock(env: &TestEnv) -> std::path::PathBuf {
    env.sock_dir().join("agent.extra.sock")
}

/// The prompt the confirm command was shown last (asserting SSH_ASKPASS_PROMPT=confirm).
pub fn last_prompt(env: &TestEnv) -> String {
    let records = jsonl(&env.path("confirm.log"));
    let last = records.last().expect("the confirm command was not run");
    assert_eq!(last["askpass_prompt"], "confirm", "{last}");
    last["prompt"].as_str().unwrap().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mask_hides_the_host_and_pids_only() {
        let h = host();
        let text = format!(
            "Touch the token on {h} for (pid 4242) and (pid 17)\nkept: (pid x) (pid 12 (pid ) on {h}x\n"
        );
        assert_eq!(
            mask(&text),
            format!(
                "Touch the token on <host> for (pid <pid>) and (pid <pid>)\nkept: (pid x) (pid 12 (pid ) on {h}x\n"
            )
        );
    }

    #[test]
    fn toml_str_escapes_backslashes_and_quotes() {
        assert_eq!(toml_str("/a b/c"), r#""/a b/c""#);
        assert_eq!(toml_str(r#"a"b\c"#), r#""a\"b\\c""#);
    }

    #[test]
    fn touch_lines_keeps_the_touch_prompts() {
        let text = "hwsign: signing\nTouch the token A\n  Touch the token B\nTouch the token C\n";
        assert_eq!(touch_lines(text), "Touch the token A\nTouch the token C\n");
        assert_eq!(touch_lines(""), "");
    }

    #[test]
    fn jsonl_reads_records_and_a_missing_log_as_none() {
        let t = tempfile::tempdir().unwrap();
        let log = t.path().join("confirm.log");
        assert!(jsonl(&log).is_empty());
        fs::write(&log, "{\"a\":1}\n{\"b\":\"x\"}\n").unwrap();
        let records = jsonl(&log);
        assert_eq!(records.len(), 2);
        assert_eq!(records[1]["b"], "x");
        assert_eq!(read_text(&log).lines().count(), 2);
        assert_eq!(read_text(&t.path().join("none")), "");
    }

    #[test]
    fn peers_are_the_repository_scripts() {
        for name in ["pinentry.py", "confirm.py", "notify.sh"] {
            assert!(peer(name).is_file(), "{}", peer(name).display());
        }
    }
}
