//! Pinned outputs: text in `tests/snapshots/NAME.txt` (set `UPDATE_SNAPSHOTS=1` to rewrite them
//! after a deliberate change) and wire bytes in `tests/fixtures/NAME.bin` (set `HWSIGN_BLESS=1`).
//! Either way the rewrite is reviewed as a diff; without the variable a missing or different
//! file fails the test, so a format change never passes silently.

use std::fs;
use std::path::{Path, PathBuf};

use crate::{hex, repo_path};

/// Rewrites text snapshots instead of comparing with them.
pub const UPDATE_SNAPSHOTS_VAR: &str = "UPDATE_SNAPSHOTS";
/// Rewrites byte fixtures instead of comparing with them.
pub const BLESS_VAR: &str = "HWSIGN_BLESS";

/// `tests/snapshots/NAME.txt` in the repository.
pub fn snapshot_path(name: &str) -> PathBuf {
    repo_path("tests/snapshots").join(format!("{name}.txt"))
}

/// `tests/fixtures/NAME.bin` in the repository.
pub fn fixture_path(name: &str) -> PathBuf {
    repo_path("tests/fixtures").join(format!("{name}.bin"))
}

fn set(var: &str) -> bool {
    std::env::var_os(var).is_some_and(|v| !v.is_empty())
}

/// Compare `actual` with the snapshot `name`.
pub fn assert_snapshot(name: &str, actual: &str) {
    assert_text_pinned(&snapshot_path(name), actual, set(UPDATE_SNAPSHOTS_VAR));
}

/// Compare `actual` with the fixture `name`; returns the fixture's bytes (to decode them).
pub fn assert_fixture(name: &str, actual: &[u8]) -> Vec<u8> {
    assert_bytes_pinned(&fixture_path(name), actual, set(BLESS_VAR))
}

/// [`assert_snapshot`] on any path, `update` saying whether to rewrite it.
pub fn assert_text_pinned(path: &Path, actual: &str, update: bool) {
    if update {
        write_pinned(path, actual.as_bytes());
        return;
    }
    let expected = fs::read_to_string(path).unwrap_or_else(|e| {
        panic!(
            "no snapshot {} ({e}); run with {UPDATE_SNAPSHOTS_VAR}=1 to create it. Actual:\n{actual}",
            path.display()
        )
    });
    assert_eq!(
        expected,
        actual,
        "snapshot {} differs ({UPDATE_SNAPSHOTS_VAR}=1 rewrites it)",
        path.display()
    );
}

/// [`assert_fixture`] on any path, `update` saying whether to rewrite it.
pub fn assert_bytes_pinned(path: &Path, actual: &[u8], update: bool) -> Vec<u8> {
    if update {
        write_pinned(path, actual);
        return actual.to_vec();
    }
    let expected = fs::read(path).unwrap_or_else(|e| {
        panic!(
            "no fixture {} ({e}); run with {BLESS_VAR}=1 to create it. Actual: {}",
            path.display(),
            hex(actual)
        )
    });
    if expected != actual {
        panic!(
            "fixture {} differs ({BLESS_VAR}=1 rewrites it)\n{}",
            path.display(),
            first_difference(&expected, actual)
        );
    }
    expected
}

fn write_pinned(path: &Path, bytes: &[u8]) {
    let dir = path.parent().expect("a pinned file has a directory");
    fs::create_dir_all(dir).unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.display()));
    fs::write(path, bytes).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

/// Where two byte strings part, with a little context, in hex: a fixture's whole hex dump
/// hides a one-byte change.
pub fn first_difference(expected: &[u8], actual: &[u8]) -> String {
    let at = expected
        .iter()
        .zip(actual)
        .position(|(a, b)| a != b)
        .unwrap_or(expected.len().min(actual.len()));
    let from = at.saturating_sub(8);
    let window = |b: &[u8]| hex(&b[from.min(b.len())..(at + 8).min(b.len())]);
    format!(
        "first difference at byte {at} (expected {} bytes, got {}):\n  expected …{}\n  actual   …{}",
        expected.len(),
        actual.len(),
        window(expected),
        window(actual)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pinned_text_is_written_when_updating_and_compared_otherwise() {
        let t = tempfile::tempdir().unwrap();
        let path = t.path().join("sub/one.txt");
        assert_text_pinned(&path, "line\n", true);
        assert_eq!(fs::read_to_string(&path).unwrap(), "line\n");
        assert_text_pinned(&path, "line\n", false);
        let differs = std::panic::catch_unwind(|| assert_text_pinned(&path, "other\n", false));
        assert!(differs.is_err(), "a different text passed");
        let missing = t.path().join("missing.txt");
        let absent = std::panic::catch_unwind(|| assert_text_pinned(&missing, "x", false));
        assert!(absent.is_err(), "a missing snapshot passed");
        assert!(
            !missing.exists(),
            "a missing snapshot was written without updating"
        );
    }

    #[test]
    fn pinned_bytes_return_the_file_and_fail_on_any_change() {
        let t = tempfile::tempdir().unwrap();
        let path = t.path().join("msg.bin");
        assert_eq!(assert_bytes_pinned(&path, &[0, 1, 2], true), [0, 1, 2]);
        assert_eq!(assert_bytes_pinned(&path, &[0, 1, 2], false), [0, 1, 2]);
        for other in [&[0u8, 1, 3][..], &[0, 1], &[0, 1, 2, 0]] {
            let result = std::panic::catch_unwind(|| assert_bytes_pinned(&path, other, false));
            assert!(result.is_err(), "{other:?} passed as [0, 1, 2]");
        }
        assert_eq!(
            fs::read(&path).unwrap(),
            [0, 1, 2],
            "a comparison wrote the file"
        );
    }

    #[test]
    fn first_difference_names_the_offset_and_the_bytes_around_it() {
        let expected: Vec<u8> = (0..32).collect();
        let mut actual = expected.clone();
        actual[20] = 0xff;
        let text = first_difference(&expected, &actual);
        assert!(text.starts_with("first difference at byte 20 (expected 32 bytes, got 32)"));
        assert!(text.contains("expected …0c0d0e0f1011121314"), "{text}");
        assert!(text.contains("actual   …0c0d0e0f10111213ff"), "{text}");
        let shorter = first_difference(&expected, &expected[..10]);
        assert!(shorter.starts_with("first difference at byte 10 (expected 32 bytes, got 10)"));
    }

    #[test]
    fn pinned_files_live_in_the_repository() {
        assert_eq!(
            snapshot_path("truncated_frame"),
            repo_path("tests/snapshots/truncated_frame.txt")
        );
        assert!(snapshot_path("truncated_frame").is_file());
        assert_eq!(fixture_path("x"), repo_path("tests/fixtures/x.bin"));
    }
}
