//! Where the programs under test, the test scratch directory and the repository's own test
//! files are.
//!
//! `env!("CARGO_BIN_EXE_<name>")` and `CARGO_TARGET_TMPDIR` are only set while cargo compiles
//! an integration test of the package that owns the binaries; this crate is an ordinary
//! library, compiled once for every test binary, so it finds them at run time instead:
//!
//! 1. `$HWSIGN_TEST_BIN_DIR/<name>`: an explicit directory (release binaries, another build);
//! 2. `$NEXTEST_BIN_EXE_<name>`: nextest sets it for each binary of the package under test,
//!    also when it runs an archive somewhere else;
//! 3. the profile directory of the running test binary: cargo links integration tests into
//!    `<target>/<profile>/deps/`, puts the package's binaries in `<target>/<profile>/`, and
//!    builds those binaries whenever it builds an integration test, so they are there and
//!    current for `cargo test` and `cargo nextest run` alike, whatever `CARGO_TARGET_DIR` is.
//!
//! The hwsign test binaries check that this finds the very files `env!` names
//! (tests/agent/main.rs), so the lookup cannot drift to a stale copy unnoticed.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Overrides where the hwsign binaries are looked up.
pub const BIN_DIR_VAR: &str = "HWSIGN_TEST_BIN_DIR";
/// Overrides where state shared by test processes (the SoftHSM template) lives.
pub const TMPDIR_VAR: &str = "HWSIGN_TEST_TMPDIR";

/// The agent every [`crate::TestEnv`] starts; looked up once per test process.
pub fn agent_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| hwsign_bin("hwsign-agent"))
}

/// The client the tests drive; looked up once per test process.
pub fn client_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| hwsign_bin("hwsign"))
}

/// The binary `name` of the hwsign package; panics naming every place it looked.
pub fn hwsign_bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().ok();
    match find_bin(name, |var| std::env::var_os(var), exe.as_deref()) {
        Ok(path) => path,
        Err(tried) => panic!(
            "the hwsign binary {name:?} is not built (looked at {tried:?}); \
             run the tests through cargo, or set {BIN_DIR_VAR} to the directory holding it"
        ),
    }
}

/// The lookup of [`hwsign_bin`] with the environment and the test binary's path given, so
/// that it can be tested: the first candidate that is a file, else all the candidates.
fn find_bin(
    name: &str,
    var: impl Fn(&str) -> Option<OsString>,
    test_exe: Option<&Path>,
) -> Result<PathBuf, Vec<PathBuf>> {
    let set = |key: &str| var(key).filter(|v| !v.is_empty());
    if let Some(dir) = set(BIN_DIR_VAR) {
        // An explicit directory is the only answer: falling back would test another build.
        let path = PathBuf::from(dir).join(name);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(vec![path])
        };
    }
    let mut candidates = Vec::new();
    // Older nextest versions keep the binary's own spelling, newer ones also set `_` for `-`.
    for key in [
        format!("NEXTEST_BIN_EXE_{name}"),
        format!("NEXTEST_BIN_EXE_{}", name.replace('-', "_")),
    ] {
        if let Some(path) = set(&key) {
            candidates.push(PathBuf::from(path));
        }
    }
    if let Some(dir) = test_exe.and_then(profile_dir_of) {
        candidates.push(dir.join(name));
    }
    match candidates.iter().find(|p| p.is_file()) {
        Some(found) => Ok(found.clone()),
        None => Err(candidates),
    }
}

/// `<target>/<profile>` for a binary cargo built: integration and unit test binaries live in
/// its `deps/`, the package's binaries in it directly.
fn profile_dir_of(exe: &Path) -> Option<PathBuf> {
    let dir = exe.parent()?;
    if dir.file_name().is_some_and(|n| n == "deps") {
        dir.parent().map(Path::to_path_buf)
    } else {
        Some(dir.to_path_buf())
    }
}

/// The profile directory of the running test binary (`target/debug`), if it has one.
pub(crate) fn profile_dir() -> Option<PathBuf> {
    profile_dir_of(&std::env::current_exe().ok()?)
}

