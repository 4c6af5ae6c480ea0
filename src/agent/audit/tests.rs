//! The audit log's unit tests: the chain, torn tails, failed writes and syncs, group commit.
use super::*;

fn rec(n: u64) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("n".into(), Value::from(n));
    m.insert("padding".into(), Value::String("x".repeat(300)));
    m
}

fn torn_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(TORN_PREFIX)
        })
        .collect();
    v.sort();
    v
}

fn append_bytes(path: &Path, bytes: &[u8]) {
    let mut f = OpenOptions::new().append(true).open(path).unwrap();
    f.write_all(bytes).unwrap();
}

#[test]
fn chain_rotation_and_tampering() {
    let dir = tempfile::tempdir().unwrap();
    let log = AuditLog::open(dir.path(), 1024);
    for n in 0..10 {
        log.append(rec(n)).unwrap();
    }
    assert!(files_in_order(dir.path()).len() > 2, "rotated");
    assert_eq!(verify_chain(dir.path()).unwrap().records, 10);
    // Reopening continues the chain.
    AuditLog::open(dir.path(), 1024).append(rec(10)).unwrap();
    assert_eq!(verify_chain(dir.path()).unwrap().records, 11);
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

#[test]
fn a_torn_last_line_is_moved_aside_at_open_and_the_chain_continues() {
    let dir = tempfile::tempdir().unwrap();
    let log = AuditLog::open(dir.path(), DEFAULT_MAX_BYTES);
    for n in 0..3 {
        log.append(rec(n)).unwrap();
    }
    drop(log);
    let path = dir.path().join(FILE_NAME);
    let intact = std::fs::read(&path).unwrap();
    // Half a record, no newline, and a byte that is not UTF-8.
    let half = b"{\"n\":3,\"padding\":\"xxxx\xc3";
    append_bytes(&path, half);
    // Not yet recovered: verify says so, and it is not a break.
    let report = verify_chain(dir.path()).unwrap();
    assert_eq!(report.records, 3);
    assert_eq!(report.unrecovered_tail, Some(half.len() as u64));

    let log = AuditLog::open(dir.path(), DEFAULT_MAX_BYTES);
    // Moved aside at once, byte for byte; the current file is cut back.
    let torn = torn_files(dir.path());
    assert_eq!(torn.len(), 1, "{torn:?}");
    assert_eq!(std::fs::read(&torn[0]).unwrap(), half);
    assert_eq!(std::fs::read(&path).unwrap(), intact);
    // Never taken for a rotated file.
    assert_eq!(files_in_order(dir.path()), vec![path.clone()]);

    log.append(rec(4)).unwrap();
    let report = verify_chain(dir.path()).unwrap();
    // 3 + the recovery record + 1.
    assert_eq!(report.records, 5);
    assert_eq!(report.unrecovered_tail, None);
    assert!(report.unnamed_torn_files.is_empty());
    let torn_name = torn[0].file_name().unwrap().to_str().unwrap();
    assert_eq!(report.recovered.len(), 1);
    let r = &report.recovered[0];
    assert_eq!(
        (r.file.as_str(), r.bytes, r.kept),
        (torn_name, half.len() as u64, true)
    );
    assert!(r.time.ends_with('Z'), "{}", r.time);
    // The recovery record is in the chain before the next record.
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let note: Value = serde_json::from_str(lines[3]).unwrap();
    assert_eq!(note["event"], EVENT_TORN_RECOVERED);
    assert_eq!(note["torn_file"], torn_name);
    let next: Value = serde_json::from_str(lines[4]).unwrap();
    assert_eq!(next["n"], 4);
}

#[test]
fn a_fragment_with_a_record_glued_onto_it_is_a_torn_tail() {
    let dir = tempfile::tempdir().unwrap();
    let log = AuditLog::open(dir.path(), DEFAULT_MAX_BYTES);
    log.append(rec(0)).unwrap();
    drop(log);
    let path = dir.path().join(FILE_NAME);
    append_bytes(&path, b"{\"n\":1,\"pad{\"n\":2}\n");
    let log = AuditLog::open(dir.path(), DEFAULT_MAX_BYTES);
    log.append(rec(3)).unwrap();
    let report = verify_chain(dir.path()).unwrap();
    assert_eq!((report.records, report.recovered.len()), (3, 1));
}

#[test]
fn an_altered_last_record_is_not_taken_for_a_torn_tail() {
    let dir = tempfile::tempdir().unwrap();
    let log = AuditLog::open(dir.path(), DEFAULT_MAX_BYTES);
    for n in 0..3 {
        log.append(rec(n)).unwrap();
    }
    drop(log);
    let path = dir.path().join(FILE_NAME);
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replacen("\"n\":2", "\"n\":7", 1)).unwrap();
    AuditLog::open(dir.path(), DEFAULT_MAX_BYTES)
        .append(rec(3))
        .unwrap();
    assert!(torn_files(dir.path()).is_empty());
    let err = verify_chain(dir.path()).unwrap_err();
    assert_eq!(err.line, 3);
    assert!(err.reason.contains("altered"), "{}", err.reason);
}

