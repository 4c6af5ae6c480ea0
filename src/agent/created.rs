//! Key creation times the token does not record, remembered in the agent's state dir
//! (`keys-created.tsv`: key id, Unix seconds) on first sight, so that every export of the same
//! key (OpenPGP fingerprints depend on it) gives the same answer.

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;

/// The remembered creation times.
#[derive(Debug)]
pub struct CreatedStore {
    path: Option<PathBuf>,
    known: Mutex<HashMap<String, u64>>,
}

impl CreatedStore {
    /// A store backed by `path` (or in memory only when `None`).
    pub fn open(path: Option<PathBuf>) -> Self {
        let mut known = HashMap::new();
        if let Some(text) = path.as_ref().and_then(|p| std::fs::read_to_string(p).ok()) {
            for line in text.lines() {
                if let Some((id, t)) = line.split_once('\t') {
                    if let Ok(t) = t.trim().parse() {
                        known.entry(id.to_string()).or_insert(t);
                    }
                }
            }
        }
        CreatedStore {
            path,
            known: Mutex::new(known),
        }
    }

    /// The creation time of key `id`: the token's if it has one, else the remembered one,
    /// else now (remembered from now on).
    pub fn resolve(&self, id: &str, from_token: Option<u64>) -> u64 {
        if let Some(t) = from_token {
            return t;
        }
        let Ok(mut known) = self.known.lock() else {
            return 0;
        };
        if let Some(t) = known.get(id) {
            return *t;
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        known.insert(id.to_string(), now);
        if let Some(path) = &self.path {
            let written = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .and_then(|mut f| writeln!(f, "{id}\t{now}").and_then(|_| f.sync_all()));
            if let Err(e) = written {
                tracing::warn!(path = %path.display(), error = %e, "cannot record a key's creation time");
            }
        }
        now
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_across_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys-created.tsv");
        let store = CreatedStore::open(Some(path.clone()));
        assert_eq!(store.resolve("a", Some(5)), 5);
        let t = store.resolve("b", None);
        assert!(t > 1_700_000_000);
        let again = CreatedStore::open(Some(path));
        assert_eq!(again.resolve("b", None), t);
    }
}
