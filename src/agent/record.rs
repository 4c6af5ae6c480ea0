//! The audit record of one signature request: who asked (socket, process, forwarding hosts),
//! with which key, what was signed (the request's one [`Signed`] value), what the client said
//! (unverified) and how it ended. Its JSON has the fields and names of every release so far
//! (`hwsign audit` reads old and new logs alike); the log writes it canonically
//! ([`super::audit::canonical`]).

use serde_json::{Map, Value, json};

use super::context::{Peer, Socket};
use crate::key::KeyMeta;
use crate::proto::sign::SignContext;
use crate::signed::Signed;

/// How a request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The signature was made and returned.
    Signed,
    /// Policy, the person asked, or the request itself said no: the token was not asked.
    Refused,
    /// The token was asked and did not give a good signature.
    Failed,
}

impl Outcome {
    /// The `result` of the record.
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Signed => "signed",
            Outcome::Refused => "refused",
            Outcome::Failed => "failed",
        }
    }
}

/// Which request asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestName {
    /// A standard SSH agent sign request.
    SshSign,
    /// `sign@hwsign`: hwsign's own request, with the client's context.
    HwsignSign,
    /// `minisign@hwsign` (both signatures of a minisign file).
    Minisign,
}

impl RequestName {
    fn name(self) -> &'static str {
        match self {
            RequestName::SshSign => "ssh-sign",
            RequestName::HwsignSign => "sign@hwsign",
            RequestName::Minisign => "minisign@hwsign",
        }
    }
}

/// One record, before the log adds `prev` and `hash`.
#[derive(Debug)]
pub struct AuditRecord<'a> {
    /// When (Unix seconds).
    pub time: u64,
    /// Which socket.
    pub socket: Socket,
    /// Who.
    pub peer: &'a Peer,
    /// Which request.
    pub request: RequestName,
    /// With which key.
    pub key: &'a KeyMeta,
    /// What.
    pub signed: &'a Signed,
    /// What the client said (unverified).
    pub client: Option<&'a SignContext>,
    /// How it ended.
    pub outcome: Outcome,
    /// Why it did not sign.
    pub error: Option<&'a str>,
}

impl AuditRecord<'_> {
    /// The JSON object the log chains.
    pub fn to_json(&self) -> Map<String, Value> {
        let forwarded = if self.peer.hosts.is_empty() {
            json!("no session-bind")
        } else {
            serde_json::to_value(&self.peer.hosts).unwrap_or(Value::Null)
        };
        let mut m = Map::new();
        m.insert("time".into(), json!(crate::time::format_rfc3339(self.time)));
        m.insert("socket".into(), json!(self.socket.name()));
        m.insert(
            "peer".into(),
            json!({ "pid": self.peer.pid, "uid": self.peer.uid, "process": self.peer.process }),
        );
        m.insert("forwarded_via".into(), forwarded);
        m.insert("request".into(), json!(self.request.name()));
        m.insert(
            "key".into(),
            json!({ "id": self.key.id, "label": self.key.label, "token": self.key.token_label }),
        );
        m.insert("kind".into(), json!(self.signed.to_string()));
        m.insert("signed".into(), self.signed.audit_json());
        if let Some(c) = self.client {
            m.insert(
                "client_says".into(),
                json!({ "format": c.format, "names_unverified": c.names, "note": c.note }),
            );
        }
        m.insert("result".into(), json!(self.outcome.name()));
        if let Some(e) = self.error {
            m.insert("error".into(), json!(e));
        }
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A typed record has the fields, names and values of the records the previous release
    /// wrote (the first line of tests/fixtures/audit/release-0.1.jsonl, a DSSE attestation).
    #[test]
    fn records_keep_the_shape_of_the_previous_release() {
        const OLD: &str = include_str!("../../tests/fixtures/audit/release-0.1.jsonl");
        let old: Value = serde_json::from_str(OLD.lines().next().unwrap()).unwrap();
        let statement = json!({
            "_type": "https://in-toto.io/Statement/v1",
            "subject": old["signed"]["subjects"].as_array().unwrap().iter().map(|s| json!({
                "name": s["name"], "digest": { "sha256": s["sha256"] }
            })).collect::<Vec<_>>(),
            "predicateType": old["signed"]["predicateType"],
        });
        let pae = crate::format::dsse::pae(
            "application/vnd.in-toto+json",
            &serde_json::to_vec(&statement).unwrap(),
        );
        let signed = Signed::parse(&pae, crate::crypto::scheme::SignInput::Message);
        let peer = Peer {
            pid: old["peer"]["pid"].as_i64().map(|p| p as i32),
            uid: old["peer"]["uid"].as_u64().unwrap() as u32,
            process: "hwsign".into(),
            hosts: Vec::new(),
        };
        let key = KeyMeta {
            id: crate::key::KeyId::parse(old["key"]["id"].as_str().unwrap()).unwrap(),
            label: "release-p256".into(),
            ..crate::proto::keys::sample_key()
        };
        let client = SignContext {
            format: "dsse".into(),
            names: Vec::new(),
            note: String::new(),
        };
        let record = AuditRecord {
            time: crate::time::parse_rfc3339(old["time"].as_str().unwrap()).unwrap(),
            socket: Socket::Main,
            peer: &peer,
            request: RequestName::HwsignSign,
            key: &key,
            signed: &signed,
            client: Some(&client),
            outcome: Outcome::Signed,
            error: None,
        };
        let mut new = Value::Object(record.to_json());
        // The statement's bytes differ (its digest does too); everything else is the same.
        new["signed"]["statement_sha256"] = old["signed"]["statement_sha256"].clone();
        let mut old = old;
        let old = old.as_object_mut().unwrap();
        old.remove("prev");
        old.remove("hash");
        assert_eq!(new, Value::Object(old.clone()));
    }
}
