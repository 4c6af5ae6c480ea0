//! One agent per state directory.
//!
//! Two agents appending to the same audit log interleave their records and break its hash
//! chain (each links its records to the hash it wrote last), and they would share the SoftHSM
//! test token and the key creation times. So before it touches anything in the state directory,
//! the agent takes an exclusive `flock` on `<state dir>/agent.lock`, writes its pid into it, and
//! holds the lock for its whole life. The kernel releases it when the process ends, also on a
//! crash or `kill -9`: a lock file left behind is harmless, and the file is never removed (that
//! would let a third agent lock a new file while the second still holds the old one). A second
//! agent fails to start with an error that names the holder's pid and the directory.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

/// The lock file's name in the state directory.
pub const FILE_NAME: &str = "agent.lock";

/// Why the state directory cannot be locked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LockError {
    /// Another agent holds it.
    #[error(
        "another hwsign-agent is already running on the state directory {dir} ({holder}; lock {lock})\n  hint: stop that agent first, or give this one its own XDG_STATE_HOME"
    )]
    Held {
        /// The state directory.
        dir: PathBuf,
        /// The lock file.
        lock: PathBuf,
        /// `pid N`, or why the pid is not known.
        holder: String,
    },
    /// The directory is unusable.
    #[error(transparent)]
    Dir(#[from] crate::dirs::DirError),
    /// The lock file cannot be opened, locked or written.
    #[error("cannot lock the state directory ({lock}): {source}")]
    Io {
        /// The lock file.
        lock: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// The held lock; released when dropped (or when the process ends).
#[derive(Debug)]
pub struct StateLock {
    file: File,
    path: PathBuf,
}

impl StateLock {
    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for StateLock {
    fn drop(&mut self) {
        crate::sys::unlock(&self.file);
    }
}

/// The pid in a lock file, as shown to a person (only digits are believed).
fn holder(file: &mut File) -> String {
    let mut text = String::new();
    let _ = file.rewind();
    let _ = file.take(32).read_to_string(&mut text);
    match text.trim().parse::<u32>() {
        Ok(pid) => format!("pid {pid}"),
        Err(_) => "pid not written yet: it is starting".into(),
    }
}

/// Create `dir` (private) if needed and lock it for this process, writing our pid into the lock
/// file. Fails at once when another process holds it.
pub fn acquire(dir: &Path) -> Result<StateLock, LockError> {
    crate::dirs::ensure_private_dir(dir)?;
    let path = dir.join(FILE_NAME);
    let io = |source| LockError::Io {
        lock: path.clone(),
        source,
    };
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(io)?;
    if !crate::sys::try_lock_exclusive(&file).map_err(io)? {
        return Err(LockError::Held {
            dir: dir.to_path_buf(),
            lock: path.clone(),
            holder: holder(&mut file),
        });
    }
    let pid = crate::sys::current_pid();
    file.set_len(0).map_err(io)?;
    file.rewind().map_err(io)?;
    file.write_all(format!("{pid}\n").as_bytes()).map_err(io)?;
    file.flush().map_err(io)?;
    Ok(StateLock { file, path })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_is_refused_with_the_holders_pid() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("hwsign");
        let held = acquire(&dir).unwrap();
        let pid = crate::sys::current_pid();
        assert_eq!(
            std::fs::read_to_string(held.path()).unwrap(),
            format!("{pid}\n")
        );
        // flock locks belong to the open file description: a second open in this process is
        // refused like another process would be.
        let err = acquire(&dir).unwrap_err().to_string();
        assert!(err.contains(&format!("pid {pid}")), "{err}");
        assert!(err.contains(&dir.display().to_string()), "{err}");
        assert!(err.contains("already running"), "{err}");
        drop(held);
        let again = acquire(&dir).unwrap();
        drop(again);
    }
}
