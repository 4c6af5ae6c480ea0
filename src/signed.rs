//! What a signature request signs, parsed once from the bytes themselves (never from what the
//! client claims): an SSH userauth request, an SSHSIG blob with its namespace, hash and
//! digest, a DSSE PAE with its in-toto statement, or anything else — every bare digest and
//! every message hwsign does not recognise, which "can sign anything". The policy, the prompts,
//! the touch notices and the audit record all read this one value.

use std::fmt;

use serde_json::{Value, json};

use crate::config::KindPattern;
use crate::crypto::pubkey::hex;
use crate::crypto::scheme::{HashAlg, SignInput};
use crate::format::{dsse, sshsig, statement};
use crate::proto::wire::Dec;
use crate::text::{self, Escaped};

/// DSSE subjects kept one by one (in the audit record, the prompts and the notifications);
/// the rest are counted, and the statement's digest stands for all of them.
pub const SUBJECTS_KEPT: usize = 10;

/// SSH_MSG_USERAUTH_REQUEST.
const USERAUTH_REQUEST: u8 = 50;

/// What the bytes of a request are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signed {
    /// An SSH user authentication (RFC 4252 §7 signature data).
    SshLogin {
        /// The user name asked for.
        user: String,
        /// The SSH session the login belongs to (its exchange hash).
        session_id: Vec<u8>,
    },
    /// An SSHSIG signed-data blob.
    Sshsig(sshsig::SignedData),
    /// A DSSE pre-authentication encoding.
    Dsse {
        /// Its payloadType.
        payload_type: String,
        /// SHA-256 of the payload.
        payload_sha256: [u8; 32],
        /// The payload read as an in-toto statement (its first [`SUBJECTS_KEPT`] subjects),
        /// when it is a JSON object.
        statement: Option<statement::Summary>,
    },
    /// A digest the client computed: the agent cannot know of what.
    Digest(Vec<u8>),
    /// A message hwsign does not recognise.
    Message {
        /// Its SHA-256.
        sha256: [u8; 32],
    },
    /// Both signatures of a minisign file (`minisign@hwsign`): the first over what the client
    /// sent (a BLAKE2b-512 digest, or a small file), the second over that signature and the
    /// trusted comment. What the first signs can be the hash of anything.
    Minisign {
        /// SHA-256 of what the first signature signs.
        sha256: [u8; 32],
        /// The trusted comment (`timestamp:…\tfile:…`), a client's word.
        trusted_comment: String,
    },
}

impl Signed {
    /// A minisign request: what the first signature signs, and the trusted comment.
    pub fn minisign(data: &[u8], trusted_comment: &str) -> Signed {
        Signed::Minisign {
            sha256: sha256(data),
            trusted_comment: trusted_comment.to_string(),
        }
    }

    /// Read `data` (`input` says whether it is a message or a digest).
    pub fn parse(data: &[u8], input: SignInput) -> Signed {
        if input == SignInput::Prehash {
            return Signed::Digest(data.to_vec());
        }
        if let Some(blob) = sshsig::parse_signed_data(data) {
            return Signed::Sshsig(blob);
        }
        if let Some((payload_type, body)) = dsse::parse_pae(data) {
            let statement = statement::summarize(body, SUBJECTS_KEPT);
            let payload_sha256 = match &statement {
                Some(s) => s.payload_sha256,
                None => sha256(body),
            };
            return Signed::Dsse {
                payload_type,
                payload_sha256,
                statement,
            };
        }
        if let Some((user, session_id)) = parse_userauth(data) {
            return Signed::SshLogin { user, session_id };
        }
        Signed::Message {
            sha256: sha256(data),
        }
    }

    /// Whether a `remote_kinds` entry allows it.
    pub fn allowed_by(&self, pattern: &KindPattern) -> bool {
        match (self, pattern) {
            (Signed::SshLogin { .. }, KindPattern::SshLogin) => true,
            (Signed::Sshsig(blob), KindPattern::Sshsig(want)) => {
                want.as_ref().is_none_or(|w| *w == blob.namespace)
            }
            (Signed::Dsse { payload_type, .. }, KindPattern::Dsse(want)) => {
                want.as_ref().is_none_or(|w| w == payload_type)
            }
            (
                Signed::Digest(_) | Signed::Message { .. } | Signed::Minisign { .. },
                KindPattern::Digest,
            ) => true,
            _ => false,
        }
    }

