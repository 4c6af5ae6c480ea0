//! The audit log: JSON lines at `$XDG_STATE_HOME/hwsign/audit.jsonl`, one record per request
//! that reached a key. Each record carries its own hash and the hash of the record before it
//! (a chain across rotations: `audit.jsonl.1`, `.2`, … are older files), and is written and
//! made durable (`fdatasync`, shared by concurrent signatures: group commit) before the
//! signature goes back; when it cannot be written, the signature is refused.
//!
//! A torn tail — bytes after the last complete, hash-valid record, left by a crash or a failed
//! write — is moved aside into `audit.jsonl.torn-<UTC time>` (kept for forensics, never taken
//! for a rotated file), logged as a warning, and noted in the chain by a
//! `"event": "torn-tail-recovered"` record; the chain continues from the last complete record.
//! This happens when the log is opened (agent start) and before the next append after a failed
//! write that could not be undone. A failed write is undone at once: the file is cut back to
//! its length before the write and fsynced, so no later record is ever glued onto a fragment.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

/// The `prev` of the very first record.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";
/// The current file's name.
pub const FILE_NAME: &str = "audit.jsonl";
/// Default rotation size.
pub const DEFAULT_MAX_BYTES: u64 = 64 << 20;
/// Torn tails moved aside are kept as `audit.jsonl.torn-<UTC time>` (not a number, so never
/// taken for a rotated file).
pub const TORN_PREFIX: &str = "audit.jsonl.torn-";
/// The `event` of the record that notes a recovered torn tail.
pub const EVENT_TORN_RECOVERED: &str = "torn-tail-recovered";

mod canonical;
pub mod writer;
pub use canonical::canonical;

/// The hash of a record: SHA-256 of its [`canonical`] JSON without the `hash` field.
pub fn record_hash(record: &Map<String, Value>) -> String {
    crate::crypto::pubkey::hex(&Sha256::digest(canonical::canonical_without(
        record, "hash",
    )))
}

/// The log files of `dir` in chain order: rotated ones (oldest first), then the current one.
/// Torn tails moved aside (`audit.jsonl.torn-…`) are not part of the chain.
pub fn files_in_order(dir: &Path) -> Vec<PathBuf> {
    let mut rotated: Vec<(u64, PathBuf)> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter_map(|e| {
                    let name = e.file_name().to_string_lossy().into_owned();
                    Some((rotation_number(&name)?, e.path()))
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

/// `n` of `audit.jsonl.<n>` (digits only).
fn rotation_number(name: &str) -> Option<u64> {
    let n = name.strip_prefix(FILE_NAME)?.strip_prefix('.')?;
    if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    n.parse().ok()
}

/// A line that is a JSON object whose stored hash matches its content: the object.
fn valid_record(line: &[u8]) -> Option<Map<String, Value>> {
    let Ok(Value::Object(m)) = serde_json::from_slice::<Value>(line) else {
        return None;
    };
    (m.get("hash").and_then(Value::as_str) == Some(record_hash(&m).as_str())).then_some(m)
}

/// How a log file ends.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Ending {
    /// Empty, or ends with a complete, hash-valid record.
    Clean,
    /// `bytes[keep..]` is a torn tail: after the last complete hash-valid record (or the start)
    /// come bytes without a newline, or one newline-terminated line that is not JSON (a
    /// fragment with a record glued onto it).
    Torn {
        /// Length of the intact part.
        keep: usize,
    },
    /// Ends with something a torn write does not leave (a complete JSON object with a wrong
    /// hash, several bad lines): altered. Left in place for `hwsign audit verify` to name.
    Damaged,
}

/// How much of the end of the log start-up reads first: records are a few KiB at most (the
/// statement's digest and ten subject names), so the last complete one is in it, and a 64 MiB
/// log is not read whole at every start.
const TAIL_WINDOW: u64 = 1 << 20;

/// The end of the log file at `path` as [`scan_ending`] sees it: the bytes read, their offset
/// in the file, the ending (offsets relative to the bytes) and the hash the chain continues
/// from. Reads the last [`TAIL_WINDOW`] from its first line on; the whole file when no
/// complete record is in that window.
fn read_ending(path: &Path) -> std::io::Result<(Vec<u8>, u64, Ending, Option<String>)> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok((Vec::new(), 0, Ending::Clean, None));
        }
        Err(e) => return Err(e),
    };
    let len = f.metadata()?.len();
    if len > TAIL_WINDOW {
        f.seek(SeekFrom::Start(len - TAIL_WINDOW))?;
        let mut window = Vec::with_capacity(TAIL_WINDOW as usize);
        f.read_to_end(&mut window)?;
        // The window starts mid-line: from its first whole line on.
        if let Some(nl) = window.iter().position(|&b| b == b'\n') {
            let start = nl + 1;
            let (ending, last) = scan_ending(&window[start..]);
            if last.is_some() {
                let offset = len - TAIL_WINDOW + start as u64;
                return Ok((window.split_off(start), offset, ending, last));
            }
        }
        f.seek(SeekFrom::Start(0))?;
    }
    let mut bytes = Vec::new();
    f.read_to_end(&mut bytes)?;
    let (ending, last) = scan_ending(&bytes);
    Ok((bytes, 0, ending, last))
}

