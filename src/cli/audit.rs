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
    /// A torn tail (a crash or a full disk cut the last record) is not a break: it is reported,
    /// recovered (moved aside by the agent at its next start) or not yet.
    Verify {
        /// The directory of audit.jsonl (default: $XDG_STATE_HOME/hwsign).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
}

/// Run `hwsign audit`: show or verify the agent's hash-chained log.
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
                Ok(report) => {
                    outln!("{}", describe(&report, files.len(), &dir));
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

/// What an intact chain looks like, for a person: records, recovered torn tails, a torn tail
/// not yet recovered. Names read from the log are shown only when plain ([`audit::shown`]); the
/// content of a torn tail never is, only its length.
fn describe(report: &audit::ChainReport, files: usize, dir: &std::path::Path) -> String {
    let mut out = format!(
        "audit log OK: chain intact: {} record(s) in {files} file(s) under {}",
        report.records,
        dir.display()
    );
    let n = report.recovered.len();
    if n > 0 {
        out.push_str(&format!(
            "; {n} torn tail{} recovered",
            if n == 1 { "" } else { "s" }
        ));
    }
    for r in &report.recovered {
        let kept = if r.kept {
            "kept in"
        } else {
            "was kept in, now missing:"
        };
        out.push_str(&format!(
            "\n  torn tail recovered at {} ({kept} {}, {} bytes)",
            audit::shown(&r.time),
            audit::shown(&r.file),
            r.bytes
        ));
    }
    if let Some(bytes) = report.unrecovered_tail {
        out.push_str(&format!(
            "\n  torn tail at the end of {}: {bytes} bytes after the last complete record (not yet recovered: the agent moves it aside at its next start; or a write in progress)",
            audit::FILE_NAME
        ));
    }
    for name in &report.unnamed_torn_files {
        out.push_str(&format!(
            "\n  note: {} is not named by any recovery record",
            audit::shown(name)
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recovered_tear_and_an_unrecovered_one_are_told_apart() {
        let report = audit::ChainReport {
            records: 4,
            recovered: vec![audit::Recovered {
                time: "2026-01-01T00:00:00Z".into(),
                file: "audit.jsonl.torn-20260101T000000Z".into(),
                bytes: 17,
                kept: true,
            }],
            unrecovered_tail: None,
            unnamed_torn_files: vec!["audit.jsonl.torn-\x1b[2J".into()],
        };
        let text = describe(&report, 1, std::path::Path::new("/s"));
        assert!(
            text.starts_with("audit log OK: chain intact: 4 record(s)"),
            "{text}"
        );
        assert!(text.contains("1 torn tail recovered"), "{text}");
        assert!(
            text.contains("recovered at 2026-01-01T00:00:00Z (kept in audit.jsonl.torn-20260101T000000Z, 17 bytes)"),
            "{text}"
        );
        assert!(!text.contains('\x1b'), "{text}");
        assert!(!text.contains("not yet recovered"), "{text}");
        let report = audit::ChainReport {
            records: 3,
            unrecovered_tail: Some(9),
            ..Default::default()
        };
        let text = describe(&report, 1, std::path::Path::new("/s"));
        assert!(
            text.contains("torn tail")
                && text.contains("9 bytes")
                && text.contains("not yet recovered"),
            "{text}"
        );
        assert!(!text.contains("recovered at"), "{text}");
    }
}