#[test]
fn a_failed_write_is_cut_back_and_nothing_is_glued() {
    let dir = tempfile::tempdir().unwrap();
    let log = AuditLog::open(dir.path(), DEFAULT_MAX_BYTES);
    log.append(rec(0)).unwrap();
    log.append(rec(1)).unwrap();
    let path = log.path();
    let before = std::fs::read(&path).unwrap();
    log.faults.lock().unwrap().partial_write = Some(40);
    let err = log.append(rec(2)).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::ENOSPC));
    assert_eq!(std::fs::read(&path).unwrap(), before, "not cut back");
    // The next record follows the last complete one, on its own line.
    log.append(rec(3)).unwrap();
    let report = verify_chain(dir.path()).unwrap();
    assert_eq!(report.records, 3);
    assert!(report.recovered.is_empty() && report.unrecovered_tail.is_none());
    assert!(torn_files(dir.path()).is_empty());
}

#[test]
fn a_failed_write_that_cannot_be_cut_back_is_moved_aside_before_the_next_record() {
    let dir = tempfile::tempdir().unwrap();
    let log = AuditLog::open(dir.path(), DEFAULT_MAX_BYTES);
    log.append(rec(0)).unwrap();
    {
        let mut f = log.faults.lock().unwrap();
        f.partial_write = Some(57);
        f.fail_truncate = true;
    }
    assert!(log.append(rec(1)).is_err());
    // The fragment is still there…
    let report = verify_chain(dir.path()).unwrap();
    assert_eq!((report.records, report.unrecovered_tail), (1, Some(57)));
    // …and is moved aside before the next record, which is not glued onto it.
    log.append(rec(2)).unwrap();
    let torn = torn_files(dir.path());
    assert_eq!(torn.len(), 1);
    assert_eq!(std::fs::metadata(&torn[0]).unwrap().len(), 57);
    let report = verify_chain(dir.path()).unwrap();
    assert_eq!(report.records, 3);
    assert_eq!(report.recovered.len(), 1);
    assert_eq!(report.recovered[0].bytes, 57);
}

#[test]
fn a_recovery_record_that_cannot_be_written_is_written_before_the_next_record() {
    let dir = tempfile::tempdir().unwrap();
    let log = AuditLog::open(dir.path(), DEFAULT_MAX_BYTES);
    log.append(rec(0)).unwrap();
    drop(log);
    append_bytes(&dir.path().join(FILE_NAME), b"{\"n\":");
    let log = AuditLog::open(dir.path(), DEFAULT_MAX_BYTES);
    log.faults.lock().unwrap().partial_write = Some(10);
    assert!(log.append(rec(1)).is_err());
    log.append(rec(2)).unwrap();
    let report = verify_chain(dir.path()).unwrap();
    assert_eq!((report.records, report.recovered.len()), (3, 1));
}