/// The ending of a file and the hash the chain continues from (`None`: no record in it).
fn scan_ending(bytes: &[u8]) -> (Ending, Option<String>) {
    // Walk the newline-terminated lines back from the end to the last hash-valid record.
    let terminated = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let (mut keep, mut last, mut pos) = (0, None, terminated);
    while pos > 0 {
        let start = bytes[..pos - 1]
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
        if let Some(m) = valid_record(&bytes[start..pos - 1]) {
            keep = pos;
            last = m.get("hash").and_then(Value::as_str).map(str::to_owned);
            break;
        }
        pos = start;
    }
    if keep == bytes.len() {
        return (Ending::Clean, last);
    }
    let tail = &bytes[keep..];
    let torn = match tail.iter().filter(|&&b| b == b'\n').count() {
        0 => true,
        1 => {
            tail.ends_with(b"\n")
                && serde_json::from_slice::<Value>(&tail[..tail.len() - 1]).is_err()
        }
        _ => false,
    };
    if torn {
        return (Ending::Torn { keep }, last);
    }
    // Damaged: the chain goes on from the last line's stored hash, so `verify` names the
    // altered line, not the records after it.
    let last_line = bytes[..terminated.saturating_sub(1)]
        .rsplit(|&b| b == b'\n')
        .next()
        .unwrap_or_default();
    let stored = match serde_json::from_slice::<Value>(last_line) {
        Ok(Value::Object(m)) => m.get("hash").and_then(Value::as_str).map(str::to_owned),
        _ => None,
    };
    (Ending::Damaged, stored.or(last))
}

/// A string from the log as shown to a person: only plain file-name characters, else its length.
pub fn shown(s: &str) -> String {
    if !s.is_empty()
        && s.len() <= 120
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._:+-".contains(&b))
    {
        s.to_string()
    } else {
        format!("<{} bytes not shown>", s.len())
    }
}

fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

/// What append needs to know, under one lock.
#[derive(Debug)]
struct State {
    /// The hash of the last record written.
    last: String,
    /// The current file, open for appending (None until the first record, after a rotation or
    /// a failure).
    file: Option<Arc<File>>,
    /// Its length: records end here.
    len: u64,
    /// Its device and inode: a path that names another file now (the log was moved or
    /// deleted) is opened afresh rather than written through the old handle.
    identity: (u64, u64),
    /// Records written so far (a sequence number: the n-th record written is n).
    written: u64,
    /// The file may end with a torn tail (a failed write could not be undone, or the log was
    /// not checked yet): check it before the next append.
    dirty: bool,
    /// Recovery records still to be written (before any other record).
    pending: Vec<Map<String, Value>>,
}

/// Failures injected by unit tests.
#[cfg(test)]
#[derive(Debug, Default)]
struct Faults {
    /// The next write stops after this many bytes and fails (as on a full disk).
    partial_write: Option<usize>,
    /// The next cut-back fails too.
    fail_truncate: bool,
    /// The next fdatasync fails (EIO).
    fail_sync: bool,
    /// The next fdatasync takes this long first.
    slow_sync: Option<std::time::Duration>,
    /// fdatasyncs done.
    syncs: usize,
}

/// How far the current file is durable (group commit: one `fdatasync` covers every record
/// written before it began).
#[derive(Debug)]
struct Durable {
    /// Records up to this number are durable.
    through: u64,
    /// Records up to this number failed to become durable (they were cut back): their
    /// signatures are withheld even if a later sync succeeds.
    failed_through: u64,
    /// The file length and last hash when `through` was reached (what a failed sync cuts back
    /// to).
    len: u64,
    last: String,
}

