//! The agent's config file (`config.toml`): TOML and the checks serde cannot make, then what
//! the agent computes from it: socket limits, frame deadlines, the longest sign wait, and each
//! of them added to the current time (as the agent's timers do).
#![no_main]

use std::time::Instant;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(config) = hwsign::config::Config::parse(text) else {
        return;
    };
    let now = Instant::now();
    for limits in [config.sockets.main(), config.sockets.extra()] {
        let _ = now + limits.frame_deadline(4);
        let _ = now + limits.frame_deadline(limits.max_request);
        let _ = now + limits.idle_timeout;
    }
    for wait in [
        config.pin_cache_ttl(),
        config.touch_timeout(),
        config.touch_cache_window(),
        config.pin_timeout(),
        config.confirm_timeout(),
        config.longest_sign_wait(),
    ] {
        let _ = now + wait;
    }
    // Rules are checked at load: what was accepted prints back as what it parses to.
    for (n, rule) in config.keys.iter().enumerate() {
        let _ = rule.describe(n + 1);
        for kind in &rule.remote_kinds {
            let again: hwsign::config::KindPattern = kind.to_string().parse().expect("round trip");
            assert_eq!(&again, kind);
        }
    }
});
