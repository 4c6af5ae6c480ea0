//! What the agent decides from the bytes it is asked to sign (never from the client's word):
//! the one `Signed` value (SSHSIG blob, DSSE PAE and its statement, SSH userauth data, else a
//! digest), what the audit log and the prompts show of it, and the policy patterns it is held
//! to.
#![no_main]

use hwsign::config::KindPattern;
use hwsign::crypto::scheme::SignInput;
use hwsign::signed::Signed;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for input in [SignInput::Message, SignInput::Prehash] {
        let signed = Signed::parse(data, input);
        let shown = signed.to_string();
        if let Ok(own) = shown.parse::<KindPattern>() {
            assert!(signed.allowed_by(&own), "{shown}");
        }
        for p in ["sshsig:file", "dsse", "digest", "ssh-login"] {
            let _ = signed.allowed_by(&p.parse().expect("a known pattern"));
        }
        let line = signed.short();
        assert!(!line.contains('\n'), "{line:?}");
        let _ = signed.audit_json().to_string();
    }
});