/// The append-only log.
#[derive(Debug)]
pub struct AuditLog {
    dir: PathBuf,
    max_bytes: u64,
    state: Mutex<State>,
    /// Held while a sync runs: the appends waiting on it find their record covered after.
    syncing: Mutex<()>,
    durable: Mutex<Durable>,
    #[cfg(test)]
    faults: Mutex<Faults>,
}

impl AuditLog {
    /// The log in `dir` (continuing the chain of what is there). A torn tail is moved aside
    /// now; when the log cannot be checked, the next append tries again (and fails, so no
    /// signature goes out, while it cannot).
    pub fn open(dir: &Path, max_bytes: u64) -> Self {
        let log = AuditLog {
            dir: dir.to_path_buf(),
            max_bytes: max_bytes.max(1024),
            state: Mutex::new(State {
                last: GENESIS.to_string(),
                file: None,
                len: 0,
                identity: (0, 0),
                written: 0,
                dirty: true,
                pending: Vec::new(),
            }),
            syncing: Mutex::new(()),
            durable: Mutex::new(Durable {
                through: 0,
                failed_through: 0,
                len: 0,
                last: GENESIS.to_string(),
            }),
            #[cfg(test)]
            faults: Mutex::new(Faults::default()),
        };
        if let Ok(mut st) = log.state.lock() {
            if let Err(e) = log.settle(&mut st) {
                tracing::error!(path = %log.path().display(), error = %e, "cannot check the end of the audit log; signing is refused until it can");
            }
        }
        log
    }

    /// The current file.
    pub fn path(&self) -> PathBuf {
        self.dir.join(FILE_NAME)
    }

    fn rotate(&self) -> std::io::Result<()> {
        let next = files_in_order(&self.dir)
            .iter()
            .filter_map(|p| rotation_number(p.file_name()?.to_str()?))
            .max()
            .unwrap_or(0)
            + 1;
        std::fs::rename(self.path(), self.dir.join(format!("{FILE_NAME}.{next}")))
    }

    /// Check the end of the current file: move a torn tail aside (queueing its recovery
    /// record) and find the hash the chain continues from.
    fn settle(&self, st: &mut State) -> std::io::Result<()> {
        let path = self.path();
        let (bytes, offset, ending, last) = read_ending(&path)?;
        match ending {
            Ending::Clean => {}
            Ending::Torn { keep } => {
                let name = self.move_aside(&bytes[keep..], offset + keep as u64)?;
                let torn = bytes.len() - keep;
                tracing::warn!(
                    torn_file = %self.dir.join(&name).display(),
                    bytes = torn,
                    "the audit log ended with a torn record (a crash or a failed write); moved it aside, the chain continues from the last complete record"
                );
                let mut rec = Map::new();
                rec.insert(
                    "time".into(),
                    json!(crate::time::format_rfc3339(crate::time::now_secs())),
                );
                rec.insert("event".into(), json!(EVENT_TORN_RECOVERED));
                rec.insert("torn_file".into(), json!(name));
                rec.insert("torn_bytes".into(), json!(torn));
                st.pending.push(rec);
            }
            Ending::Damaged => {
                tracing::error!(path = %path.display(), "the audit log does not end with an intact record (altered?); left as it is: `hwsign audit verify` names it");
            }
        }
        st.last = match last {
            Some(h) => h,
            None => self.last_rotated_hash(),
        };
        st.file = None;
        st.dirty = false;
        // What is in the file now was checked and is durable (moved-aside tails are fsynced).
        if let Ok(mut d) = self.durable.lock() {
            d.through = st.written;
            d.len = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
            d.last = st.last.clone();
        }
        Ok(())
    }

    /// The hash of the last record of the newest rotated file (the genesis when there is none).
    fn last_rotated_hash(&self) -> String {
        let current = self.path();
        for file in files_in_order(&self.dir).iter().rev() {
            if *file == current {
                continue;
            }
            if let Ok(bytes) = std::fs::read(file) {
                if let (_, Some(h)) = scan_ending(&bytes) {
                    return h;
                }
            }
        }
        GENESIS.to_string()
    }