    /// One line: what would be signed (touch notices, the PIN dialog, the confirm dialog's
    /// title). Every name in it is escaped.
    pub fn short(&self) -> String {
        match self {
            Signed::Dsse { statement, .. } => {
                let (n, first) = statement.as_ref().map_or((0, Vec::new()), |s| {
                    let first = s.subjects.iter().take(3).map(|(name, _)| text::name(name));
                    (s.subject_count, first.collect::<Vec<_>>())
                });
                let more = match n.saturating_sub(first.len()) {
                    0 => String::new(),
                    m => format!(", and {m} more"),
                };
                format!("an attestation of {n} file(s) ({}{more})", first.join(", "))
            }
            Signed::Sshsig(blob) => format!(
                "an SSH signature (namespace {}, {} {})",
                Escaped::name(&blob.namespace),
                Escaped::name(&blob.hash),
                short_hex(&hex(&blob.digest))
            ),
            Signed::SshLogin { user, .. } => format!("an SSH login as {}", Escaped::name(user)),
            Signed::Digest(_) | Signed::Message { .. } => {
                "a bare digest (raw or OpenPGP signature: can sign anything)".into()
            }
            Signed::Minisign {
                trusted_comment, ..
            } => format!(
                "a minisign signature ({}; can sign anything)",
                Escaped::name(trusted_comment)
            ),
        }
    }

    /// The `signed` object of the audit record: the fields and names of the records written
    /// since the first release, so that `hwsign audit` reads old and new alike.
    pub fn audit_json(&self) -> Value {
        match self {
            Signed::Dsse {
                payload_type,
                payload_sha256,
                statement,
            } => {
                let mut out = json!({
                    "payloadType": payload_type,
                    "statement_sha256": hex(payload_sha256),
                });
                if let Some(st) = statement {
                    out["predicateType"] = json!(st.predicate_type);
                    out["subject_count"] = json!(st.subject_count);
                    out["subjects"] = st
                        .subjects
                        .iter()
                        .map(|(name, sha256)| json!({ "name": name, "sha256": sha256 }))
                        .collect();
                }
                out
            }
            Signed::Sshsig(blob) => json!({
                "namespace": blob.namespace,
                "hash": blob.hash,
                "message_digest": hex(&blob.digest),
            }),
            Signed::SshLogin { user, .. } => json!({ "user": user }),
            Signed::Digest(d) => json!({ "digest": hex(d) }),
            Signed::Message { sha256 } => json!({ "message_sha256": hex(sha256) }),
            Signed::Minisign {
                sha256,
                trusted_comment,
            } => json!({ "message_sha256": hex(sha256), "trusted_comment": trusted_comment }),
        }
    }
}

/// The kind, as `remote_kinds` and the audit log name it: `ssh-login`, `sshsig:<namespace>`,
/// `dsse:<payloadType>` or `digest`.
impl fmt::Display for Signed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Signed::SshLogin { .. } => f.write_str("ssh-login"),
            Signed::Sshsig(blob) => write!(f, "sshsig:{}", blob.namespace),
            Signed::Dsse { payload_type, .. } => write!(f, "dsse:{payload_type}"),
            Signed::Digest(_) | Signed::Message { .. } | Signed::Minisign { .. } => {
                f.write_str("digest")
            }
        }
    }
}

fn sha256(data: &[u8]) -> [u8; 32] {
    HashAlg::Sha256
        .digest(data)
        .try_into()
        .expect("SHA-256 has 32 bytes")
}

/// The first 12 hex digits of a digest, for one-line descriptions.
pub fn short_hex(hex: &str) -> String {
    text::for_terminal(&hex.chars().take(12).collect::<String>(), 48) + "…"
}

