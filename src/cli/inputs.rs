//! The inputs of `hwsign sign` and `hwsign attest`: files named on the command line and in a
//! list (`--files-from FILE`, `-` for stdin; one per line, or NUL-separated with `-0`).

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Every input, in the order given: the command line's files, then the list's.
pub fn gather(files: &[PathBuf], files_from: Option<&Path>, nul: bool) -> Result<Vec<PathBuf>> {
    gather_all(files, files_from, nul, &[], false)
}

/// [`gather`], then the regular files under each of `trees` ([`walk`]).
pub fn gather_all(
    files: &[PathBuf],
    files_from: Option<&Path>,
    nul: bool,
    trees: &[PathBuf],
    follow: bool,
) -> Result<Vec<PathBuf>> {
    let mut out = files.to_vec();
    if let Some(list) = files_from {
        out.extend(read_list(list, nul)?);
    }
    for t in trees {
        walk(t, follow, &mut out)?;
    }
    if out.is_empty() {
        return Err(Error::Usage(
            "no input files\n  hint: name them, give a list with --files-from FILE, or a directory with -r DIR".into(),
        ));
    }
    Ok(out)
}

/// Skipped own outputs, with what each is.
pub type Skipped = Vec<(PathBuf, crate::client::own::Own)>;

/// One note line saying how many own outputs were skipped and how to include them.
pub fn note_skipped(skipped: &Skipped) {
    if !skipped.is_empty() {
        eprintln!("note: {}", crate::client::own::skipped_note(skipped));
    }
}

/// The inputs to sign: [`gather`]ed, without hwsign's own outputs (signatures, envelopes,
/// verifier material, recognised by content) unless `include_own`; also returns those skipped
/// (for [`note_skipped`]).
pub fn signable(
    files: &[PathBuf],
    files_from: Option<&Path>,
    nul: bool,
    trees: &[PathBuf],
    follow: bool,
    include_own: bool,
) -> Result<(Vec<PathBuf>, Skipped)> {
    let all = gather_all(files, files_from, nul, trees, follow)?;
    if include_own {
        return Ok((all, Vec::new()));
    }
    let (keep, skipped) = crate::client::own::split(all);
    if keep.is_empty() {
        return Err(Error::Usage(format!(
            "every input is one of hwsign's own outputs ({} file(s)); nothing to sign\n  hint: pass --include-signatures to sign them anyway",
            skipped.len()
        )));
    }
    Ok((keep, skipped))
}

/// The regular files under `dir`, in a deterministic order (entries sorted by their bytes,
/// depth first). Symbolic links are skipped unless `follow` (then a link to a directory is
/// walked too; a loop is an error, not a hang).
pub fn walk(dir: &Path, follow: bool, out: &mut Vec<PathBuf>) -> Result<()> {
    fn go(dir: &Path, follow: bool, depth: usize, out: &mut Vec<PathBuf>) -> Result<()> {
        if depth > 64 {
            return Err(Error::Usage(format!(
                "{}: more than 64 directories deep (a symbolic link loop?)",
                dir.display()
            )));
        }
        let file_err = |source| Error::File {
            path: dir.to_path_buf(),
            source,
        };
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(file_err)?
            .map(|e| e.map(|e| e.path()))
            .collect::<std::io::Result<_>>()
            .map_err(file_err)?;
        entries.sort_by(|a, b| {
            use std::os::unix::ffi::OsStrExt;
            a.as_os_str().as_bytes().cmp(b.as_os_str().as_bytes())
        });
        for p in entries {
            let meta = std::fs::symlink_metadata(&p).map_err(|source| Error::File {
                path: p.clone(),
                source,
            })?;
            let meta = if meta.file_type().is_symlink() {
                if !follow {
                    continue;
                }
                match std::fs::metadata(&p) {
                    Ok(m) => m,
                    Err(_) => continue,
                }
            } else {
                meta
            };
            if meta.is_dir() {
                go(&p, follow, depth + 1, out)?;
            } else if meta.is_file() {
                out.push(p);
            }
        }
        Ok(())
    }
    go(dir, follow, 0, out)
}

