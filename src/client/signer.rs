//! A signer over the agent socket: one key, a scheme, and the context the agent logs.

use super::AgentClient;
use crate::crypto::check::{Signed, check};
use crate::crypto::pubkey::PublicKey;
use crate::crypto::scheme::{Scheme, SignInput};
use crate::error::{Error, Result};
use crate::key::{KeyMeta, TouchPolicy};
use crate::proto::minisign::{MinisignReply, MinisignRequest};
use crate::proto::sign::{SignContext, SignRequest};
use crate::text::{self, Escaped};

/// Signs with one of the agent's keys.
#[derive(Debug)]
pub struct Signer<'a> {
    client: &'a mut AgentClient,
    /// The key as the agent lists it.
    pub key: KeyMeta,
    /// Shown with every request (e.g. the existing signers when co-signing).
    pub note: String,
    /// How many files a DSSE statement covers, when the names given are only its first few.
    pub subject_count: Option<usize>,
}

impl<'a> Signer<'a> {
    /// A signer for `key` (its id was checked against its public key when the listing was
    /// decoded).
    pub fn new(client: &'a mut AgentClient, key: KeyMeta) -> Result<Self> {
        Ok(Signer {
            client,
            key,
            note: String::new(),
            subject_count: None,
        })
    }

    /// The key's public key.
    pub fn public(&self) -> &PublicKey {
        &self.key.public
    }

    /// Another connection to the agent, knowing its limits (see [`AgentClient::another`]).
    pub fn another_client(&self) -> Result<AgentClient> {
        self.client.another()
    }

