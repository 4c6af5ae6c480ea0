//! The agent in process, on an in-memory token ([`crate::token::memory`]): requests go through
//! [`dispatch::handle`] as they come off a socket, and what comes back, what the token was
//! asked and what the audit log says are checked. No SoftHSM, no pcscd, no process: the
//! policy, dispatch, the signing chain and the audit record, fast. The real-process tests in
//! `tests/` keep the interoperability.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, RwLock};

use serde_json::Value;
use ssh_agent_lib::proto::{Request, Response};
use ssh_encoding::Encode;

use super::audit::writer::AuditWriter;
use super::audit::{AuditLog, FILE_NAME, verify_chain};
use super::context::{Context, Peer, Socket};
use super::created::CreatedStore;
use super::session_bind::BoundHost;
use super::touch::TouchGate;
use super::{Inventory, dispatch};
use crate::config::Config;
use crate::crypto::check::{self, Signed as Checked};
use crate::crypto::scheme::{HashAlg, Scheme, SignInput};
use crate::error::{ErrorCode, WireError};
use crate::format::{dsse, sshsig};
use crate::key::{BackendKind, KeyId, KeyMeta};
use crate::proto::HwsignMessage;
use crate::proto::keys::{KeysReply, KeysRequest};
use crate::proto::reply::{self, ReplyError};
use crate::proto::sign::{SignContext, SignReply, SignRequest};
use crate::token::memory::{Faults, MemoryKey, MemoryToken};
use crate::token::{TokenError, TokenHandle};

/// An agent on a memory token with an Ed25519 key (`ed`) and a P-256 key (`p256`).
struct Rig {
    _dir: tempfile::TempDir,
    state: std::path::PathBuf,
    inventory: Inventory,
    config: Arc<RwLock<Arc<Config>>>,
    audit: AuditWriter,
    touch: Arc<TouchGate>,
    dialog: Arc<tokio::sync::Mutex<()>>,
    signed: Arc<std::sync::atomic::AtomicUsize>,
    faults: Arc<Mutex<Faults>>,
}

impl Rig {
    async fn new(config: &str) -> Rig {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().to_path_buf();
        let token = MemoryToken::new(vec![
            ("ed".into(), MemoryKey::ed25519(1)),
            ("p256".into(), MemoryKey::p256(2)),
        ]);
        let (signed, faults) = (Arc::clone(&token.signed), Arc::clone(&token.faults));
        let handle =
            TokenHandle::spawn("memory".into(), BackendKind::Pkcs11, move || token).unwrap();
        let inventory = Inventory::new(vec![handle], CreatedStore::open(None));
        inventory.refresh().await;
        Rig {
            audit: AuditWriter::spawn(Arc::new(AuditLog::open(
                &state,
                super::audit::DEFAULT_MAX_BYTES,
            )))
            .unwrap(),
            _dir: dir,
            state,
            inventory,
            config: Arc::new(RwLock::new(Arc::new(Config::parse(config).unwrap()))),
            touch: Arc::default(),
            dialog: Arc::default(),
            signed,
            faults,
        }
    }

    fn context(&self, socket: Socket) -> Context {
        Context {
            inventory: self.inventory.clone(),
            socket,
            test_mode: false,
            host: "agent-host".into(),
            config: Arc::clone(&self.config),
            audit: self.audit.clone(),
            touch: Arc::clone(&self.touch),
            dialog: Arc::clone(&self.dialog),
        }
    }

    async fn call<T: HwsignMessage>(
        &self,
        socket: Socket,
        peer: &mut Peer,
        request: &impl HwsignMessage,
    ) -> Result<T, ReplyError> {
        let ctx = self.context(socket);
        let response =
            dispatch::handle(&ctx, peer, Request::Extension(request.to_extension())).await;
        let mut bytes = Vec::new();
        response.encode(&mut bytes).unwrap();
        reply::expect::<T>(&bytes)
    }

    async fn keys(&self, socket: Socket) -> Vec<KeyMeta> {
        let reply: KeysReply = self
            .call(socket, &mut peer(), &KeysRequest::default())
            .await
            .unwrap();
        reply.keys
    }

    async fn key(&self, label: &str) -> KeyMeta {
        let keys = self.keys(Socket::Main).await;
        keys.into_iter().find(|k| k.label == label).unwrap()
    }

