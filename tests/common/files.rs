//! Test files, modes, hashes and encodings.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use sha2::{Digest, Sha256};

use super::{BIG_SIZE, NON_ASCII_NAME};

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

pub fn write_empty(dir: &Path, name: &str) -> PathBuf {
    write_file(dir, name, b"")
}

pub fn write_random(dir: &Path, name: &str, len: usize, seed: u64) -> PathBuf {
    write_file(dir, name, &pseudo_random_bytes(len, seed))
}

pub fn write_non_ascii(dir: &Path) -> PathBuf {
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
