//! What the agent does with the bytes of one request frame: the frame header against the
//! socket's limit, `Request::decode` with nothing left over (agent::session::decode), whether
//! a malformed one gets `error@hwsign` (is_hwsign_extension), then each extension's decoder as
//! agent::dispatch picks it by name: every `@hwsign` request and OpenSSH's session-bind.
#![no_main]

use hwsign::agent::session::{decode, is_hwsign_extension};
use hwsign::agent::session_bind;
use hwsign::proto::generate::GenerateRequest;
use hwsign::proto::keys::KeysRequest;
use hwsign::proto::sign::SignRequest;
use hwsign::proto::status::StatusRequest;
use hwsign::proto::touch::{LockRequest, TouchRequest};
use hwsign::proto::{EXT_SESSION_BIND, HwsignMessage, Request, frame};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some(hdr) = data.first_chunk::<4>() {
        let _ = frame::header(*hdr);
        let _ = frame::header_within(*hdr, 4096);
    }
    let _ = is_hwsign_extension(data);
    let Ok(Request::Extension(ext)) = decode(data) else {
        return;
    };
    match ext.name.as_str() {
        KeysRequest::NAME => drop(KeysRequest::from_extension(&ext)),
        SignRequest::NAME => drop(SignRequest::from_extension(&ext)),
        StatusRequest::NAME => drop(StatusRequest::from_extension(&ext)),
        TouchRequest::NAME => drop(TouchRequest::from_extension(&ext)),
        LockRequest::NAME => drop(LockRequest::from_extension(&ext)),
        GenerateRequest::NAME => drop(GenerateRequest::from_extension(&ext)),
        EXT_SESSION_BIND => drop(session_bind::parse(ext.details.as_ref())),
        _ => {}
    }
});