    async fn sign(
        &self,
        socket: Socket,
        key: &KeyMeta,
        data: Vec<u8>,
        input: SignInput,
    ) -> Result<SignReply, WireError> {
        let request = SignRequest {
            key_id: key.id.to_string(),
            scheme: key.algorithm().default_scheme(),
            input,
            data,
            context: SignContext {
                format: "test".into(),
                names: vec!["a.tar".into()],
                note: String::new(),
            },
        };
        match self.call::<SignReply>(socket, &mut peer(), &request).await {
            Ok(r) => Ok(r),
            Err(ReplyError::Wire(e)) => Err(e),
            Err(other) => panic!("{other}"),
        }
    }

    /// The audit records written so far (after checking the chain).
    fn records(&self) -> Vec<Value> {
        verify_chain(&self.state).unwrap();
        std::fs::read_to_string(self.state.join(FILE_NAME))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

fn peer() -> Peer {
    Peer {
        pid: Some(4242),
        uid: 1000,
        process: "test".into(),
        hosts: vec![BoundHost {
            host_key: "SHA256:build-host".into(),
            forwarding: false,
        }],
    }
}

fn statement_pae() -> Vec<u8> {
    let statement = br#"{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"a.tar","digest":{"sha256":"00"}}],"predicateType":"p"}"#;
    dsse::pae("application/vnd.in-toto+json", statement)
}

const REMOTE_DSSE: &str =
    "[[key]]\nmatch = \"label:ed\"\nremote = true\nremote_kinds = [\"dsse\"]\n";

/// A signature on the main socket verifies with the listed key, for both algorithms (the
/// P-256 one comes from the token as r‖s and goes out as DER), and each has its record.
#[tokio::test]
async fn signatures_verify_and_every_one_is_recorded() {
    let rig = Rig::new("").await;
    for label in ["ed", "p256"] {
        let key = rig.key(label).await;
        let data = statement_pae();
        let reply = rig
            .sign(Socket::Main, &key, data.clone(), SignInput::Message)
            .await
            .unwrap();
        assert_eq!(reply.key_id, key.id.to_string());
        let checked = match reply.scheme.hash() {
            Some(h) => h.digest(&data),
            None => data.clone(),
        };
        let what = match reply.scheme {
            Scheme::Ed25519 => Checked::Message(&checked),
            _ => Checked::Sha256(&checked),
        };
        check::check(&key.public, reply.scheme, what, &reply.signature).unwrap();
    }
    let records = rig.records();
    assert_eq!(records.len(), 2);
    assert_eq!(records[0]["result"], "signed");
    assert_eq!(records[0]["kind"], "dsse:application/vnd.in-toto+json");
    assert_eq!(records[0]["signed"]["subject_count"], 1);
    assert_eq!(records[0]["client_says"]["names_unverified"][0], "a.tar");
    assert_eq!(records[1]["key"]["label"], "p256");
    assert_eq!(rig.signed.load(Ordering::SeqCst), 2);
}

/// On the forwarded socket a key without a rule does not exist, a rule's kinds are held to,
/// and a refusal is recorded without the token being asked.
#[tokio::test]
async fn the_forwarded_socket_holds_keys_to_their_rules() {
    let rig = Rig::new(REMOTE_DSSE).await;
    let remote = rig.keys(Socket::Extra).await;
    assert_eq!(remote.len(), 1);
    assert!(remote[0].remote && remote[0].label == "ed");
    assert!(!rig.key("p256").await.remote);

    let hidden = rig.key("p256").await;
    let err = rig
        .sign(Socket::Extra, &hidden, statement_pae(), SignInput::Message)
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::UnknownKey);

    let ed = &remote[0];
    rig.sign(Socket::Extra, ed, statement_pae(), SignInput::Message)
        .await
        .unwrap();
    let blob = sshsig::signed_data("file", &HashAlg::Sha512.digest(b"x")).unwrap();
    let err = rig
        .sign(Socket::Extra, ed, blob, SignInput::Message)
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::PolicyRefused);
    assert!(
        err.message
            .contains("sshsig:file signatures with key ed are not allowed remotely"),
        "{}",
        err.message
    );
    assert!(
        err.message
            .contains("[[key]] #1 (match = \"label:ed\") allows [\"dsse\"]"),
        "{}",
        err.message
    );