    /// Copy `tail` into a new `audit.jsonl.torn-<time>` (fsynced), then cut the current file
    /// back to `keep` bytes (fsynced). Returns the new file's name.
    fn move_aside(&self, tail: &[u8], keep: u64) -> std::io::Result<String> {
        let stamp: String = crate::time::format_rfc3339(crate::time::now_secs())
            .chars()
            .filter(|c| *c != '-' && *c != ':')
            .collect();
        let mut n = 0;
        let (name, mut f) = loop {
            let name = if n == 0 {
                format!("{TORN_PREFIX}{stamp}")
            } else {
                format!("{TORN_PREFIX}{stamp}-{n}")
            };
            match OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(self.dir.join(&name))
            {
                Ok(f) => break (name, f),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && n < 1000 => n += 1,
                Err(e) => return Err(e),
            }
        };
        f.write_all(tail)?;
        f.sync_all()?;
        sync_dir(&self.dir);
        let cur = OpenOptions::new().write(true).open(self.path())?;
        cur.set_len(keep)?;
        cur.sync_all()?;
        Ok(name)
    }

    fn write_line(&self, mut f: &File, line: &[u8]) -> std::io::Result<()> {
        #[cfg(test)]
        if let Some(n) = self
            .faults
            .lock()
            .ok()
            .and_then(|mut x| x.partial_write.take())
        {
            f.write_all(&line[..n.min(line.len())])?;
            return Err(std::io::Error::from_raw_os_error(libc::ENOSPC));
        }
        f.write_all(line)
    }

    fn cut_back(&self, f: &File, len: u64) -> std::io::Result<()> {
        #[cfg(test)]
        if self
            .faults
            .lock()
            .is_ok_and(|mut x| std::mem::take(&mut x.fail_truncate))
        {
            return Err(std::io::Error::other("injected: cannot cut back"));
        }
        f.set_len(len)?;
        f.sync_all()
    }

    /// The open current file: created (and its directory entry made durable) when missing;
    /// rotated first when `incoming` bytes would take it past the size limit (the old file is
    /// made durable before it is renamed, and the rename too).
    fn current(&self, st: &mut State, incoming: u64) -> std::io::Result<Arc<File>> {
        if st.len > 0 && st.len + incoming > self.max_bytes {
            if let Some(f) = st.file.take() {
                f.sync_data()?;
            }
            self.rotate()?;
            sync_dir(&self.dir);
            st.len = 0;
            if let Ok(mut d) = self.durable.lock() {
                d.through = st.written;
                d.len = 0;
                d.last = st.last.clone();
            }
        }
        let path = self.path();
        if let Some(f) = &st.file {
            let same =
                std::fs::symlink_metadata(&path).is_ok_and(|m| (m.dev(), m.ino()) == st.identity);
            if same {
                return Ok(Arc::clone(f));
            }
            tracing::warn!(path = %path.display(), "the audit log file was moved or deleted; opening it afresh");
            st.file = None;
        }
        let existed = path.exists();
        let f = OpenOptions::new().create(true).append(true).open(&path)?;
        let meta = f.metadata()?;
        if !meta.is_file() {
            return Err(std::io::Error::other(format!(
                "{} is not a regular file",
                path.display()
            )));
        }
        st.len = meta.len();
        let identity = (meta.dev(), meta.ino());
        if identity != st.identity {
            // Another file than the durable length describes (first open, or the log was
            // moved): a failed sync cuts back to where this file starts now.
            if let Ok(mut d) = self.durable.lock() {
                d.len = st.len;
            }
        }
        st.identity = identity;
        if !existed {
            // The new file's name must survive a crash as much as its records.
            sync_dir(&self.dir);
        }
        let f = Arc::new(f);
        st.file = Some(Arc::clone(&f));
        Ok(f)
    }

    /// Write one record (its `prev` and `hash` filled in here), not yet durable: its number,
    /// for [`AuditLog::make_durable`]. A failed write is cut back to the file's previous length.
    fn write_record(&self, st: &mut State, mut record: Map<String, Value>) -> std::io::Result<u64> {
        record.insert("prev".into(), Value::String(st.last.clone()));
        let hash = record_hash(&record);
        record.insert("hash".into(), Value::String(hash.clone()));
        let mut line = canonical(&Value::Object(record));
        line.push(b'\n');
        let f = self.current(st, line.len() as u64)?;
        let before = st.len;
        if let Err(e) = self.write_line(&f, &line) {
            match self.cut_back(&f, before) {
                Ok(()) => {
                    tracing::warn!(error = %e, "an audit record could not be written; cut the log back to its last complete record");
                }
                Err(cut) => {
                    st.dirty = true;
                    tracing::error!(error = %e, cut_back = %cut, "an audit record could not be written nor cut back; the torn tail is moved aside before the next record");
                }
            }
            st.file = None;
            return Err(e);
        }
        st.len = before + line.len() as u64;
        st.last = hash;
        st.written += 1;
        Ok(st.written)
    }

