//! External tools (PATH lookup, Python) and running commands with a timeout,
//! printing their output on failure.

use std::fs;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::COMMAND_TIMEOUT;

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

/// Panics (never skips) when `path` does not exist.
pub fn require_file(path: &str, debian_pkg: &str) {
    assert!(
        std::path::Path::new(path).exists(),
        "{path} is missing: install Debian package {debian_pkg} (apt-get install {debian_pkg})"
    );
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
/// Stdin is whatever the caller set (the [`crate::TestEnv::command`] default is null).
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

pub(crate) fn run_err(cmd: &mut Command) -> Output {
    let desc = format!("{cmd:?}");
    let out = run(cmd);
    assert!(
        !out.status.success(),
        "expected failure\n{}",
        describe(&desc, &out)
    );
    out
}

/// What a command printed on stderr, as text.
pub fn stderr_of(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// What a command printed on stdout, as text.
pub fn stdout_of(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_captures_both_streams_and_the_status() {
        let out = run(Command::new("sh").args(["-c", "echo out; echo err >&2; exit 3"]));
        assert_eq!(out.status.code(), Some(3));
        assert_eq!(stdout_of(&out), "out\n");
        assert_eq!(stderr_of(&out), "err\n");
        let described = describe("sh -c …", &out);
        assert!(described.starts_with("command: sh -c …\nstatus: exit status: 3\n"));
        assert!(described.contains("--- stdout ---\nout\n\n--- stderr ---\nerr\n"));
    }

    #[test]
    fn run_ok_and_run_err_assert_the_status() {
        run_ok(&mut Command::new("true"));
        run_err(&mut Command::new("false"));
        assert!(std::panic::catch_unwind(|| run_ok(&mut Command::new("false"))).is_err());
        assert!(std::panic::catch_unwind(|| run_err(&mut Command::new("true"))).is_err());
    }

    #[test]
    fn a_command_past_its_timeout_is_killed_and_fails_the_test() {
        let started = Instant::now();
        let result = std::panic::catch_unwind(|| {
            run_with_timeout(Command::new("sleep").arg("30"), Duration::from_millis(200))
        });
        assert!(result.is_err(), "a hung command passed");
        assert!(started.elapsed() < Duration::from_secs(20));
    }

    #[test]
    fn tools_are_found_on_path_and_missing_ones_are_named() {
        assert!(find_on_path("sh").is_some_and(|p| p.is_absolute()));
        assert_eq!(find_on_path("hwsign-no-such-tool"), None);
        let missing = std::panic::catch_unwind(|| require_tool("hwsign-no-such-tool", "pkg"));
        let message = *missing.unwrap_err().downcast::<String>().unwrap();
        assert!(message.contains("apt-get install pkg"), "{message}");
    }
}
