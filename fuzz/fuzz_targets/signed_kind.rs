//! What the agent decides from the bytes it is asked to sign (never from the client's word):
//! the kind (`Kind::of`: SSHSIG blob, DSSE PAE, SSH userauth data, else a digest), what the
//! audit log and the prompts show of them (`record::what_is_signed`: DSSE payload type and
//! statement subjects, SSHSIG namespace and digest), and the policy patterns it is held to.
#![no_main]

use hwsign::agent::kind::Kind;
use hwsign::agent::record::what_is_signed;
use hwsign::format::{dsse, sshsig};
use hwsign::proto::scheme::SignInput;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = dsse::parse_pae(data);
    let _ = sshsig::parse_namespace(data);
    for input in [SignInput::Message, SignInput::Prehash] {
        let kind = Kind::of(data, input);
        let shown = kind.to_string();
        let _ = kind.allowed_by(&shown);
        let _ = kind.allowed_by("sshsig:file");
        let _ = kind.allowed_by("dsse");
        let _ = what_is_signed(&kind, data, input).to_string();
    }
});
