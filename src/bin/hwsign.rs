//! `hwsign`: the client. Parses, runs, maps errors to exit codes.

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = hwsign::cli::args::Cli::parse();
    match hwsign::cli::run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(hwsign::error::Error::Io(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => {
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("hwsign: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
