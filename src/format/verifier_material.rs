//! What a verifier needs to pin a key, as text: an `allowed_signers` line for
//! `ssh-keygen -Y verify` (and git's `gpg.ssh.allowedSignersFile`) and a `[[signer]]` entry of
//! hwsign's trust policy; a key's attestation certificates as PEM.

use crate::crypto::pubkey::PublicKey;

/// `PRINCIPAL keytype base64` (no options: any namespace).
pub fn allowed_signers_line(principal: &str, key: &PublicKey) -> String {
    let line = key.ssh_line("");
    format!("{principal} {}\n", line.trim_end())
}

fn toml_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A `[[signer]]` entry naming `key` (as an OpenSSH public key line) `name`.
pub fn policy_entry(name: &str, key: &PublicKey, comment: &str) -> String {
    format!(
        "# key id {} ({})\n[[signer]]\nname = {}\nkey = {}\n",
        key.key_id(),
        key.algorithm(),
        toml_string(name),
        toml_string(key.ssh_line(comment).trim_end())
    )
}

/// Certificates as PEM, in order (an attestation: the key's certificate, then its issuer's).
pub fn certificates_pem(ders: &[&[u8]]) -> String {
    let mut out = String::new();
    for der in ders {
        let b64 = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, der);
        out.push_str("-----BEGIN CERTIFICATE-----\n");
        for chunk in b64.as_bytes().chunks(64) {
            out.push_str(&String::from_utf8_lossy(chunk));
            out.push('\n');
        }
        out.push_str("-----END CERTIFICATE-----\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        let key = PublicKey::ed25519(&[
            0xd7, 0x5a, 0x98, 0x01, 0x82, 0xb1, 0x0a, 0xb7, 0xd5, 0x4b, 0xfe, 0xd3, 0xc9, 0x64,
            0x07, 0x3a, 0x0e, 0xe1, 0x72, 0xf3, 0xda, 0xa6, 0x23, 0x25, 0xaf, 0x02, 0x1a, 0x68,
            0xf7, 0x07, 0x51, 0x1a,
        ])
        .unwrap();
        let line = allowed_signers_line("rel@example.org", &key);
        assert!(
            line.starts_with("rel@example.org ssh-ed25519 AAAA"),
            "{line}"
        );
        let entry = policy_entry("al\"ice", &key, "release");
        let parsed: toml::Value = toml::from_str(&entry).unwrap();
        assert_eq!(parsed["signer"][0]["name"].as_str(), Some("al\"ice"));
        assert!(
            parsed["signer"][0]["key"]
                .as_str()
                .unwrap()
                .starts_with("ssh-ed25519 ")
        );
    }
}
