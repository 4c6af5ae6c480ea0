//! Test files, modes, hashes and encodings.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use sha2::{Digest, Sha256};

use crate::{BIG_SIZE, NON_ASCII_NAME};

// ---------------------------------------------------------------- files and encodings

pub fn set_mode(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {}: {e}", path.display()));
}

pub fn mode_of(path: &Path) -> u32 {
    fs::symlink_metadata(path)
        .unwrap_or_else(|e| panic!("stat {}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o7777
}

pub fn copy_dir_recursive(src: &Path, dst: &Path) {
    fs::create_dir_all(dst).unwrap_or_else(|e| panic!("mkdir {}: {e}", dst.display()));
    for entry in fs::read_dir(src).unwrap_or_else(|e| panic!("read_dir {}: {e}", src.display())) {
        let entry = entry.unwrap();
        let (from, to) = (entry.path(), dst.join(entry.file_name()));
        let ft = entry.file_type().unwrap();
        if ft.is_dir() {
            copy_dir_recursive(&from, &to);
        } else if ft.is_symlink() {
            std::os::unix::fs::symlink(fs::read_link(&from).unwrap(), &to).unwrap();
        } else if ft.is_file() {
            fs::copy(&from, &to)
                .unwrap_or_else(|e| panic!("copy {} -> {}: {e}", from.display(), to.display()));
        } // sockets, fifos: not part of a token
    }
    set_mode(dst, mode_of(src));
}

/// Deterministic xorshift64* bytes.
pub fn pseudo_random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        out.extend_from_slice(&x.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    out.truncate(len);
    out
}

pub fn write_file(dir: &Path, name: &str, contents: &[u8]) -> PathBuf {
    let p = dir.join(name);
    fs::write(&p, contents).unwrap_or_else(|e| panic!("write {}: {e}", p.display()));
    p
}

fn write_empty(dir: &Path, name: &str) -> PathBuf {
    write_file(dir, name, b"")
}

pub fn write_random(dir: &Path, name: &str, len: usize, seed: u64) -> PathBuf {
    write_file(dir, name, &pseudo_random_bytes(len, seed))
}

fn write_non_ascii(dir: &Path) -> PathBuf {
    write_file(dir, NON_ASCII_NAME, "contenu: été, ü, ß, 日本\n".as_bytes())
}

/// Writes `empty.bin` (0 bytes), `big.bin` (5 MiB) and [`NON_ASCII_NAME`]; returns the names.
pub fn write_sample_set(dir: &Path) -> Vec<String> {
    write_empty(dir, "empty.bin");
    write_random(dir, "big.bin", BIG_SIZE, 0x5eed_1234_abcd_0001);
    write_non_ascii(dir);
    vec![
        "empty.bin".to_string(),
        "big.bin".to_string(),
        NON_ASCII_NAME.to_string(),
    ]
}

/// Changes the file's content (flips the first byte; an empty file gets one byte).
pub fn tamper_file(path: &Path) {
    let mut data = fs::read(path).unwrap();
    match data.first_mut() {
        Some(b) => *b ^= 0x01,
        None => data.push(b'x'),
    }
    fs::write(path, data).unwrap();
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn sha256_hex(data: &[u8]) -> String {
    hex(&Sha256::digest(data))
}

pub fn is_lower_hex64(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Standard padded base64, surrounding/embedded whitespace ignored.
pub fn b64_decode(text: &str) -> Vec<u8> {
    let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    base64::engine::general_purpose::STANDARD
        .decode(compact.as_bytes())
        .unwrap_or_else(|e| panic!("bad base64 ({e}): {text:?}"))
}

pub fn b64_encode(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(data)
}

/// DER bytes of the first PEM block labelled `label`.
pub fn pem_to_der(pem: &str, label: &str) -> Vec<u8> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = pem
        .find(&begin)
        .unwrap_or_else(|| panic!("no {begin} in {pem:?}"))
        + begin.len();
    let stop = pem[start..]
        .find(&end)
        .unwrap_or_else(|| panic!("no {end} in {pem:?}"))
        + start;
    b64_decode(&pem[start..stop])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pseudo_random_bytes_are_deterministic_per_seed_and_any_length() {
        let a = pseudo_random_bytes(1000, 7);
        assert_eq!(a, pseudo_random_bytes(1000, 7));
        assert_ne!(a, pseudo_random_bytes(1000, 8));
        // A shorter run is a prefix: lengths never change the stream.
        assert_eq!(pseudo_random_bytes(13, 7), a[..13]);
        assert!(pseudo_random_bytes(0, 7).is_empty());
        // Pinned: the files the tests sign (and some snapshots) depend on these bytes.
        assert_eq!(hex(&pseudo_random_bytes(8, 1)), "1ddd6c894bcee447");
    }

    #[test]
    fn hex_and_sha256_are_lowercase() {
        assert_eq!(hex(&[0x00, 0xab, 0x0f]), "00ab0f");
        let digest = sha256_hex(b"abc");
        assert_eq!(
            digest,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(is_lower_hex64(&digest));
        assert!(!is_lower_hex64(&digest.to_uppercase()));
        assert!(!is_lower_hex64(&digest[1..]));
        assert!(!is_lower_hex64(&format!("{}g", &digest[1..])));
    }

    #[test]
    fn base64_ignores_whitespace_and_round_trips() {
        assert_eq!(b64_encode(b"hwsign"), "aHdzaWdu");
        assert_eq!(b64_decode(" aHdz\naWdu\n"), b"hwsign");
        let bytes = pseudo_random_bytes(100, 3);
        assert_eq!(b64_decode(&b64_encode(&bytes)), bytes);
    }

    #[test]
    fn pem_to_der_takes_the_labelled_block() {
        let pem = "junk\n-----BEGIN CERTIFICATE-----\nAAEC\n-----END CERTIFICATE-----\n\
                   -----BEGIN PUBLIC KEY-----\naHdz\naWdu\n-----END PUBLIC KEY-----\n";
        assert_eq!(pem_to_der(pem, "PUBLIC KEY"), b"hwsign");
        assert_eq!(pem_to_der(pem, "CERTIFICATE"), [0, 1, 2]);
        assert!(std::panic::catch_unwind(|| pem_to_der(pem, "PRIVATE KEY")).is_err());
    }

    #[test]
    fn sample_set_and_tampering() {
        let t = tempfile::tempdir().unwrap();
        let names = write_sample_set(t.path());
        assert_eq!(names, ["empty.bin", "big.bin", NON_ASCII_NAME]);
        assert_eq!(fs::metadata(t.path().join("empty.bin")).unwrap().len(), 0);
        assert_eq!(
            fs::metadata(t.path().join("big.bin")).unwrap().len(),
            BIG_SIZE as u64
        );
        let non_ascii = fs::read_to_string(t.path().join(NON_ASCII_NAME)).unwrap();
        assert!(non_ascii.contains("日本"));

        let empty = t.path().join("empty.bin");
        tamper_file(&empty);
        assert_eq!(fs::read(&empty).unwrap(), b"x");
        let one = write_file(t.path(), "one", b"ab");
        tamper_file(&one);
        assert_eq!(fs::read(&one).unwrap(), b"`b");
    }

    #[test]
    fn copy_dir_recursive_keeps_files_links_and_modes() {
        let t = tempfile::tempdir().unwrap();
        let src = t.path().join("src");
        fs::create_dir_all(src.join("sub")).unwrap();
        write_file(&src.join("sub"), "f", b"content");
        std::os::unix::fs::symlink("sub/f", src.join("link")).unwrap();
        set_mode(&src.join("sub"), 0o700);
        set_mode(&src, 0o750);
        let dst = t.path().join("dst");
        copy_dir_recursive(&src, &dst);
        assert_eq!(fs::read(dst.join("sub/f")).unwrap(), b"content");
        assert_eq!(fs::read_link(dst.join("link")).unwrap(), Path::new("sub/f"));
        assert_eq!(mode_of(&dst), 0o750);
        assert_eq!(mode_of(&dst.join("sub")), 0o700);
    }
}
