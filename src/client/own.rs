//! hwsign's own outputs among the inputs: signatures (SSHSIG, OpenPGP, raw, minisign), DSSE
//! envelopes, Sigstore bundles and verifier material. `hwsign sign dist/*` and `hwsign attest
//! dist/*` run twice must not sign the first run's outputs, and `hwsign verify dist/*` takes
//! the signatures among the files as signatures. Recognised by content (the first bytes), not
//! by name alone: a `.sig` that is not a signature is an artifact, and an envelope named
//! `notes.txt` is not.

use std::io::Read;
use std::path::{Path, PathBuf};

/// What an output of hwsign is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Own {
    /// An armored SSHSIG (`FILE.sig`).
    Sshsig,
    /// An armored OpenPGP signature (`FILE.asc`).
    Openpgp,
    /// A raw signature (`FILE.rawsig`: one line of base64).
    Raw,
    /// A minisign signature (`FILE.minisig`).
    Minisign,
    /// A DSSE envelope.
    Envelope,
    /// A Sigstore bundle.
    Bundle,
    /// Verifier material: a public key, an allowed_signers line, a trust-policy entry.
    Material,
}

impl Own {
    /// A signature of one file, which `hwsign verify` can take as `--signature`.
    pub fn is_signature(self) -> bool {
        matches!(self, Own::Sshsig | Own::Openpgp | Own::Raw | Own::Minisign)
    }
}

/// How much of a file is read to recognise it.
const HEAD: usize = 4096;

/// What `path` is, if it is one of hwsign's outputs (`None` also when it cannot be read: the
/// input checks report that).
pub fn recognise(path: &Path) -> Option<Own> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .ok()?;
    let meta = file.metadata().ok()?;
    if !meta.is_file() {
        return None;
    }
    let mut head = Vec::with_capacity(HEAD);
    file.take(HEAD as u64).read_to_end(&mut head).ok()?;
    let name = path.file_name()?.to_string_lossy();
    of_content(&name, &head, meta.len())
}

/// [`recognise`] from a file's name, first bytes and size.
pub fn of_content(name: &str, head: &[u8], size: u64) -> Option<Own> {
    // A binary OpenPGP signature packet (old format tag 2, or new format 0xc2).
    if name.ends_with(".sig")
        && head
            .first()
            .is_some_and(|&b| (b & 0xfc) == 0x88 || b == 0xc2)
    {
        return Some(Own::Openpgp);
    }
    let text = String::from_utf8_lossy(head);
    let start = text.trim_start();
    if start.starts_with("-----BEGIN SSH SIGNATURE-----") {
        return Some(Own::Sshsig);
    }
    if start.starts_with("-----BEGIN PGP SIGNATURE-----") {
        return Some(Own::Openpgp);
    }
    if start.starts_with("untrusted comment:") && name.ends_with(".minisig") {
        return Some(Own::Minisign);
    }
    if start.starts_with("-----BEGIN PUBLIC KEY-----")
        || start.starts_with("-----BEGIN PGP PUBLIC KEY BLOCK-----")
    {
        return Some(Own::Material);
    }
    if name.starts_with("hwsign-")
        && (name.ends_with(".pub")
            || name.ends_with(".allowed_signers")
            || name.ends_with(".policy.toml"))
    {
        return Some(Own::Material);
    }
    if name.ends_with(".rawsig") && size <= 2048 {
        let body = start.trim_end();
        let b64 = !body.is_empty()
            && body
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/' || b == b'=');
        if b64 {
            return Some(Own::Raw);
        }
    }
    if start.starts_with('{') {
        if start.contains("application/vnd.dev.sigstore.bundle") {
            return Some(Own::Bundle);
        }
        // hwsign writes `{"payload": "…", "payloadType": …, "signatures": …}`; others may
        // put payloadType or signatures first.
        let compact: String = start.chars().filter(|c| !c.is_whitespace()).collect();
        if compact.starts_with("{\"payload\":\"")
            || compact.starts_with("{\"payloadType\":")
            || compact.starts_with("{\"signatures\":[")
        {
            return Some(Own::Envelope);
        }
    }
    None
}

/// The inputs split into what is to be signed and hwsign's own outputs (with what each is).
pub fn split(inputs: Vec<PathBuf>) -> (Vec<PathBuf>, Vec<(PathBuf, Own)>) {
    let mut keep = Vec::with_capacity(inputs.len());
    let mut own = Vec::new();
    for p in inputs {
        match recognise(&p) {
            Some(kind) => own.push((p, kind)),
            None => keep.push(p),
        }
    }
    (keep, own)
}

/// The note printed when own outputs were skipped: how many, the first few, how to include
/// them.
pub fn skipped_note(skipped: &[(PathBuf, Own)]) -> String {
    let shown: Vec<String> = skipped
        .iter()
        .take(3)
        .map(|(p, _)| crate::text::name(&p.display().to_string()))
        .collect();
    let more = match skipped.len().saturating_sub(shown.len()) {
        0 => String::new(),
        n => format!(" and {n} more"),
    };
    format!(
        "skipped {} of hwsign's own outputs (signatures, envelopes, verifier material): {}{more}; pass --include-signatures to sign them too",
        skipped.len(),
        shown.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_are_recognised_by_content() {
        let sshsig = b"-----BEGIN SSH SIGNATURE-----\nU1NIU0lH\n-----END SSH SIGNATURE-----\n";
        assert_eq!(of_content("a.sig", sshsig, 300), Some(Own::Sshsig));
        // By content, whatever the name.
        assert_eq!(of_content("notes", sshsig, 300), Some(Own::Sshsig));
        assert_eq!(
            of_content("a.asc", b"-----BEGIN PGP SIGNATURE-----\n", 300),
            Some(Own::Openpgp)
        );
        assert_eq!(of_content("a.rawsig", b"MEUCIQDx+/=\n", 96), Some(Own::Raw));
        let envelope =
            b"{\n  \"payload\": \"eyJf\",\n  \"payloadType\": \"application/vnd.in-toto+json\"";
        assert_eq!(
            of_content("release.intoto.json", envelope, 9000),
            Some(Own::Envelope)
        );
        assert_eq!(
            of_content(
                "x.json",
                b"{\"mediaType\": \"application/vnd.dev.sigstore.bundle.v0.3+json\"",
                500
            ),
            Some(Own::Bundle)
        );
        assert_eq!(
            of_content("hwsign-release.pub", b"ecdsa-sha2-nistp256 AAAA", 200),
            Some(Own::Material)
        );
        // Not ours: a .sig that is not a signature, a .rawsig that is not base64, JSON data.
        assert_eq!(of_content("data.sig", b"\x7fELF\x02\x01", 9000), None);
        assert_eq!(of_content("a.rawsig", b"hello world\n", 12), None);
        assert_eq!(
            of_content("package.json", b"{\n  \"name\": \"x\"", 100),
            None
        );
        assert_eq!(of_content("tool", b"", 0), None);
    }
}