/// Records written while a sync runs share the next one; each append returns only after
/// its own record is durable.
#[test]
fn concurrent_appends_share_one_sync() {
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(AuditLog::open(dir.path(), 1 << 20));
    log.faults.lock().unwrap().slow_sync = Some(std::time::Duration::from_millis(300));
    let first = {
        let log = Arc::clone(&log);
        std::thread::spawn(move || log.append(rec(0)).unwrap())
    };
    std::thread::sleep(std::time::Duration::from_millis(100));
    let rest: Vec<_> = (1..8)
        .map(|n| {
            let log = Arc::clone(&log);
            std::thread::spawn(move || log.append(rec(n)).unwrap())
        })
        .collect();
    first.join().unwrap();
    for t in rest {
        t.join().unwrap();
    }
    assert_eq!(verify_chain(dir.path()).unwrap().records, 8);
    assert_eq!(
        log.faults.lock().unwrap().syncs,
        2,
        "one sync for the first record, one for the seven written meanwhile"
    );
}

/// A failed fdatasync withholds the record, cuts the log back to its last durable record,
/// and the chain goes on from there.
#[test]
fn a_failed_sync_cuts_back_and_fails_the_record() {
    let dir = tempfile::tempdir().unwrap();
    let log = AuditLog::open(dir.path(), 1 << 20);
    log.append(rec(0)).unwrap();
    let len = std::fs::metadata(log.path()).unwrap().len();
    log.faults.lock().unwrap().fail_sync = true;
    assert!(log.append(rec(1)).is_err());
    assert_eq!(std::fs::metadata(log.path()).unwrap().len(), len);
    log.append(rec(2)).unwrap();
    assert_eq!(verify_chain(dir.path()).unwrap().records, 2);
}

/// The writer thread: records handed to it while a sync runs share the next one, each
/// answer comes after its own record is durable, and the chain is whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_writer_thread_batches_records_into_one_sync() {
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(AuditLog::open(dir.path(), 1 << 20));
    log.faults.lock().unwrap().slow_sync = Some(std::time::Duration::from_millis(300));
    let writer = writer::AuditWriter::spawn(Arc::clone(&log)).unwrap();
    let first = {
        let w = writer.clone();
        tokio::spawn(async move { w.append(rec(0)).await })
    };
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let rest: Vec<_> = (1..8)
        .map(|n| {
            let w = writer.clone();
            tokio::spawn(async move { w.append(rec(n)).await })
        })
        .collect();
    first.await.unwrap().unwrap();
    for t in rest {
        t.await.unwrap().unwrap();
    }
    assert_eq!(verify_chain(dir.path()).unwrap().records, 8);
    assert_eq!(log.faults.lock().unwrap().syncs, 2);
}

/// A batch whose sync fails: every record of it fails and is cut back; the next batch goes
/// on from the last durable record.
#[test]
fn a_failed_sync_fails_every_record_of_its_batch() {
    let dir = tempfile::tempdir().unwrap();
    let log = AuditLog::open(dir.path(), 1 << 20);
    log.append(rec(0)).unwrap();
    let len = std::fs::metadata(log.path()).unwrap().len();
    log.faults.lock().unwrap().fail_sync = true;
    let results = log.append_all(vec![rec(1), rec(2), rec(3)]);
    assert!(results.iter().all(|r| r.is_err()), "{results:?}");
    assert_eq!(std::fs::metadata(log.path()).unwrap().len(), len);
    let results = log.append_all(vec![rec(4), rec(5)]);
    assert!(results.iter().all(|r| r.is_ok()), "{results:?}");
    assert_eq!(verify_chain(dir.path()).unwrap().records, 3);
    assert_eq!(log.faults.lock().unwrap().syncs, 3);
}

