//! One read per artifact: every digest any signature over it needs (SHA-256, SHA-512, one
//! OpenPGP hash per OpenPGP signature, with its text-mode line endings) is computed in the
//! same pass, and the bytes themselves are kept (once, up to [`ED25519_READ_MAX`]) when a raw
//! Ed25519 signature may need them. Signatures are then checked against that one content, so a
//! file replaced while it is verified cannot lend one signature content A and another
//! content B.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use sequoia_openpgp::crypto::hash::Context;
use sha2::{Digest, Sha256, Sha512};

use crate::verify::openpgp::SignatureHasher;
use crate::verify::raw::ED25519_READ_MAX;

/// What one pass over an artifact must compute beyond SHA-256 and SHA-512.
#[derive(Debug, Default, Clone)]
pub(crate) struct Needs {
    /// One hasher per OpenPGP signature over the artifact, in the order given.
    pub openpgp: Vec<SignatureHasher>,
    /// Keep the bytes (for raw Ed25519 signatures), up to [`ED25519_READ_MAX`].
    pub whole: bool,
    /// Compute BLAKE2b-512 (minisign's prehash).
    pub blake2b: bool,
}

/// What the one pass over an artifact found.
#[derive(Clone)]
pub(crate) struct Content {
    /// SHA-256 of the bytes.
    pub sha256: Vec<u8>,
    /// SHA-512 of the bytes.
    pub sha512: Vec<u8>,
    /// The OpenPGP hash contexts, in the order of [`Needs::openpgp`].
    pub openpgp: Vec<Context>,
    /// The bytes when [`Needs::whole`]: or why they were not kept.
    pub whole: Option<Result<Vec<u8>, String>>,
    /// BLAKE2b-512 of the bytes when [`Needs::blake2b`] (else empty).
    pub blake2b: Vec<u8>,
}

impl std::fmt::Debug for Content {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Content")
            .field("sha256", &crate::crypto::pubkey::hex(&self.sha256))
            .field("openpgp", &self.openpgp.len())
            .field(
                "whole",
                &self.whole.as_ref().map(|w| w.as_ref().map(Vec::len)),
            )
            .finish_non_exhaustive()
    }
}

impl Content {
    /// [`Content::whole`] as a raw signature check takes it.
    pub fn whole_ref(&self) -> Result<&[u8], &str> {
        match &self.whole {
            Some(Ok(b)) => Ok(b),
            Some(Err(e)) => Err(e),
            None => Err("the file was not kept for an Ed25519 check"),
        }
    }
}

const CHUNK: usize = 1 << 20;

/// Read `reader` to its end once, feeding everything `needs` asks for; `shown` names it in
/// messages.
pub(crate) fn digest_reader(
    mut reader: impl Read,
    needs: Needs,
    shown: &str,
) -> std::io::Result<Content> {
    let mut sha256 = Sha256::new();
    let mut sha512 = Sha512::new();
    let mut openpgp = needs.openpgp;
    let mut whole: Option<Result<Vec<u8>, String>> = needs.whole.then(|| Ok(Vec::new()));
    let mut blake2b = needs.blake2b.then(blake2::Blake2b512::new);
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let chunk = &buf[..n];
        sha256.update(chunk);
        sha512.update(chunk);
        for h in &mut openpgp {
            h.update(chunk);
        }
        if let Some(b) = &mut blake2b {
            b.update(chunk);
        }
        if let Some(Ok(kept)) = &mut whole {
            if (kept.len() + n) as u64 > ED25519_READ_MAX {
                whole = Some(Err(format!(
                    "{shown} is larger than {ED25519_READ_MAX} bytes, too large for a raw Ed25519 signature check"
                )));
            } else {
                kept.extend_from_slice(chunk);
            }
        }
    }
    Ok(Content {
        sha256: sha256.finalize().to_vec(),
        sha512: sha512.finalize().to_vec(),
        openpgp: openpgp.into_iter().map(SignatureHasher::finish).collect(),
        whole,
        blake2b: blake2b.map(|b| b.finalize().to_vec()).unwrap_or_default(),
    })
}

/// Open and read one artifact once. Directories and other non-regular files are refused (by
/// the opened file's own metadata).
fn read_one(path: &Path, needs: Needs) -> Result<Content, String> {
    let shown = path.display().to_string();
    let file = File::open(path).map_err(|e| format!("{shown}: {e}"))?;
    #[cfg(test)]
    hooks::opened(path);
    let meta = file.metadata().map_err(|e| format!("{shown}: {e}"))?;
    if meta.is_dir() {
        return Err(format!("{shown} is a directory, not a file to verify"));
    }
    if !meta.is_file() {
        return Err(format!("{shown} is not a regular file"));
    }
    let content = digest_reader(file, needs, &shown).map_err(|e| format!("{shown}: {e}"))?;
    #[cfg(test)]
    hooks::after_read(path);
    Ok(content)
}

/// Read every artifact once (in parallel), each with its needs.
pub(crate) fn read_all(paths: &[PathBuf], needs: Vec<Needs>) -> Vec<Result<Content, String>> {
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(paths.len())
        .max(1);
    let jobs: Vec<(usize, &PathBuf, Needs)> = paths
        .iter()
        .zip(needs)
        .enumerate()
        .map(|(i, (p, n))| (i, p, n))
        .collect();
    let queue = std::sync::Mutex::new(jobs.into_iter());
    let results = std::sync::Mutex::new(
        (0..paths.len())
            .map(|_| Err("was not read".to_string()))
            .collect::<Vec<_>>(),
    );
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| {
                loop {
                    let job = queue.lock().ok().and_then(|mut q| q.next());
                    let Some((i, path, needs)) = job else { break };
                    let r = read_one(path, needs);
                    if let Ok(mut out) = results.lock() {
                        out[i] = r;
                    }
                }
            });
        }
    });
    results.into_inner().unwrap_or_default()
}

/// Test hooks: called with the artifact's path after its one read (to replace the file, as
/// an attacker racing the verifier would), and a log of every artifact opened.
#[cfg(test)]
pub(crate) mod hooks {
    use std::path::{Path, PathBuf};
    use std::sync::Mutex;

    type Hook = Box<dyn FnOnce() + Send>;

    pub(crate) static AFTER_READ: Mutex<Vec<(PathBuf, Hook)>> = Mutex::new(Vec::new());
    pub(crate) static OPENED: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

    pub(crate) fn opened(path: &Path) {
        OPENED.lock().unwrap().push(path.to_path_buf());
    }

    pub(crate) fn after_read(path: &Path) {
        let hook = {
            let mut hooks = AFTER_READ.lock().unwrap();
            hooks
                .iter()
                .position(|(p, _)| p == path)
                .map(|i| hooks.remove(i).1)
        };
        if let Some(h) = hook {
            h();
        }
    }
}
