//! The audit record of one signature request: who asked (socket, process, forwarding hosts),
//! with which key, what was signed (parsed from the bytes: DSSE subjects, SSHSIG namespace and
//! digest, SSH login user, or the digest), what the client said (unverified) and the result.

use serde_json::{Map, Value, json};

use super::context::{Context, Peer};
use super::inventory::KeyRef;
use super::kind::Kind;
use crate::format::{dsse, statement};
use crate::proto::scheme::SignInput;
use crate::proto::sign::SignContext;
use crate::proto::wire::Dec;
use crate::pubkey::hex;

/// The DSSE subjects listed one by one (in the record, the prompts and the notifications); the
/// rest are counted, and the statement's digest stands for all of them.
pub const SUBJECTS_KEPT: usize = 10;

/// What the signed bytes say, for the log and prompts. A DSSE statement is read once, in one
/// pass, into its subject count, its first [`SUBJECTS_KEPT`] subjects and its digest: what
/// people and the log see stays small however large the release.
pub fn what_is_signed(kind: &Kind, data: &[u8], input: SignInput) -> Value {
    match kind {
        Kind::Dsse { payload_type } => {
            let mut out = json!({ "payloadType": payload_type });
            if let Some((_, body)) = dsse::parse_pae(data) {
                if let Some(st) = statement::summarize(body, SUBJECTS_KEPT) {
                    out["statement_sha256"] = json!(hex(&st.payload_sha256));
                    out["predicateType"] = json!(st.predicate_type);
                    out["subject_count"] = json!(st.subject_count);
                    out["subjects"] = Value::Array(
                        st.subjects
                            .into_iter()
                            .map(|(name, sha256)| json!({ "name": name, "sha256": sha256 }))
                            .collect(),
                    );
                } else {
                    use sha2::Digest;
                    out["statement_sha256"] = json!(hex(&sha2::Sha256::digest(body)));
                }
            }
            out
        }
        Kind::Sshsig { namespace } => {
            let mut d = Dec(data.strip_prefix(b"SSHSIG").unwrap_or_default());
            let _ = d.str();
            let _ = d.bytes();
            let hash = d.str().unwrap_or_default();
            let digest = d.bytes().map(|b| hex(&b)).unwrap_or_default();
            json!({ "namespace": namespace, "hash": hash, "message_digest": digest })
        }
        Kind::SshLogin { user } => json!({ "user": user }),
        Kind::Digest => match input {
            SignInput::Prehash => json!({ "digest": hex(data) }),
            SignInput::Message => {
                json!({ "message_sha256": hex(&crate::proto::scheme::HashAlg::Sha256.digest(data)) })
            }
        },
    }
}

/// RFC 3339 UTC time of now.
fn now_rfc3339() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    crate::time::format_rfc3339(secs)
}

/// The inputs of a record.
pub struct Request<'a> {
    /// `ssh-sign` or `sign@hwsign`.
    pub request: &'a str,
    /// The key.
    pub key: &'a KeyRef,
    /// What the bytes are.
    pub kind: &'a Kind,
    /// What they say.
    pub signed: Value,
    /// What the client said (unverified).
    pub client: Option<&'a SignContext>,
}

/// Build the record (`prev` and `hash` are added by the log).
pub fn record(
    ctx: &Context,
    peer: &Peer,
    req: &Request<'_>,
    result: &str,
    error: Option<&str>,
) -> Map<String, Value> {
    let forwarded = if peer.hosts.is_empty() {
        json!("no session-bind")
    } else {
        serde_json::to_value(&peer.hosts).unwrap_or(Value::Null)
    };
    let mut m = Map::new();
    m.insert("time".into(), json!(now_rfc3339()));
    m.insert("socket".into(), json!(ctx.socket.name()));
    m.insert(
        "peer".into(),
        json!({ "pid": peer.pid, "uid": peer.uid, "process": peer.process }),
    );
    m.insert("forwarded_via".into(), forwarded);
    m.insert("request".into(), json!(req.request));
    m.insert(
        "key".into(),
        json!({ "id": req.key.id, "label": req.key.info.label, "token": req.key.token_label }),
    );
    m.insert("kind".into(), json!(req.kind.to_string()));
    m.insert("signed".into(), req.signed.clone());
    if let Some(c) = req.client {
        m.insert(
            "client_says".into(),
            json!({ "format": c.format, "names_unverified": c.names, "note": c.note }),
        );
    }
    m.insert("result".into(), json!(result));
    if let Some(e) = error {
        m.insert("error".into(), json!(e));
    }
    m
}