/// Scratch space shared by all test processes of one build: `$HWSIGN_TEST_TMPDIR`, else
/// `<target>/tmp` (what cargo calls `CARGO_TARGET_TMPDIR`), else the system temp dir.
pub(crate) fn target_tmpdir() -> PathBuf {
    if let Some(dir) = std::env::var_os(TMPDIR_VAR).filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    match profile_dir().as_deref().and_then(Path::parent) {
        Some(target) => target.join("tmp"),
        None => std::env::temp_dir().join("hwsign-tests"),
    }
}

/// The hwsign repository: test scripts, snapshots, fixtures, units and rules are read from
/// there, wherever the test runs (this crate lives in `crates/hwsign-testrig`).
pub fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .and_then(Path::parent)
        .expect("crates/hwsign-testrig is two levels below the repository root")
}

/// A file of the repository by its path from the root, as the docs and scripts name it.
pub fn repo_path(rel: &str) -> PathBuf {
    repo_root().join(rel)
}

/// `tests/python/verify_dsse.py`: securesystemslib's verdict on a DSSE envelope.
pub fn verify_dsse_py() -> PathBuf {
    repo_path("tests/python/verify_dsse.py")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn vars(pairs: &[(&str, &Path)]) -> impl Fn(&str) -> Option<OsString> + use<> {
        let map: HashMap<String, OsString> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.as_os_str().to_owned()))
            .collect();
        move |k| map.get(k).cloned()
    }

    fn touch(path: &Path) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, b"").unwrap();
    }

    #[test]
    fn profile_dir_of_a_test_binary_is_above_deps() {
        assert_eq!(
            profile_dir_of(Path::new("/t/debug/deps/agent-0123abcd")),
            Some(PathBuf::from("/t/debug"))
        );
        assert_eq!(
            profile_dir_of(Path::new("/t/release/hwsign")),
            Some(PathBuf::from("/t/release"))
        );
    }

    #[test]
    fn the_profile_directory_next_to_deps_is_found() {
        let t = tempfile::tempdir().unwrap();
        let exe = t.path().join("debug/deps/agent-0123");
        touch(&exe);
        touch(&t.path().join("debug/hwsign-agent"));
        assert_eq!(
            find_bin("hwsign-agent", vars(&[]), Some(&exe)),
            Ok(t.path().join("debug/hwsign-agent"))
        );
        assert_eq!(
            find_bin("hwsign", vars(&[]), Some(&exe)),
            Err(vec![t.path().join("debug/hwsign")])
        );
    }

    #[test]
    fn nextest_variables_come_before_the_profile_directory() {
        let t = tempfile::tempdir().unwrap();
        let exe = t.path().join("debug/deps/agent-0123");
        touch(&t.path().join("debug/hwsign-agent"));
        let elsewhere = t.path().join("archive/hwsign-agent");
        touch(&elsewhere);
        let found = find_bin(
            "hwsign-agent",
            vars(&[("NEXTEST_BIN_EXE_hwsign_agent", &elsewhere)]),
            Some(&exe),
        );
        assert_eq!(found, Ok(elsewhere));
    }

    #[test]
    fn an_explicit_directory_is_the_only_answer() {
        let t = tempfile::tempdir().unwrap();
        let exe = t.path().join("debug/deps/agent-0123");
        touch(&t.path().join("debug/hwsign"));
        let dir = t.path().join("release");
        std::fs::create_dir_all(&dir).unwrap();
        // Missing there: an error, not the debug build next to the test binary.
        assert_eq!(
            find_bin("hwsign", vars(&[(BIN_DIR_VAR, &dir)]), Some(&exe)),
            Err(vec![dir.join("hwsign")])
        );
        touch(&dir.join("hwsign"));
        assert_eq!(
            find_bin("hwsign", vars(&[(BIN_DIR_VAR, &dir)]), Some(&exe)),
            Ok(dir.join("hwsign"))
        );
    }

    #[test]
    fn repo_root_holds_the_hwsign_package() {
        let manifest = std::fs::read_to_string(repo_path("Cargo.toml")).unwrap();
        assert!(manifest.contains("name = \"hwsign\""), "{manifest}");
        assert!(verify_dsse_py().is_file());
    }
}