    /// Make record `seq` durable. Group commit: one `fdatasync` covers every record written
    /// before it began, so concurrent signatures share it; none returns before its own record
    /// is durable. `fdatasync` suffices: the file's size is part of what it flushes, and the
    /// directory entry was made durable when the file was created or renamed. A failed sync
    /// cuts the log back to its last durable record and fails every record after it (their
    /// signatures are withheld), since the kernel may have dropped what it could not write.
    fn make_durable(&self, seq: u64, file: &File) -> std::io::Result<()> {
        let poisoned = || std::io::Error::other("audit log lock poisoned");
        // Lock order: `syncing` first; `state` before `durable`; never `state` while `durable`
        // is held.
        let _syncing = self.syncing.lock().map_err(|_| poisoned())?;
        {
            let d = self.durable.lock().map_err(|_| poisoned())?;
            if seq <= d.failed_through {
                return Err(std::io::Error::other(
                    "the audit log could not be made durable (see the agent's log)",
                ));
            }
            if seq <= d.through {
                return Ok(());
            }
        }
        // Everything written up to now is in the file (writes happen under the state lock).
        let (target, len, last) = {
            let st = self.state.lock().map_err(|_| poisoned())?;
            (st.written, st.len, st.last.clone())
        };
        match self.sync_file(file) {
            Ok(()) => {
                let mut d = self.durable.lock().map_err(|_| poisoned())?;
                d.through = d.through.max(target);
                d.len = len;
                d.last = last;
                Ok(())
            }
            Err(e) => {
                let mut st = self.state.lock().map_err(|_| poisoned())?;
                let mut d = self.durable.lock().map_err(|_| poisoned())?;
                let cut = st.file.as_ref().map_or(Ok(()), |f| self.cut_back(f, d.len));
                match cut {
                    Ok(()) => {
                        tracing::error!(error = %e, "the audit log could not be made durable; cut it back to its last durable record, signatures withheld");
                        st.len = d.len;
                        st.last = d.last.clone();
                    }
                    Err(cut) => {
                        tracing::error!(error = %e, cut_back = %cut, "the audit log could not be made durable nor cut back; its end is checked before the next record");
                        st.dirty = true;
                    }
                }
                st.file = None;
                d.failed_through = st.written;
                Err(e)
            }
        }
    }

    fn sync_file(&self, file: &File) -> std::io::Result<()> {
        #[cfg(test)]
        {
            let (fail, slow) = match self.faults.lock() {
                Ok(mut x) => {
                    x.syncs += 1;
                    (std::mem::take(&mut x.fail_sync), x.slow_sync.take())
                }
                Err(_) => (false, None),
            };
            if let Some(d) = slow {
                std::thread::sleep(d);
            }
            if fail {
                return Err(std::io::Error::from_raw_os_error(libc::EIO));
            }
        }
        file.sync_data()
    }

    /// Append a record (its `prev` and `hash` are filled in here) and return once it is
    /// durable. Blocking. Before it: a torn tail left by a failed write is moved aside, and
    /// recovery records are written.
    pub fn append(&self, record: Map<String, Value>) -> std::io::Result<()> {
        let (seq, file) = self.write(record)?;
        self.make_durable(seq, &file)
    }

    /// Append records and return once each is durable, or why it is not: one `fdatasync`
    /// for all of them (the audit writer's batches). A record whose write failed fails alone;
    /// a failed sync fails every record it was to cover.
    pub fn append_all(&self, records: Vec<Map<String, Value>>) -> Vec<std::io::Result<()>> {
        let mut results: Vec<std::io::Result<()>> = Vec::with_capacity(records.len());
        // Per file written to, in order: its last record and the records in it (a file
        // opened afresh mid-batch is synced on its own).
        let mut groups: Vec<(u64, Arc<File>, Vec<usize>)> = Vec::new();
        for (i, record) in records.into_iter().enumerate() {
            match self.write(record) {
                Ok((seq, file)) => {
                    match groups.last_mut() {
                        Some((last, f, members)) if Arc::ptr_eq(f, &file) => {
                            *last = seq;
                            members.push(i);
                        }
                        _ => groups.push((seq, file, vec![i])),
                    }
                    results.push(Ok(()));
                }
                Err(e) => results.push(Err(e)),
            }
        }
        for (seq, file, members) in groups {
            if let Err(e) = self.make_durable(seq, &file) {
                for i in members {
                    results[i] = Err(std::io::Error::new(e.kind(), e.to_string()));
                }
            }
        }
        results
    }

