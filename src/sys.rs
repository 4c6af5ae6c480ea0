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