    // Ed25519 signs messages: a bare digest is refused before the token is asked.
    let err = rig
        .sign(Socket::Main, ed, vec![0; 32], SignInput::Prehash)
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::Unsupported);

    assert_eq!(
        rig.signed.load(Ordering::SeqCst),
        1,
        "refusals never reach the token"
    );
    let records = rig.records();
    let results: Vec<&str> = records
        .iter()
        .map(|r| r["result"].as_str().unwrap())
        .collect();
    assert_eq!(results, ["signed", "refused", "refused"]);
    assert_eq!(records[1]["kind"], "sshsig:file");
    assert_eq!(records[1]["socket"], "extra");
    assert_eq!(
        records[1]["forwarded_via"][0]["host_key"],
        "SHA256:build-host"
    );
    assert!(
        records[1]["error"]
            .as_str()
            .unwrap()
            .contains("not allowed remotely")
    );
}

/// A rule that lists the host keys it may be used through refuses other hosts.
#[tokio::test]
async fn from_hosts_is_checked_against_the_session_bind() {
    let rig = Rig::new(
        "[[key]]\nmatch = \"label:ed\"\nremote = true\nremote_kinds = [\"dsse\"]\nfrom_hosts = [\"SHA256:elsewhere\"]\n",
    )
    .await;
    let ed = rig.key("ed").await;
    let err = rig
        .sign(Socket::Extra, &ed, statement_pae(), SignInput::Message)
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::PolicyRefused);
    assert!(err.message.contains("SHA256:build-host"), "{}", err.message);
}

/// A token that fails is a failed record with the agent's advice; a token that signs with
/// another key than the listing's returns nothing.
#[tokio::test]
async fn token_failures_and_replaced_keys_return_nothing() {
    let rig = Rig::new("").await;
    let ed = rig.key("ed").await;
    rig.faults.lock().unwrap().fail = Some(TokenError::PinNeeded("memory".into()));
    let err = rig
        .sign(Socket::Main, &ed, statement_pae(), SignInput::Message)
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::PinNeeded);
    assert!(err.hint.contains("pin_file"), "{}", err.hint);

    rig.faults.lock().unwrap().replaced = Some(MemoryKey::ed25519(9));
    let err = rig
        .sign(Socket::Main, &ed, statement_pae(), SignInput::Message)
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::UnknownKey);
    assert!(err.message.contains("does not verify"), "{}", err.message);

    let records = rig.records();
    let results: Vec<&str> = records
        .iter()
        .map(|r| r["result"].as_str().unwrap())
        .collect();
    assert_eq!(results, ["failed", "failed"]);
}

/// A confirm rule asks the confirm command; a denial is a refusal and the token is not asked.
#[tokio::test]
async fn a_denied_confirmation_is_a_refusal() {
    let rig = Rig::new(
        "confirm_command = [\"false\"]\n[[key]]\nmatch = \"label:p256\"\nconfirm = true\n",
    )
    .await;
    let p256 = rig.key("p256").await;
    let err = rig
        .sign(Socket::Main, &p256, statement_pae(), SignInput::Message)
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::Denied);
    assert!(
        err.message.contains(
            "the confirm dialog on agent-host denied an attestation of 1 file(s) (a.tar)"
        ),
        "{}",
        err.message
    );
    assert_eq!(rig.signed.load(Ordering::SeqCst), 0);
    assert_eq!(rig.records()[0]["result"], "refused");
}

/// Concurrent requests for a confirm key get one dialog at a time: the second opens after the
/// first closed, and both are approved.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confirm_dialogs_open_one_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("dialogs");
    let script = dir.path().join("confirm.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho open >> {0}\nsleep 0.3\necho close >> {0}\n",
            log.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let rig = Arc::new(
        Rig::new(&format!(
            "confirm_command = [\"{}\"]\n[[key]]\nmatch = \"label:p256\"\nconfirm = true\n",
            script.display()
        ))
        .await,
    );
    let p256 = rig.key("p256").await;
    let both: Vec<_> = (0..2)
        .map(|_| {
            let (rig, key) = (Arc::clone(&rig), p256.clone());
            tokio::spawn(async move {
                rig.sign(Socket::Main, &key, statement_pae(), SignInput::Message)
                    .await
            })
        })
        .collect();
    for t in both {
        t.await.unwrap().unwrap();
    }
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        "open\nclose\nopen\nclose\n"
    );
    assert_eq!(rig.signed.load(Ordering::SeqCst), 2);
}

