//! `hwsign`: the client. Parses, runs, maps errors to exit codes: 0 only when the command did
//! everything it was asked (every requested output written); any error is non-zero.

use std::io::Write;

use clap::Parser;

/// The status of a program killed by SIGPIPE (128 + 13), what shells and `set -o pipefail`
/// scripts expect of a command whose reader went away.
const CLOSED_STDOUT: u8 = 141;

fn main() -> std::process::ExitCode {
    let cli = hwsign::cli::args::Cli::parse();
    match hwsign::cli::run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        // Standard output closed by its reader (`hwsign keys | head -1`): end quietly, but never
        // with 0, since what was asked was not all printed. A broken agent socket is never this
        // (it is `AgentLost`, or `Io`, reported below).
        Err(hwsign::error::Error::Stdout(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => {
            std::process::ExitCode::from(CLOSED_STDOUT)
        }
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "hwsign: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