/// A batch that crosses a rotation: the records before it are made durable with the old
/// file, the rest with the new one, and the chain runs across both.
#[test]
fn a_batch_across_a_rotation_is_durable_in_both_files() {
    let dir = tempfile::tempdir().unwrap();
    let log = AuditLog::open(dir.path(), 1024);
    let results = log.append_all((0..6).map(rec).collect());
    assert!(results.iter().all(|r| r.is_ok()), "{results:?}");
    assert_eq!(verify_chain(dir.path()).unwrap().records, 6);
}

#[test]
fn only_plain_names_are_shown() {
    assert_eq!(
        shown("audit.jsonl.torn-20260101T000000Z"),
        "audit.jsonl.torn-20260101T000000Z"
    );
    assert_eq!(shown("a\nb"), "<3 bytes not shown>");
    assert_eq!(shown("a\u{202e}b"), "<5 bytes not shown>");
    assert_eq!(rotation_number("audit.jsonl.torn-1"), None);
    assert_eq!(rotation_number("audit.jsonl.+3"), None);
    assert_eq!(rotation_number("audit.jsonl.12"), Some(12));
}

/// Start-up reads only the end of a large log, and finds the torn tail and the last record
/// there with offsets in the whole file.
#[test]
fn a_large_log_is_read_from_its_end_only() {
    let dir = tempfile::tempdir().unwrap();
    let log = AuditLog::open(dir.path(), 64 << 20);
    log.append(rec(0)).unwrap();
    let line = std::fs::read(log.path()).unwrap();
    let mut big = line.repeat(((2 * TAIL_WINDOW) as usize) / line.len());
    let intact = big.len() as u64;
    big.extend_from_slice(b"{\"torn");
    std::fs::write(log.path(), &big).unwrap();
    let (bytes, offset, ending, last) = read_ending(&log.path()).unwrap();
    assert!(
        offset > 0 && (bytes.len() as u64) <= TAIL_WINDOW,
        "read {}",
        bytes.len()
    );
    let Ending::Torn { keep } = ending else {
        panic!("{ending:?}")
    };
    assert_eq!(offset + keep as u64, intact);
    assert!(last.is_some());
}

/// A log the release before the typed record wrote (the demo's attestation, SSHSIG and raw
/// signatures, an `ssh-keygen -Y sign`, names with escapes and non-ASCII, two requests the
/// forwarded socket's policy refused): it still verifies, every line is exactly its record's
/// canonical bytes, and the agent continues its chain.
#[test]
fn a_log_of_the_previous_release_still_verifies_and_continues() {
    const OLD: &str = include_str!("../../../tests/fixtures/audit/release-0.1.jsonl");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(FILE_NAME), OLD).unwrap();
    assert_eq!(verify_chain(dir.path()).unwrap().records, 10);
    for line in OLD.lines() {
        let record: Value = serde_json::from_str(line).unwrap();
        assert_eq!(
            String::from_utf8(canonical(&record)).unwrap(),
            line,
            "re-serialised"
        );
    }
    AuditLog::open(dir.path(), DEFAULT_MAX_BYTES)
        .append(rec(1))
        .unwrap();
    assert_eq!(verify_chain(dir.path()).unwrap().records, 11);
}

/// The bytes hashed do not depend on the order a record was built in.
#[test]
fn canonical_bytes_sort_keys_at_every_level() {
    let a = serde_json::json!({ "b": 1, "a": { "z": [ { "y": "é\n", "x": null } ], "c": true } });
    let mut reversed = Map::new();
    reversed.insert("a".into(), a["a"].clone());
    reversed.insert("b".into(), a["b"].clone());
    let bytes = canonical(&Value::Object(reversed));
    assert_eq!(bytes, canonical(&a));
    assert_eq!(
        String::from_utf8(bytes).unwrap(),
        r#"{"a":{"c":true,"z":[{"x":null,"y":"é\n"}]},"b":1}"#
    );
    // What a record's hash covers: the record without its `hash`, nested members kept.
    let mut with_hash = a.as_object().unwrap().clone();
    with_hash.insert("hash".into(), Value::from("h\"\u{7}"));
    assert_eq!(
        canonical::canonical_without(&with_hash, "hash"),
        canonical(&a)
    );
}
