//! Hashing files: streaming (constant memory), several files in parallel across cores, with a
//! progress bar on a terminal for large inputs. RustCrypto's `sha2` picks the CPU's SHA
//! extensions at run time.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use indicatif::{ProgressBar, ProgressStyle};
use sha2::Digest;

use crate::error::{Error, Result};
use crate::proto::scheme::HashAlg;

/// Inputs larger than this in total get a progress bar (on a terminal).
const PROGRESS_THRESHOLD: u64 = 256 * 1024 * 1024;
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
    /// Its size.
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

/// Stream one file into `sink`; returns its size.
fn feed<W: std::io::Write>(
    path: &Path,
    sink: &mut W,
    progress: Option<&ProgressBar>,
) -> Result<u64> {
    let file_err = |source| Error::File {
        path: path.to_path_buf(),
        source,
    };
    let mut f = std::fs::File::open(path).map_err(file_err)?;
    let mut buf = vec![0u8; BUF];
    let mut size = 0u64;
    loop {
        let n = match f.read(&mut buf) {
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
    Ok(size)
}

/// One file's sink and size, once hashed.
type Slot<W> = Option<Result<(W, u64)>>;

/// Stream every file into a sink made by `make` (any `io::Write`, e.g. an OpenPGP hash
/// context), several files at a time (one thread per core), keeping the input order.
pub fn hash_files_with<W, F>(paths: &[PathBuf], make: F) -> Result<Vec<(W, u64)>>
where
    W: std::io::Write + Send,
    F: Fn() -> Result<W> + Sync,
{
    let mut total = 0u64;
    for p in paths {
        let meta = std::fs::metadata(p).map_err(|source| Error::File {
            path: p.clone(),
            source,
        })?;
        if !meta.is_file() {
            return Err(Error::Usage(format!(
                "{} is not a regular file",
                p.display()
            )));
        }
        total += meta.len();
    }
    let progress = (total >= PROGRESS_THRESHOLD
        && std::io::IsTerminal::is_terminal(&std::io::stderr()))
    .then(|| {
        let bar = ProgressBar::new(total);
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
    let results: Mutex<Vec<Slot<W>>> = Mutex::new((0..paths.len()).map(|_| None).collect());
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(path) = paths.get(i) else { break };
                    let r = make().and_then(|mut sink| {
                        feed(path, &mut sink, progress.as_ref()).map(|n| (sink, n))
                    });
                    if let Ok(mut slots) = results.lock() {
                        slots[i] = Some(r);
                    }
                }
            });
        }
    });
    if let Some(p) = progress {
        p.finish_and_clear();
    }
    let slots = results
        .into_inner()
        .map_err(|_| Error::Usage("a hashing thread panicked".into()))?;
    slots
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Err(Error::Usage("a file was not hashed".into()))))
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
}
