//! Writing outputs: never over an existing file unless forced, and never a half-written file
//! (write a temporary file beside it, then link or rename it into place). Every output location
//! is checked before the first signature, so that no touch is spent on an output that cannot
//! be written; a command stopped part-way says what it wrote and what it did not.

use std::collections::BTreeSet;
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

/// The directory `path` goes to: its parent, or `.`.
pub fn dir_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Check that `dir` takes a new file, the honest way: create a temporary file in it and remove
/// it again (permissions, read-only mounts, ACLs, a full inode table and root all answer
/// truthfully only to that).
pub fn check_dir_writable(dir: &Path) -> Result<()> {
    let out_err = |source| Error::OutputDir {
        dir: dir.to_path_buf(),
        source,
    };
    let meta = std::fs::metadata(dir).map_err(out_err)?;
    if !meta.is_dir() {
        return Err(out_err(std::io::Error::from_raw_os_error(libc::ENOTDIR)));
    }
    let probe = tempfile::Builder::new()
        .prefix(".hwsign-check-")
        .tempfile_in(dir)
        .map_err(out_err)?;
    probe.close().map_err(out_err)
}

/// Everything [`write_new`] will need, checked before anything is signed: no output exists
/// unless `force` (and none is a directory, which nothing replaces), and every output
/// directory exists, is a directory and takes a new file.
pub fn check_writable(paths: &[PathBuf], force: bool) -> Result<()> {
    check_free(paths, force)?;
    for p in paths {
        if let Ok(meta) = std::fs::symlink_metadata(p)
            && meta.is_dir()
        {
            return Err(Error::File {
                path: p.clone(),
                source: std::io::Error::from_raw_os_error(libc::EISDIR),
            });
        }
    }
    let dirs: BTreeSet<PathBuf> = paths.iter().map(|p| dir_of(p)).collect();
    for d in &dirs {
        check_dir_writable(d)?;
    }
    Ok(())
}

/// Standard output, as an error hwsign can tell from the agent's socket ([`Error::Stdout`]).
pub fn print(text: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(Error::Stdout)
}

