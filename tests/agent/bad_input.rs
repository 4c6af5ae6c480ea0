//! Bad input on the agent socket: oversized, truncated, empty and malformed frames, unknown
//! extensions, unsupported versions, sign requests for unknown keys. Each gets its documented
//! wire error code (an `error@hwsign` reply) or the standard `SSH_AGENT_FAILURE`, the client
//! renders a clear message (pinned by snapshots), and the agent keeps serving.

use std::io::{Read, Write};
use std::net::Shutdown;
use std::os::unix::net::UnixStream;
use std::time::Duration;

use hwsign::crypto::scheme::{HashAlg, Scheme, SignInput};
use hwsign::error::{Error, ErrorCode, WireError};
use hwsign::proto::HwsignMessage;
use hwsign::proto::keys::KeysReply;
use hwsign::proto::reply::{self, ExtensionReply, ReplyError};
use hwsign::proto::sign::{SignContext, SignReply, SignRequest};
use hwsign::proto::wire::Enc;
use hwsign_testrig::wire;
use hwsign_testrig::*;

const SSH_AGENT_FAILURE: u8 = 5;
const SSH_AGENTC_EXTENSION: u8 = 27;

fn connect(env: &TestEnv) -> UnixStream {
    let s = UnixStream::connect(env.agent_sock()).expect("connect to the agent");
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    s
}

fn read_reply(s: &mut UnixStream) -> Vec<u8> {
    wire::receive(s).expect("a reply")
}

fn send_message(s: &mut UnixStream, msg: &[u8]) -> Vec<u8> {
    wire::round_trip(s, msg)
}

fn extension(name: &str, contents: &[u8]) -> Vec<u8> {
    let mut e = Enc::default();
    e.u8(SSH_AGENTC_EXTENSION).str(name);
    e.0.extend_from_slice(contents);
    e.0
}

fn wire_error(reply: &[u8]) -> WireError {
    match reply::expect::<KeysReply>(reply) {
        Err(ReplyError::Wire(w)) => w,
        other => panic!("expected an error@hwsign reply, got {other:?}"),
    }
}

/// The agent still answers a normal client.
fn assert_serving(env: &TestEnv) {
    let keys = env.keys_json();
    assert_eq!(keys.len(), 3, "the agent stopped serving keys");
}

/// What `hwsign` prints for an agent error.
fn rendered(w: WireError) -> String {
    format!("hwsign: {}\n", Error::Agent(w))
}

#[test]
fn oversized_frame_is_refused_unread_and_the_agent_serves_on() {
    let env = TestEnv::new();
    let _agent = env.start_agent(&[]);
    let mut s = connect(&env);
    // Announce 1 GiB and send nothing: the agent must answer without waiting for the body.
    s.write_all(&(1u32 << 30).to_be_bytes()).unwrap();
    let w = wire_error(&read_reply(&mut s));
    assert_eq!(w.code, ErrorCode::FrameTooLarge);
    assert_eq!(w.code.as_u32(), 2);
    assert_snapshot("frame_too_large", &rendered(w));
    // The agent closes that connection.
    let mut rest = Vec::new();
    assert_eq!(s.read_to_end(&mut rest).unwrap(), 0);
    assert_serving(&env);
}

#[test]
fn truncated_frame_gets_an_error_and_the_agent_serves_on() {
    let env = TestEnv::new();
    let _agent = env.start_agent(&[]);
    let mut s = connect(&env);
    s.write_all(&100u32.to_be_bytes()).unwrap();
    s.write_all(&[SSH_AGENTC_EXTENSION, 0, 0]).unwrap();
    s.shutdown(Shutdown::Write).unwrap();
    let w = wire_error(&read_reply(&mut s));
    assert_eq!(w.code, ErrorCode::TruncatedFrame);
    assert_snapshot("truncated_frame", &rendered(w));
    assert_serving(&env);
}

#[test]
fn malformed_and_empty_frames_get_errors_on_the_same_connection() {
    let env = TestEnv::new();
    let _agent = env.start_agent(&[]);
    let mut s = connect(&env);
    // An empty frame (no message type): the standard failure.
    s.write_all(&0u32.to_be_bytes()).unwrap();
    assert_eq!(read_reply(&mut s), vec![SSH_AGENT_FAILURE]);
    // An extension whose name is cut short: nobody's extension, the standard failure.
    assert_eq!(
        send_message(&mut s, &[SSH_AGENTC_EXTENSION, 0, 0, 0, 50, b'x']),
        vec![SSH_AGENT_FAILURE]
    );
    // sign@hwsign with a garbage body.
    let w = wire_error(&send_message(
        &mut s,
        &extension("sign@hwsign", &[0, 0, 0, 1, 0xff]),
    ));
    assert_eq!(w.code, ErrorCode::Malformed);
    // A future message version.
    let w = wire_error(&send_message(
        &mut s,
        &extension("keys@hwsign", &[0, 0, 0, 99]),
    ));
    assert_eq!(w.code, ErrorCode::UnsupportedVersion);
    assert_snapshot("unsupported_version", &rendered(w));
    // An unknown message type gets the standard failure.
    assert_eq!(send_message(&mut s, &[200]), vec![SSH_AGENT_FAILURE]);
    // The same connection still works.
    let keys: KeysReply = reply::expect(&send_message(
        &mut s,
        &extension("keys@hwsign", &[0, 0, 0, 1]),
    ))
    .unwrap();
    assert_eq!(keys.keys.len(), 3);
    assert_serving(&env);
}