/// A key id that is not one, and one no token has, are the same unknown key.
#[tokio::test]
async fn unknown_and_malformed_key_ids_are_unknown_keys() {
    let rig = Rig::new("").await;
    let mut ghost = rig.key("ed").await;
    ghost.id = KeyId::parse(&"ab".repeat(32)).unwrap();
    let err = rig
        .sign(Socket::Main, &ghost, statement_pae(), SignInput::Message)
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::UnknownKey);
    let request = SignRequest {
        key_id: "not hex".into(),
        scheme: Scheme::Ed25519,
        input: SignInput::Message,
        data: vec![1],
        context: SignContext::default(),
    };
    let err = rig
        .call::<SignReply>(Socket::Main, &mut peer(), &request)
        .await
        .unwrap_err();
    assert!(
        matches!(err, ReplyError::Wire(ref w) if w.code == ErrorCode::UnknownKey),
        "{err}"
    );
    assert!(rig.records().is_empty(), "no key, no record");
}

/// Standard SSH sign requests go through the same chain: an SSH login is recorded with its user.
#[tokio::test]
async fn ssh_sign_requests_share_the_chain() {
    use ssh_agent_lib::proto::{PublicCredential, SignRequest as SshSignRequest};
    let rig = Rig::new("").await;
    let ed = rig.key("ed").await;
    let mut e = crate::proto::wire::Enc::default();
    e.bytes(&[7; 32])
        .u8(50)
        .str("git")
        .str("ssh-connection")
        .str("publickey");
    e.bool(true).str("ssh-ed25519").bytes(&[1; 51]);
    let ctx = rig.context(Socket::Main);
    let response = dispatch::handle(
        &ctx,
        &mut peer(),
        Request::SignRequest(SshSignRequest {
            credential: PublicCredential::Key(ed.public.ssh_key_data()),
            data: e.0,
            flags: 0,
        }),
    )
    .await;
    assert!(
        matches!(response, Response::SignResponse(_)),
        "{response:?}"
    );
    let records = rig.records();
    assert_eq!(records[0]["request"], "ssh-sign");
    assert_eq!(records[0]["kind"], "ssh-login");
    assert_eq!(records[0]["signed"]["user"], "git");
    assert!(records[0].get("client_says").is_none());
}

/// minisign@hwsign: both signatures in one request, one record; the global signature covers
/// the first and the trusted comment; a key that is not Ed25519 is refused.
#[tokio::test]
async fn minisign_makes_both_signatures_in_one_request() {
    use crate::proto::minisign::{MinisignReply, MinisignRequest};
    let rig = Rig::new("").await;
    let ed = rig.key("ed").await;
    let request = |key: &KeyMeta| MinisignRequest {
        key_id: key.id.to_string(),
        data: vec![0x42; 64],
        trusted_comment: "timestamp:1\tfile:a.tar\thashed".into(),
        context: SignContext::default(),
    };
    let reply: MinisignReply = rig
        .call(Socket::Main, &mut peer(), &request(&ed))
        .await
        .unwrap();
    check::check(
        &ed.public,
        Scheme::Ed25519,
        Checked::Message(&[0x42; 64]),
        &reply.signature,
    )
    .unwrap();
    let global = crate::format::minisign::global_message(
        &reply.signature,
        "timestamp:1\tfile:a.tar\thashed",
    );
    check::check(
        &ed.public,
        Scheme::Ed25519,
        Checked::Message(&global),
        &reply.global_signature,
    )
    .unwrap();
    assert_eq!(
        rig.signed.load(Ordering::SeqCst),
        2,
        "two signatures by the token"
    );
    let p256 = rig.key("p256").await;
    let err = rig
        .call::<MinisignReply>(Socket::Main, &mut peer(), &request(&p256))
        .await
        .unwrap_err();
    assert!(
        matches!(err, ReplyError::Wire(ref w) if w.code == ErrorCode::Unsupported),
        "{err}"
    );
    let records = rig.records();
    assert_eq!(
        records.len(),
        1,
        "one record for both signatures; none for the refused key"
    );
    assert_eq!(records[0]["request"], "minisign@hwsign");
    assert_eq!(records[0]["kind"], "digest");
    assert_eq!(
        records[0]["signed"]["trusted_comment"],
        "timestamp:1\tfile:a.tar\thashed"
    );
}
