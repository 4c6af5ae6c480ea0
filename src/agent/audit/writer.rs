//! The audit log's own writer thread. Signing tasks hand it their record and await the answer;
//! it takes every record that queued up while it was busy, writes them and makes them durable
//! with one `fdatasync` ([`AuditLog::append_all`]). One thread instead of a blocking-pool
//! thread per record: concurrent signatures share the sync without each parking a thread on
//! it, and the async side never blocks on the disk.

use std::sync::{Arc, mpsc};

use serde_json::{Map, Value};
use tokio::sync::oneshot;

use super::AuditLog;

/// At most this many records share one sync (the rest wait for the next).
const BATCH_MAX: usize = 256;

struct Entry {
    record: Map<String, Value>,
    done: oneshot::Sender<std::io::Result<()>>,
}

/// A handle to the writer thread; the thread ends when every handle is gone.
#[derive(Clone, Debug)]
pub struct AuditWriter {
    entries: mpsc::Sender<Entry>,
}

impl AuditWriter {
    /// Start the writer thread of `log`.
    pub fn spawn(log: Arc<AuditLog>) -> std::io::Result<AuditWriter> {
        let (entries, rx) = mpsc::channel::<Entry>();
        std::thread::Builder::new()
            .name("audit writer".into())
            .spawn(move || {
                while let Ok(first) = rx.recv() {
                    let mut batch = vec![first];
                    batch.extend(rx.try_iter().take(BATCH_MAX - 1));
                    let (records, answers): (Vec<_>, Vec<_>) =
                        batch.into_iter().map(|e| (e.record, e.done)).unzip();
                    let results = log.append_all(records);
                    for (done, result) in answers.into_iter().zip(results) {
                        // A task that went away no longer waits for its answer.
                        let _ = done.send(result);
                    }
                }
            })?;
        Ok(AuditWriter { entries })
    }

    /// Append `record`; returns once it is durable, or why it is not.
    pub async fn append(&self, record: Map<String, Value>) -> std::io::Result<()> {
        let (done, answer) = oneshot::channel();
        self.entries
            .send(Entry { record, done })
            .map_err(|_| std::io::Error::other("the audit writer thread is gone"))?;
        answer
            .await
            .map_err(|_| std::io::Error::other("the audit writer thread is gone"))?
    }
}