/// `3000` → `3,000`.
pub fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A size for people: `512 bytes`, `256 KiB`, `64 MiB`, `1.5 GiB`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} bytes");
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if (v - v.round()).abs() < 0.05 {
        format!("{} {}", v.round(), UNITS[unit])
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

/// Where outputs went, for a summary line: `dist/*.sig` when they share a directory,
/// `FILE.sig` for one, else `*.sig beside each file`.
pub fn pattern(outputs: &[PathBuf], suffix: &str) -> String {
    match outputs {
        [one] => crate::text::name(&one.display().to_string()),
        [first, rest @ ..] => {
            let dir = dir_of(first);
            if rest.iter().all(|o| dir_of(o) == dir) {
                crate::text::name(&format!("{}/*{suffix}", dir.display()))
            } else {
                format!("*{suffix} beside each file")
            }
        }
        [] => "nothing".into(),
    }
}

/// Lists of inputs not done longer than this go to a file, named in the message.
const LIST_INLINE: usize = 10;

/// `error`, from a command that makes one output per input and had made `done` of them (the
/// first `done` of `inputs`), with what was and was not done: `wrote 755 of 3,000 signatures;
/// not signed: a, b, c … (the full list of 2,245 is in /tmp/hwsign-not-signed-….txt)`. A long list of what
/// was not done is written to a file in the temporary directory.
pub fn unfinished(error: Error, done: usize, inputs: &[PathBuf], noun: &str) -> Error {
    let written: Vec<bool> = (0..inputs.len()).map(|i| i < done).collect();
    unfinished_where(error, &written, inputs, noun)
}

/// [`unfinished`] where the outputs made are not a prefix of the inputs (several signed at
/// once): `written[i]` says whether input `i`'s output was made.
pub fn unfinished_where(error: Error, written: &[bool], inputs: &[PathBuf], noun: &str) -> Error {
    let done = written.iter().filter(|w| **w).count();
    let rest: Vec<&PathBuf> = inputs
        .iter()
        .zip(written.iter().chain(std::iter::repeat(&false)))
        .filter(|(_, w)| !**w)
        .map(|(p, _)| p)
        .collect();
    let mut summary = format!(
        "wrote {} of {} {noun}",
        thousands(done),
        thousands(inputs.len())
    );
    if !rest.is_empty() {
        // The list file keeps the real names; what the terminal shows is escaped.
        let names: Vec<String> = rest.iter().map(|p| p.display().to_string()).collect();
        let escaped: Vec<String> = names.iter().map(|n| crate::text::name(n)).collect();
        if names.len() <= LIST_INLINE {
            summary.push_str(&format!("; not signed: {}", escaped.join(", ")));
        } else {
            let shown = escaped[..3].join(", ");
            match write_list(&names) {
                Ok(list) => summary.push_str(&format!(
                    "; not signed: {shown} … (the full list of {} is in {})",
                    thousands(names.len()),
                    list.display()
                )),
                Err(e) => summary.push_str(&format!(
                    "; not signed ({} files; the list could not be written to a file: {e}): {}",
                    thousands(names.len()),
                    escaped.join(", ")
                )),
            }
        }
    }
    Error::Unfinished {
        source: Box::new(error),
        summary,
    }
}

/// `error` with a note of what it left undone (e.g. `nothing was signed`).
pub fn not_done(error: Error, summary: impl Into<String>) -> Error {
    Error::Unfinished {
        source: Box::new(error),
        summary: summary.into(),
    }
}

/// The inputs not done, one per line, in a kept temporary file; returns its path.
fn write_list(names: &[String]) -> std::io::Result<PathBuf> {
    let mut file = tempfile::Builder::new()
        .prefix("hwsign-not-signed-")
        .suffix(".txt")
        .tempfile()?;
    for n in names {
        writeln!(file, "{n}")?;
    }
    file.as_file().sync_all()?;
    let (_, path) = file.keep().map_err(|e| e.error)?;
    Ok(path)
}

/// A path as a person reads it: escaped (file names come from directory listings too).
pub fn shown(path: &Path) -> String {
    crate::text::name(&path.display().to_string())
}

/// `FILE` + `.ext` (`dist/a.tar.gz` → `dist/a.tar.gz.sig`).
pub fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// The process's umask: from `/proc/self/status` (reading it does not change it, so no other
/// thread can create a file under a cleared umask); else set and restored. Read once: nothing
/// in hwsign changes it.
pub fn umask() -> u32 {
    static UMASK: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    *UMASK.get_or_init(read_umask)
}

fn read_umask() -> u32 {
    let from_proc = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Umask:"))
                .and_then(|v| u32::from_str_radix(v.trim(), 8).ok())
        });
    from_proc.unwrap_or_else(|| {
        let old = crate::sys::set_umask(0o022);
        crate::sys::set_umask(old);
        old
    })
}

/// Write `contents` to `path` atomically; refuse to replace an existing file unless `force`.
pub fn write_new(path: &Path, contents: &[u8], force: bool) -> Result<()> {
    write_new_with(path, force, |w| w.write_all(contents))
}

/// [`write_new`] with the contents written by `fill` (through a buffer).
pub fn write_new_with(
    path: &Path,
    force: bool,
    fill: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<()> {
    let file_err = |source| Error::File {
        path: path.to_path_buf(),
        source,
    };
    let dir = dir_of(path);
    let mut tmp = tempfile::Builder::new()
        .prefix(".hwsign-")
        .tempfile_in(&dir)
        .map_err(file_err)?;
    {
        let mut w = std::io::BufWriter::with_capacity(256 * 1024, tmp.as_file_mut());
        fill(&mut w).map_err(file_err)?;
        w.flush().map_err(file_err)?;
    }
    publish(tmp, path, force)
}

/// Put a filled temporary file (made beside `path`) in place as a published output: 0666
/// minus the umask, as a plain `>` redirection makes it (not the temporary file's 0600),
/// durable, then renamed over `path` (an existing file only with `force`).
pub fn publish(tmp: tempfile::NamedTempFile, path: &Path, force: bool) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let file_err = |source| Error::File {
        path: path.to_path_buf(),
        source,
    };
    let mode = 0o666 & !umask();
    tmp.as_file()
        .set_permissions(std::fs::Permissions::from_mode(mode))
        .map_err(file_err)?;
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
    if let Ok(mut dirs) = RENAMED_INTO.lock() {
        dirs.insert(dir_of(path));
    }
    Ok(())
}

/// The directories outputs were renamed into since the last [`sync_dirs`].
static RENAMED_INTO: std::sync::Mutex<BTreeSet<PathBuf>> = std::sync::Mutex::new(BTreeSet::new());

