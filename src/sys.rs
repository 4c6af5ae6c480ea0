//! Thin wrappers over the few libc calls hwsign needs; the only module allowed `unsafe`.
#![allow(unsafe_code)]

/// The real user id of this process.
pub fn current_uid() -> u32 {
    // SAFETY: getuid has no preconditions and cannot fail.
    unsafe { libc::getuid() }
}

/// Make the process non-dumpable so PINs in memory do not end up in core files or under
/// ptrace of other users' processes. Best effort.
pub fn make_non_dumpable() {
    // SAFETY: prctl(PR_SET_DUMPABLE, 0) only changes a flag of this process.
    unsafe {
        libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0);
    }
}

/// Set the file mode creation mask; returns the previous mask.
pub fn set_umask(mask: u32) -> u32 {
    // SAFETY: umask cannot fail.
    unsafe { libc::umask(mask as libc::mode_t) as u32 }
}

/// Set an environment variable. Call only before any thread is started (the agent does this
/// first thing in `main`, before the tokio runtime exists).
pub fn set_env_before_threads(key: &str, value: &std::ffi::OsStr) {
    // SAFETY: the caller guarantees no other thread is running, so nothing reads the
    // environment concurrently.
    unsafe { std::env::set_var(key, value) }
}

/// Send a signal to a process.
pub fn kill(pid: i32, signal: i32) -> std::io::Result<()> {
    // SAFETY: kill has no memory-safety preconditions.
    let rc = unsafe { libc::kill(pid, signal) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// This process's id.
pub fn current_pid() -> u32 {
    std::process::id()
}

/// Try to take an exclusive `flock` on `file` without waiting: `Ok(false)` when another open
/// file description holds it. Released by [`unlock`] or when the last descriptor closes.
pub fn try_lock_exclusive(file: &std::fs::File) -> std::io::Result<bool> {
    use std::os::unix::io::AsRawFd;
    loop {
        // SAFETY: flock(2) on a descriptor `file` owns for the duration of the call.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
            return Ok(true);
        }
        let err = std::io::Error::last_os_error();
        match err.kind() {
            std::io::ErrorKind::Interrupted => continue,
            std::io::ErrorKind::WouldBlock => return Ok(false),
            _ => return Err(err),
        }
    }
}

/// Release a `flock` taken by [`try_lock_exclusive`].
pub fn unlock(file: &std::fs::File) {
    use std::os::unix::io::AsRawFd;
    // SAFETY: as above.
    unsafe {
        libc::flock(file.as_raw_fd(), libc::LOCK_UN);
    }
}

/// Sockets passed by systemd socket activation (`LISTEN_PID`, `LISTEN_FDS`, `LISTEN_FDNAMES`),
/// as (name, listener) pairs; the variables are removed so children do not inherit them. Call
/// only before any thread is started.
pub fn take_activated_listeners() -> std::io::Result<Vec<(String, std::os::unix::net::UnixListener)>>
{
    use std::os::fd::FromRawFd;
    let pid_ok = std::env::var("LISTEN_PID")
        .ok()
        .and_then(|p| p.parse::<u32>().ok())
        == Some(current_pid());
    let count: i32 = std::env::var("LISTEN_FDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let names: Vec<String> = std::env::var("LISTEN_FDNAMES")
        .map(|n| n.split(':').map(str::to_string).collect())
        .unwrap_or_default();
    for var in ["LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"] {
        // SAFETY: the caller guarantees no other thread is running.
        unsafe { std::env::remove_var(var) };
    }
    if !pid_ok || count <= 0 {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for i in 0..count {
        let fd = 3 + i;
        // Close-on-exec, so the agent's children (pinentry, confirm commands) do not inherit it.
        // SAFETY: fcntl on an fd number has no memory-safety preconditions.
        unsafe {
            libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC);
        }
        // SAFETY: systemd passes these fds to us and nothing else in this process owns them;
        // LISTEN_PID matched our pid, so they are ours.
        let listener = unsafe { std::os::unix::net::UnixListener::from_raw_fd(fd) };
        listener.set_nonblocking(true)?;
        let name = names
            .get(i as usize)
            .cloned()
            .unwrap_or_else(|| format!("fd{fd}"));
        out.push((name, listener));
    }
    Ok(out)
}

/// End the process now, without running atexit handlers or library destructors. The agent
/// calls this after an orderly stop (sockets removed, audit records fsynced, output flushed):
/// PKCS#11 modules and PC/SC libraries loaded in the process have been seen to crash in their
/// exit-time destructors while other threads still hold their handles.
pub fn exit_now(code: i32) -> ! {
    // SAFETY: _exit has no preconditions; it never returns.
    unsafe { libc::_exit(code) }
}