/// The user and session of an SSH publickey userauth signature blob: `string session_id,
/// byte 50, string user, string service, string "publickey" (or the host-bound variant),
/// bool TRUE, string algorithm, string key [, string host key]`.
fn parse_userauth(data: &[u8]) -> Option<(String, Vec<u8>)> {
    let mut d = Dec(data);
    let session_id = d.bytes().ok()?;
    if session_id.is_empty() || session_id.len() > 64 || d.u8().ok()? != USERAUTH_REQUEST {
        return None;
    }
    let user = d.str().ok()?;
    let _service = d.str().ok()?;
    let hostbound = match d.str().ok()?.as_str() {
        "publickey" => false,
        "publickey-hostbound-v00@openssh.com" => true,
        _ => return None,
    };
    if !d.bool().ok()? {
        return None;
    }
    let _alg = d.str().ok()?;
    let _key = d.bytes().ok()?;
    if hostbound {
        let _host_key = d.bytes().ok()?;
    }
    d.finish().ok()?;
    Some((user, session_id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::wire::Enc;

    fn userauth(method: &str) -> Vec<u8> {
        let mut e = Enc::default();
        e.bytes(&[9; 32])
            .u8(50)
            .str("git")
            .str("ssh-connection")
            .str(method)
            .bool(true);
        e.str("ssh-ed25519").bytes(&[1; 51]);
        if method.contains("hostbound") {
            e.bytes(&[2; 51]);
        }
        e.0
    }

    fn pattern(p: &str) -> KindPattern {
        p.parse().unwrap()
    }

    #[test]
    fn kinds_come_from_the_bytes() {
        let blob = sshsig::signed_data("file", &[7u8; 64]).unwrap();
        let signed = Signed::parse(&blob, SignInput::Message);
        assert_eq!(signed.to_string(), "sshsig:file");
        assert!(
            signed.short().contains("sha512 070707070707…"),
            "{}",
            signed.short()
        );
        assert!(matches!(
            Signed::parse(&blob, SignInput::Prehash),
            Signed::Digest(_)
        ));
        let pae = dsse::pae("application/vnd.in-toto+json", b"{}");
        let dsse = Signed::parse(&pae, SignInput::Message);
        assert_eq!(dsse.to_string(), "dsse:application/vnd.in-toto+json");
        assert_eq!(dsse.short(), "an attestation of 0 file(s) ()");
        let login = Signed::parse(&userauth("publickey"), SignInput::Message);
        assert_eq!(
            login,
            Signed::SshLogin {
                user: "git".into(),
                session_id: vec![9; 32]
            }
        );
        assert_eq!(
            Signed::parse(
                &userauth("publickey-hostbound-v00@openssh.com"),
                SignInput::Message
            )
            .to_string(),
            "ssh-login"
        );
        let other = Signed::parse(b"anything", SignInput::Message);
        assert_eq!(other.to_string(), "digest");
        // A PAE is never mistaken for a login, whatever the client says.
        assert!(!dsse.allowed_by(&pattern("ssh-login")));
        assert!(signed.allowed_by(&pattern("sshsig")));
        assert!(signed.allowed_by(&pattern("sshsig:file")));
        assert!(!signed.allowed_by(&pattern("sshsig:git")));
        assert!(other.allowed_by(&pattern("digest")));
    }

    /// The SSHSIG line names the hash the blob names, not always sha512.
    #[test]
    fn the_sshsig_hash_is_the_blobs() {
        let mut blob = b"SSHSIG".to_vec();
        let mut e = Enc::default();
        e.str("file").bytes(b"").str("sha256").bytes(&[0xab; 32]);
        blob.extend_from_slice(&e.0);
        let signed = Signed::parse(&blob, SignInput::Message);
        assert_eq!(
            signed.short(),
            "an SSH signature (namespace file, sha256 abababababab…)"
        );
        assert_eq!(
            signed.audit_json(),
            json!({ "namespace": "file", "hash": "sha256", "message_digest": "ab".repeat(32) })
        );
    }

    #[test]
    fn statements_are_summarised_once() {
        let body = br#"{"_type":"https://in-toto.io/Statement/v1","predicateType":"p","subject":[{"name":"a\nb","digest":{"sha256":"00"}},{"name":"c"},{"name":"d"},{"name":"e"}]}"#;
        let pae = dsse::pae("application/vnd.in-toto+json", body);
        let signed = Signed::parse(&pae, SignInput::Message);
        assert_eq!(
            signed.short(),
            "an attestation of 4 file(s) (a\\nb, c, d, and 1 more)"
        );
        let rec = signed.audit_json();
        assert_eq!(rec["subject_count"], 4);
        assert_eq!(rec["predicateType"], "p");
        assert_eq!(
            rec["subjects"][0],
            json!({ "name": "a\nb", "sha256": "00" })
        );
        assert_eq!(rec["subjects"][1], json!({ "name": "c", "sha256": null }));
        assert_eq!(rec["statement_sha256"], hex(&sha256(body)));
        // Not a statement: the payload's digest alone.
        let opaque = Signed::parse(&dsse::pae("text/plain", b"hi"), SignInput::Message);
        assert_eq!(
            opaque.audit_json(),
            json!({ "payloadType": "text/plain", "statement_sha256": hex(&sha256(b"hi")) })
        );
    }
}
