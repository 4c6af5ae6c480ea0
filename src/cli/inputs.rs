//! The inputs of `hwsign sign` and `hwsign attest`: files named on the command line and in a
//! list (`--files-from FILE`, `-` for stdin; one per line, or NUL-separated with `-0`).

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Every input, in the order given: the command line's files, then the list's.
pub fn gather(files: &[PathBuf], files_from: Option<&Path>, nul: bool) -> Result<Vec<PathBuf>> {
    let mut out = files.to_vec();
    if let Some(list) = files_from {
        out.extend(read_list(list, nul)?);
    }
    if out.is_empty() {
        return Err(Error::Usage(
            "no files to sign\n  hint: name them, or give a list with --files-from FILE".into(),
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
    include_own: bool,
) -> Result<(Vec<PathBuf>, Skipped)> {
    let all = gather(files, files_from, nul)?;
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

/// The paths in a list file (`-`: stdin): lines (a trailing `\r` kept: file names may end in
/// one) or, with `nul`, NUL-separated names; empty entries are skipped.
pub fn read_list(list: &Path, nul: bool) -> Result<Vec<PathBuf>> {
    use std::os::unix::ffi::OsStrExt;
    let mut bytes = Vec::new();
    let read = if list == Path::new("-") {
        std::io::stdin().lock().read_to_end(&mut bytes)
    } else {
        std::fs::File::open(list).and_then(|mut f| f.read_to_end(&mut bytes))
    };
    read.map_err(|source| Error::File {
        path: list.to_path_buf(),
        source,
    })?;
    let sep = if nul { b'\0' } else { b'\n' };
    Ok(bytes
        .split(|&b| b == sep)
        .filter(|entry| !entry.is_empty())
        .map(|entry| PathBuf::from(std::ffi::OsStr::from_bytes(entry)))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

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
    }
}