/// The subject name of `path` relative to `base` ([`crate::subject_name::under`]), as a
/// usage error naming both when it has none.
pub fn relative_name(path: &Path, base: &Path) -> Result<String> {
    use crate::subject_name::{NameError, under};
    under(path, base).map_err(|e| match e {
        NameError::Absolute(source) => Error::File {
            path: path.to_path_buf(),
            source,
        },
        NameError::NotUnder => Error::Usage(format!(
            "{} is not under --base {}",
            path.display(),
            base.display()
        )),
        NameError::Climbs => Error::Usage(format!(
            "{}: its name under --base {} climbs out with `..`",
            path.display(),
            base.display()
        )),
        NameError::NotUtf8 => Error::Usage(format!("{}: {e}", path.display())),
        NameError::Base => Error::Usage(format!("{} is --base itself", path.display())),
    })
}

/// The paths in a list file (`-`: stdin): lines (a trailing `\r` kept: file names may end in
/// one) or, with `nul`, NUL-separated names; empty entries are skipped.
pub fn read_list(list: &Path, nul: bool) -> Result<Vec<PathBuf>> {
    use std::io::BufRead;
    use std::os::unix::ffi::OsStrExt;
    let err = |source| Error::File {
        path: list.to_path_buf(),
        source,
    };
    // Entry by entry: a list of 100,000 long paths is never in memory twice (whole and split).
    let mut reader: Box<dyn BufRead> = if list == Path::new("-") {
        Box::new(std::io::stdin().lock())
    } else {
        Box::new(std::io::BufReader::new(
            std::fs::File::open(list).map_err(err)?,
        ))
    };
    let sep = if nul { b'\0' } else { b'\n' };
    let mut out = Vec::new();
    let mut entry = Vec::new();
    loop {
        entry.clear();
        if reader.read_until(sep, &mut entry).map_err(err)? == 0 {
            break;
        }
        if entry.last() == Some(&sep) {
            entry.pop();
        }
        if !entry.is_empty() {
            out.push(PathBuf::from(std::ffi::OsStr::from_bytes(&entry)));
        }
    }
    out.shrink_to_fit();
    Ok(out)
}

/// `files` without `out` (compared as absolute paths): a checksum file being written is never
/// one of its own inputs, as on a second run over `dist/*`.
pub fn without(files: Vec<PathBuf>, out: &Path) -> Vec<PathBuf> {
    let target = std::path::absolute(out).ok();
    files
        .into_iter()
        .filter(|f| std::path::absolute(f).ok() != target)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walks_in_order_and_names_relative_to_the_base() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        for f in ["b/tool", "a/tool", "a/z/x", "c"] {
            let p = d.join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, f).unwrap();
        }
        std::os::unix::fs::symlink(d.join("c"), d.join("link")).unwrap();
        let mut out = Vec::new();
        walk(d, false, &mut out).unwrap();
        let names: Vec<String> = out.iter().map(|p| relative_name(p, d).unwrap()).collect();
        assert_eq!(names, ["a/tool", "a/z/x", "b/tool", "c"]);
        let mut out = Vec::new();
        walk(d, true, &mut out).unwrap();
        assert_eq!(out.len(), 5);
        assert!(relative_name(&d.join("a/../../etc"), d).is_err());
        assert!(relative_name(Path::new("/etc/passwd"), d).is_err());
        assert!(relative_name(d, d).is_err());
    }

    #[test]
    fn lists_by_line_or_nul() {
        let dir = tempfile::tempdir().unwrap();
        let lines = dir.path().join("lines");
        std::fs::write(&lines, b"a\nb c\n\nd/e\n").unwrap();
        let got = gather(&[PathBuf::from("x")], Some(&lines), false).unwrap();
        assert_eq!(got, ["x", "a", "b c", "d/e"].map(PathBuf::from));
        let nul = dir.path().join("nul");
        std::fs::write(&nul, b"new\nline\0two\0").unwrap();
        assert_eq!(
            read_list(&nul, true).unwrap(),
            ["new\nline", "two"].map(PathBuf::from)
        );
        assert!(gather(&[], None, false).is_err());
        assert!(read_list(&dir.path().join("missing"), false).is_err());
        // The last entry needs no separator; a carriage return is part of a name.
        let crlf = dir.path().join("crlf");
        std::fs::write(&crlf, b"a\r\nb").unwrap();
        assert_eq!(
            read_list(&crlf, false).unwrap(),
            ["a\r", "b"].map(PathBuf::from)
        );
        // Entries longer than the reader's buffer come whole.
        let long = "n".repeat(20_000);
        std::fs::write(&lines, format!("{long}\nx\n")).unwrap();
        assert_eq!(
            read_list(&lines, false).unwrap(),
            [long.as_str(), "x"].map(PathBuf::from)
        );
    }
}
