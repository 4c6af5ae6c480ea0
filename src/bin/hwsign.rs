//! `hwsign`: the client. Parses, runs, maps errors to exit codes: 0 only when the command did
//! everything it was asked (every requested output written); any error is non-zero.

use std::io::Write;

use clap::Parser;

/// The status of a program killed by SIGPIPE (128 + 13), what shells and `set -o pipefail`
/// scripts expect of a command whose reader went away.
const CLOSED_STDOUT: u8 = 141;

fn main() -> std::process::ExitCode {
    // Installed or linked as `gpg`: gpg's command line (release tools call `gpg`).
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if argv.first().is_some_and(|a| hwsign::gpg::is_gpg_name(a)) {
        return hwsign::gpg::main(argv[1..].to_vec(), None);
    }
    let cli = hwsign::cli::args::Cli::parse();
    if let hwsign::cli::args::Command::Gpg(a) = cli.command {
        return hwsign::gpg::main(a.args, cli.config);
    }
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
