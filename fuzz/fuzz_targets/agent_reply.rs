//! What the client reads from an agent (a forwarded one may be anyone): a standard response,
//! an extension reply in either framing (`proto::reply::parse`, `expect` for every hwsign
//! reply and `error@hwsign`), the `query` list, the public key lines of `keys@hwsign`, and
//! the DER ECDSA signature of `sign@hwsign` turned into the raw and SSH encodings.
#![no_main]

use hwsign::crypto::ecdsa;
use hwsign::proto::Response;
use hwsign::proto::generate::GenerateReply;
use hwsign::proto::keys::KeysReply;
use hwsign::proto::query::QueryReply;
use hwsign::proto::reply::{self, ExtensionReply};
use hwsign::proto::sign::SignReply;
use hwsign::proto::status::StatusReply;
use hwsign::proto::touch::TouchReply;
use libfuzzer_sys::fuzz_target;
use ssh_agent_lib::ssh_encoding::Decode;

fuzz_target!(|data: &[u8]| {
    let _ = Response::decode(&mut &data[..]);
    if let Ok(ExtensionReply::Response { contents, .. } | ExtensionReply::Success(contents)) =
        reply::parse(data)
    {
        let _ = QueryReply::from_bytes(&contents);
    }
    // Decoding checks every listed key (public key line, id, algorithm, policy names).
    if let Ok(keys) = reply::expect::<KeysReply>(data) {
        for k in keys.keys {
            let _ = (k.ssh_line(), k.id.short().len());
        }
    }
    if let Ok(sig) = reply::expect::<SignReply>(data) {
        let _ = ecdsa::der_to_parts(&sig.signature);
        let _ = ecdsa::der_to_raw(&sig.signature, 32);
        let _ = ecdsa::der_to_raw(&sig.signature, 48);
        let _ = ecdsa::der_to_ssh_blob(&sig.signature);
    }
    let _ = reply::expect::<StatusReply>(data);
    let _ = reply::expect::<TouchReply>(data);
    let _ = reply::expect::<GenerateReply>(data);
});
