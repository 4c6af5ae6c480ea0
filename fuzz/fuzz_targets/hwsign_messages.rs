//! Every `@hwsign` message body (version then fields), requests and replies: `from_bytes`
//! either decodes or says why, and what decodes encodes back to the same bytes.
#![no_main]

use hwsign::error::WireError;
use hwsign::proto::HwsignMessage;
use hwsign::proto::attest::{AttestReply, AttestRequest};
use hwsign::proto::generate::{GenerateReply, GenerateRequest};
use hwsign::proto::keys::{KeysReply, KeysRequest};
use hwsign::proto::minisign::{MinisignReply, MinisignRequest};
use hwsign::proto::query::QueryReply;
use hwsign::proto::sign::{SignReply, SignRequest};
use hwsign::proto::status::{StatusReply, StatusRequest};
use hwsign::proto::touch::{LockRequest, TouchReply, TouchRequest};
use libfuzzer_sys::fuzz_target;

fn one<T: HwsignMessage>(data: &[u8]) {
    if let Ok(m) = T::from_bytes(data) {
        // Decoding again what was encoded gives a message (the encoding is canonical for
        // every field except KeysRequest's optional one).
        T::from_bytes(&m.to_bytes()).expect("re-decode what was encoded");
    }
}

fuzz_target!(|data: &[u8]| {
    one::<KeysRequest>(data);
    one::<KeysReply>(data);
    one::<SignRequest>(data);
    one::<SignReply>(data);
    one::<MinisignRequest>(data);
    one::<MinisignReply>(data);
    one::<StatusRequest>(data);
    one::<StatusReply>(data);
    one::<TouchRequest>(data);
    one::<TouchReply>(data);
    one::<LockRequest>(data);
    one::<GenerateRequest>(data);
    one::<GenerateReply>(data);
    one::<AttestRequest>(data);
    one::<AttestReply>(data);
    one::<WireError>(data);
    if let Ok(q) = QueryReply::from_bytes(data) {
        let _ = q.to_extension();
    }
});
