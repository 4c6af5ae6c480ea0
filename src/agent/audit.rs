//! The audit log: JSON lines at `$XDG_STATE_HOME/hwsign/audit.jsonl`, one record per request
//! that reached a key. Each record carries its own hash and the hash of the record before it
//! (a chain across rotations: `audit.jsonl.1`, `.2`, … are older files), and is written and
//! fsynced before the signature goes back; when it cannot be written, the signature is refused.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// The `prev` of the very first record.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";
/// The current file's name.
pub const FILE_NAME: &str = "audit.jsonl";
/// Default rotation size.
pub const DEFAULT_MAX_BYTES: u64 = 64 << 20;

/// The hash of a record: SHA-256 of its compact JSON without the `hash` field (serde_json
/// sorts object keys, so this is canonical).
pub fn record_hash(record: &Map<String, Value>) -> String {
    let mut m = record.clone();
    m.remove("hash");
    let bytes = serde_json::to_vec(&Value::Object(m)).unwrap_or_default();
    crate::pubkey::hex(&Sha256::digest(bytes))
}

/// The log files of `dir` in chain order: rotated ones (oldest first), then the current one.
pub fn files_in_order(dir: &Path) -> Vec<PathBuf> {
    let mut rotated: Vec<(u64, PathBuf)> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter_map(|e| {
                    let name = e.file_name().to_string_lossy().into_owned();
                    let n = name.strip_prefix(&format!("{FILE_NAME}."))?.parse().ok()?;
                    Some((n, e.path()))
                })
                .collect()
        })
        .unwrap_or_default();
    rotated.sort();
    let mut out: Vec<PathBuf> = rotated.into_iter().map(|(_, p)| p).collect();
    let current = dir.join(FILE_NAME);
    if current.exists() {
        out.push(current);
    }
    out
}

fn last_hash(dir: &Path) -> String {
    for file in files_in_order(dir).iter().rev() {
        if let Ok(text) = std::fs::read_to_string(file) {
            if let Some(line) = text.lines().rev().find(|l| !l.trim().is_empty()) {
                if let Ok(Value::Object(m)) = serde_json::from_str::<Value>(line) {
                    return record_hash(&m);
                }
            }
        }
    }
    GENESIS.to_string()
}

/// The append-only log.
#[derive(Debug)]
pub struct AuditLog {
    dir: PathBuf,
    max_bytes: u64,
    last: Mutex<String>,
}

impl AuditLog {
    /// The log in `dir` (continuing the chain of what is there).
    pub fn open(dir: &Path, max_bytes: u64) -> Self {
        AuditLog {
            dir: dir.to_path_buf(),
            max_bytes: max_bytes.max(1024),
            last: Mutex::new(last_hash(dir)),
        }
    }

    /// The current file.
    pub fn path(&self) -> PathBuf {
        self.dir.join(FILE_NAME)
    }

    fn rotate(&self) -> std::io::Result<()> {
        let next = files_in_order(&self.dir)
            .iter()
            .filter_map(|p| {
                p.file_name()?
                    .to_str()?
                    .strip_prefix(&format!("{FILE_NAME}."))?
                    .parse::<u64>()
                    .ok()
            })
            .max()
            .unwrap_or(0)
            + 1;
        std::fs::rename(self.path(), self.dir.join(format!("{FILE_NAME}.{next}")))
    }

    /// Append a record (its `prev` and `hash` are filled in here), fsynced. Blocking.
    pub fn append(&self, mut record: Map<String, Value>) -> std::io::Result<()> {
        let mut last = self
            .last
            .lock()
            .map_err(|_| std::io::Error::other("audit log lock poisoned"))?;
        record.insert("prev".into(), Value::String(last.clone()));
        let hash = record_hash(&record);
        record.insert("hash".into(), Value::String(hash.clone()));
        let mut line = serde_json::to_vec(&Value::Object(record)).map_err(std::io::Error::other)?;
        line.push(b'\n');
        let size = std::fs::metadata(self.path()).map(|m| m.len()).unwrap_or(0);
        if size > 0 && size + line.len() as u64 > self.max_bytes {
            self.rotate()?;
        }
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.path())?;
        f.write_all(&line)?;
        f.sync_all()?;
        if let Ok(d) = std::fs::File::open(&self.dir) {
            let _ = d.sync_all();
        }
        *last = hash;
        Ok(())
    }
}

/// Where a chain check failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broken {
    /// The file.
    pub file: PathBuf,
    /// The line (1-based).
    pub line: usize,
    /// What is wrong.
    pub reason: String,
}

/// Check every record's hash and link; the number of records, or the first broken one.
pub fn verify_chain(dir: &Path) -> Result<usize, Broken> {
    let mut prev: Option<String> = None;
    let mut count = 0;
    for file in files_in_order(dir) {
        let text = std::fs::read_to_string(&file).map_err(|e| Broken {
            file: file.clone(),
            line: 0,
            reason: format!("cannot read: {e}"),
        })?;
        for (i, line) in text.lines().enumerate() {
            let broken = |reason: String| Broken {
                file: file.clone(),
                line: i + 1,
                reason,
            };
            let Ok(Value::Object(m)) = serde_json::from_str::<Value>(line) else {
                return Err(broken("not a JSON object (altered or truncated)".into()));
            };
            let stored = m.get("hash").and_then(Value::as_str).unwrap_or_default();
            if stored != record_hash(&m) {
                return Err(broken(
                    "its content does not match its hash (the record was altered)".into(),
                ));
            }
            let link = m.get("prev").and_then(Value::as_str).unwrap_or_default();
            match &prev {
                Some(p) if p != link => {
                    return Err(broken("its prev is not the hash of the record before (a record was removed, inserted or altered)".into()));
                }
                None if link != GENESIS => {
                    return Err(broken(format!(
                        "the chain starts at {link}, not at the beginning (older files missing?)"
                    )));
                }
                _ => {}
            }
            prev = Some(stored.to_string());
            count += 1;
        }
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(n: u64) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("n".into(), Value::from(n));
        m.insert("padding".into(), Value::String("x".repeat(300)));
        m
    }

    #[test]
    fn chain_rotation_and_tampering() {
        let dir = tempfile::tempdir().unwrap();
        let log = AuditLog::open(dir.path(), 1024);
        for n in 0..10 {
            log.append(rec(n)).unwrap();
        }
        assert!(files_in_order(dir.path()).len() > 2, "rotated");
        assert_eq!(verify_chain(dir.path()).unwrap(), 10);
        // Reopening continues the chain.
        AuditLog::open(dir.path(), 1024).append(rec(10)).unwrap();
        assert_eq!(verify_chain(dir.path()).unwrap(), 11);
        // One byte changed in the second line of the oldest file is named.
        let cur = files_in_order(dir.path())[0].clone();
        let text = std::fs::read_to_string(&cur).unwrap();
        let first_len = text.lines().next().unwrap().len();
        let mut bytes = text.into_bytes();
        bytes[first_len + 10] ^= 1;
        std::fs::write(&cur, bytes).unwrap();
        let err = verify_chain(dir.path()).unwrap_err();
        assert_eq!((err.file, err.line), (cur, 2));
    }
}
