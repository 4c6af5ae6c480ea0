//! Writing outputs: never over an existing file unless forced, and never a half-written file
//! (write a temporary file beside it, then link or rename it into place).

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Fail early if any of `paths` exists and `force` is off.
pub fn check_free(paths: &[PathBuf], force: bool) -> Result<()> {
    if force {
        return Ok(());
    }
    match paths.iter().find(|p| std::fs::symlink_metadata(p).is_ok()) {
        Some(p) => Err(Error::Exists(p.clone())),
        None => Ok(()),
    }
}

/// `FILE` + `.ext` (`dist/a.tar.gz` → `dist/a.tar.gz.sig`).
pub fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// Write `contents` to `path` atomically; refuse to replace an existing file unless `force`.
pub fn write_new(path: &Path, contents: &[u8], force: bool) -> Result<()> {
    let file_err = |source| Error::File {
        path: path.to_path_buf(),
        source,
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".hwsign-")
        .tempfile_in(&dir)
        .map_err(file_err)?;
    tmp.write_all(contents).map_err(file_err)?;
    tmp.as_file().sync_all().map_err(file_err)?;
    if force {
        tmp.persist(path).map_err(|e| file_err(e.error))?;
    } else {
        tmp.persist_noclobber(path).map_err(|e| {
            if e.error.kind() == std::io::ErrorKind::AlreadyExists {
                Error::Exists(path.to_path_buf())
            } else {
                file_err(e.error)
            }
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_clobber_unless_forced() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.sig");
        write_new(&p, b"one", false).unwrap();
        assert!(matches!(
            write_new(&p, b"two", false),
            Err(Error::Exists(_))
        ));
        assert_eq!(std::fs::read(&p).unwrap(), b"one");
        write_new(&p, b"three", true).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"three");
        assert_eq!(
            with_suffix(Path::new("d/x.tar"), ".sig"),
            PathBuf::from("d/x.tar.sig")
        );
        assert!(check_free(std::slice::from_ref(&p), false).is_err());
        assert!(check_free(&[p], true).is_ok());
    }
}