/// Make the names of the outputs published so far durable: each directory an output was
/// renamed into is synced once (a rename is only durable once its directory is), so a
/// command that wrote 200 signatures into one directory pays one directory sync, not 200.
/// The programs call it before they exit; a failure is the command's failure.
pub fn sync_dirs() -> Result<()> {
    let dirs = match RENAMED_INTO.lock() {
        Ok(mut d) => std::mem::take(&mut *d),
        Err(_) => return Err(Error::Protocol("the output list lock was poisoned".into())),
    };
    sync_each(dirs)
}

/// Sync every one of `dirs`; the first that fails is the error.
fn sync_each(dirs: BTreeSet<PathBuf>) -> Result<()> {
    let mut first_error = None;
    for dir in dirs {
        if let Err(source) = std::fs::File::open(&dir).and_then(|d| d.sync_all()) {
            first_error.get_or_insert(Error::File { path: dir, source });
        }
    }
    first_error.map_or(Ok(()), Err)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every directory an output went into is synced by `sync_dirs`; one that cannot be is
    /// the command's error, naming it.
    #[test]
    fn output_directories_are_synced_and_a_failure_names_the_directory() {
        let kept = tempfile::tempdir().unwrap();
        let gone = tempfile::tempdir().unwrap();
        write_new(&kept.path().join("a.sig"), b"a", false).unwrap();
        write_new(&gone.path().join("b.sig"), b"b", false).unwrap();
        {
            let dirs = RENAMED_INTO.lock().unwrap();
            assert!(dirs.contains(kept.path()) && dirs.contains(gone.path()));
        }
        let dirs = BTreeSet::from([kept.path().to_path_buf(), gone.path().to_path_buf()]);
        let gone_path = gone.path().to_path_buf();
        drop(gone);
        match sync_each(dirs) {
            Err(Error::File { path, .. }) => assert_eq!(path, gone_path),
            other => panic!("{other:?}"),
        }
        sync_each(BTreeSet::from([kept.path().to_path_buf()])).unwrap();
    }

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

    #[test]
    fn outputs_are_published_with_the_umask() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.sig");
        write_new(&p, b"sig", false).unwrap();
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o666 & !umask());
    }

    #[test]
    fn output_locations_are_checked_honestly() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a-file");
        std::fs::write(&file, b"x").unwrap();
        let sub = dir.path().join("sub");
        std::fs::create_dir(&sub).unwrap();
        assert!(check_writable(&[dir.path().join("ok.sig")], false).is_ok());
        for (out, force) in [
            (dir.path().join("missing/x.sig"), false),
            (file.join("x.sig"), false),
            (sub.clone(), true),
        ] {
            let err = check_writable(std::slice::from_ref(&out), force).unwrap_err();
            assert!(
                matches!(err, Error::OutputDir { .. } | Error::File { .. }),
                "{}: {err}",
                out.display()
            );
        }
        // The probe leaves nothing behind.
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(left.len(), 2);
    }

    #[test]
    fn unfinished_says_what_was_written_and_lists_the_rest() {
        assert_eq!(thousands(3000), "3,000");
        assert_eq!(thousands(755), "755");
        assert_eq!(thousands(1234567), "1,234,567");
        assert_eq!(bytes(512), "512 bytes");
        assert_eq!(bytes(256 * 1024), "256 KiB");
        assert_eq!(bytes(64 << 20), "64 MiB");
        assert_eq!(bytes(3 << 29), "1.5 GiB");
        let inputs: Vec<PathBuf> = (0..20).map(|i| PathBuf::from(format!("f{i}"))).collect();
        let lost = Error::AgentLost {
            path: PathBuf::from("/run/agent.sock"),
            detail: "closed".into(),
        };
        let text = unfinished(lost, 5, &inputs, "signatures").to_string();
        let first = text.lines().next().unwrap();
        assert!(
            first.starts_with("lost the agent at /run/agent.sock: closed; wrote 5 of 20 signatures; not signed: f5, f6, f7 … (the full list of 15 is in "),
            "{text}"
        );
        let list = first
            .rsplit_once(" is in ")
            .unwrap()
            .1
            .trim_end_matches(')');
        let listed = std::fs::read_to_string(list).unwrap();
        std::fs::remove_file(list).unwrap();
        assert_eq!(
            listed.lines().collect::<Vec<_>>(),
            (5..20).map(|i| format!("f{i}")).collect::<Vec<_>>()
        );
        let short = unfinished(Error::Usage("no".into()), 1, &inputs[..3], "signatures");
        assert_eq!(
            short.to_string(),
            "no; wrote 1 of 3 signatures; not signed: f1, f2"
        );
    }
}
