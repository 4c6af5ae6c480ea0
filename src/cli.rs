//! The command line: clap definitions in one place ([`args`]) and one module per command. The
//! `bin/` mains only parse, call [`run`] / the agent's runner, and map errors to exit codes.

/// `println!` for command output: a closed stdout (`hwsign status | head -1`) is
/// `Error::Stdout` (a quiet exit 141), never a panic.
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::client::output::print(&format!("{}\n", format_args!($($arg)*)))?
    };
}

pub mod args;
pub mod attest;
pub mod audit;
pub mod doctor;
pub mod init;
pub mod inputs;
pub mod keys;
pub mod man;
pub mod material;
pub mod sign;
pub mod status;
pub mod sums;
pub mod verify;

use crate::client::AgentClient;
use crate::config::Config;
use crate::error::Result;

/// Run a `hwsign` command.
pub fn run(cli: args::Cli) -> Result<()> {
    let result = run_command(cli);
    // The outputs' names are durable before the command counts as done.
    let synced = crate::client::output::sync_dirs();
    match (result, synced) {
        (Ok(()), Err(e)) => Err(e),
        (result, _) => result,
    }
}

fn run_command(cli: args::Cli) -> Result<()> {
    // Verification and the audit check need no agent (and no config).
    let command = match cli.command {
        args::Command::Verify(a) => {
            return if verify::run(a)? {
                Ok(())
            } else {
                Err(crate::error::Error::NotVerified)
            };
        }
        args::Command::Audit(a) => return audit::run(a),
        args::Command::Sums(a) => return sums::run(cli.config.as_deref(), a),
        args::Command::Man(a) => return man::man(a),
        args::Command::Completions(a) => return man::completions(a),
        args::Command::Doctor(a) => return doctor::run(cli.config.as_deref(), a),
        args::Command::Init(a) => return init::run(cli.config.as_deref(), a),
        // The hwsign binary's main runs `hwsign gpg` itself (gpg's exit statuses).
        args::Command::Gpg(_) => {
            return Err(crate::error::Error::Usage(
                "`hwsign gpg` is run by the hwsign binary (or run hwsign-gpg)".into(),
            ));
        }
        other => other,
    };
    let config = Config::load(cli.config.as_deref())
        .map_err(|e| crate::error::Error::Usage(e.to_string()))?;
    let mut client = AgentClient::connect_default()?;
    match command {
        args::Command::Keys(a) => keys::run(&mut client, &config, a),
        args::Command::Sign(a) => sign::run(&mut client, &config, a),
        args::Command::Attest(a) => attest::run(&mut client, &config, a),
        args::Command::Status(a) => status::run(&mut client, a),
        args::Command::Touch(a) => status::touch(&mut client, a),
        args::Command::Lock => status::lock(&mut client),
        args::Command::Verify(_)
        | args::Command::Audit(_)
        | args::Command::Sums(_)
        | args::Command::Gpg(_)
        | args::Command::Man(_)
        | args::Command::Completions(_)
        | args::Command::Doctor(_)
        | args::Command::Init(_) => Ok(()),
    }
}
