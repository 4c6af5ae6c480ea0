//! Where hwsign keeps things (XDG runtime, state and config dirs), and private directories
//! created 0700 without a race and checked for owner and mode when they already exist.

use std::fs::DirBuilder;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// A directory that cannot be used safely.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DirError {
    /// The directory is open to other users.
    #[error(
        "{path} has mode {mode:04o}; hwsign needs it private (0700)\n  hint: run `chmod 700 {path}` if it is yours, or pick another directory"
    )]
    Mode {
        /// The directory.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The directory belongs to someone else.
    #[error(
        "{path} belongs to uid {owner}, not to you (uid {me})\n  hint: pick a directory you own (--socket-dir, XDG_RUNTIME_DIR)"
    )]
    Owner {
        /// The directory.
        path: PathBuf,
        /// The uid that owns it (not ours: refused).
        owner: u32,
        /// Our uid.
        me: u32,
    },
    /// The path exists but is not a directory.
    #[error("{0} exists and is not a directory")]
    NotADir(PathBuf),
    /// The directory could not be created or inspected.
    #[error("{path}: {source}")]
    Io {
        /// The directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

fn home() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/"))
}

fn xdg(var: &str, fallback: impl FnOnce() -> PathBuf) -> PathBuf {
    match std::env::var_os(var) {
        Some(v) if !v.is_empty() && Path::new(&v).is_absolute() => PathBuf::from(v),
        _ => fallback(),
    }
}

/// `$XDG_RUNTIME_DIR/hwsign` (falls back to `/run/user/<uid>/hwsign`, then `/tmp/hwsign-<uid>`).
pub fn runtime_dir() -> PathBuf {
    let uid = crate::sys::current_uid();
    xdg("XDG_RUNTIME_DIR", || {
        let run = PathBuf::from(format!("/run/user/{uid}"));
        if run.is_dir() {
            run
        } else {
            std::env::temp_dir().join(format!("hwsign-{uid}"))
        }
    })
    .join("hwsign")
}

/// `$XDG_STATE_HOME/hwsign` (default `~/.local/state/hwsign`).
pub fn state_dir() -> PathBuf {
    xdg("XDG_STATE_HOME", || home().join(".local/state")).join("hwsign")
}

/// `$XDG_CONFIG_HOME/hwsign` (default `~/.config/hwsign`).
pub fn config_dir() -> PathBuf {
    xdg("XDG_CONFIG_HOME", || home().join(".config")).join("hwsign")
}

/// The main agent socket in `dir`.
pub fn main_socket(dir: &Path) -> PathBuf {
    dir.join("agent.sock")
}

/// The forwarding (extra) socket in `dir`.
pub fn extra_socket(dir: &Path) -> PathBuf {
    dir.join("agent.extra.sock")
}

/// Create `path` (and missing parents) with mode 0700, or check that an existing directory is
/// owned by us and not accessible to group or others.
pub fn ensure_private_dir(path: &Path) -> Result<(), DirError> {
    let io = |source| DirError::Io {
        path: path.to_path_buf(),
        source,
    };
    if let Some(parent) = path.parent() {
        if !parent.as_os_str().is_empty() && !parent.exists() {
            DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(parent)
                .map_err(io)?;
        }
    }
    match DirBuilder::new().mode(0o700).create(path) {
        Ok(()) => {
            // The mode was subject to the umask; make sure it is exactly 0700.
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700)).map_err(io)?;
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => check_private_dir(path),
        Err(e) => Err(io(e)),
    }
}

/// Check that an existing directory is ours and private.
pub fn check_private_dir(path: &Path) -> Result<(), DirError> {
    let meta = std::fs::symlink_metadata(path).map_err(|source| DirError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    if !meta.is_dir() {
        return Err(DirError::NotADir(path.to_path_buf()));
    }
    let me = crate::sys::current_uid();
    if meta.uid() != me {
        return Err(DirError::Owner {
            path: path.to_path_buf(),
            owner: meta.uid(),
            me,
        });
    }
    let mode = meta.mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(DirError::Mode {
            path: path.to_path_buf(),
            mode,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_0700_and_refuses_open_dirs() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path().join("a/b/hwsign");
        ensure_private_dir(&d).unwrap();
        let mode = std::fs::metadata(&d).unwrap().mode() & 0o777;
        assert_eq!(mode, 0o700);
        ensure_private_dir(&d).unwrap();
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755)).unwrap();
        let err = ensure_private_dir(&d).unwrap_err();
        assert!(err.to_string().contains("0755"), "{err}");
    }
}
