//! Hashing files: streaming (constant memory), several files in parallel across cores, with a
//! progress bar on a terminal for large inputs. RustCrypto's `sha2` picks the CPU's SHA
//! extensions at run time.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use sha2::Digest;

use crate::crypto::scheme::HashAlg;
use crate::error::{Error, Result};

/// A run that is still hashing after this long shows a progress bar (on a terminal, never on
/// a pipe); a shorter one shows nothing. `HWSIGN_PROGRESS_AFTER_MS` changes it (tests show the
/// bar at once with 0).
const PROGRESS_AFTER: Duration = Duration::from_secs(1);

fn progress_after() -> Duration {
    std::env::var("HWSIGN_PROGRESS_AFTER_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .map_or(PROGRESS_AFTER, Duration::from_millis)
}

/// Shows `bar` once `after` has passed, unless `done` is set first.
fn show_later(bar: &ProgressBar, after: Duration, done: &AtomicBool) {
    let start = Instant::now();
    while !done.load(Ordering::Relaxed) {
        if start.elapsed() >= after {
            bar.set_draw_target(ProgressDrawTarget::stderr());
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
const BUF: usize = 1024 * 1024;

enum Hasher {
    Sha256(sha2::Sha256),
    Sha384(sha2::Sha384),
    Sha512(sha2::Sha512),
}

impl Hasher {
    fn new(alg: HashAlg) -> Self {
        match alg {
            HashAlg::Sha256 => Hasher::Sha256(sha2::Sha256::new()),
            HashAlg::Sha384 => Hasher::Sha384(sha2::Sha384::new()),
            HashAlg::Sha512 => Hasher::Sha512(sha2::Sha512::new()),
        }
    }
    fn update(&mut self, data: &[u8]) {
        match self {
            Hasher::Sha256(h) => h.update(data),
            Hasher::Sha384(h) => h.update(data),
            Hasher::Sha512(h) => h.update(data),
        }
    }
    fn finish(self) -> Vec<u8> {
        match self {
            Hasher::Sha256(h) => h.finalize().to_vec(),
            Hasher::Sha384(h) => h.finalize().to_vec(),
            Hasher::Sha512(h) => h.finalize().to_vec(),
        }
    }
}

/// The digests of one file.
#[derive(Debug, Clone)]
pub struct FileDigest {
    /// The file.
    pub path: PathBuf,
    /// Bytes hashed (what the file had while it was read).
    pub size: u64,
    /// One digest per requested algorithm, in the order requested.
    pub digests: Vec<Vec<u8>>,
}

impl std::io::Write for Hasher {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Several hashers fed the same bytes.
struct Multi(Vec<Hasher>);

impl std::io::Write for Multi {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        for h in &mut self.0 {
            h.update(buf);
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// What `fstat` says of an input: compared before and after reading, so that a file changed
/// (written, truncated, replaced in place) while it was read is never signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl Stamp {
    fn of(meta: &std::fs::Metadata) -> Stamp {
        use std::os::unix::fs::MetadataExt;
        Stamp {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.len(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
            ctime: (meta.ctime(), meta.ctime_nsec()),
        }
    }
}

/// What a non-regular file is, for the error.
fn kind_of(ft: std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if ft.is_dir() {
        "directory"
    } else if ft.is_fifo() {
        "FIFO (named pipe)"
    } else if ft.is_char_device() {
        "character device"
    } else if ft.is_block_device() {
        "block device"
    } else if ft.is_socket() {
        "socket"
    } else {
        "special file"
    }
}

/// An input opened for reading, known to be a regular file.
struct Input {
    file: std::fs::File,
    stamp: Stamp,
}

/// Open `path` for reading if it is a regular file. Race-free: the descriptor is opened first
/// (non-blocking, so a FIFO without a writer cannot hang the open; no controlling terminal),
/// then `fstat` decides, so nothing can be swapped in between a check and the open.
fn open_regular(path: &Path) -> Result<Input> {
    use std::os::unix::fs::OpenOptionsExt;
    let file_err = |source| Error::File {
        path: path.to_path_buf(),
        source,
    };
    let file = match std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
    {
        Ok(f) => f,
        // A socket cannot be opened at all (ENXIO): say what it is.
        Err(e) if e.raw_os_error() == Some(libc::ENXIO) => {
            return match std::fs::metadata(path) {
                Ok(meta) if !meta.is_file() => Err(Error::NotRegularFile {
                    path: path.to_path_buf(),
                    kind: kind_of(meta.file_type()),
                }),
                _ => Err(file_err(e)),
            };
        }
        Err(e) => return Err(file_err(e)),
    };
    let meta = file.metadata().map_err(file_err)?;
    if !meta.is_file() {
        return Err(Error::NotRegularFile {
            path: path.to_path_buf(),
            kind: kind_of(meta.file_type()),
        });
    }
    // O_NONBLOCK stays set: regular files ignore it (reads from the page cache or the disk
    // block as usual), and only regular files get past this point.
    Ok(Input {
        file,
        stamp: Stamp::of(&meta),
    })
}

/// Check that `path` is a regular file that can be opened for reading; returns its size.
/// Cheap (open and `fstat`): for checking every input before anything is hashed or signed.
pub fn check_input(path: &Path) -> Result<u64> {
    Ok(open_regular(path)?.stamp.size)
}

/// Check every input with [`check_input`]; returns their sizes.
pub fn check_inputs(paths: &[PathBuf]) -> Result<Vec<u64>> {
    paths.iter().map(|p| check_input(p)).collect()
}

/// After reading `got` bytes of `input`: an error unless the file is as it was when opened.
fn unchanged(path: &Path, input: &Input, got: u64) -> Result<()> {
    let after = input.file.metadata().map_err(|source| Error::File {
        path: path.to_path_buf(),
        source,
    })?;
    if Stamp::of(&after) != input.stamp || got != input.stamp.size {
        return Err(Error::InputChanged(path.to_path_buf()));
    }
    Ok(())
}

/// Read a regular file that must be held in memory (e.g. for PureEdDSA), reading at most
/// `limit + 1` bytes whatever the file claims: more than `limit` is an error, and so is a file
/// that changed while it was read.
pub fn read_input(path: &Path, limit: u64) -> Result<Vec<u8>> {
    let mut input = open_regular(path)?;
    if input.stamp.size > limit {
        return Err(Error::Usage(format!(
            "{} has {} bytes, more than the {limit} bytes this input may have",
            path.display(),
            input.stamp.size
        )));
    }
    let mut data = Vec::with_capacity(input.stamp.size as usize);
    (&mut input.file)
        .take(limit + 1)
        .read_to_end(&mut data)
        .map_err(|source| Error::File {
            path: path.to_path_buf(),
            source,
        })?;
    unchanged(path, &input, data.len() as u64)?;
    Ok(data)
}

/// Stream one file into `sink`; returns its size. The file must be a regular file, and the
/// same one, with the same size and times, after it was read as before.
fn feed<W: std::io::Write>(
    path: &Path,
    sink: &mut W,
    progress: Option<&ProgressBar>,
    buf: &mut [u8],
) -> Result<u64> {
    let file_err = |source| Error::File {
        path: path.to_path_buf(),
        source,
    };
    let mut input = open_regular(path)?;
    let mut size = 0u64;
    loop {
        let n = match input.file.read(buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(file_err(e)),
        };
        sink.write_all(&buf[..n]).map_err(file_err)?;
        size += n as u64;
        if let Some(p) = progress {
            p.inc(n as u64);
        }
    }
    unchanged(path, &input, size)?;
    Ok(size)
}

/// Stream every file into a sink made by `make` (any `io::Write`, e.g. an OpenPGP hash
/// context), several files at a time (one thread per core), keeping the input order. Only
/// regular files are read (checked on the open descriptor); a file that changed while it was
/// hashed is an [`Error::InputChanged`].
pub fn hash_files_with<W, F>(paths: &[PathBuf], make: F) -> Result<Vec<(W, u64)>>
where
    W: std::io::Write + Send,
    F: Fn() -> Result<W> + Sync,
{
    hash_files_map(paths, make, |sink, size| (sink, size))
}

/// The SHA-256 of every file, in parallel; only the digests are kept (a release of 100,000
/// files keeps 3.2 MB, not 100,000 hasher states).
pub fn sha256_files(paths: &[PathBuf]) -> Result<Vec<[u8; 32]>> {
    hash_files_map(
        paths,
        || Ok(sha2::Sha256::new()),
        |h, _| <[u8; 32]>::from(h.finalize()),
    )
}

/// [`hash_files_with`], each sink turned by `finish` (with the file's size) into what is kept,
/// on the worker that hashed it.
pub fn hash_files_map<W, T, F, G>(paths: &[PathBuf], make: F, finish: G) -> Result<Vec<T>>
where
    W: std::io::Write + Send,
    T: Send,
    F: Fn() -> Result<W> + Sync,
    G: Fn(W, u64) -> T + Sync,
{
    // The sizes are asked (one more open and fstat per file) only for a bar on a terminal.
    let terminal = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let total: u64 = if terminal {
        check_inputs(paths)?.iter().sum()
    } else {
        0
    };
    // Counted from the start, drawn only when the run takes longer than a moment.
    let progress = terminal.then(|| {
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::hidden());
        if let Ok(style) = ProgressStyle::with_template(
            "hashing {bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        ) {
            bar.set_style(style);
        }
        bar
    });
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(paths.len())
        .max(1);
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<T>>> = Mutex::new((0..paths.len()).map(|_| None).collect());
    // The error of the first file (in input order) that failed.
    let failed: Mutex<Option<(usize, Error)>> = Mutex::new(None);
    let done = AtomicBool::new(false);
    std::thread::scope(|outer| {
        if let Some(bar) = progress.as_ref() {
            let (after, done) = (progress_after(), &done);
            outer.spawn(move || show_later(bar, after, done));
        }
        std::thread::scope(|s| {
            for _ in 0..workers {
                s.spawn(|| {
                    // One buffer per worker: 100,000 small files are not 100 GB of zeroing.
                    let mut buf = vec![0u8; BUF];
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(path) = paths.get(i) else { break };
                        let r = make().and_then(|mut sink| {
                            feed(path, &mut sink, progress.as_ref(), &mut buf)
                                .map(|n| finish(sink, n))
                        });
                        match r {
                            Ok(v) => {
                                if let Ok(mut slots) = results.lock() {
                                    slots[i] = Some(v);
                                }
                            }
                            Err(e) => {
                                if let Ok(mut f) = failed.lock()
                                    && f.as_ref().is_none_or(|(j, _)| i < *j)
                                {
                                    *f = Some((i, e));
                                }
                            }
                        }
                    }
                });
            }
        });
        done.store(true, Ordering::Relaxed);
    });
    if let Some(p) = progress {
        p.finish_and_clear();
    }
    let panicked = || Error::Usage("a hashing thread panicked".into());
    if let Some((_, e)) = failed.into_inner().map_err(|_| panicked())? {
        return Err(e);
    }
    results
        .into_inner()
        .map_err(|_| panicked())?
        .into_iter()
        .map(|r| r.ok_or_else(|| Error::Usage("a file was not hashed".into())))
        .collect()
}

/// Hash every file with every algorithm in `algs` (one pass per file), in parallel.
pub fn hash_files(paths: &[PathBuf], algs: &[HashAlg]) -> Result<Vec<FileDigest>> {
    let sinks = hash_files_with(paths, || {
        Ok(Multi(algs.iter().map(|a| Hasher::new(*a)).collect()))
    })?;
    Ok(paths
        .iter()
        .zip(sinks)
        .map(|(path, (multi, size))| FileDigest {
            path: path.clone(),
            size,
            digests: multi.0.into_iter().map(Hasher::finish).collect(),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_files_match() {
        let dir = tempfile::tempdir().unwrap();
        let paths: Vec<PathBuf> = (0..5)
            .map(|i| {
                let p = dir.path().join(format!("f{i}"));
                std::fs::write(&p, vec![i as u8; i * 1000]).unwrap();
                p
            })
            .collect();
        let got = sha256_files(&paths).unwrap();
        for (p, d) in paths.iter().zip(got) {
            assert_eq!(
                d.to_vec(),
                HashAlg::Sha256.digest(&std::fs::read(p).unwrap())
            );
        }
    }

    #[test]
    fn parallel_hashes_match_one_shot() {
        let dir = tempfile::tempdir().unwrap();
        let mut paths = Vec::new();
        for (i, len) in [0usize, 1, BUF - 1, BUF + 7, 3 * BUF]
            .into_iter()
            .enumerate()
        {
            let p = dir.path().join(format!("f{i}"));
            std::fs::write(&p, (0..len).map(|j| (j * 7 + i) as u8).collect::<Vec<_>>()).unwrap();
            paths.push(p);
        }
        let out = hash_files(&paths, &[HashAlg::Sha256, HashAlg::Sha512]).unwrap();
        for (p, d) in paths.iter().zip(&out) {
            let data = std::fs::read(p).unwrap();
            assert_eq!(d.path, *p);
            assert_eq!(d.size, data.len() as u64);
            assert_eq!(d.digests[0], HashAlg::Sha256.digest(&data));
            assert_eq!(d.digests[1], HashAlg::Sha512.digest(&data));
        }
    }

    /// A sink that changes the file being hashed when the first bytes arrive: deterministic,
    /// the file is read, then changed, then read on.
    struct Meddler {
        path: PathBuf,
        change: fn(&Path),
        done: bool,
    }

    impl std::io::Write for Meddler {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if !self.done {
                self.done = true;
                (self.change)(&self.path);
            }
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn meddled(len: usize, change: fn(&Path)) -> Result<Vec<(Meddler, u64)>> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("artifact");
        std::fs::write(&path, vec![7u8; len]).unwrap();
        hash_files_with(std::slice::from_ref(&path), || {
            Ok(Meddler {
                path: path.clone(),
                change,
                done: false,
            })
        })
    }

    fn append(path: &Path) {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new().append(true).open(path).unwrap();
        f.write_all(b"appended while hashed").unwrap();
    }

    fn truncate(path: &Path) {
        let f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
        f.set_len(10).unwrap();
    }

    /// Same size, new bytes: only the times tell.
    fn rewrite_same_size(path: &Path) {
        use std::io::{Seek, Write};
        let mut f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
        f.seek(std::io::SeekFrom::Start(BUF as u64 * 2)).unwrap();
        f.write_all(b"X").unwrap();
        // The file systems' coarse clock: make sure the times move.
        let later = std::time::SystemTime::now() + std::time::Duration::from_secs(5);
        f.set_modified(later).unwrap();
    }

    #[test]
    fn a_file_changed_while_hashed_is_an_error() {
        for (what, change) in [
            ("appended", append as fn(&Path)),
            ("truncated", truncate),
            ("rewritten", rewrite_same_size),
        ] {
            match meddled(3 * BUF, change) {
                Err(Error::InputChanged(p)) => assert!(p.ends_with("artifact"), "{what}: {p:?}"),
                Err(e) => panic!("{what}: wrong error: {e}"),
                Ok(_) => panic!("{what}: a file changed while hashed was hashed without error"),
            }
        }
        // A small file (read in one go) appended to after its only read.
        assert!(matches!(meddled(10, append), Err(Error::InputChanged(_))));
        // Nothing changed: fine.
        assert!(meddled(3 * BUF, |_| {}).is_ok());
    }

    #[test]
    fn only_regular_files_are_read_and_a_fifo_cannot_hang_the_open() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        let started = std::time::Instant::now();
        for (path, kind) in [
            (fifo.clone(), "FIFO"),
            (dir.path().to_path_buf(), "directory"),
            (PathBuf::from("/dev/zero"), "character device"),
        ] {
            for r in [
                hash_files(std::slice::from_ref(&path), &[HashAlg::Sha256]).map(|_| ()),
                read_input(&path, 1024).map(|_| ()),
                check_input(&path).map(|_| ()),
            ] {
                match r {
                    Err(e @ Error::NotRegularFile { .. }) => {
                        let text = e.to_string();
                        assert!(text.contains(&path.display().to_string()), "{text}");
                        assert!(text.contains(kind), "{text}");
                    }
                    other => panic!("{}: {other:?}", path.display()),
                }
            }
        }
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }

    #[test]
    fn read_input_reads_at_most_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let small = dir.path().join("small");
        std::fs::write(&small, b"twelve bytes").unwrap();
        assert_eq!(read_input(&small, 12).unwrap(), b"twelve bytes");
        let err = read_input(&small, 11).unwrap_err().to_string();
        assert!(err.contains("12 bytes"), "{err}");
    }
}
