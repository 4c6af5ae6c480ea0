//! `hwsign audit verify`: check the audit log's hash chain (across rotated files) on the
//! agent's machine. Needs no agent.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use crate::agent::audit;
use crate::error::{Error, Result};

/// `hwsign audit`.
#[derive(Debug, Args)]
pub struct AuditArgs {
    /// What to do.
    #[command(subcommand)]
    pub action: AuditAction,
}

/// `hwsign audit …` subcommands.
#[derive(Debug, Subcommand)]
pub enum AuditAction {
    /// Check every record's hash and its link to the one before; name the first broken record.
    Verify {
        /// The directory of audit.jsonl (default: $XDG_STATE_HOME/hwsign).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
}

/// Run it.
pub fn run(args: AuditArgs) -> Result<()> {
    match args.action {
        AuditAction::Verify { dir } => {
            let dir = dir.unwrap_or_else(crate::dirs::state_dir);
            let files = audit::files_in_order(&dir);
            if files.is_empty() {
                return Err(Error::Usage(format!(
                    "no audit log in {} (it appears with the agent's first signature)",
                    dir.display()
                )));
            }
            match audit::verify_chain(&dir) {
                Ok(n) => {
                    println!(
                        "audit log OK: {n} record(s) in {} file(s) under {}",
                        files.len(),
                        dir.display()
                    );
                    Ok(())
                }
                Err(b) => Err(Error::Usage(format!(
                    "audit log broken at {} record {}: {}\n  hint: records before it are intact; keep the files as evidence",
                    b.file.display(),
                    b.line,
                    b.reason
                ))),
            }
        }
    }
}