    /// The same key and context over another connection (to sign several files at once).
    pub fn fork<'b>(&self, client: &'b mut AgentClient) -> Signer<'b> {
        Signer {
            client,
            key: self.key.clone(),
            note: self.note.clone(),
            subject_count: self.subject_count,
        }
    }

    /// What the agent is told besides the bytes. A DSSE statement names its subjects itself,
    /// and the agent reads them from it: sending them again would double a large release's
    /// request.
    fn context(&self, format: &str, names: &[String]) -> SignContext {
        SignContext {
            format: format.into(),
            names: if format == "dsse" {
                Vec::new()
            } else {
                names.to_vec()
            },
            note: self.note.clone(),
        }
    }

    fn sign(
        &mut self,
        scheme: Scheme,
        input: SignInput,
        data: Vec<u8>,
        format: &str,
        names: &[String],
    ) -> Result<(Vec<u8>, Vec<u8>)> {
        if self.key.touch != TouchPolicy::Never {
            eprintln!("{}", self.touch_notice(format, names));
        }
        let req = SignRequest {
            key_id: self.key.id.to_string(),
            scheme,
            input,
            data,
            context: self.context(format, names),
        };
        let reply = self.client.sign(&req)?;
        if reply.key_id != self.key.id || reply.scheme != scheme {
            return Err(Error::Protocol(
                "the agent signed with another key or scheme than asked".into(),
            ));
        }
        // Nothing is written that does not verify with the key it names (a key replaced on
        // its card since the listing, a token answering garbage).
        let signed = match input {
            SignInput::Message => Signed::Message(&req.data),
            SignInput::Prehash => Signed::Sha256(&req.data),
        };
        check(&self.key.public, scheme, signed, &reply.signature).map_err(|e| {
            Error::Protocol(format!(
                "the signature from key {} ({}) does not check out: {e}; nothing was written\n  hint: run `hwsign keys` (was the key replaced on its token?) and sign again",
                Escaped::name(&self.key.label),
                Escaped::name(&self.key.id)
            ))
        })?;
        Ok((reply.signature, req.data))
    }

    /// Both signatures of a minisign file: over `data` (its BLAKE2b-512 digest, or the file
    /// for legacy signatures), then over that signature and `trusted_comment`. One request
    /// (one decision, one audit record) to agents that know `minisign@hwsign`; two to older
    /// ones. Both are checked against the key before anything is written.
    pub fn sign_minisign(
        &mut self,
        data: Vec<u8>,
        trusted_comment: &str,
        names: &[String],
    ) -> Result<(Vec<u8>, Vec<u8>)> {
        let global_of = |sig: &[u8]| crate::format::minisign::global_message(sig, trusted_comment);
        if self.key.touch != TouchPolicy::Never {
            eprintln!(
                "{} (a second touch may be needed for minisign's global signature)",
                self.touch_notice("minisign", names)
            );
        }
        let req = MinisignRequest {
            key_id: self.key.id.to_string(),
            data,
            trusted_comment: trusted_comment.to_string(),
            context: self.context("minisign", names),
        };
        let reply: MinisignReply = match self.client.call(&req) {
            Ok(reply) => reply,
            Err(Error::Agent(w)) if w.code == crate::error::ErrorCode::UnknownRequest => {
                let sig = self.sign_message(Scheme::Ed25519, req.data, "minisign", names)?;
                let global =
                    self.sign_message(Scheme::Ed25519, global_of(&sig), "minisign", names)?;
                return Ok((sig, global));
            }
            Err(e) => return Err(e),
        };
        if reply.key_id != self.key.id {
            return Err(Error::Protocol(
                "the agent signed with another key than asked".into(),
            ));
        }
        for (what, message, sig) in [
            ("signature", &req.data, &reply.signature),
            (
                "global signature",
                &global_of(&reply.signature),
                &reply.global_signature,
            ),
        ] {
            check(&self.key.public, Scheme::Ed25519, Signed::Message(message), sig).map_err(|e| {
                Error::Protocol(format!(
                    "the minisign {what} from key {} ({}) does not check out: {e}; nothing was written",
                    Escaped::name(&self.key.label),
                    Escaped::name(&self.key.id)
                ))
            })?;
        }
        Ok((reply.signature, reply.global_signature))
    }

    /// What to tell the user before a signature that may need a touch:
    /// `Touch the token <label> on <agent host> to sign <what>`. The agent's host and token
    /// label (a possibly remote agent's word) and the file names are escaped
    /// ([`crate::text`]): the line is printed on a terminal.
    pub fn touch_notice(&mut self, format: &str, names: &[String]) -> String {
        let status = self.client.status().ok();
        let host = status.as_ref().map_or_else(
            || "the agent's machine".to_string(),
            |s| text::name(&s.host),
        );
        let shown: Vec<String> = names.iter().take(3).map(|n| text::name(n)).collect();
        let total = self
            .subject_count
            .filter(|_| format == "dsse")
            .unwrap_or(names.len());
        let more = total.saturating_sub(shown.len());
        let files = match more {
            0 => shown.join(", "),
            n => format!("{}, and {n} more", shown.join(", ")),
        };
        let what = match format {
            "dsse" => format!("an attestation of {total} file(s) ({files})"),
            "sshsig" => format!("an SSH signature of {files}"),
            "raw" => format!("a raw signature of {files}"),
            "openpgp" => format!("an OpenPGP signature of {files}"),
            other => format!("{} {files}", Escaped::name(other)),
        };
        let mut line = format!(
            "Touch the token {} on {host} to sign {what}",
            Escaped::name(&self.key.token_label)
        );
        if self.key.touch == TouchPolicy::Cached {
            let window = status.map_or(15, |s| s.touch_cache_window_s);
            line.push_str(&format!(" (unless it was touched in the last {window} s)"));
        }
        line
    }

    /// The length of the frame a `format` request signing `data_len` bytes with this key
    /// would have (compare with [`AgentClient::request_limit`] before the data exists).
    pub fn request_len(
        &self,
        scheme: Scheme,
        format: &str,
        names: &[String],
        data_len: usize,
    ) -> usize {
        SignRequest {
            key_id: self.key.id.to_string(),
            scheme,
            input: SignInput::Message,
            data: Vec::new(),
            context: self.context(format, names),
        }
        .frame_len_with(data_len)
    }

    /// The largest request the agent takes on this socket.
    pub fn request_limit(&mut self) -> Result<usize> {
        self.client.request_limit()
    }

    /// Which socket of the agent this is (`main` or `extra`, from its status).
    pub fn socket_name(&mut self) -> String {
        self.client
            .status()
            .map(|s| s.socket)
            .unwrap_or_else(|_| "agent's".into())
    }

    /// Sign a message (the agent hashes it and can see what it is).
    pub fn sign_message(
        &mut self,
        scheme: Scheme,
        message: Vec<u8>,
        format: &str,
        names: &[String],
    ) -> Result<Vec<u8>> {
        Ok(self
            .sign(scheme, SignInput::Message, message, format, names)?
            .0)
    }

    /// [`Self::sign_message`], handing the message back with the signature (a large statement
    /// is not copied to be kept).
    pub fn sign_message_kept(
        &mut self,
        scheme: Scheme,
        message: Vec<u8>,
        format: &str,
        names: &[String],
    ) -> Result<(Vec<u8>, Vec<u8>)> {
        self.sign(scheme, SignInput::Message, message, format, names)
    }

    /// Sign an OpenPGP digest: Ed25519 signs the digest as its message, the others sign it as a
    /// prehash.
    pub fn sign_openpgp_digest(
        &mut self,
        scheme: Scheme,
        digest: &[u8],
        names: &[String],
    ) -> Result<Vec<u8>> {
        if scheme == Scheme::Ed25519 {
            self.sign_message(scheme, digest.to_vec(), "openpgp", names)
        } else {
            self.sign_digest(scheme, digest.to_vec(), "openpgp", names)
        }
    }

    /// Run `f` with an OpenPGP signer (`key` must be this agent key's OpenPGP form) that asks the
    /// agent for each signature. When the agent refuses, its error (with code and hint) is
    /// returned rather than sequoia's wrapping of it.
    pub fn with_openpgp<T>(
        &mut self,
        key: sequoia_openpgp::packet::Key<
            sequoia_openpgp::packet::key::PublicParts,
            sequoia_openpgp::packet::key::UnspecifiedRole,
        >,
        names: &[String],
        f: impl FnOnce(
            &mut dyn sequoia_openpgp::crypto::Signer,
        ) -> Result<T, crate::format::FormatError>,
    ) -> Result<T> {
        let public = self.key.public.clone();
        let mut failure = None;
        let mut pgp = crate::format::openpgp::DigestSigner::new(key, &public, |scheme, digest| {
            self.sign_openpgp_digest(scheme, digest, names)
                .map_err(|e| {
                    let text = e.to_string();
                    failure = Some(e);
                    text
                })
        });
        let result = f(&mut pgp);
        drop(pgp);
        match (result, failure) {
            (Ok(v), _) => Ok(v),
            (Err(_), Some(agent_error)) => Err(agent_error),
            (Err(e), None) => Err(e.into()),
        }
    }

    /// Sign a digest made with the scheme's hash.
    pub fn sign_digest(
        &mut self,
        scheme: Scheme,
        digest: Vec<u8>,
        format: &str,
        names: &[String],
    ) -> Result<Vec<u8>> {
        Ok(self
            .sign(scheme, SignInput::Prehash, digest, format, names)?
            .0)
    }
}