#[test]
fn unknown_extensions() {
    let env = TestEnv::new();
    let _agent = env.start_agent(&[]);
    let mut s = connect(&env);
    let w = wire_error(&send_message(
        &mut s,
        &extension("frobnicate@hwsign", &[0, 0, 0, 1]),
    ));
    assert_eq!(w.code, ErrorCode::UnknownRequest);
    assert_snapshot("unknown_extension", &rendered(w));
    // Someone else's extension: the standard answer for an unsupported extension.
    let r = send_message(&mut s, &extension("foo@example.com", b""));
    assert_eq!(reply::parse(&r).unwrap(), ExtensionReply::Failure);
    // `query` lists what the agent supports.
    let r = send_message(&mut s, &extension("query", b""));
    let ExtensionReply::Response { name, contents } = reply::parse(&r).unwrap() else {
        panic!("query reply: {r:?}");
    };
    assert_eq!(name, "query");
    let list = hwsign::proto::query::QueryReply::from_bytes(&contents)
        .unwrap()
        .extensions;
    for ext in [
        "keys@hwsign",
        "sign@hwsign",
        "status@hwsign",
        "session-bind@openssh.com",
    ] {
        assert!(list.iter().any(|e| e == ext), "query lacks {ext}: {list:?}");
    }
    assert_serving(&env);
}

#[test]
fn sign_request_for_an_unknown_key() {
    let env = TestEnv::new();
    let _agent = env.start_agent(&[]);
    let mut s = connect(&env);
    let req = SignRequest {
        key_id: "00".repeat(32),
        scheme: Scheme::Ecdsa(HashAlg::Sha256),
        input: SignInput::Prehash,
        data: vec![0; 32],
        context: SignContext {
            format: "raw".into(),
            names: vec!["a.tar".into()],
            note: String::new(),
        },
    };
    let r = send_message(&mut s, &extension("sign@hwsign", &req.to_bytes()));
    let w = match reply::expect::<SignReply>(&r) {
        Err(ReplyError::Wire(w)) => w,
        other => panic!("expected unknown-key, got {other:?}"),
    };
    assert_eq!(w.code, ErrorCode::UnknownKey);
    assert_eq!(w.code.as_u32(), 10);
    assert_snapshot("unknown_key_wire", &rendered(w));

    // A digest of the wrong length for the scheme.
    let id = env.key_id("release-p256");
    let bad = SignRequest {
        key_id: id,
        data: vec![0; 31],
        ..req
    };
    let r = send_message(&mut s, &extension("sign@hwsign", &bad.to_bytes()));
    assert!(
        matches!(reply::expect::<SignReply>(&r), Err(ReplyError::Wire(w)) if w.code == ErrorCode::Malformed)
    );

    // On the command line, a key nobody has is named with the keys there are (inputs are
    // checked first: the file exists).
    write_file(&env.work, "Cargo.toml", b"[package]\n");
    let stderr = env.hwsign_err(&[
        "sign",
        "--key",
        "label:nope",
        "--format",
        "raw",
        "Cargo.toml",
    ]);
    // Key ids differ from one provisioned token to the next: mask them.
    let masked: String = stderr
        .split("id:")
        .enumerate()
        .map(|(i, part)| {
            if i == 0 {
                part.to_string()
            } else {
                format!("id:<id>{}", &part[16.min(part.len())..])
            }
        })
        .collect();
    assert_snapshot("unknown_key_cli", &masked);
    assert_serving(&env);
}

#[test]
fn ssh_sign_request_for_an_unknown_key_fails_plainly() {
    let env = TestEnv::new();
    let _agent = env.start_agent(&[]);
    let mut s = connect(&env);
    // SSH_AGENTC_SIGN_REQUEST with an Ed25519 key the agent does not hold.
    let mut key = Enc::default();
    key.str("ssh-ed25519").bytes(&[7u8; 32]);
    let mut m = Enc::default();
    m.u8(13).bytes(&key.0).bytes(b"data").u32(0);
    assert_eq!(send_message(&mut s, &m.0), vec![SSH_AGENT_FAILURE]);
    assert_serving(&env);
}
