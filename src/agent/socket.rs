//! The agent's socket: a private directory, a stale socket replaced only when nobody answers on
//! it, mode 0600, and removal on shutdown (only if it is still ours).

use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Why the socket cannot be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SocketError {
    /// The directory is unsafe.
    #[error(transparent)]
    Dir(#[from] crate::dirs::DirError),
    /// Another agent answers on the socket.
    #[error(
        "an agent is already running on {0}\n  hint: stop it first, or use another --socket-dir"
    )]
    InUse(PathBuf),
    /// Something that is not a socket sits at the path.
    #[error(
        "{0} exists and is not a socket; not touching it\n  hint: remove it yourself if it is stale"
    )]
    NotASocket(PathBuf),
    /// Binding or inspecting failed.
    #[error("{path}: {source}")]
    Io {
        /// The socket path the call was about.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// A bound socket that removes itself when dropped (if the file is still the one we made).
#[derive(Debug)]
pub struct BoundSocket {
    /// Where it was bound (removed on drop only if still ours).
    pub path: PathBuf,
    inode: u64,
}

impl BoundSocket {
    /// Whether the path still names the socket we bound (it may have been deleted, say by a
    /// clean-up of the runtime directory, or replaced).
    pub fn still_there(&self) -> bool {
        std::fs::symlink_metadata(&self.path).is_ok_and(|m| m.ino() == self.inode)
    }
}

impl Drop for BoundSocket {
    fn drop(&mut self) {
        if std::fs::symlink_metadata(&self.path).is_ok_and(|m| m.ino() == self.inode) {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Check the directory and the path before start-up: fails if an agent answers on `path`,
/// removes a stale socket nobody answers on.
pub fn check_path(dir: &Path, path: &Path) -> Result<(), SocketError> {
    crate::dirs::ensure_private_dir(dir)?;
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(SocketError::Io {
            path: path.to_path_buf(),
            source,
        }),
        Ok(meta) if !meta.file_type().is_socket() => {
            Err(SocketError::NotASocket(path.to_path_buf()))
        }
        Ok(_) => match std::os::unix::net::UnixStream::connect(path) {
            Ok(_) => Err(SocketError::InUse(path.to_path_buf())),
            Err(_) => {
                tracing::info!(path = %path.display(), "replacing a stale socket");
                std::fs::remove_file(path).map_err(|source| SocketError::Io {
                    path: path.to_path_buf(),
                    source,
                })
            }
        },
    }
}

/// Bind `path` (after [`check_path`]) with mode 0600. Must run inside a tokio runtime.
pub fn bind(path: &Path) -> Result<(tokio::net::UnixListener, BoundSocket), SocketError> {
    let io = |source| SocketError::Io {
        path: path.to_path_buf(),
        source,
    };
    let listener = tokio::net::UnixListener::bind(path).map_err(io)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(io)?;
    let inode = std::fs::symlink_metadata(path).map_err(io)?.ino();
    Ok((
        listener,
        BoundSocket {
            path: path.to_path_buf(),
            inode,
        },
    ))
}
