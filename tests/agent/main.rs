//! `hwsign-agent` end to end, through its sockets and the files it owns. One test binary for
//! all of these (each binary costs a link of hwsign, its dependencies and the rig):
//!
//! * [`lifecycle`]: start, ready line, sockets and their modes, stop, key management;
//! * [`limits`]: budgets and timeouts no client can exhaust for the others;
//! * [`extra_socket`] and [`forwarding`]: the forwarded socket's per-key policy, locally and
//!   over a real `ssh -R`;
//! * [`bad_input`]: bad frames get their documented error codes and the agent serves on;
//! * [`wire_fixtures`]: every `@hwsign` message pinned as bytes in `tests/fixtures/`;
//! * [`audit_log`], [`scale`], [`pin_file`]: the audit chain, releases of any size, PIN files;
//! * [`systemd_units`] and [`udev_rules`]: the files `systemd/` and `udev/` ship.

mod audit_log;
mod bad_input;
mod extra_socket;
mod forwarding;
mod lifecycle;
mod limits;
mod pin_file;
mod pkcs11_lanes;
mod scale;
mod systemd_units;
mod udev_rules;
mod wire_fixtures;

use std::fs;
use std::path::Path;

/// The rig looks the binaries up at run time (it is a library: `env!("CARGO_BIN_EXE_…")` is
/// not set for it); this holds it to the files cargo built for this very test binary.
#[test]
fn the_rig_runs_the_binaries_cargo_built() {
    let same = |found: &Path, built: &str| {
        assert_eq!(
            fs::canonicalize(found).unwrap(),
            fs::canonicalize(built).unwrap(),
            "the rig found {} instead of {built}",
            found.display()
        );
    };
    same(
        hwsign_testrig::agent_bin(),
        env!("CARGO_BIN_EXE_hwsign-agent"),
    );
    same(hwsign_testrig::client_bin(), env!("CARGO_BIN_EXE_hwsign"));
    same(
        &hwsign_testrig::hwsign_bin("hwsign-gpg"),
        env!("CARGO_BIN_EXE_hwsign-gpg"),
    );
}