    /// Write one record, not yet durable: its number and the file it is in.
    fn write(&self, record: Map<String, Value>) -> std::io::Result<(u64, Arc<File>)> {
        let mut st = self
            .state
            .lock()
            .map_err(|_| std::io::Error::other("audit log lock poisoned"))?;
        if st.dirty {
            self.settle(&mut st)?;
        }
        while let Some(rec) = st.pending.first().cloned() {
            self.write_record(&mut st, rec)?;
            st.pending.remove(0);
        }
        let seq = self.write_record(&mut st, record)?;
        let file = st
            .file
            .clone()
            .ok_or_else(|| std::io::Error::other("audit log file closed"))?;
        Ok((seq, file))
    }
}

/// Where a chain check failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broken {
    /// The log file the broken record is in.
    pub file: PathBuf,
    /// The line (1-based).
    pub line: usize,
    /// What is wrong.
    pub reason: String,
}

/// A torn tail the agent moved aside, as its recovery record tells (strings as recorded:
/// pass them through [`shown`] before showing them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recovered {
    /// When (RFC 3339).
    pub time: String,
    /// The file it was moved into (a name in the log's directory).
    pub file: String,
    /// Its length.
    pub bytes: u64,
    /// Whether that file is still there.
    pub kept: bool,
}

/// An intact chain.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChainReport {
    /// Complete records (recovery records included).
    pub records: usize,
    /// Torn tails recovered, oldest first.
    pub recovered: Vec<Recovered>,
    /// A torn tail at the end of the current file the agent has not moved aside yet (its
    /// length): a crash or failed write before the agent's next start, or a write in progress.
    pub unrecovered_tail: Option<u64>,
    /// `audit.jsonl.torn-…` files no recovery record names (names as found).
    pub unnamed_torn_files: Vec<String>,
}

/// Check every record's hash and link: the report, or the first broken record. A torn tail at
/// the end of the current file is not a break (it is reported as such).
pub fn verify_chain(dir: &Path) -> Result<ChainReport, Broken> {
    let mut prev: Option<String> = None;
    let mut report = ChainReport::default();
    let current = dir.join(FILE_NAME);
    for file in files_in_order(dir) {
        let mut bytes = std::fs::read(&file).map_err(|e| Broken {
            file: file.clone(),
            line: 0,
            reason: format!("cannot read: {e}"),
        })?;
        if file == current {
            if let (Ending::Torn { keep }, _) = scan_ending(&bytes) {
                report.unrecovered_tail = Some((bytes.len() - keep) as u64);
                bytes.truncate(keep);
            }
        }
        if bytes.is_empty() {
            continue;
        }
        let body = bytes.strip_suffix(b"\n").unwrap_or(&bytes);
        for (i, line) in body.split(|&b| b == b'\n').enumerate() {
            let broken = |reason: String| Broken {
                file: file.clone(),
                line: i + 1,
                reason,
            };
            let Ok(Value::Object(m)) = serde_json::from_slice::<Value>(line) else {
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
                        "the chain starts at {}, not at the beginning (older files missing?)",
                        shown(link)
                    )));
                }
                _ => {}
            }
            if m.get("event").and_then(Value::as_str) == Some(EVENT_TORN_RECOVERED) {
                let file = m
                    .get("torn_file")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                let kept = file.starts_with(TORN_PREFIX)
                    && !file.contains('/')
                    && dir.join(&file).is_file();
                report.recovered.push(Recovered {
                    time: m
                        .get("time")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string(),
                    file,
                    bytes: m.get("torn_bytes").and_then(Value::as_u64).unwrap_or(0),
                    kept,
                });
            }
            prev = Some(stored.to_string());
            report.records += 1;
        }
    }
    if let Ok(rd) = std::fs::read_dir(dir) {
        let mut unnamed: Vec<String> = rd
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(TORN_PREFIX))
            .filter(|n| !report.recovered.iter().any(|r| r.file == *n))
            .collect();
        unnamed.sort();
        report.unnamed_torn_files = unnamed;
    }
    Ok(report)
}

#[cfg(test)]
mod tests;
